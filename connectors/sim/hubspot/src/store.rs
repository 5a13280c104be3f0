//! The in-memory record store: ids, writes with their side effects (modified-time bumps, webhook
//! events, uniqueness), archive/restore, merge, bulk touch, and the lagging search index.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::model::{ObjectType, Record};
use crate::props;
use crate::schema::Catalog;
use crate::webhooks::{Outbox, event};

/// Who made a write; decides the webhook `changeSource` and whether search sees it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A call through the real API surface.
    Api,
    /// A simulated human or automation (control API).
    External,
    /// Seeding: indexed at once, no events.
    Seed,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Self::Api => "API",
            Self::External => "CRM_UI",
            Self::Seed => "IMPORT",
        }
    }
}

/// What `GET /{object}/{mergedAwayId}` answers. The spec marks this UNVERIFIED (§8), so it is a knob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergedGet {
    /// Answer with the surviving record (its own id in the body).
    #[default]
    Survivor,
    /// Answer 404.
    NotFound,
}

/// Behaviour knobs, settable through the control API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Delay before a write becomes visible to search (spec §13.5: "a few seconds"; default 2 s).
    pub search_lag_ms: i64,
    /// Extra random 0..=jitter ms per write, so search can briefly see writes out of order.
    pub search_lag_jitter_ms: i64,
    /// Merge mints a new id for the survivor (historic behaviour) instead of keeping the primary's.
    pub merge_mints_new_id: bool,
    /// What a GET of a merged-away id answers.
    pub merged_get: MergedGet,
    /// When non-empty, an `idProperty=email` upsert must carry all of these properties (spec §4:
    /// partial upserts on email are unsupported); otherwise the item fails.
    pub email_upsert_required: Vec<String>,
    /// Accept an `idProperty=email` upsert that leaves out properties the matched record holds.
    /// Off by default (spec §4: partial upserts on email are not supported): such an item fails
    /// with `VALIDATION_ERROR`, so a client must send its full property set.
    pub email_upsert_allow_partial: bool,
    /// Search filter limits (spec §5: sources disagree; default the strictest 5 × 6 / 18).
    pub max_filter_groups: usize,
    /// Filters per group.
    pub max_filters_per_group: usize,
    /// Filters in total.
    pub max_filters_total: usize,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            search_lag_ms: 2_000,
            search_lag_jitter_ms: 0,
            merge_mints_new_id: false,
            merged_get: MergedGet::Survivor,
            email_upsert_required: Vec::new(),
            email_upsert_allow_partial: false,
            max_filter_groups: 5,
            max_filters_per_group: 6,
            max_filters_total: 18,
        }
    }
}

#[derive(Debug)]
struct Pending {
    visible_at: i64,
    seq: u64,
    snapshot: Record,
}

/// Every record of both types, plus the search index and the webhook outbox.
#[derive(Debug)]
pub struct Store {
    records: BTreeMap<(ObjectType, u64), Record>,
    index: BTreeMap<(ObjectType, u64), Record>,
    pending: Vec<Pending>,
    next_id: u64,
    seq: u64,
    rng: ChaCha8Rng,
    /// Property definitions.
    pub catalog: Catalog,
    /// Behaviour knobs.
    pub behaviour: Behaviour,
    /// Undelivered webhook events.
    pub outbox: Outbox,
}

impl Store {
    /// An empty store; ids start at a seed-derived value.
    pub fn new(seed: u64, catalog: Catalog) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_4855_4253_504f);
        let next_id = rng.random_range(100_000..900_000);
        Self {
            records: BTreeMap::new(),
            index: BTreeMap::new(),
            pending: Vec::new(),
            next_id,
            seq: 0,
            rng,
            catalog,
            behaviour: Behaviour::default(),
            outbox: Outbox::new(4_242_424, 77_777),
        }
    }

    /// One record, archived or not, exactly by id.
    pub fn get(&self, object: ObjectType, id: u64) -> Option<&Record> {
        self.records.get(&(object, id))
    }

    /// All records of a type in id order.
    pub fn all(&self, object: ObjectType) -> impl Iterator<Item = &Record> {
        self.records.range((object, 0)..=(object, u64::MAX)).map(|(_, r)| r)
    }

    /// Resolves an id or `idProperty` value to a record id. `archived` selects archived records.
    /// Merged-away ids follow [`Behaviour::merged_get`].
    pub fn resolve(
        &self,
        object: ObjectType,
        key: &str,
        id_property: Option<&str>,
        archived: bool,
    ) -> ApiResult<Option<u64>> {
        let found = match id_property {
            None | Some("hs_object_id") => {
                key.parse::<u64>().ok().filter(|id| self.get(object, *id).is_some())
            }
            Some("email") if object == ObjectType::Contacts => {
                let k = key.to_lowercase();
                self.all(object).find(|r| r.archived() == archived && r.emails().contains(&k)).map(|r| r.id)
            }
            Some(p) if self.catalog.is_unique(object, p) => self
                .all(object)
                .find(|r| r.archived() == archived && r.properties.get(p).is_some_and(|v| v == key))
                .map(|r| r.id),
            Some(p) => {
                return Err(ApiError::validation(format!(
                    "{p} is not a unique property and can't be an idProperty"
                )));
            }
        };
        let Some(mut id) = found else { return Ok(None) };
        while let Some(r) = self.get(object, id) {
            match (r.merged_into, self.behaviour.merged_get) {
                (Some(next), MergedGet::Survivor) if !archived => id = next,
                (Some(_), MergedGet::NotFound) if !archived => return Ok(None),
                _ => break,
            }
        }
        Ok(self.get(object, id).filter(|r| r.archived() == archived).map(|r| r.id))
    }

    /// Creates a record (201 semantics; validation and uniqueness enforced).
    pub fn create(
        &mut self,
        object: ObjectType,
        input: &Map<String, Value>,
        now: i64,
        source: Source,
    ) -> ApiResult<Record> {
        let values = props::validate(&self.catalog, object, None, input)?;
        if object == ObjectType::Contacts
            && !["email", "firstname", "lastname"]
                .iter()
                .any(|p| values.get(*p).is_some_and(|v| !v.is_empty()))
        {
            return Err(ApiError::validation("at least one of email, firstname or lastname is required"));
        }
        self.check_unique(object, None, &values)?;
        self.next_id += 1;
        let id = self.next_id;
        let properties = values.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        let rec = Record {
            id,
            object,
            properties,
            created_ms: now,
            updated_ms: now,
            archived_at_ms: None,
            merged_into: None,
        };
        if source != Source::Seed {
            let kind = format!("{}.creation", object.singular());
            self.outbox.push(event(kind, id, now, source.label()));
        }
        self.commit(rec.clone(), now, source);
        Ok(rec)
    }

    /// Updates a live record; every call bumps the modified time, even when nothing changed.
    pub fn update(
        &mut self,
        object: ObjectType,
        id: u64,
        input: &Map<String, Value>,
        now: i64,
        source: Source,
    ) -> ApiResult<Record> {
        self.update_tracked(object, id, input, now, source).map(|(rec, _)| rec)
    }

    /// [`Store::update`], also saying whether any stored value changed (the request log's
    /// write effect: an update that changed nothing is a wasted request).
    pub fn update_tracked(
        &mut self,
        object: ObjectType,
        id: u64,
        input: &Map<String, Value>,
        now: i64,
        source: Source,
    ) -> ApiResult<(Record, bool)> {
        let current = self.live(object, id)?.clone();
        let values = props::validate(&self.catalog, object, Some(&current), input)?;
        self.check_unique(object, Some(id), &values)?;
        let mut rec = current;
        let mut changed = false;
        for (name, value) in values {
            let old = rec.properties.get(&name).cloned().unwrap_or_default();
            changed |= old != value;
            if old != value && source != Source::Seed {
                let mut e = event(format!("{}.propertyChange", object.singular()), id, now, source.label());
                e.property_name = Some(name.clone());
                e.property_value = Some(value.clone());
                self.outbox.push(e);
            }
            if value.is_empty() {
                rec.properties.remove(&name);
            } else {
                rec.properties.insert(name, value);
            }
        }
        rec.updated_ms = now;
        self.commit(rec.clone(), now, source);
        Ok((rec, changed))
    }

    /// Moves a record to the recycle bin (`archived=true`); absent from search once indexed.
    pub fn archive(&mut self, object: ObjectType, id: u64, now: i64, source: Source) -> ApiResult<()> {
        let mut rec = self.get(object, id).cloned().ok_or_else(|| ApiError::not_found(&id.to_string()))?;
        if rec.archived() {
            return Ok(());
        }
        rec.archived_at_ms = Some(now);
        rec.updated_ms = now;
        self.outbox.push(event(format!("{}.deletion", object.singular()), id, now, source.label()));
        self.commit(rec, now, source);
        Ok(())
    }

    /// Restores an archived record (a recycle-bin action in the UI; control API only).
    pub fn restore(&mut self, object: ObjectType, id: u64, now: i64) -> ApiResult<Record> {
        let mut rec = self.get(object, id).cloned().ok_or_else(|| ApiError::not_found(&id.to_string()))?;
        if !rec.archived() || rec.merged_into.is_some() {
            return Err(ApiError::validation("record is not restorable"));
        }
        rec.archived_at_ms = None;
        self.check_unique(object, Some(id), &rec.properties)?;
        rec.updated_ms = now;
        self.outbox.push(event(format!("{}.restore", object.singular()), id, now, Source::External.label()));
        self.commit(rec.clone(), now, Source::External);
        Ok(rec)
    }

    /// Stamps up to `count` live records (lowest ids first) with the identical timestamp `now`,
    /// like a HubSpot bulk job (no webhook events). Returns the touched ids.
    pub fn bulk_touch(&mut self, object: ObjectType, count: usize, now: i64) -> Vec<u64> {
        let ids: Vec<u64> = self.all(object).filter(|r| !r.archived()).take(count).map(|r| r.id).collect();
        for id in &ids {
            if let Some(mut rec) = self.get(object, *id).cloned() {
                rec.updated_ms = now;
                self.commit(rec, now, Source::External);
            }
        }
        ids
    }

    /// A live record or 404.
    pub fn live(&self, object: ObjectType, id: u64) -> ApiResult<&Record> {
        self.get(object, id).filter(|r| !r.archived()).ok_or_else(|| ApiError::not_found(&id.to_string()))
    }

    /// Stores a new version and schedules it into the search index.
    pub(crate) fn commit(&mut self, rec: Record, now: i64, source: Source) {
        self.records.insert((rec.object, rec.id), rec.clone());
        let b = &self.behaviour;
        if source == Source::Seed || (b.search_lag_ms <= 0 && b.search_lag_jitter_ms <= 0) {
            self.apply_to_index(rec);
            return;
        }
        let jitter =
            if b.search_lag_jitter_ms > 0 { self.rng.random_range(0..=b.search_lag_jitter_ms) } else { 0 };
        self.seq += 1;
        self.pending.push(Pending {
            visible_at: now + b.search_lag_ms + jitter,
            seq: self.seq,
            snapshot: rec,
        });
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn apply_to_index(&mut self, rec: Record) {
        if rec.archived() {
            self.index.remove(&(rec.object, rec.id));
        } else {
            self.index.insert((rec.object, rec.id), rec);
        }
    }

    /// The search index as of `now`: snapshots whose lag has elapsed, never archived ones.
    pub fn indexed(&mut self, object: ObjectType, now: i64) -> Vec<Record> {
        let mut due: Vec<Pending> = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].visible_at <= now {
                due.push(self.pending.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.visible_at, p.seq));
        for p in due {
            self.apply_to_index(p.snapshot);
        }
        self.index.range((object, 0)..=(object, u64::MAX)).map(|(_, r)| r.clone()).collect()
    }

    /// Rejects values that collide with another live record: emails (contacts: `email` and
    /// `hs_additional_emails`) and unique custom properties.
    pub(crate) fn check_unique(
        &self,
        object: ObjectType,
        self_id: Option<u64>,
        values: &BTreeMap<String, String>,
    ) -> ApiResult<()> {
        for (name, value) in values.iter().filter(|(_, v)| !v.is_empty()) {
            let mut others = self.all(object).filter(|r| !r.archived() && Some(r.id) != self_id);
            let clash = if name == "email" && object == ObjectType::Contacts {
                let v = value.to_lowercase();
                others.find(|r| r.emails().contains(&v))
            } else if self.catalog.is_unique(object, name) {
                others.find(|r| r.properties.get(name) == Some(value))
            } else {
                None
            };
            if let Some(other) = clash {
                let what = if object == ObjectType::Contacts { "Contact" } else { "Company" };
                let mut e = ApiError::conflict(format!("{what} already exists. Existing ID: {}", other.id));
                e.status = StatusCode::CONFLICT;
                return Err(e);
            }
        }
        Ok(())
    }
}
