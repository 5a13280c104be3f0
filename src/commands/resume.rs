//! `crosswalk resume SYSTEM`: closes a system's circuit breaker by hand, so the pairs it paused
//! run again from the next run, and alerts that it closed (once, like every alert).
//!
//! Exit 0 when the breaker was closed or was not open (said so); exit 1 when the system is not
//! configured or the store cannot be reached.

use std::sync::Arc;

use connector_api::SystemClock;
use connector_api::http::{HttpTransport, ReqwestTransport};

use crate::ops::metrics::Metrics;
use crate::ops::{Ops, OpsConfig};
use crate::settings::Settings;

use super::Outcome;

/// Closes `system`'s breaker.
pub async fn run(settings: &Settings, system: &str) -> Outcome {
    if !settings.systems.contains_key(system) {
        let known: Vec<&str> = settings.systems.keys().map(String::as_str).collect();
        eprintln!("error: no system named `{system}`; configured systems: {}", known.join(", "));
        return Outcome::ActionNeeded;
    }
    let store = match super::open_store(settings).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let transport: Arc<dyn HttpTransport> = match ReqwestTransport::new(crate::ops::PROBE_LIMIT) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return Outcome::ActionNeeded;
        }
    };
    let clock = SystemClock::shared();
    let config = OpsConfig {
        breaker: settings.breaker.clone(),
        alerts: settings.alerts.clone(),
        systems: settings.systems.clone(),
        pairs: Vec::new(),
        transport,
        seed: crate::ids::IdGen::from_entropy(clock.clone()).next().as_u128() as u64,
    };
    let ops = match Ops::new(store, clock, Arc::new(Metrics::new()), config) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::ActionNeeded;
        }
    };
    let by = std::env::var("USER").unwrap_or_else(|_| "an operator".into());
    match ops.breaker().resume(system, &by).await {
        Ok(Some(t)) => {
            if let Err(e) = ops.alert(&[], &[t]).await {
                eprintln!("warning: the breaker is closed, but its alert could not be prepared: {e}");
            }
            ops.notifier().flush_within(crate::ops::FLUSH_LIMIT).await;
            println!("closed the circuit breaker of `{system}`: its pairs run again from the next run");
            Outcome::Ok
        }
        Ok(None) => {
            println!("the circuit breaker of `{system}` is not open; nothing to resume");
            Outcome::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::ActionNeeded
        }
    }
}
