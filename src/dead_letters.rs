//! The dead-letter service shared by `crosswalk dead-letters` and the admin page: list with
//! filters, one letter, retry and discard.
//!
//! **Retry is the normal path, not a replay.** A dead letter names the record it was about (a
//! pulled record the connector could not read, or the record an unreadable webhook delivery
//! named). Retrying it stores a re-read hint for that record as a pending event of its system, in
//! the same transaction that marks the letter `retried`; the next run of a pair over that system
//! re-reads the record from the system itself (`sync::webhook_events`) and reconciles it like any
//! other page. So once the cause is fixed at the source, the fixed record is what gets synced,
//! and a retry twice stores one hint (the event id is `dead-letter:<id>`). A letter that names no
//! record has nothing to re-read: retry refuses and says to discard it once fixed at the source.
//! Payloads are shown here (CLI and admin page), never logged.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use connector_api::{Change, ChangeKind, FieldMap};

use crate::store::{
    DeadLetter, DeadLetterChange, DeadLetterFilter, DeadLetterStatus, Redrive, Store, StoreError,
};
use crate::sync::webhook_events::EventHint;

/// Why a dead-letter action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// No letter with that id.
    #[error("dead letter {0} not found; `crosswalk dead-letters list --status all` lists them")]
    NotFound(i64),
    /// It has another status that the action does not leave.
    #[error("dead letter {id} is {status}; only open dead letters can be {action}")]
    NotOpen {
        /// The letter.
        id: i64,
        /// Its status.
        status: DeadLetterStatus,
        /// `retried` or `discarded`.
        action: &'static str,
    },
    /// It names no record, so nothing can be re-read.
    #[error(
        "dead letter {0} names no record (its payload did not even hold an id), so there is nothing \
         to re-read; fix it at the source, then `crosswalk dead-letters discard {0}`"
    )]
    NoRecord(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a retry or discard did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// The letter changed now.
    Now,
    /// It already had that status: nothing changed.
    Already,
}

/// The dead-letter service over a store.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    store: Arc<dyn Store>,
}

impl DeadLetters {
    /// A service over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The letters `filter` matches, newest first.
    pub async fn list(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, DeadLetterError> {
        Ok(self.store.find_dead_letters(filter).await?)
    }

    /// One letter.
    pub async fn get(&self, id: i64) -> Result<DeadLetter, DeadLetterError> {
        self.store.dead_letter(id).await?.ok_or(DeadLetterError::NotFound(id))
    }

    /// Open letters by reason, most first.
    pub async fn counts_by_reason(&self) -> Result<Vec<(String, u64)>, DeadLetterError> {
        Ok(self.store.count_dead_letters_by_reason().await?)
    }

    /// Sends the letter back through the normal path: the next run re-reads the record it
    /// names. Idempotent.
    pub async fn retry(&self, id: i64, by: &str, at: DateTime<Utc>) -> Result<Done, DeadLetterError> {
        let letter = self.get(id).await?;
        let Some(record) = letter.record_id.clone().filter(|r| !r.is_empty()) else {
            return match letter.status {
                DeadLetterStatus::Open => Err(DeadLetterError::NoRecord(id)),
                status => Err(DeadLetterError::NotOpen { id, status, action: "retried" }),
            };
        };
        let redrive = Redrive {
            source: letter.system.clone(),
            event_id: format!("dead-letter:{id}"),
            payload: redrive_payload(&letter.object, &record, at),
        };
        self.outcome(id, "retried", self.store.retry_dead_letter(id, &redrive, by, at).await?)
    }

    /// Marks the letter discarded: kept as a record, never re-processed.
    pub async fn discard(&self, id: i64, by: &str, at: DateTime<Utc>) -> Result<Done, DeadLetterError> {
        self.outcome(id, "discarded", self.store.discard_dead_letter(id, by, at).await?)
    }

    fn outcome(
        &self,
        id: i64,
        action: &'static str,
        change: DeadLetterChange,
    ) -> Result<Done, DeadLetterError> {
        match change {
            DeadLetterChange::Changed => Ok(Done::Now),
            DeadLetterChange::Already => Ok(Done::Already),
            DeadLetterChange::Not(status) => Err(DeadLetterError::NotOpen { id, status, action }),
            DeadLetterChange::Missing => Err(DeadLetterError::NotFound(id)),
        }
    }
}

/// The stored hint: one change naming the record, which the next run re-reads whole.
fn redrive_payload(object: &str, record: &str, at: DateTime<Utc>) -> String {
    let change = Change {
        object: object.to_string(),
        id: record.to_string(),
        kind: ChangeKind::Upsert,
        modified_at: at,
        fields: FieldMap::new(),
        partial: true,
        event_id: None,
    };
    let hint = EventHint::Changes { event_type: "dead_letter.retry".into(), changes: vec![change] };
    serde_json::to_string(&hint).unwrap_or_default()
}
