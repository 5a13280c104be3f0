//! What the API simulators share, and nothing vendor-specific.
//!
//! Each simulator (WhiteLabelCRO, HubSpot, Salesforce) is an axum app written from its spec in
//! `../shared/specs/`. This crate gives them a controllable [`SimClock`], a [`RequestLog`] (ground
//! truth for politeness checks), a seeded [`FaultGate`] and [`serve`] to run an app on loopback.
//! It deliberately does not depend on `connector-api`: a simulator must not share the
//! connector's reading of the API.

pub mod clock;
pub mod faults;
pub mod log;
pub mod server;

pub use clock::SimClock;
pub use faults::{FaultConfig, FaultGate, Injected};
pub use log::{LoggedRequest, RequestLog, WriteEffect, record_requests};
pub use server::{SimHandle, serve};
