//! The events feed and the other Events API endpoints (spec §2.3, §3).

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use common::{expect_error, json, lead, sim};
use serde_json::{Value, json};
use sim_whitelabelcro::{ApiKeyConfig, Scope};

fn ids(body: &Value) -> Vec<i64> {
    body["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn pages_through_a_same_second_burst_without_loss_or_repeat() {
    let s = sim().await;
    let burst = s.state.burst(5, None).unwrap();
    assert_eq!(burst.len(), 5);
    let evs = s.state.events();
    assert!(evs.iter().all(|e| e.created_utc == evs[0].created_utc), "a burst shares one second");

    let mut seen = Vec::new();
    let mut path = "/api/v1/events?limit=2".to_string();
    let mut pages = 0;
    loop {
        let r = s.get(&path).await;
        let cursor = r.headers().get("x-paging-cursor").map(|v| v.to_str().unwrap().to_string());
        let (st, b) = json(r).await;
        assert_eq!(st, 200);
        assert_eq!(b["count"].as_u64().unwrap() as usize, b["events"].as_array().unwrap().len());
        seen.extend(ids(&b));
        pages += 1;
        match cursor {
            Some(c) => path = format!("/api/v1/events?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, burst, "oldest first, ties broken by id, no loss, no repeat");
    assert_eq!(pages, 3, "2+2+1: no header on the last page");
}

#[tokio::test]
async fn cursor_is_base64url_of_ms_and_id_and_is_exclusive() {
    let s = sim().await;
    s.post("/api/v1/integrations/leads", lead("Ana", "ana@example.test")).await;
    s.state.advance(Duration::milliseconds(1500));
    s.post("/api/v1/integrations/leads", lead("Bo", "bo@example.test")).await;
    let evs = s.state.events();
    assert_eq!(evs[1].created_utc.timestamp_subsec_millis(), 0, "whole seconds");
    let r = s.get("/api/v1/events?limit=1").await;
    let c = r.headers()["x-paging-cursor"].to_str().unwrap().to_string();
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(&c).unwrap()).unwrap();
    assert_eq!(raw, format!("{}:{}", evs[0].created_utc.timestamp_millis(), evs[0].id));
    let (_, b) = json(s.get(&format!("/api/v1/events?cursor={c}")).await).await;
    assert_eq!(ids(&b), vec![evs[1].id]);
    // Handmade cursor at the last event: nothing after it, no header.
    let last = URL_SAFE_NO_PAD.encode(format!("{}:{}", evs[1].created_utc.timestamp_millis(), evs[1].id));
    let r = s.get(&format!("/api/v1/events?cursor={last}")).await;
    assert!(r.headers().get("x-paging-cursor").is_none());
    assert_eq!(json(r).await.1["count"], 0);
}

#[tokio::test]
async fn the_feed_rejects_unknown_params_bad_limits_and_bad_cursors() {
    let s = sim().await;
    let b = expect_error(s.get("/api/v1/events?since=2026-01-01").await, 400, "unknown_parameter").await;
    assert_eq!(b["error"]["details"]["parameter"], "since");
    for p in ["type=lead.created", "order=asc", "page=2"] {
        expect_error(s.get(&format!("/api/v1/events?{p}")).await, 400, "unknown_parameter").await;
    }
    for l in ["0", "201", "abc", "-1"] {
        expect_error(s.get(&format!("/api/v1/events?limit={l}")).await, 400, "invalid_request").await;
    }
    assert_eq!(s.get("/api/v1/events?limit=200").await.status(), 200);
    assert_eq!(s.get("/api/v1/events?limit=1").await.status(), 200);
    expect_error(s.get("/api/v1/events?cursor=%%%").await, 400, "invalid_request").await;
    let junk = URL_SAFE_NO_PAD.encode("hello");
    expect_error(s.get(&format!("/api/v1/events?cursor={junk}")).await, 400, "invalid_request").await;
    expect_error(s.get("/api/v1/events?types=lead.updated").await, 400, "invalid_request").await;
}

#[tokio::test]
async fn default_limit_is_50_and_types_filter_ignores_case() {
    let s = sim().await;
    s.state.burst(55, None).unwrap();
    s.state.inject_event("invoice.created", json!({"invoice_id": 1}), None).unwrap();
    let r = s.get("/api/v1/events").await;
    assert!(r.headers().get("x-paging-cursor").is_some());
    assert_eq!(json(r).await.1["count"], 50);
    let (st, b) = json(s.get("/api/v1/events?types=INVOICE.Created").await).await;
    assert_eq!(st, 200);
    assert_eq!(b["count"], 1);
    assert_eq!(b["events"][0]["type"], "invoice.created");
    let (_, all) = json(s.get("/api/v1/events?types=&limit=200").await).await;
    assert_eq!(all["count"], 56, "empty types= is no filter");
}

#[tokio::test]
async fn envelope_shape_and_single_event_lookup() {
    let s = sim().await;
    s.post("/api/v1/integrations/leads", lead("Ana", "ana@example.test")).await;
    let (_, b) = json(s.get("/api/v1/events").await).await;
    let e = &b["events"][0];
    assert_eq!(e["type"], "lead.created");
    assert_eq!(e["createdUtc"], "2026-03-01T12:00:00Z");
    assert_eq!(e["companyId"], 17);
    assert_eq!(e["payload"]["status"], "Lead - New");
    assert_eq!(e["metadata"]["source"], "api");
    let id = e["id"].as_i64().unwrap();
    let (st, one) = json(s.get(&format!("/api/v1/events/{id}")).await).await;
    assert_eq!((st, &one), (200, e));
    expect_error(s.get("/api/v1/events/999999").await, 404, "not_found").await;

    // Another company's key sees neither the event nor it in the feed.
    let other = ApiKeyConfig::new(92, "otherCompanySecret", &[Scope::EventsRead]);
    assert!(s.state.add_key(&other));
    let r = s.call(reqwest::Method::GET, &format!("/api/v1/events/{id}"), Some(&other.key), None).await;
    expect_error(r, 404, "not_found").await;
    let r = s.call(reqwest::Method::GET, "/api/v1/events", Some(&other.key), None).await;
    assert_eq!(json(r).await.1["count"], 0);
}

#[tokio::test]
async fn sample_is_not_saved_and_test_events_are() {
    let s = sim().await;
    let (st, b) = json(s.get("/api/v1/events/sample?type=payment.failed").await).await;
    assert_eq!(st, 200);
    let arr = b.as_array().unwrap();
    assert!((1..=3).contains(&arr.len()));
    assert_eq!(arr[0]["type"], "payment.failed");
    assert!(s.state.events().is_empty(), "samples are not saved");
    expect_error(s.get("/api/v1/events/sample").await, 400, "invalid_request").await;

    let (st, e) = json(s.post("/api/v1/events/test", json!({"type": "agreement.signed"})).await).await;
    assert_eq!(st, 201);
    assert_eq!(e["metadata"]["source"], "test");
    assert_eq!(s.state.events().len(), 1);
    expect_error(s.post("/api/v1/events/test", json!({"type": "nope"})).await, 400, "invalid_request").await;
}
