//! The contract between the crosswalk engine and its connectors.
//!
//! Connectors depend on this crate and never on the engine, so Cargo enforces the direction of
//! the dependency. Everything a connector exchanges with the engine is defined here: records and
//! changes ([`record`]), the pull progress guard ([`progress`]), writes and their per-item
//! outcomes ([`write`]), error classes ([`error`]), the [`Connector`] trait itself
//! ([`connector`]), what a remote says about its schema and scopes ([`schema`]), the injected
//! [`Clock`] ([`clock`]) and the shared HTTP client with its transport seam ([`http`]). The
//! records, writes, errors, schemas, progress guard and the trait are defined in
//! `connector-model`, which depends on no runtime or HTTP crate, and re-exported here unchanged;
//! the clock and the HTTP client stay here because they need tokio and reqwest.

pub mod clock;
pub mod http;

/// The contract's data and trait, defined in `connector-model` (no runtime or HTTP crate) and
/// re-exported here so every `connector_api::...` path stays valid.
pub use connector_model::{connector, error, progress, record, schema, write};
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use connector::{Capabilities, Connector, ObjectCaps, PullPage, PullRequest, RateBucket};
/// The stop handed to connectors ([`Connector::stop_on`]); re-exported so they need no
/// dependency of their own.
pub use connector_model::StopToken;
pub use error::{ConnectorError, ErrorClass};
pub use progress::PullTrail;
pub use record::{Change, ChangeKind, Checkpoint, FieldMap, IdentityKey, Quarantined, Record};
pub use schema::{AccessNeed, FieldSchema, FieldType, MissingScope, ObjectSchema};
pub use write::{Write, WriteOp, WriteOutcome, WriteResult};
