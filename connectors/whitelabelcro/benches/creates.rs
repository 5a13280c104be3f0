//! 500 Create Lead actions against a write limit scaled to 100 per 2 s (`harness = false`), in
//! real time over loopback, one write per `apply` as the engine sends them. The connector is
//! configured with the documented 100/min and has to learn the shorter window from the
//! `X-RateLimit-*` headers.
//!
//! Judged from the simulator's request log: the 429 count and the time from the first to the
//! last create it received, against the quota-bound minimum: 500 requests in fixed windows of 100
//! need 5 windows, so the last request cannot come before 4 windows after the first (8 s).
//! Target: within 5 % of that, with zero 429s. Run:
//! `cargo bench -p connector-whitelabelcro --bench creates`.

use std::sync::Arc;
use std::time::Duration;

use connector_api::http::ReqwestTransport;
use connector_api::{Connector, FieldMap, IdentityKey, SystemClock, Write, WriteOp};
use connector_whitelabelcro::{WlcroConfig, WlcroConnector};
use serde_json::json;
use sim_whitelabelcro::{RateLimitConfig, SimConfig, start};

const CREATES: usize = 500;
const LIMIT: u32 = 100;
const WINDOW_SECS: f64 = 2.0;
const RUNS: usize = 3;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("whitelabelcro: {CREATES} creates, write limit {LIMIT} per {WINDOW_SECS} s (fixed windows)");
    println!(
        "{:>4} {:>10} {:>10} {:>8} {:>6} {:>9}",
        "run", "minimum_s", "actual_s", "ratio", "429s", "requests"
    );
    for run in 1..=RUNS {
        rt.block_on(one_run(run));
    }
}

async fn one_run(run: usize) {
    // The simulator on the system clock: windows open with the first request in real time.
    let config = SimConfig { seed: run as u64, ..SimConfig::default() };
    let (handle, state) = start(config).await.expect("sim");
    state.set_rate_limits(RateLimitConfig {
        read: 1_000_000,
        write: LIMIT,
        admin: 1_000_000,
        window_scale: WINDOW_SECS / 60.0,
    });
    let cfg = WlcroConfig::new(handle.base_url(), SimConfig::default_key().into());
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(30)).expect("transport"));
    let connector =
        WlcroConnector::new(cfg, transport, SystemClock::shared(), run as u64).expect("connector");
    for i in 0..CREATES {
        let mut fields = FieldMap::new();
        fields.insert("first_name".into(), json!("Bench"));
        fields.insert("last_name".into(), json!(format!("N{i}")));
        fields.insert("email".into(), json!(format!("bench{run}-{i}@example.test")));
        let external = format!("bench_{run}_{i}");
        fields.insert("external_id".into(), json!(external));
        let op = WriteOp::Create {
            fields,
            external_id: Some(IdentityKey { field: "external_id".into(), value: external }),
        };
        let out = connector.apply("leads", vec![Write { key: format!("k{i}"), op }]).await.expect("apply");
        assert!(out[0].result.is_ok(), "create {i}: {:?}", out[0].result);
    }
    let log: Vec<_> = state
        .log
        .entries()
        .into_iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/integrations/leads")
        .collect();
    let throttled = log.iter().filter(|e| e.status == 429).count();
    let ok: Vec<_> = log.iter().filter(|e| (200..300).contains(&e.status)).collect();
    assert_eq!(ok.len(), CREATES, "every create answered 2xx once");
    let (first, last) = (ok[0].at, ok[ok.len() - 1].at);
    let actual = (last - first).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
    let windows = CREATES.div_ceil(LIMIT as usize);
    let minimum = (windows - 1) as f64 * WINDOW_SECS;
    println!(
        "{run:>4} {minimum:>10.3} {actual:>10.3} {:>8.4} {throttled:>6} {:>9}",
        actual / minimum,
        log.len()
    );
    drop(handle);
}
