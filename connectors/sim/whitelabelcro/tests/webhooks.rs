//! Webhook subscriptions and signed deliveries: secret once, signature, retries with backoff on the
//! sim clock, circuit breaker, duplicate/reordered delivery faults (spec §4).

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::Duration;
use common::{Sim, expect_error, json, lead, sim};
use serde_json::{Value, json};
use sim_core::{SimHandle, serve};
use sim_whitelabelcro::{WebhookFaults, sign};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

struct Receiver {
    handle: SimHandle,
    seen: Seen,
    status: Arc<AtomicU16>,
}

async fn receiver() -> Receiver {
    let seen: Seen = Arc::default();
    let status = Arc::new(AtomicU16::new(200));
    async fn hook(
        State((seen, status)): State<(Seen, Arc<AtomicU16>)>,
        h: HeaderMap,
        b: Bytes,
    ) -> StatusCode {
        seen.lock().unwrap().push((h, b));
        StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap()
    }
    let app = Router::new().route("/hook", post(hook)).with_state((seen.clone(), status.clone()));
    Receiver { handle: serve(app, 0).await.unwrap(), seen, status }
}

impl Receiver {
    fn url(&self) -> String {
        format!("{}/hook", self.handle.base_url())
    }
    fn event_ids(&self) -> Vec<i64> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap()["id"].as_i64().unwrap())
            .collect()
    }
}

async fn subscribe(s: &Sim, url: &str, types: Value) -> Value {
    let (st, b) =
        json(s.post("/api/v1/webhooks/subscriptions", json!({"targetUrl": url, "eventTypes": types})).await)
            .await;
    assert_eq!(st, 201, "{b}");
    b
}

#[tokio::test]
async fn secret_is_shown_once_and_deliveries_are_signed_over_the_raw_body() {
    let s = sim().await;
    let rx = receiver().await;
    let sub = subscribe(&s, &rx.url(), json!(["lead.created"])).await;
    let secret = sub["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 44, "32 bytes, standard base64");
    assert_eq!(sub["isActive"], true);
    let (_, list) = json(s.get("/api/v1/webhooks/subscriptions").await).await;
    assert_eq!(list["count"], 1);
    assert!(list["subscriptions"][0].get("secret").is_none(), "no secret in the list");

    s.post("/api/v1/integrations/leads", lead("Ana", "ana@example.test")).await;
    s.post("/api/v1/integrations/clients", lead("Cy", "cy@example.test")).await; // not subscribed
    assert_eq!(s.state.deliver_due(s.state.now()).await, 1);
    let seen = rx.seen.lock().unwrap().clone();
    let (h, body) = &seen[0];
    assert_eq!(h["x-webhook-signature"].to_str().unwrap(), sign(&secret, body));
    assert!(h["x-webhook-signature"].to_str().unwrap().starts_with("sha256="));
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["x-webhook-timestamp"].to_str().unwrap(), common::t0().timestamp().to_string());
    assert_eq!(h["x-webhook-event-type"], "lead.created");
    assert_eq!(h["x-webhook-attempt"], "1");
    let env: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(h["x-webhook-event-id"].to_str().unwrap(), env["id"].to_string());
    assert_eq!(env["type"], "lead.created");
    assert_eq!(s.state.deliver_due(s.state.now()).await, 0, "delivered once");
}

#[tokio::test]
async fn failures_retry_with_doubling_backoff_on_the_sim_clock_then_exhaust() {
    let s = sim().await;
    let rx = receiver().await;
    rx.status.store(500, Ordering::SeqCst);
    subscribe(&s, &rx.url(), json!(["lead.created"])).await;
    s.post("/api/v1/integrations/leads", lead("Ana", "ana@example.test")).await;
    assert_eq!(s.state.deliver_due(s.state.now()).await, 1);
    s.state.advance(Duration::seconds(59));
    assert_eq!(s.state.deliver_due(s.state.now()).await, 0, "retry 1 is due after 1 min");
    s.state.advance(Duration::seconds(1));
    assert_eq!(s.state.deliver_due(s.state.now()).await, 1);
    for n in 2..=10 {
        s.state.advance(Duration::minutes(1 << (n - 1)));
        assert_eq!(s.state.deliver_due(s.state.now()).await, 1, "retry {n}");
    }
    s.state.advance(Duration::hours(48));
    assert_eq!(s.state.deliver_due(s.state.now()).await, 0, "1 + 10 attempts, then exhausted");
    let (d, a) = s.state.deliveries();
    assert_eq!(a.len(), 11);
    assert_eq!(a.last().unwrap().attempt, 11);
    assert_eq!(serde_json::to_value(d[0].state).unwrap(), "exhausted");
}

#[tokio::test]
async fn the_circuit_breaker_disables_after_repeated_failures_and_patch_reenables() {
    let s = sim().await;
    let rx = receiver().await;
    rx.status.store(410, Ordering::SeqCst); // any non-2xx is a failure, 410 included
    let sub = subscribe(&s, &rx.url(), json!(["lead.created"])).await;
    let id = sub["id"].as_i64().unwrap();
    for i in 0..5 {
        s.post("/api/v1/integrations/leads", lead("A", &format!("a{i}@example.test"))).await;
    }
    s.state.deliver_due(s.state.now()).await;
    for n in 1..=10 {
        s.state.advance(Duration::minutes(1 << (n - 1)));
        s.state.deliver_due(s.state.now()).await;
    }
    let (_, b) = json(s.get(&format!("/api/v1/webhooks/subscriptions/{id}")).await).await;
    assert_eq!(b["isActive"], false);
    s.post("/api/v1/integrations/leads", lead("B", "b@example.test")).await;
    assert_eq!(s.state.deliver_due(s.state.now()).await, 0, "disabled: nothing queued");
    rx.status.store(200, Ordering::SeqCst);
    let (st, b) =
        json(s.patch(&format!("/api/v1/webhooks/subscriptions/{id}"), json!({"isActive": true})).await).await;
    assert_eq!((st, &b["isActive"]), (200, &json!(true)));
    s.post("/api/v1/integrations/leads", lead("C", "c@example.test")).await;
    assert_eq!(s.state.deliver_due(s.state.now()).await, 1);
}

#[tokio::test]
async fn duplicate_and_reorder_faults() {
    let s = sim().await;
    let rx = receiver().await;
    subscribe(&s, &rx.url(), json!(["lead.created"])).await;
    s.state.set_webhook_faults(WebhookFaults { duplicate_rate: 1.0, reorder: true });
    for i in 0..3 {
        s.post("/api/v1/integrations/leads", lead("A", &format!("a{i}@example.test"))).await;
    }
    assert_eq!(s.state.deliver_due(s.state.now()).await, 6);
    let got = rx.event_ids();
    let mut ids: Vec<i64> = s.state.events().iter().map(|e| e.id).collect();
    ids.reverse();
    let expected: Vec<i64> = ids.iter().flat_map(|i| [*i, *i]).collect();
    assert_eq!(got, expected, "newest first, each twice");
}

#[tokio::test]
async fn subscription_validation_patch_and_delete() {
    let s = sim().await;
    let r = s
        .post(
            "/api/v1/webhooks/subscriptions",
            json!({"targetUrl": "http://example.test/h", "eventTypes": ["lead.created"]}),
        )
        .await;
    expect_error(r, 400, "invalid_request").await;
    let r = s
        .post("/api/v1/webhooks/subscriptions", json!({"url": "https://example.test/h", "events": []}))
        .await;
    expect_error(r, 400, "invalid_request").await;
    let r = s
        .post(
            "/api/v1/webhooks/subscriptions",
            json!({"url": "https://example.test/h", "events": ["Lead.Created"]}),
        )
        .await;
    expect_error(r, 400, "invalid_request").await;
    let own = "x".repeat(32);
    let body = json!({"target_url": "https://example.test/h", "event_types": ["lead.created"], "secret": own, "managedBy": "zapier"});
    let (st, sub) = json(s.post("/api/v1/webhooks/subscriptions", body).await).await;
    assert_eq!((st, sub["secret"].as_str()), (201, Some(own.as_str())));
    let id = sub["id"].as_i64().unwrap();
    let r = s.patch(&format!("/api/v1/webhooks/subscriptions/{id}"), json!({"isActive": false})).await;
    expect_error(r, 409, "conflict").await;
    assert_eq!(s.delete(&format!("/api/v1/webhooks/subscriptions/{id}")).await.status(), 204);
    expect_error(s.delete(&format!("/api/v1/webhooks/subscriptions/{id}")).await, 404, "not_found").await;
    let r = s.delete("/api/v1/webhooks/subscriptions/1").await;
    assert_eq!(r.headers()["x-ratelimit-policy"], "write:100/1m", "delete is in the write bucket");
}
