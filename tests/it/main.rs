//! The one integration-test binary. Each module is one area; helpers in `support` spawn what a
//! test needs (a fresh store on each backend, simulators on loopback).
mod cli;
mod reconcile_table;
mod store_suite;
mod support;
mod sync_convergence;
mod sync_engine;
