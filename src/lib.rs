//! crosswalk: a bidirectional CRM sync reconciler.
//!
//! The engine pulls changes from connectors (see the `connector-api` crate), links records across
//! systems ([`store`] holds the links and their last-agreed base), merges each field three ways
//! under the rules of a pair's mapping file ([`mapping`], [`reconcile`]), writes the result back
//! and parks what it cannot decide in the review queue. See ARCHITECTURE.md for the codemap.

pub mod cli;
pub mod commands;
pub mod dead_letters;
pub mod demo;
pub mod ids;
pub mod mapping;
pub mod ops;
pub mod progress;
pub mod reconcile;
pub mod registry;
pub mod remote_check;
pub mod review;
pub mod serve;
pub mod settings;
pub mod settings_needs;
pub mod settings_urls;
pub mod side;
pub mod store;
pub mod sync;
pub mod telemetry;
