//! crosswalk's pure core: what a pair's sides are ([`side`]), the validated content of a mapping
//! file and its transforms ([`mapping`]), and the three-way reconciler that turns two sides and
//! a base into a plan ([`reconcile`]).
//!
//! Everything here is a function of its inputs: this crate depends on `connector-model` and
//! pure crates only (no tokio, reqwest or sqlx; `.ci/deps-check` fails the build if one
//! appears), so Cargo, not discipline, keeps I/O out of the reconciler.

pub mod mapping;
pub mod reconcile;
pub mod side;
