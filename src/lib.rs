//! crosswalk: a bidirectional CRM sync reconciler.
//!
//! The engine pulls changes from connectors (see the `connector-api` crate), links records across
//! systems ([`store`] holds the links and their last-agreed base), merges each field three ways
//! under the rules of a pair's mapping file ([`mapping`], [`reconcile`]), writes the result back
//! and parks what it cannot decide in the review queue. See ARCHITECTURE.md for the codemap.

pub mod cli;
pub mod commands;
pub mod dead_letters;
#[cfg(feature = "sim")]
pub mod demo;
pub mod ids;
pub mod ops;
pub mod progress;
pub mod registry;
pub mod remote_check;
pub mod review;
pub mod serve;
pub mod settings;
pub mod settings_needs;
pub mod settings_urls;
pub mod status;
pub mod sync;
pub mod telemetry;
pub mod webhook_settings;

// The pure core and the state store are crates of their own (Cargo keeps I/O out of the core and
// SQL inside the store); re-exported so `crate::mapping`, `crosswalk::store`, ... keep working.
pub use crosswalk_core::{mapping, reconcile, side};
pub use crosswalk_store as store;
