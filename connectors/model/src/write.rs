//! Writes the engine asks a connector to make, and their per-item outcomes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;
use crate::record::{FieldMap, IdentityKey};

/// One write, carrying the idempotency key the engine recorded before sending it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Write {
    /// Stable across retries and re-runs of the same intent.
    pub key: String,
    /// What to do.
    pub op: WriteOp,
}

/// The operation of a [`Write`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WriteOp {
    /// Create a record. `external_id` names a field that uniquely carries the other system's id,
    /// so the connector can find-or-create (or upsert) and a retry never makes a second record.
    Create {
        /// Fields to set.
        fields: FieldMap,
        /// The unique back-link key to find-or-create on.
        external_id: Option<IdentityKey>,
    },
    /// Update some fields of an existing record.
    Update {
        /// The record's id in the target system.
        id: String,
        /// Only the fields to change.
        fields: FieldMap,
    },
    /// Delete (archive) a record, only when the pair allows deletes.
    Delete {
        /// The record's id in the target system.
        id: String,
    },
}

/// What a successful write did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    /// The record's id (new for a create).
    pub id: String,
    /// True when a record was created; false when a create found the existing one.
    pub created: bool,
    /// The record's modified time after the write, when the system returned it.
    pub modified_at: Option<DateTime<Utc>>,
}

/// The result of one write.
pub type WriteResult = Result<Written, ConnectorError>;

/// One write's outcome, matched to its intent by `key`.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The key of the [`Write`] this answers.
    pub key: String,
    /// Success or the classified error for this item alone.
    pub result: WriteResult,
}
