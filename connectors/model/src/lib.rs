//! The data of the contract between the crosswalk engine and its connectors.
//!
//! Everything a connector exchanges with the engine that is plain data or a trait lives here:
//! records and changes ([`record`]), the pull progress guard ([`progress`]), writes and their
//! per-item outcomes ([`write`]), error classes ([`error`]), the [`Connector`] trait itself
//! ([`connector`]) and what a remote says about its schema and scopes ([`schema`]).
//!
//! This crate depends on no async runtime and no HTTP crate (serde, chrono, thiserror,
//! async-trait and the `tracing` facade only), so the pure core (`crosswalk-core`) can depend on
//! it without pulling tokio or reqwest in. The injected clock and the shared HTTP client live in
//! `connector-api`, which re-exports everything here under the same paths.

pub mod connector;
pub mod error;
pub mod progress;
pub mod record;
pub mod schema;
pub mod stop;
pub mod write;

pub use connector::{Capabilities, Connector, ObjectCaps, PullPage, PullRequest, RateBucket};
pub use error::{ConnectorError, ErrorClass};
pub use progress::PullTrail;
pub use record::{Change, ChangeKind, Checkpoint, FieldMap, IdentityKey, Quarantined, Record};
pub use schema::{AccessNeed, FieldSchema, FieldType, MissingScope, ObjectSchema};
pub use stop::StopToken;
pub use write::{Write, WriteOp, WriteOutcome, WriteResult};
