//! The contract between the crosswalk engine and its connectors.
//!
//! Connectors depend on this crate and never on the engine, so Cargo enforces the direction of
//! the dependency. Everything a connector exchanges with the engine is defined here: records and
//! changes ([`record`]), the pull progress guard ([`progress`]), writes and their per-item
//! outcomes ([`write`]), error classes ([`error`]), the [`Connector`] trait itself
//! ([`connector`]), what a remote says about its schema and scopes ([`schema`]), the injected
//! [`Clock`] ([`clock`]) and the shared HTTP client with its transport seam ([`http`]).

pub mod clock;
pub mod connector;
pub mod error;
pub mod http;
pub mod progress;
pub mod record;
pub mod schema;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod write;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use connector::{Capabilities, Connector, ObjectCaps, PullPage, PullRequest, RateBucket};
pub use error::{ConnectorError, ErrorClass};
pub use progress::PullTrail;
pub use record::{Change, ChangeKind, Checkpoint, FieldMap, IdentityKey, Quarantined, Record};
pub use schema::{AccessNeed, FieldSchema, FieldType, MissingScope, ObjectSchema};
pub use write::{Write, WriteOp, WriteOutcome, WriteResult};
