//! An in-memory fake CRM implementing [`Connector`], for engine and property tests.
//!
//! Records carry ids, a `modified_at` from the injected clock and a store-wide monotonic
//! version. The pull stream orders records by (stream time, id) with an opaque
//! `{"t","id"}` checkpoint, inclusive rewinds, horizon clamping and since/until ranges; deletes
//! and merges stay as tombstones and surface as changes. Objects can be set to make plain edits
//! invisible to pulls (WhiteLabelCRO's silent field updates). The test-facing
//! [`MemoryHandle`] seeds, edits, deletes, merges, injects faults and reads the ground truth.

mod handle;
mod state;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::write::Written;
use connector_api::{
    Capabilities, Change, ChangeKind, Checkpoint, ConnectorError, IdentityKey, ObjectCaps, PullPage,
    PullRequest, Record, SharedClock, Write, WriteOp, WriteOutcome,
};

pub use handle::MemoryHandle;
use state::State;
pub use state::{Position, Stored};

/// One object type of the fake system.
#[derive(Debug, Clone)]
pub struct ObjectConfig {
    /// The object's name.
    pub name: String,
    /// Most writes per `apply`.
    pub max_batch: usize,
    /// Largest page a pull returns.
    pub max_page: usize,
    /// False: plain edits (through [`MemoryHandle::edit`]) do not appear in pulls.
    pub pull_sees_every_edit: bool,
    /// Fields `find` is advertised to search.
    pub identity_fields: Vec<String>,
}

impl ObjectConfig {
    /// An object with batch 100, page 100, every edit visible, identity on email and external_id.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_batch: 100,
            max_page: 100,
            pull_sees_every_edit: true,
            identity_fields: vec!["email".into(), "external_id".into()],
        }
    }
}

/// How many calls of each kind the connector served (ground truth for read budgets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `pull` calls.
    pub pulls: u64,
    /// `fetch` calls.
    pub fetches: u64,
    /// `find` calls.
    pub finds: u64,
    /// `find_many` calls (one per call, however many values it carries).
    pub find_manys: u64,
    /// `apply` calls.
    pub applies: u64,
}

/// The fake system. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct MemoryConnector {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
    kind: String,
    objects: Vec<ObjectConfig>,
}

impl MemoryConnector {
    /// A system of kind `memory` with the given objects, reading time from `clock`.
    pub fn new(clock: SharedClock, objects: Vec<ObjectConfig>) -> Self {
        let mut state = State::default();
        for o in &objects {
            state.objects.insert(o.name.clone(), Default::default());
            state.silent_edits.insert(o.name.clone(), !o.pull_sees_every_edit);
        }
        Self { state: Arc::new(Mutex::new(state)), clock, kind: "memory".into(), objects }
    }

    /// The test-facing handle to this system's state.
    pub fn handle(&self) -> MemoryHandle {
        MemoryHandle::new(self.state.clone(), self.clock.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory connector lock")
    }

    fn config(&self, object: &str) -> Result<&ObjectConfig, ConnectorError> {
        self.objects.iter().find(|o| o.name == object).ok_or_else(|| state::unknown_object(object))
    }
}

fn parse_checkpoint(cp: &Checkpoint) -> Result<Option<Position>, ConnectorError> {
    if cp.0.is_null() {
        return Ok(None);
    }
    serde_json::from_value(cp.0.clone())
        .map(Some)
        .map_err(|e| ConnectorError::Protocol { message: format!("unreadable memory checkpoint: {e}") })
}

fn to_checkpoint(p: Option<&Position>) -> Checkpoint {
    Checkpoint(p.map_or(serde_json::Value::Null, |p| serde_json::to_value(p).expect("position serialises")))
}

fn change_of(s: &Stored) -> Change {
    Change {
        object: s.record.object.clone(),
        id: s.record.id.clone(),
        kind: s.kind.clone(),
        modified_at: s.stream_at,
        fields: s.record.fields.clone(),
        partial: false,
        event_id: None,
    }
}

#[async_trait]
impl connector_api::Connector for MemoryConnector {
    fn capabilities(&self) -> Capabilities {
        let objects = self
            .objects
            .iter()
            .map(|o| ObjectCaps {
                name: o.name.clone(),
                max_batch: o.max_batch,
                max_page: o.max_page,
                pull_sees_every_edit: o.pull_sees_every_edit,
                modified_times: true,
                reports_deletes: true,
                reports_merges: true,
                identity_fields: o.identity_fields.clone(),
                unreadable_fields: Vec::new(),
                record_space: o.name.clone(),
            })
            .collect();
        Capabilities { kind: self.kind.clone(), objects, rate_buckets: Vec::new() }
    }

    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
        let max_page = self.config(req.object)?.max_page;
        let mut st = self.lock();
        st.calls.pulls += 1;
        if !st.fail_pull.is_empty() {
            return Err(st.fail_pull.remove(0));
        }
        let input = req.checkpoint.map(parse_checkpoint).transpose()?.flatten();
        // Start: strictly after the checkpoint, or (first page of a run) inclusively from
        // `rewind` behind it; never before `since`.
        let mut from = match (&input, req.rewind) {
            (Some(p), None) => Some((p.clone(), false)),
            (Some(p), Some(overlap)) => {
                let back = chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::MAX);
                Some((
                    Position {
                        t: p.t.checked_sub_signed(back).unwrap_or(DateTime::<Utc>::MIN_UTC),
                        id: String::new(),
                    },
                    true,
                ))
            }
            (None, _) => None,
        };
        if let Some(since) = req.since {
            let floor = Position { t: since, id: String::new() };
            if from.as_ref().is_none_or(|(p, _)| *p < floor) {
                from = Some((floor, true));
            }
        }
        let upto = req.until.map_or(req.horizon, |u| u.min(req.horizon));
        let limit = req.limit.min(max_page).max(1);
        let entries = st.stream(req.object, from.as_ref().map(|(p, inc)| (p, *inc)), upto)?;
        let done = entries.len() <= limit;
        let changes: Vec<Change> = entries.iter().take(limit).map(|s| change_of(s)).collect();
        let last = changes.last().map(|c| Position { t: c.modified_at, id: c.id.clone() });
        let newest = changes.iter().map(|c| c.modified_at).max();
        // A full page continues exactly after its last entry; a final page never moves the
        // checkpoint backwards (a rewind that found only re-reads).
        let next = match (last, done) {
            (Some(l), false) => Some(l),
            (l, true) => l.into_iter().chain(input).max(),
            (None, false) => unreachable!("a page that is not done has entries"),
        };
        Ok(PullPage { changes, quarantined: Vec::new(), next: to_checkpoint(next.as_ref()), newest, done })
    }

    async fn estimate(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<u64>, ConnectorError> {
        let st = self.lock();
        let records = st.object(object)?;
        let inside = |s: &&state::Stored| {
            since.is_none_or(|t| s.stream_at >= t) && until.is_none_or(|t| s.stream_at <= t)
        };
        Ok(Some(records.values().filter(inside).count() as u64))
    }

    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        let mut st = self.lock();
        st.calls.fetches += 1;
        let records = st.object(object)?;
        Ok(ids.iter().filter_map(|id| records.get(id)).map(|s| s.record.clone()).collect())
    }

    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
        let mut st = self.lock();
        st.calls.finds += 1;
        st.find(object, &key.field, &key.value)
    }

    /// One call answers every value, with `find`'s matching.
    async fn find_many(
        &self,
        object: &str,
        field: &str,
        values: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<Record>>, ConnectorError> {
        let mut st = self.lock();
        st.calls.find_manys += 1;
        values.iter().map(|v| Ok((v.clone(), st.find(object, field, v)?))).collect()
    }

    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let max_batch = self.config(object)?.max_batch;
        let now = self.clock.now();
        let mut st = self.lock();
        st.calls.applies += 1;
        st.write_log.extend(writes.iter().map(|w| (object.to_string(), w.clone())));
        if !st.fail_apply.is_empty() {
            return Err(st.fail_apply.remove(0));
        }
        if writes.len() > max_batch {
            return Err(ConnectorError::Invalid {
                message: format!("batch of {} exceeds max_batch {max_batch}", writes.len()),
                code: Some("batch_too_large".into()),
                field: None,
            });
        }
        Ok(writes
            .into_iter()
            .map(|w| WriteOutcome { result: apply_one(&mut st, object, w.op, now), key: w.key })
            .collect())
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn apply_one(st: &mut State, object: &str, op: WriteOp, now: DateTime<Utc>) -> connector_api::WriteResult {
    match op {
        WriteOp::Create { mut fields, external_id } => {
            if let Some(err) = st.rejection(object, &fields) {
                return Err(err);
            }
            if let Some(key) = external_id {
                if let Some(found) = st.find(object, &key.field, &key.value)?.into_iter().next() {
                    return Ok(Written {
                        id: found.id,
                        created: false,
                        modified_at: Some(found.modified_at),
                    });
                }
                fields.entry(key.field).or_insert(serde_json::Value::String(key.value));
            }
            let id = st.insert(object, None, fields, now)?;
            Ok(Written { id, created: true, modified_at: Some(now) })
        }
        WriteOp::Update { id, fields } => {
            if let Some(err) = st.rejection(object, &fields) {
                return Err(err);
            }
            let at = st.edit(object, &id, fields, now, false)?;
            Ok(Written { id, created: false, modified_at: Some(at) })
        }
        WriteOp::Delete { id } => {
            let exists = st.object(object)?.get(&id).map(|s| s.record.deleted);
            match exists {
                None => Err(state::not_found(object, &id)),
                Some(true) => Ok(Written { id, created: false, modified_at: None }),
                Some(false) => {
                    st.tombstone(object, &id, ChangeKind::Deleted, now)?;
                    Ok(Written { id, created: false, modified_at: Some(now) })
                }
            }
        }
    }
}
