//! The `/_sim/` control API over HTTP: seeding, UI edits with the platform's side-effects,
//! bursts, clock, request log, ground truth, rate-limit scale, faults and delivery.

mod common;

use common::{json, lead, sim};
use serde_json::{Value, json};

async fn ctl(s: &common::Sim, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = s.http.request(method, s.url(path));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    json(rb.send().await.unwrap()).await
}

#[tokio::test]
async fn seeds_ui_edits_and_bursts_have_the_platforms_side_effects() {
    let s = sim().await;
    let (st, b) = ctl(
        &s,
        reqwest::Method::POST,
        "/_sim/seed/leads",
        Some(json!({"records": [
            {"first_name": "A", "last_name": "B", "email": "a@example.test"},
            {"first_name": "C", "last_name": "D", "email": "c@example.test", "status": "Lead - Qualified"}
        ]})),
    )
    .await;
    assert_eq!(st, 200);
    let ids: Vec<i64> = b["client_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(s.state.events().is_empty(), "seeded without events");
    let (_, b) = ctl(
        &s,
        reqwest::Method::POST,
        "/_sim/seed/clients",
        Some(json!({"emit_events": true,
        "records": [{"first_name": "E", "last_name": "F", "email": "e@example.test"}]})),
    )
    .await;
    assert_eq!(b["client_ids"].as_array().unwrap().len(), 1);
    assert_eq!(s.state.events()[0].kind, "client.created");
    assert_eq!(s.state.events()[0].metadata["source"], "system");

    ctl(&s, reqwest::Method::POST, "/_sim/clock", Some(json!({"advance_secs": 30}))).await;
    let (st, _) = ctl(
        &s,
        reqwest::Method::PATCH,
        &format!("/_sim/ui/clients/{}", ids[0]),
        Some(json!({"city": "Reno"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(s.state.events().len(), 1, "a UI field edit emits nothing");
    let (_, rec) = ctl(&s, reqwest::Method::GET, "/_sim/records", None).await;
    let c0 = rec["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == ids[0]).unwrap().clone();
    assert_eq!(c0["city"], "Reno");
    assert_eq!(c0["updated_utc"], "2026-03-01T12:00:30Z", "the modified time moved");
    assert_eq!(c0["is_lead"], true);

    let (st, b) = ctl(
        &s,
        reqwest::Method::POST,
        &format!("/_sim/ui/clients/{}/status", ids[0]),
        Some(json!({"status": "Active Client"})),
    )
    .await;
    assert_eq!(st, 200);
    let ev = s.state.events().into_iter().find(|e| Some(e.id) == b["event_id"].as_i64()).unwrap();
    assert_eq!(ev.kind, "client.status_changed");
    assert_eq!(ev.metadata, json!({"source": "web_portal", "user_id": 8}));
    let (st, _) =
        ctl(&s, reqwest::Method::POST, "/_sim/ui/clients/999/status", Some(json!({"status": "On Hold"})))
            .await;
    assert_eq!(st, 404);

    let (_, b) = ctl(&s, reqwest::Method::POST, "/_sim/burst", Some(json!({"count": 4}))).await;
    assert_eq!(b["event_ids"].as_array().unwrap().len(), 4);
    let (_, evs) = ctl(&s, reqwest::Method::GET, "/_sim/events", None).await;
    let tail: Vec<&Value> = evs["events"].as_array().unwrap().iter().rev().take(4).collect();
    assert!(tail.iter().all(|e| e["createdUtc"] == tail[0]["createdUtc"]));
}

#[tokio::test]
async fn request_log_clock_limits_faults_and_delivery_over_http() {
    let s = sim().await;
    s.post("/api/v1/integrations/leads", lead("A", "a@example.test")).await;
    s.get("/api/v1/events?limit=5").await;
    let (_, log) = ctl(&s, reqwest::Method::GET, "/_sim/requests", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "control calls are not logged");
    assert_eq!(log[1]["query"], "limit=5");
    assert_eq!(log[0]["status"], 201);

    let (_, c) = ctl(&s, reqwest::Method::POST, "/_sim/clock", Some(json!({"offset_secs": -3600}))).await;
    assert_eq!(c["now"], "2026-03-01T11:00:00Z");

    let (_, l) =
        ctl(&s, reqwest::Method::PUT, "/_sim/rate-limits", Some(json!({"read": 1, "window_scale": 0.5})))
            .await;
    assert_eq!((l["read"].as_u64(), l["write"].as_u64()), (Some(1), Some(100)));
    assert_eq!(s.get("/api/v1/events").await.headers()["x-ratelimit-window"], "30s");
    assert_eq!(s.get("/api/v1/events").await.status(), 429);

    ctl(&s, reqwest::Method::PUT, "/_sim/faults", Some(json!({"maintenance": true}))).await;
    assert_eq!(s.post("/api/v1/integrations/leads", lead("B", "b@example.test")).await.status(), 503);
    let (st, f) = ctl(&s, reqwest::Method::PUT, "/_sim/faults", Some(json!({"bogus": 1}))).await;
    assert!(st >= 400, "{f}");

    let (st, d) = ctl(&s, reqwest::Method::POST, "/_sim/deliver", None).await;
    assert_eq!((st, d["sent"].as_u64()), (200, Some(0)));
    let (st, _) = ctl(
        &s,
        reqwest::Method::POST,
        "/_sim/keys",
        Some(json!({"key": "wlcro_live_5_abc", "scopes": "admin"})),
    )
    .await;
    assert_eq!(st, 201);
}
