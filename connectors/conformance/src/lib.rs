//! The shared connector conformance suite (scenarios §H.6): a [`ConformanceDriver`] that a
//! connector's test implements to control the backing system (a simulator, or a vendor sandbox
//! behind a feature), and generic async checks in [`suite`] that judge the connector only
//! through the [`Connector`](connector_api::Connector) trait and the system's ground truth.
//!
//! Used only by tests. Time is virtual: [`LinkedClock`] lets the connector's sleeps (pacing,
//! backoff, `Retry-After`) move the backing system's clock too, so nothing waits on the wall.

pub mod sims;
pub mod suite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::FieldMap;
pub use connector_api::testsuite::LinkedClock;

pub use sims::{failed, fields_json, linked_clock, logged_calls, sim_faults};
pub use suite::*;

/// Why a driver operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The backing system cannot do this (e.g. no deletes); the check returns early with a note.
    #[error("not supported by this system: {0}")]
    Unsupported(String),
    /// The operation failed.
    #[error("driver operation failed: {0}")]
    Failed(String),
}

/// What driver operations return.
pub type DriverResult<T> = Result<T, DriverError>;

/// A fault mode of the backing system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// Answer every request 429 with this `Retry-After`.
    ThrottleStorm {
        /// The delay the server asks for.
        retry_after: Duration,
    },
    /// Answer every request 503 (a maintenance window).
    Maintenance,
}

/// One request the backing system received (ground truth for politeness checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// When the system received it (its clock).
    pub at: DateTime<Utc>,
    /// The `Retry-After` it answered with.
    pub retry_after: Option<Duration>,
}

/// Control over the system behind the connector under test.
#[async_trait]
pub trait ConformanceDriver: Send + Sync {
    /// The object the checks exercise.
    fn object(&self) -> &str;
    /// The backing system's time now.
    fn now(&self) -> DateTime<Utc>;
    /// Moves the backing system's clock and the connector's clock forward together.
    async fn advance(&self, d: Duration);
    /// Valid fields for a new record, unique per `n` (e.g. a distinct email).
    fn sample(&self, n: u32) -> FieldMap;
    /// A string field a person can edit in the system's UI.
    fn edit_field(&self) -> String;
    /// Creates a record as the system's own users would, visible to pulls. Returns its id.
    async fn seed(&self, fields: FieldMap) -> DriverResult<String>;
    /// A person edits fields in the system's UI (an edit some systems do not report to pulls).
    async fn external_edit(&self, id: &str, fields: FieldMap) -> DriverResult<()>;
    /// Creates `n` records whose changes share one timestamp. Returns their ids in order.
    async fn same_timestamp_burst(&self, n: usize) -> DriverResult<Vec<String>>;
    /// Deletes a record, where the system can.
    async fn delete(&self, id: &str) -> DriverResult<()>;
    /// Merges `loser` into `survivor`, where the system can.
    async fn merge(&self, loser: &str, survivor: &str) -> DriverResult<()>;
    /// Ground truth: a record's fields, `None` when it does not exist.
    async fn record(&self, id: &str) -> DriverResult<Option<FieldMap>>;
    /// Ground truth: ids of records whose `field` equals `value`.
    async fn records_with(&self, field: &str, value: &str) -> DriverResult<Vec<String>>;
    /// Every request received so far.
    async fn request_log(&self) -> Vec<LoggedCall>;
    /// Forgets the request log.
    async fn clear_log(&self);
    /// Sets a fault mode.
    async fn set_fault(&self, fault: Fault) -> DriverResult<()>;
    /// Makes the change source deliver duplicates and out-of-order changes (webhook-style).
    async fn duplicate_and_reorder(&self, on: bool) -> DriverResult<()>;
}
