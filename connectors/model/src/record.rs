//! Connector-neutral records, changes, checkpoints and identity keys.
//!
//! A [`Record`] is what a system holds now; a [`Change`] is what a pull saw happen, and may carry
//! only some fields (a WhiteLabelCRO status-change event carries only the status). Field values
//! stay as the system's JSON; the engine's mapping layer turns them into canonical form.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Field name → value as the remote system represents it. A `BTreeMap` so iteration order (and
/// so every plan, log and hash derived from it) is deterministic.
pub type FieldMap = BTreeMap<String, serde_json::Value>;

/// One record as a system holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The object type within the system (`contacts`, `Contact`, `clients`).
    pub object: String,
    /// The system's id for the record.
    pub id: String,
    /// The system's last-modified time for the whole record.
    pub modified_at: DateTime<Utc>,
    /// All fields the connector read.
    pub fields: FieldMap,
    /// True when the system reports the record as deleted/archived.
    pub deleted: bool,
}

/// What happened to a record, as seen by a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Created or updated; `fields` holds the new values (all, or some when `partial`).
    Upsert,
    /// Deleted, archived or moved to a recycle bin.
    Deleted,
    /// Merged into another record, which survives; the link should move to the survivor.
    Merged {
        /// The surviving record's id.
        survivor_id: String,
    },
    /// Restored from deletion.
    Undeleted,
}

/// One change read from a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The object type within the system.
    pub object: String,
    /// The system's id for the record that changed.
    pub id: String,
    /// What happened.
    pub kind: ChangeKind,
    /// When the source says it happened (record modified time or event time).
    pub modified_at: DateTime<Utc>,
    /// The record's fields after the change; only some of them when `partial`.
    pub fields: FieldMap,
    /// True when `fields` is not the whole record (the engine merges it over what it knows).
    pub partial: bool,
    /// The source's event id, when the change came from an event feed or a webhook; the engine
    /// de-duplicates on it.
    pub event_id: Option<String>,
}

impl Change {
    /// A full-record upsert change built from a record.
    pub fn upsert(record: Record) -> Self {
        let kind = if record.deleted { ChangeKind::Deleted } else { ChangeKind::Upsert };
        Self {
            object: record.object,
            id: record.id,
            kind,
            modified_at: record.modified_at,
            fields: record.fields,
            partial: false,
            event_id: None,
        }
    }
}

/// A position in a stream, opaque to the engine and owned by the connector that made it.
///
/// The engine persists it after each page and hands it back on the next pull. The connector's
/// contract: rewinding a persisted checkpoint by the overlap (see
/// [`PullRequest`](crate::PullRequest)) never skips a change newer than
/// `min(horizon, newest change seen)`, so nothing is lost to late commits, clock skew or ties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(pub serde_json::Value);

/// A key to look a record up by when it has no link yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdentityKey {
    /// The field in the target system to search (`email`, `external_id`, `WLCRO_Id__c`).
    pub field: String,
    /// The value, already normalised by the engine.
    pub value: String,
}

/// A change the connector could not parse. It is kept with its reason while the rest of the page
/// proceeds; the engine stores it in the dead-letter list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The record or event id, when it could be read.
    pub id: Option<String>,
    /// Why it was rejected, for an admin to read.
    pub reason: String,
    /// The raw payload, truncated; stored, never logged.
    pub raw: String,
}
