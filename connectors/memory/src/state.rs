//! The fake CRM's data: records with versions and stream positions, tombstones, the pull
//! stream ordered by (time, id), and the rules that writes follow.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use connector_api::{ChangeKind, ConnectorError, FieldMap, Record, Write};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored record with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The record as `fetch` returns it.
    pub record: Record,
    /// Bumped on every change (globally monotonic across the store).
    pub version: u64,
    /// The record's position in the pull stream; a silent edit does not move it.
    pub stream_at: DateTime<Utc>,
    /// What the pull reports at that position.
    pub kind: ChangeKind,
}

/// A position in the pull stream: everything up to and including (`t`, `id`) was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// Stream time.
    pub t: DateTime<Utc>,
    /// Tie-breaking id.
    pub id: String,
}

/// A permanent rejection rule: writes setting `field` to `value` on `object` fail with `error`.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub(crate) object: String,
    pub(crate) field: String,
    pub(crate) value: Value,
    pub(crate) error: ConnectorError,
}

/// All mutable state of one fake system.
#[derive(Debug, Default)]
pub struct State {
    pub(crate) objects: BTreeMap<String, BTreeMap<String, Stored>>,
    pub(crate) silent_edits: BTreeMap<String, bool>,
    pub(crate) next_id: u64,
    pub(crate) version: u64,
    pub(crate) write_log: Vec<(String, Write)>,
    pub(crate) fail_apply: Vec<ConnectorError>,
    pub(crate) fail_pull: Vec<ConnectorError>,
    pub(crate) rejections: Vec<Rejection>,
    pub(crate) calls: crate::CallCounts,
}

impl State {
    pub(crate) fn object_mut(
        &mut self,
        object: &str,
    ) -> Result<&mut BTreeMap<String, Stored>, ConnectorError> {
        self.objects.get_mut(object).ok_or_else(|| unknown_object(object))
    }

    pub(crate) fn object(&self, object: &str) -> Result<&BTreeMap<String, Stored>, ConnectorError> {
        self.objects.get(object).ok_or_else(|| unknown_object(object))
    }

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Creates a record (id chosen here unless given) visible in the stream at `now`.
    pub(crate) fn insert(
        &mut self,
        object: &str,
        id: Option<String>,
        fields: FieldMap,
        now: DateTime<Utc>,
    ) -> Result<String, ConnectorError> {
        let id = id.unwrap_or_else(|| {
            self.next_id += 1;
            format!("{}-{:06}", object, self.next_id)
        });
        let version = self.bump();
        let record =
            Record { object: object.to_string(), id: id.clone(), modified_at: now, fields, deleted: false };
        let stored = Stored { record, version, stream_at: now, kind: ChangeKind::Upsert };
        self.object_mut(object)?.insert(id.clone(), stored);
        Ok(id)
    }

    /// Changes a live record. `visible` forces a stream entry even for silent-edit objects.
    pub(crate) fn edit(
        &mut self,
        object: &str,
        id: &str,
        fields: FieldMap,
        now: DateTime<Utc>,
        visible: bool,
    ) -> Result<DateTime<Utc>, ConnectorError> {
        let silent = !visible && self.silent_edits.get(object).copied().unwrap_or(false);
        let version = self.bump();
        let s = self.live_mut(object, id)?;
        s.record.fields.extend(fields);
        s.record.modified_at = now;
        s.version = version;
        if !silent {
            s.stream_at = now;
            s.kind = ChangeKind::Upsert;
        }
        Ok(now)
    }

    /// Turns a record into a tombstone reported as `kind` (deleted or merged).
    pub(crate) fn tombstone(
        &mut self,
        object: &str,
        id: &str,
        kind: ChangeKind,
        now: DateTime<Utc>,
    ) -> Result<(), ConnectorError> {
        let version = self.bump();
        let s = self.live_mut(object, id)?;
        s.record.deleted = true;
        s.record.modified_at = now;
        s.version = version;
        s.stream_at = now;
        s.kind = kind;
        Ok(())
    }

    /// Brings a tombstone back.
    pub(crate) fn restore(
        &mut self,
        object: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ConnectorError> {
        let version = self.bump();
        let s = self.object_mut(object)?.get_mut(id).ok_or_else(|| not_found(object, id))?;
        s.record.deleted = false;
        s.record.modified_at = now;
        s.version = version;
        s.stream_at = now;
        s.kind = ChangeKind::Undeleted;
        Ok(())
    }

    pub(crate) fn live_mut(&mut self, object: &str, id: &str) -> Result<&mut Stored, ConnectorError> {
        self.object_mut(object)?
            .get_mut(id)
            .filter(|s| !s.record.deleted)
            .ok_or_else(|| not_found(object, id))
    }

    /// Live records whose `field` equals `value` (case-insensitively for email fields).
    pub(crate) fn find(&self, object: &str, field: &str, value: &str) -> Result<Vec<Record>, ConnectorError> {
        let fold = field.to_ascii_lowercase().contains("email");
        let matches = |v: &Value| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return false,
            };
            if fold { text.trim().eq_ignore_ascii_case(value.trim()) } else { text == value }
        };
        Ok(self
            .object(object)?
            .values()
            .filter(|s| !s.record.deleted && s.record.fields.get(field).is_some_and(matches))
            .map(|s| s.record.clone())
            .collect())
    }

    /// The first rejection rule matching a write of `fields` to `object`.
    pub(crate) fn rejection(&self, object: &str, fields: &FieldMap) -> Option<ConnectorError> {
        self.rejections
            .iter()
            .find(|r| r.object == object && fields.get(&r.field) == Some(&r.value))
            .map(|r| r.error.clone())
    }

    /// Stream entries of `object` with `from <= key` (or `from < key` when not inclusive) and
    /// `key.t <= upto`, in (time, id) order.
    pub(crate) fn stream(
        &self,
        object: &str,
        from: Option<(&Position, bool)>,
        upto: DateTime<Utc>,
    ) -> Result<Vec<&Stored>, ConnectorError> {
        let mut out: Vec<&Stored> = self
            .object(object)?
            .values()
            .filter(|s| s.stream_at <= upto)
            .filter(|s| match from {
                None => true,
                Some((p, inclusive)) => {
                    let key = (s.stream_at, s.record.id.as_str());
                    let at = (p.t, p.id.as_str());
                    if inclusive { key >= at } else { key > at }
                }
            })
            .collect();
        out.sort_by(|a, b| (a.stream_at, &a.record.id).cmp(&(b.stream_at, &b.record.id)));
        Ok(out)
    }
}

pub(crate) fn unknown_object(object: &str) -> ConnectorError {
    ConnectorError::Invalid {
        message: format!("unknown object `{object}`"),
        code: Some("unknown_object".into()),
        field: None,
    }
}

pub(crate) fn not_found(object: &str, id: &str) -> ConnectorError {
    ConnectorError::NotFound { message: format!("{object} {id}") }
}
