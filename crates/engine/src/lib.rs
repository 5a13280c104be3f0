//! crosswalk's engine: the run loop ([`sync`]) and the ids it stamps runs with ([`ids`]).
//!
//! The engine sits above the pure core (mapping, reconciler) and the state store and below the
//! CLI, the web server and the demo; Cargo keeps it from reaching up (it does not depend on the
//! root crate) or sideways into a connector (it sees connectors only through `connector-api`).
//! The layers inside `sync/` are listed in its module docs and checked by `.ci/layers-check`.

// The crates below, under the names the engine's modules use (`crate::store`, `crate::mapping`).
use crosswalk_core::{mapping, reconcile};
use crosswalk_store as store;

pub mod ids;
pub mod sync;
