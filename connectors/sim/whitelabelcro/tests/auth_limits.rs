//! Auth order (401 before 403), rate-limit headers and 429 + Retry-After, faults and maintenance
//! (spec §1, §7, §8).

mod common;

use chrono::Duration;
use common::{expect_error, json, sim};
use reqwest::Method;
use sim_core::FaultConfig;
use sim_whitelabelcro::{ApiKeyConfig, RateLimitConfig, Scope};

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_401() {
    let s = sim().await;
    expect_error(s.call(Method::GET, "/api/v1/events", None, None).await, 401, "unauthorized").await;
    for bad in ["nope", "wlcro_live_x_abc", "wlcro_live_17_unknownSecret"] {
        let r = s.call(Method::GET, "/api/v1/events", Some(bad), None).await;
        expect_error(r, 401, "unauthorized").await;
    }
    // The short format is accepted too (spec §10).
    let short = ApiKeyConfig { key: "wlcro_17_shortFormatSecret123".into(), scopes: vec![Scope::EventsRead] };
    assert!(s.state.add_key(&short));
    assert_eq!(s.call(Method::GET, "/api/v1/events", Some(&short.key), None).await.status(), 200);
    assert!(s.state.revoke_key(&short.key));
    let r = s.call(Method::GET, "/api/v1/events", Some(&short.key), None).await;
    expect_error(r, 401, "unauthorized").await;
    // Header name is case-insensitive.
    let r = s.http.get(s.url("/api/v1/events")).header("x-api-key", &s.key).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn valid_key_without_scope_gets_403_naming_the_scope_and_401_wins_over_403() {
    let s = sim().await;
    let k = ApiKeyConfig::new(17, "readOnlyEventsKey", &[Scope::EventsRead]);
    s.state.add_key(&k);
    let r =
        s.call(Method::POST, "/api/v1/integrations/leads", Some(&k.key), Some(serde_json::json!({}))).await;
    let b = expect_error(r, 403, "insufficient_scope").await;
    assert_eq!(b["error"]["details"]["required_scope"], "integrations:write");
    // Bad key and missing scope at once: 401.
    let r = s.call(Method::POST, "/api/v1/events/test", Some("wlcro_live_17_zzz"), None).await;
    expect_error(r, 401, "unauthorized").await;
    // 403 before 400: an invalid body does not matter without the scope.
    let r = s.call(Method::GET, "/api/v1/events/sample?bogus=1", Some(&k.key), None).await;
    assert_eq!(r.status(), 400, "events:read holder gets validation");
    let r = s.call(Method::POST, "/api/v1/webhooks/subscriptions", Some(&k.key), None).await;
    expect_error(r, 403, "insufficient_scope").await;
}

#[tokio::test]
async fn success_carries_the_five_ratelimit_headers_and_a_request_id() {
    let s = sim().await;
    let r = s.get("/api/v1/events").await;
    let h = r.headers();
    assert_eq!(h["x-ratelimit-limit"], "60");
    assert_eq!(h["x-ratelimit-remaining"], "59");
    let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    assert_eq!(reset, common::t0().timestamp() + 60);
    assert_eq!(h["x-ratelimit-window"], "1m");
    assert_eq!(h["x-ratelimit-policy"], "read:60/1m");
    assert_eq!(h["x-request-id"].to_str().unwrap().len(), 36);
    let r = s.post("/api/v1/integrations/leads", common::lead("A", "a@example.test")).await;
    assert_eq!(r.headers()["x-ratelimit-policy"], "write:100/1m");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "99");
}

#[tokio::test]
async fn over_the_limit_gets_429_with_retry_after_until_the_window_resets() {
    let s = sim().await;
    s.state.set_rate_limits(RateLimitConfig { read: 3, ..RateLimitConfig::default() });
    for _ in 0..3 {
        assert_eq!(s.get("/api/v1/events").await.status(), 200);
    }
    s.state.advance(Duration::seconds(20));
    let r = s.get("/api/v1/events").await;
    assert_eq!(r.headers()["retry-after"], "40");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(r.headers()["x-ratelimit-limit"], "3");
    let b = expect_error(r, 429, "rate_limited").await;
    assert_eq!(b["error"]["details"]["bucket"], "read");
    // Other buckets are separate.
    assert_eq!(s.post("/api/v1/integrations/leads", common::lead("A", "a@example.test")).await.status(), 201);
    // The request log records the 429 and its Retry-After.
    assert!(s.state.requests().iter().any(|l| l.status == 429 && l.retry_after == Some(40)));
    s.state.advance(Duration::seconds(40));
    assert_eq!(s.get("/api/v1/events").await.status(), 200);
}

#[tokio::test]
async fn the_window_scales_for_fast_tests_and_403s_count() {
    let s = sim().await;
    s.state.set_rate_limits(RateLimitConfig { read: 2, window_scale: 0.1, ..RateLimitConfig::default() });
    let k = ApiKeyConfig::new(17, "noScopesAtAll", &[]);
    s.state.add_key(&k);
    for _ in 0..2 {
        let r = s.call(Method::GET, "/api/v1/events", Some(&k.key), None).await;
        assert_eq!(r.status(), 403);
    }
    let r = s.call(Method::GET, "/api/v1/events", Some(&k.key), None).await;
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0", "403s counted against the bucket");
    assert_eq!(r.headers()["x-ratelimit-window"], "6s");
    s.state.set_rate_limits(RateLimitConfig { read: 1, window_scale: 0.1, ..RateLimitConfig::default() });
    assert_eq!(s.get("/api/v1/events").await.status(), 200);
    assert_eq!(s.get("/api/v1/events").await.status(), 429);
    s.state.advance(Duration::seconds(6));
    assert_eq!(s.get("/api/v1/events").await.status(), 200);
}

#[tokio::test]
async fn maintenance_and_injected_faults_answer_with_the_error_body() {
    let s = sim().await;
    s.state.set_maintenance(true);
    let r = s.get("/api/v1/events").await;
    assert_eq!(r.headers()["retry-after"], "30");
    expect_error(r, 503, "service_unavailable").await;
    s.state.set_maintenance(false);
    assert_eq!(s.get("/api/v1/events").await.status(), 200);
    s.state.set_faults(FaultConfig { rate_500: 1.0, ..FaultConfig::default() });
    expect_error(s.get("/api/v1/events").await, 500, "internal_error").await;
    // The control API bypasses the gate.
    let r = s.http.get(s.url("/_sim/records")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.state.set_faults(FaultConfig { rate_429: 1.0, retry_after_secs: Some(7), ..FaultConfig::default() });
    let r = s.get("/api/v1/events").await;
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(json(r).await.0, 429);
}

#[tokio::test]
async fn unknown_paths_get_a_404_error_body() {
    let s = sim().await;
    expect_error(s.get("/api/v1/nothing-here").await, 404, "not_found").await;
}
