//! What every simulator-backed driver shares, so a connector's driver holds only its
//! differences: the linked clock, error and field conversions, the request log and fault modes
//! in the simulators' terms, and [`conformance_checks!`](crate::conformance_checks), one test per
//! check of the suite.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{FieldMap, ManualClock};
use serde_json::{Map, Value};
use sim_core::{FaultConfig, LoggedRequest};

use crate::{DriverError, Fault, LinkedClock, LoggedCall};

/// A connector clock standing at `start` whose every advance (and sleep) also moves the
/// simulator by as much through `advance` (its clock's, or the org's own `advance`).
pub fn linked_clock(
    start: DateTime<Utc>,
    advance: impl Fn(chrono::Duration) + Send + Sync + 'static,
) -> LinkedClock {
    LinkedClock::new(ManualClock::new(start), move |d| {
        advance(chrono::Duration::from_std(d).expect("duration in range"))
    })
}

/// A simulator error as a failed driver operation.
pub fn failed(e: impl std::fmt::Debug) -> DriverError {
    DriverError::Failed(format!("{e:?}"))
}

/// Fields as the JSON object the simulators seed and edit with.
pub fn fields_json(fields: FieldMap) -> Map<String, Value> {
    fields.into_iter().collect()
}

/// A simulator's request log in the suite's terms.
pub fn logged_calls(log: Vec<LoggedRequest>) -> Vec<LoggedCall> {
    log.into_iter()
        .map(|e| LoggedCall {
            method: e.method,
            path: e.path,
            status: e.status,
            at: e.at,
            retry_after: e.retry_after.map(Duration::from_secs),
        })
        .collect()
}

/// A fault mode as the simulators' fault configuration (every request 429 with the given
/// `Retry-After`, or 503).
pub fn sim_faults(fault: Fault) -> FaultConfig {
    match fault {
        Fault::None => FaultConfig::default(),
        Fault::ThrottleStorm { retry_after } => FaultConfig {
            rate_429: 1.0,
            retry_after_secs: Some(retry_after.as_secs()),
            ..FaultConfig::default()
        },
        Fault::Maintenance => FaultConfig { maintenance: true, ..FaultConfig::default() },
    }
}

/// One `#[tokio::test]` per check of the suite, each on a fresh world: `$world` is a future
/// whose output has the fields `driver` (a [`ConformanceDriver`](crate::ConformanceDriver)) and
/// `connector`. Use it once per object, inside a module.
#[macro_export]
macro_rules! conformance_checks {
    ($world:expr) => {
        $crate::conformance_checks!(@each $world;
            paging_exactly_once,
            future_checkpoint_returns_nothing,
            idempotent_create_replay,
            tie_at_page_boundary,
            rewind_rereads_overlap,
            duplicate_and_reordered_events,
            throttle_storm_is_polite,
            maintenance_503_recovers,
            silent_edit_found_by_fetch,
            find_many_agrees_with_find,
        );
    };
    (@each $world:expr; $($name:ident),* $(,)?) => {
        $(#[tokio::test]
        async fn $name() {
            let w = $world.await;
            $crate::suite::$name(&w.driver, &w.connector).await;
        })*
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::Clock;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn linked_clock_sleeps_move_both_clocks() {
        let other = Arc::new(Mutex::new(chrono::Duration::zero()));
        let o = other.clone();
        let clock = linked_clock(ManualClock::at_epoch().now(), move |d| *o.lock().unwrap() += d);
        let t0 = clock.now();
        clock.sleep(Duration::from_secs(5)).await;
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now() - t0, chrono::Duration::seconds(7));
        assert_eq!(*other.lock().unwrap(), chrono::Duration::seconds(7));
    }

    #[test]
    fn a_throttle_storm_asks_for_its_retry_after() {
        let cfg = sim_faults(Fault::ThrottleStorm { retry_after: Duration::from_secs(3) });
        assert_eq!((cfg.rate_429, cfg.retry_after_secs), (1.0, Some(3)));
        assert!(sim_faults(Fault::Maintenance).maintenance);
    }
}
