//! What the WhiteLabelCRO pull benchmarks share: an in-process simulator seeded with `n` lead
//! events (50 per second of simulator time, so ties happen) with rate limits out of the way, and
//! a connector on a clock linked to the simulator's.

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use connector_api::http::ReqwestTransport;
use connector_conformance::linked_clock;
use connector_whitelabelcro::{WlcroConfig, WlcroConnector};
use sim_core::SimHandle;
use sim_whitelabelcro::{RateLimitConfig, SeedRecord, SimConfig, SimState, start};

/// The simulator with `n` events and a connector reading it.
pub async fn seeded(n: usize) -> (SimHandle, SimState, WlcroConnector) {
    let t0 = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").expect("time").to_utc();
    let (handle, state) = start(SimConfig::frozen(1, t0)).await.expect("sim");
    state.set_rate_limits(RateLimitConfig {
        read: 1_000_000_000,
        write: 1_000_000_000,
        ..RateLimitConfig::default()
    });
    for i in 0..n {
        let r = SeedRecord {
            first_name: "Bench".into(),
            last_name: format!("N{i}"),
            email: format!("bench{i}@example.test"),
            ..SeedRecord::default()
        };
        state.seed_at(r, true, true, None).expect("seed");
        if i % 50 == 0 {
            state.advance(chrono::Duration::seconds(1));
        }
    }
    let sim_clock = state.clock.clone();
    let clock = linked_clock(state.now(), move |d| sim_clock.advance(d));
    let mut cfg = WlcroConfig::new(handle.base_url(), SimConfig::default_key().into());
    cfg.read_per_minute = 1_000_000_000;
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(30)).expect("transport"));
    let connector = WlcroConnector::new(cfg, transport, Arc::new(clock), 1).expect("connector");
    (handle, state, connector)
}
