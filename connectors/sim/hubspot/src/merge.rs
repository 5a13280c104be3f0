//! Merging two records (spec §8): the loser is archived and points at the survivor, the survivor
//! lists merged ids in `hs_merged_object_ids` and gains the loser's emails in
//! `hs_additional_emails`; events are one `*.merge` plus `*.deletion` per merged-away id, no
//! `propertyChange`.

use axum::http::StatusCode;

use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, Record};
use crate::store::{Source, Store};
use crate::webhooks::event;

/// More merged identities than this on one profile answers 414 (spec §8).
pub const MAX_IDENTITIES: usize = 250;

fn join_unique(existing: Option<&String>, extra: impl IntoIterator<Item = String>) -> String {
    let mut items: Vec<String> = existing
        .map(|s| s.split(';').filter(|x| !x.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    for e in extra {
        if !items.contains(&e) {
            items.push(e);
        }
    }
    items.join(";")
}

impl Store {
    /// Merges `loser` into `primary`; returns the survivor (with a new id when
    /// `merge_mints_new_id` is set).
    pub fn merge(&mut self, object: ObjectType, primary: u64, loser: u64, now: i64) -> ApiResult<Record> {
        if primary == loser {
            return Err(ApiError::validation("can't merge a record into itself"));
        }
        let p = self.live(object, primary)?.clone();
        let l = self.live(object, loser)?.clone();
        let identities = p.properties.get("hs_merged_object_ids").map_or(0, |s| s.split(';').count());
        if identities + 1 >= MAX_IDENTITIES {
            return Err(ApiError::new(
                StatusCode::URI_TOO_LONG,
                "VALIDATION_ERROR",
                "Cannot have more than 250 identities on a profile",
            ));
        }
        let mut survivor = p.clone();
        for (k, v) in &l.properties {
            if k != "hs_merged_object_ids" && k != "hs_additional_emails" && k != "email" {
                survivor.properties.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let mut merged_away = vec![loser];
        if self.behaviour.merge_mints_new_id {
            survivor.id = self.next_id();
            merged_away.push(primary);
        }
        let ids = join_unique(
            survivor.properties.get("hs_merged_object_ids"),
            merged_away.iter().map(u64::to_string),
        );
        survivor.properties.insert("hs_merged_object_ids".into(), ids);
        if object == ObjectType::Contacts {
            let own = survivor.properties.get("email").map(|e| e.to_lowercase());
            let extra: Vec<String> = l.emails().into_iter().filter(|e| Some(e) != own.as_ref()).collect();
            if !extra.is_empty() {
                let joined = join_unique(survivor.properties.get("hs_additional_emails"), extra);
                survivor.properties.insert("hs_additional_emails".into(), joined);
            }
        }
        survivor.updated_ms = now;
        for id in &merged_away {
            let mut gone = self.live(object, *id)?.clone();
            gone.archived_at_ms = Some(now);
            gone.merged_into = Some(survivor.id);
            self.commit(gone, now, Source::External);
        }
        self.commit(survivor.clone(), now, Source::External);
        let mut m = event(format!("{}.merge", object.singular()), survivor.id, now, "MERGE");
        m.primary_object_id = Some(primary);
        m.merged_object_ids = Some(vec![loser]);
        m.new_object_id = Some(survivor.id);
        self.outbox.push(m);
        for id in merged_away {
            self.outbox.push(event(format!("{}.deletion", object.singular()), id, now, "MERGE"));
        }
        Ok(survivor)
    }
}
