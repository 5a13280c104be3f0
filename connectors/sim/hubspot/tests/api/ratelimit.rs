//! Rate limits: headers, burst / search / daily 429 bodies, window rolling on the sim clock, faults.

use reqwest::StatusCode;
use serde_json::json;
use sim_core::FaultConfig;
use sim_hubspot::{Quirks, RateLimitConfig, SimConfig};

use crate::common::*;

fn limited(cfg: RateLimitConfig) -> SimConfig {
    SimConfig { rate_limits: cfg, ..SimConfig::default() }
}

#[tokio::test]
async fn burst_headers_count_down_and_429_until_the_window_rolls() {
    let cfg =
        RateLimitConfig { burst_max: 3, burst_window_ms: 10_000, daily_max: 1_000, ..Default::default() };
    let s = sim_with(limited(cfg)).await;
    let r = s.get("/crm/v3/objects/contacts").await;
    let h = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(h("x-hubspot-ratelimit-max").as_deref(), Some("3"));
    assert_eq!(h("x-hubspot-ratelimit-remaining").as_deref(), Some("2"));
    assert_eq!(h("x-hubspot-ratelimit-interval-milliseconds").as_deref(), Some("10000"));
    assert_eq!(h("x-hubspot-ratelimit-daily").as_deref(), Some("1000"));
    assert_eq!(h("x-hubspot-ratelimit-daily-remaining").as_deref(), Some("999"));
    // Deprecated but still sent (spec §10): 3 per 10 s is under one a second, stated as 1.
    assert_eq!(h("x-hubspot-ratelimit-secondly").as_deref(), Some("1"));
    assert_eq!(h("x-hubspot-ratelimit-secondly-remaining").as_deref(), Some("0"));
    s.get("/crm/v3/objects/contacts").await;
    s.state.advance(5_000);
    s.get("/crm/v3/objects/contacts").await;
    let over = s.get("/crm/v3/objects/contacts").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(over.body["errorType"], "RATE_LIMIT");
    assert_eq!(over.body["message"], "You have reached your ten_secondly_rolling limit.");
    assert!(over.body["correlationId"].is_string() && over.body["groupName"].is_string());
    assert!(over.headers.get("retry-after").is_none(), "REST 429s carry no Retry-After");
    s.state.advance(5_000);
    assert_eq!(
        s.get("/crm/v3/objects/contacts").await.status,
        StatusCode::OK,
        "rolling window freed two slots"
    );
}

#[tokio::test]
async fn search_has_its_own_secondly_limit_and_no_headers() {
    let cfg = RateLimitConfig { burst_max: 1, search_max: 2, search_window_ms: 1_000, ..Default::default() };
    let s = sim_with(limited(cfg)).await;
    let r = s.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.keys().all(|k| !k.as_str().starts_with("x-hubspot-ratelimit")), "{:?}", r.headers);
    assert_eq!(s.post("/crm/v3/objects/contacts/search", json!({})).await.status, StatusCode::OK);
    let over = s.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.body["message"], "You have reached your secondly limit.");
    assert_eq!(
        s.get("/crm/v3/objects/contacts").await.status,
        StatusCode::OK,
        "search doesn't use the burst bucket"
    );
    s.state.advance(1_000);
    assert_eq!(s.post("/crm/v3/objects/contacts/search", json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn daily_limit_answers_daily_429_until_account_midnight() {
    let cfg = RateLimitConfig { daily_max: 2, account_utc_offset_minutes: -300, ..Default::default() };
    let s = sim_with(limited(cfg)).await;
    s.get("/crm/v3/objects/contacts").await;
    s.get("/crm/v3/objects/contacts").await;
    let over = s.get("/crm/v3/objects/contacts").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.body["policyName"], "DAILY");
    assert_eq!(over.body["message"], "You have reached your daily limit.");
    assert!(over.body["requestId"].is_string());
    // t0 is 10:00 UTC = 05:00 at UTC-5: 14 h is still the same account day, 19 h is the next.
    s.state.advance(14 * 3_600_000);
    assert_eq!(s.get("/crm/v3/objects/contacts").await.status, StatusCode::TOO_MANY_REQUESTS);
    s.state.advance(5 * 3_600_000);
    assert_eq!(s.get("/crm/v3/objects/contacts").await.status, StatusCode::OK);
}

#[tokio::test]
async fn injected_faults_and_quirks_are_served() {
    let s = sim().await;
    s.state.set_faults(FaultConfig { rate_429: 1.0, retry_after_secs: Some(3), ..Default::default() });
    let r = s.get("/crm/v3/objects/contacts").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers.get("retry-after").unwrap(), "3");
    s.state.set_faults(FaultConfig { maintenance: true, ..Default::default() });
    assert_eq!(s.get("/crm/v3/objects/contacts").await.status, StatusCode::SERVICE_UNAVAILABLE);
    s.state.set_faults(FaultConfig::default());
    s.state.set_quirks(Quirks { rate_423: 1.0, ..Default::default() });
    assert_eq!(s.get("/crm/v3/objects/contacts").await.status, StatusCode::OK, "423 only on writes");
    let w = s.post("/crm/v3/objects/contacts", json!({"properties": {"email": "q@x.io"}})).await;
    assert_error(&w, 423, "LOCKED");
    let log = s.state.requests();
    assert_eq!(log.iter().map(|e| e.status).collect::<Vec<_>>(), [429, 503, 200, 423]);
    assert_eq!(log[0].retry_after, Some(3));
}
