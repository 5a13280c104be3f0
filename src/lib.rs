//! crosswalk: a bidirectional CRM sync reconciler.
//!
//! The engine pulls changes from connectors (see the `connector-api` crate), links records across
//! systems ([`store`] holds the links and their last-agreed base), merges each field three ways
//! under the rules of a pair's mapping file ([`mapping`], [`reconcile`]), writes the result back
//! and parks what it cannot decide in the review queue. See ARCHITECTURE.md for the codemap.

/// Every binary that links crosswalk (the CLI, the tests, the benches) allocates with mimalloc:
/// the run loop allocates per record and per request, and glibc's malloc spent about a third of
/// the cycle bench's CPU in allocation and free-list consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod commands;
pub mod dead_letters;
#[cfg(feature = "sim")]
pub mod demo;
pub mod ops;
pub mod progress;
pub mod registry;
pub mod remote_check;
pub mod review;
pub mod serve;
pub mod settings;
pub mod settings_hubspot;
pub mod settings_needs;
pub mod settings_urls;
pub mod shared_quota;
pub mod status;
pub mod telemetry;
pub mod webhook_settings;

// The pure core, the state store and the engine are crates of their own (Cargo keeps I/O out of
// the core, SQL inside the store and the CLI out of the engine); re-exported so `crate::mapping`,
// `crosswalk::store`, `crosswalk::sync`, ... keep working.
pub use crosswalk_core::{mapping, reconcile, side};
pub use crosswalk_engine::{ids, sync};
pub use crosswalk_store as store;
