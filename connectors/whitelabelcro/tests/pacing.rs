//! Write pacing against a scaled write window, on the simulator's clock (no wall time): the
//! connector is configured with the documented 100/min, the simulator counts 100 per 2 s, and the
//! connector must learn the window from the `X-RateLimit-*` headers, send at the quota-bound rate
//! and never provoke a 429. Judged from the simulator's request log.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::http::ReqwestTransport;
use connector_api::{Connector, FieldMap, IdentityKey, Write, WriteOp};
use connector_conformance::linked_clock;
use connector_whitelabelcro::{WlcroConfig, WlcroConnector};
use serde_json::json;
use sim_whitelabelcro::{RateLimitConfig, SimConfig, start};

/// Not on a whole second, so `X-RateLimit-Reset` (whole seconds, rounded up) is 0.7 s late.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00.300Z").unwrap().to_utc()
}

fn create(i: usize) -> Write {
    let mut fields = FieldMap::new();
    fields.insert("first_name".into(), json!("Pace"));
    fields.insert("last_name".into(), json!(format!("N{i}")));
    fields.insert("email".into(), json!(format!("pace{i}@example.test")));
    fields.insert("external_id".into(), json!(format!("pace_{i}")));
    let external_id = Some(IdentityKey { field: "external_id".into(), value: format!("pace_{i}") });
    Write { key: format!("k{i}"), op: WriteOp::Create { fields, external_id } }
}

#[tokio::test]
async fn creates_follow_the_servers_stated_window_without_a_429() {
    let (handle, state) = start(SimConfig::frozen(3, t0())).await.expect("sim");
    state.set_rate_limits(RateLimitConfig {
        write: 100,
        window_scale: 2.0 / 60.0,
        ..RateLimitConfig::default()
    });
    let sim_clock = state.clock.clone();
    let clock = linked_clock(t0(), move |d| sim_clock.advance(d));
    let cfg = WlcroConfig::new(handle.base_url(), SimConfig::default_key().into());
    assert_eq!(cfg.write_per_minute, 100, "configured with the documented minute quota");
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
    let connector = WlcroConnector::new(cfg, transport, Arc::new(clock), 5).expect("connector");

    for i in 0..250 {
        let out = connector.apply("leads", vec![create(i)]).await.expect("apply");
        assert!(out[0].result.is_ok(), "create {i}: {:?}", out[0].result);
    }

    let creates: Vec<_> = state
        .log
        .entries()
        .into_iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/integrations/leads")
        .collect();
    assert_eq!(creates.iter().filter(|e| e.status == 429).count(), 0, "no 429");
    assert_eq!(creates.len(), 250, "one request per create");
    // 250 sends in windows of 100 need 3 windows: the last send is at least 2 windows (4 s)
    // after the first; the rounded-up reset header alone would make it 5.4 s.
    let span = creates[249].at - creates[0].at;
    assert!(span >= chrono::Duration::seconds(4), "faster than the quota allows: {span}");
    assert!(span <= chrono::Duration::milliseconds(4_200), "more than 5 % over the quota-bound 4 s: {span}");
    // Never more than 100 in any 2 s window opened by a request.
    for (i, e) in creates.iter().enumerate() {
        let within = creates[i..].iter().filter(|f| f.at - e.at < chrono::Duration::seconds(2)).count();
        assert!(within <= 100, "{within} creates within 2 s of create {i}");
    }
    drop(handle);
}
