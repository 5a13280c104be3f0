//! [`MemoryHandle`]: the test's side of the fake CRM (not part of the `Connector` trait):
//! seeding, human edits, deletes and merges, fault injection and ground truth.

use std::sync::{Arc, Mutex, MutexGuard};

use connector_api::{ChangeKind, ConnectorError, FieldMap, Record, SharedClock, Write};
use serde_json::Value;

use crate::CallCounts;
use crate::state::{Rejection, State, Stored};

/// Shares state with the [`MemoryConnector`](crate::MemoryConnector) it came from. Every
/// mutation takes its time from the injected clock. Methods panic on an unknown object or id:
/// that is a mistake in the test, not a behaviour under test.
#[derive(Debug, Clone)]
pub struct MemoryHandle {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
}

impl MemoryHandle {
    pub(crate) fn new(state: Arc<Mutex<State>>, clock: SharedClock) -> Self {
        Self { state, clock }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("memory connector lock")
    }

    /// Creates a record as if someone made it in the system; returns its id.
    pub fn seed(&self, object: &str, fields: FieldMap) -> String {
        let now = self.clock.now();
        self.lock().insert(object, None, fields, now).expect("seed into a configured object")
    }

    /// Creates a record with a chosen id (to stage ties and orderings).
    pub fn seed_with_id(&self, object: &str, id: &str, fields: FieldMap) {
        let now = self.clock.now();
        let mut st = self.lock();
        assert!(st.object(object).expect("configured object").get(id).is_none(), "id {id} already used");
        st.insert(object, Some(id.to_string()), fields, now).expect("seed into a configured object");
    }

    /// A person edits fields. On objects with `pull_sees_every_edit = false` this changes the
    /// record (and its `modified_at` and version) without a change in pulls.
    pub fn edit(&self, object: &str, id: &str, fields: FieldMap) {
        let now = self.clock.now();
        self.lock().edit(object, id, fields, now, false).expect("edit a live record");
    }

    /// An edit the pull always reports (a status change that emits an event).
    pub fn edit_visible(&self, object: &str, id: &str, fields: FieldMap) {
        let now = self.clock.now();
        self.lock().edit(object, id, fields, now, true).expect("edit a live record");
    }

    /// A person deletes the record; it stays as a tombstone reported as deleted.
    pub fn delete(&self, object: &str, id: &str) {
        let now = self.clock.now();
        self.lock().tombstone(object, id, ChangeKind::Deleted, now).expect("delete a live record");
    }

    /// Restores a deleted record; pulls report it as undeleted.
    pub fn restore(&self, object: &str, id: &str) {
        let now = self.clock.now();
        self.lock().restore(object, id, now).expect("restore a record");
    }

    /// Merges `loser` into `survivor`: the loser becomes a tombstone reported as merged, the
    /// survivor keeps its values, gains the loser's fields it lacked, and changes too.
    pub fn merge(&self, object: &str, loser: &str, survivor: &str) {
        let now = self.clock.now();
        let mut st = self.lock();
        let loser_fields = st.live_mut(object, loser).expect("live loser").record.fields.clone();
        let survivor_fields = &st.live_mut(object, survivor).expect("live survivor").record.fields;
        let gained: FieldMap = loser_fields
            .into_iter()
            .filter(|(k, v)| !v.is_null() && !survivor_fields.contains_key(k))
            .collect();
        st.tombstone(object, loser, ChangeKind::Merged { survivor_id: survivor.to_string() }, now)
            .expect("merge loser");
        st.edit(object, survivor, gained, now, true).expect("merge survivor");
    }

    /// Every record of `object`, tombstones included, ordered by id.
    pub fn records(&self, object: &str) -> Vec<Record> {
        self.lock().object(object).expect("configured object").values().map(|s| s.record.clone()).collect()
    }

    /// Live records of `object` only.
    pub fn live_records(&self, object: &str) -> Vec<Record> {
        self.records(object).into_iter().filter(|r| !r.deleted).collect()
    }

    /// One record with its version and stream position.
    pub fn stored(&self, object: &str, id: &str) -> Option<Stored> {
        self.lock().object(object).ok()?.get(id).cloned()
    }

    /// The record's version (store-wide monotonic, bumped on every change).
    pub fn version(&self, object: &str, id: &str) -> Option<u64> {
        self.stored(object, id).map(|s| s.version)
    }

    /// Every write item `apply` received, in order, with its object, rejected or not.
    pub fn write_log(&self) -> Vec<(String, Write)> {
        self.lock().write_log.clone()
    }

    /// How many calls of each kind were served.
    pub fn calls(&self) -> CallCounts {
        self.lock().calls
    }

    /// The next `apply` call fails as a whole with `err` (queued: call again for more).
    pub fn fail_next_apply_with(&self, err: ConnectorError) {
        self.lock().fail_apply.push(err);
    }

    /// The next `pull` call fails with `err` (queued).
    pub fn fail_pull_with(&self, err: ConnectorError) {
        self.lock().fail_pull.push(err);
    }

    /// Every create or update that sets `field` to `value` on `object` is rejected with `err`
    /// (per item; the rest of the batch proceeds), e.g. an email the remote deems invalid.
    pub fn reject_value(&self, object: &str, field: &str, value: Value, err: ConnectorError) {
        self.lock().rejections.push(Rejection {
            object: object.to_string(),
            field: field.to_string(),
            value,
            error: err,
        });
    }
}
