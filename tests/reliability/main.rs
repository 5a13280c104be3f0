//! The deterministic simulation harness (issue #9, scenarios §H): the real engine and connectors
//! against the three simulators in-process, with a seeded fault plan, crash points, simulated
//! people, and an oracle judged from the simulators' ground truth. One named test per scenario.
//!
//! `CROSSWALK_SEEDS=N` runs N seeds per scenario; `SIM_SEED=n` replays one seed (and checks its
//! determinism). See RELIABILITY.md.

mod crash_store;
mod harness;
mod net;
mod oracle;
mod oracle_self;
mod reconciler;
/// The log capture (one global subscriber routing each thread's events to its capture), shared
/// with the security tests; only [`sentinels::Capture`] is used here.
#[allow(dead_code)]
#[path = "../it/security/sentinels.rs"]
mod sentinels;
#[path = "../it/support.rs"]
mod support;
mod world;

mod bad_input;
mod correctness;
mod faults;
mod huge;
mod load;
mod webhooks;
