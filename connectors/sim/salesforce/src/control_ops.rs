//! Ground-truth operations of simulated humans and platform automation, as `SimState` methods:
//! seeding (with back-dated audit fields), external edits (user or system-only), commit lag and
//! long transactions, merges, deletes/undeletes, recycle-bin purges and lead conversion. They
//! bypass auth, limits and faults but have the platform's side effects on both clocks.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::schema::ObjectKind;
use crate::state::SimState;
use crate::store::Record;
use crate::writes;

/// A record to create from outside the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedRecord {
    /// Contact, Lead or Account.
    pub object: Option<ObjectKind>,
    /// Field values by API name.
    pub fields: Map<String, Value>,
    /// Back-dated `CreatedDate` (import with "Create Audit Fields").
    pub created_date: Option<DateTime<Utc>>,
    /// Back-dated `LastModifiedDate`; `SystemModstamp` is always now.
    pub last_modified_date: Option<DateTime<Utc>>,
    /// Commit lag: stamped now, visible only this many seconds later.
    pub visible_after_secs: i64,
    /// Write inside this open long transaction (stamped at its start, visible at commit).
    pub txn: Option<u64>,
}

/// An edit by a simulated human (or, with `system_only`, by platform automation).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalEdit {
    /// 15- or 18-char id.
    pub id: String,
    /// Field changes (`null` clears).
    pub fields: Map<String, Value>,
    /// Bump only `SystemModstamp` (roll-up recalculation, picklist rename, …).
    pub system_only: bool,
    /// Commit lag in seconds.
    pub visible_after_secs: i64,
    /// Write inside this open long transaction.
    pub txn: Option<u64>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found().with_fields(vec![id.to_string()])
}

impl SimState {
    /// Stamp and visibility of an external write.
    fn stamp_for(
        &self,
        visible_after_secs: i64,
        txn: Option<u64>,
    ) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
        let now = self.now();
        if let Some(t) = txn {
            let g = self.lock();
            let (start, _) = g.txns.get(&t).ok_or_else(|| not_found(&t.to_string()))?;
            return Ok((*start, DateTime::<Utc>::MAX_UTC));
        }
        Ok((now, now + Duration::seconds(visible_after_secs.max(0))))
    }

    /// Creates records; returns their 18-char ids in order.
    pub fn seed(&self, records: Vec<SeedRecord>) -> ApiResult<Vec<String>> {
        let mut ids = Vec::with_capacity(records.len());
        for r in records {
            let object = r.object.ok_or_else(|| ApiError::bad_request("INVALID_TYPE", "object required"))?;
            let changes = writes::parse_body(object, &r.fields, &self.custom_fields(), &[])?;
            let (stamp, visible_at) = self.stamp_for(r.visible_after_secs, r.txn)?;
            let fields = changes.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
            let mut g = self.lock();
            let id = g.store.insert(object, fields, stamp, visible_at);
            let rec = g.store.get_mut(&id).ok_or_else(|| not_found(&id))?;
            rec.created = r.created_date.unwrap_or(stamp);
            rec.last_modified = r.last_modified_date.unwrap_or(stamp);
            if let Some(t) = r.txn
                && let Some((_, members)) = g.txns.get_mut(&t)
            {
                members.push(id.clone());
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Applies an external edit with the platform's side effects on both clocks.
    pub fn edit(&self, e: ExternalEdit) -> ApiResult<()> {
        let (stamp, visible_at) = self.stamp_for(e.visible_after_secs, e.txn)?;
        let now = self.now();
        let mut g = self.lock();
        let object = g.store.get(&e.id).map(|r| r.object).ok_or_else(|| not_found(&e.id))?;
        let changes = writes::parse_body(object, &e.fields, &self.custom_fields(), &[])?;
        let rec =
            g.store.get_mut(&e.id).filter(|r| r.deleted_at.is_none()).ok_or_else(ApiError::entity_deleted)?;
        rec.begin_hidden_write(now, visible_at);
        for (k, v) in changes {
            match v {
                Some(v) => rec.fields.insert(k, v),
                None => rec.fields.remove(&k),
            };
        }
        rec.modstamp = stamp;
        if !e.system_only {
            rec.last_modified = stamp;
        }
        let id = rec.id.clone();
        if let Some(t) = e.txn
            && let Some((_, members)) = g.txns.get_mut(&t)
        {
            members.push(id);
        }
        Ok(())
    }

    /// Bumps only `SystemModstamp` on every live record of `object` (or on `ids`), as a
    /// roll-up recalculation or picklist rename does. Returns how many were touched.
    pub fn touch_system(&self, object: ObjectKind, ids: Option<Vec<String>>) -> usize {
        let now = self.now();
        let keys: Option<Vec<String>> =
            ids.map(|v| v.iter().filter_map(|i| crate::ids::lookup_key(i)).collect());
        let mut g = self.lock();
        let mut n = 0;
        for rec in g.store.all_mut().filter(|r| r.object == object && r.deleted_at.is_none()) {
            if keys.as_ref().is_none_or(|k| k.contains(&rec.id.to_ascii_lowercase())) {
                rec.modstamp = now;
                n += 1;
            }
        }
        n
    }

    /// Opens a long transaction starting now; writes tagged with it stay invisible until commit
    /// and hold back `latestDateCovered`.
    pub fn open_transaction(&self) -> u64 {
        let now = self.now();
        let mut g = self.lock();
        g.next_txn += 1;
        let id = g.next_txn;
        g.txns.insert(id, (now, Vec::new()));
        id
    }

    /// Commits a long transaction: its writes become visible now, with their earlier stamps.
    pub fn commit_transaction(&self, txn: u64) -> ApiResult<usize> {
        let now = self.now();
        let mut g = self.lock();
        let (_, members) = g.txns.remove(&txn).ok_or_else(|| not_found(&txn.to_string()))?;
        for id in &members {
            if let Some(rec) = g.store.get_mut(id) {
                rec.visible_at = now;
                rec.prior = None;
            }
        }
        Ok(members.len())
    }

    /// Merges `losers` into `master` (same object): losers go to the recycle bin carrying
    /// `MasterRecordId`; the master's clocks move.
    pub fn merge(&self, master: &str, losers: &[String]) -> ApiResult<()> {
        let now = self.now();
        let mut g = self.lock();
        let m = g.store.get(master).filter(|r| r.deleted_at.is_none()).ok_or_else(|| not_found(master))?;
        let (master_id, object) = (m.id.clone(), m.object);
        for l in losers {
            let rec = g.store.get_mut(l).filter(|r| r.object == object && r.deleted_at.is_none());
            let rec = rec.ok_or_else(|| not_found(l))?;
            rec.deleted_at = Some(now);
            rec.master_record_id = Some(master_id.clone());
            rec.modstamp = now;
            rec.last_modified = now;
        }
        let m = g.store.get_mut(&master_id).ok_or_else(|| not_found(master))?;
        m.modstamp = now;
        m.last_modified = now;
        Ok(())
    }

    /// Deletes a record (to the recycle bin) as a user would.
    pub fn delete(&self, id: &str) -> ApiResult<()> {
        let now = self.now();
        writes::delete(&mut self.lock().store, now, None, id).map(|_| ())
    }

    /// Restores a record from the recycle bin; both clocks move.
    pub fn undelete(&self, id: &str) -> ApiResult<()> {
        let now = self.now();
        let mut g = self.lock();
        let rec = g.store.get_mut(id).filter(|r| r.deleted_at.is_some()).ok_or_else(|| not_found(id))?;
        rec.deleted_at = None;
        rec.master_record_id = None;
        rec.modstamp = now;
        rec.last_modified = now;
        Ok(())
    }

    /// Empties the recycle bin of `object` up to `before` (default: now). Returns the count.
    pub fn purge(&self, object: ObjectKind, before: Option<DateTime<Utc>>) -> usize {
        let before = before.unwrap_or_else(|| self.now());
        self.lock().store.purge(object, before)
    }

    /// Converts a lead: sets `IsConverted`, the converted ids and `ConvertedDate`.
    pub fn convert_lead(&self, lead: &str, contact: Option<&str>, account: Option<&str>) -> ApiResult<()> {
        let now = self.now();
        let mut g = self.lock();
        let rec = g.store.get_mut(lead).filter(|r| r.object == ObjectKind::Lead && r.deleted_at.is_none());
        let rec = rec.ok_or_else(|| not_found(lead))?;
        rec.fields.insert("IsConverted".into(), "true".into());
        rec.fields.insert("ConvertedDate".into(), time_date(now));
        for (k, v) in [("ConvertedContactId", contact), ("ConvertedAccountId", account)] {
            if let Some(v) = v {
                rec.fields.insert(k.into(), v.into());
            }
        }
        rec.modstamp = now;
        rec.last_modified = now;
        Ok(())
    }

    /// Every stored record, deleted and hidden ones included (ground truth).
    pub fn records(&self) -> Vec<Record> {
        self.lock().store.all().cloned().collect()
    }

    /// One stored record by 15- or 18-char id.
    pub fn record(&self, id: &str) -> Option<Record> {
        self.lock().store.get(id).cloned()
    }
}

fn time_date(t: DateTime<Utc>) -> String {
    crate::time::render_date(t.date_naive())
}
