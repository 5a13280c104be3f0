//! Webhooks (issue #9): the HubSpot receiver's contract, F7 (a webhook racing the poller), F8
//! (redelivery chaos from HubSpot and WhiteLabelCRO) and L3 (a burst against the pending bound).
//!
//! The receivers run in-process behind the admin router (`tower::ServiceExt::oneshot`) on the
//! world's virtual clock, and what they receive is the simulators' own events, signed the way
//! the simulators sign them. L3 puts the receiver on a loopback socket instead, because the
//! HubSpot simulator's retries (`deliver_webhooks` re-queues a refused batch with
//! `attemptNumber + 1`) only go over HTTP. Outcomes are judged from the simulators' ground truth
//! and request logs, and from the store's events table (`pending_events`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request as AxumRequest, State};
use axum::http::{Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use connector_api::testsuite::{Answer, Gate, Hook, Intercept};
use connector_api::{Connector, ManualClock, SharedClock};
use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
use crosswalk::ids::IdGen;
use crosswalk::serve::hubspot_webhooks::HubspotReceiver;
use crosswalk::serve::webhooks::WlcroReceiver;
use crosswalk::serve::{self, AdminAuth};
use crosswalk::store::{Backend, Lease, PageCommit, RunKind, Store};
use crosswalk::sync::webhook_events::EventHint;
use crosswalk::sync::{Engine, PairStatus, SyncOptions};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;
use sim_hubspot::webhooks::{SignedBatch, WebhookEvent, sign_batch};
use tower::ServiceExt;

use crate::harness::{Outcome, Sim, run_scenario, sync_options};
use crate::net::WireEntry;
use crate::oracle::Truth;
use crate::support::TestStore;
use crate::world::t0;

/// The HubSpot app's client secret (the simulator signs with it).
const HS_SECRET: &str = "hs-client-secret-for-webhooks";
/// The next client secret, for a rotation.
const HS_NEXT_SECRET: &str = "hs-client-secret-after-rotation";
/// The WhiteLabelCRO subscription's secret.
const WL_SECRET: &str = "wl-subscription-secret-0123456789";
/// The URL HubSpot calls (and signs); the receiver is told it, since behind a proxy it cannot
/// see it.
const PUBLIC_URL: &str = "https://crosswalk.test";
const HOOK: &str = "/webhooks/hubspot";
const MAX_BODY: usize = 256 * 1024;

fn hook_url() -> String {
    format!("{PUBLIC_URL}{HOOK}")
}

fn admin(store: Arc<dyn Store>, clock: SharedClock) -> Router {
    let auth =
        AdminAuth::new(&SecretString::from("admin-token-for-webhook-tests"), ChaCha20Rng::seed_from_u64(9));
    serve::router(store, auth, clock)
}

fn hubspot_rx(
    store: Arc<dyn Store>,
    clock: SharedClock,
    secrets: &[&str],
    max_pending: usize,
) -> HubspotReceiver {
    let secrets = secrets.iter().map(|s| SecretString::from(s.to_string())).collect();
    HubspotReceiver::new("hubspot", secrets, PUBLIC_URL, MAX_BODY, store, clock).with_max_pending(max_pending)
}

fn wlcro_rx(store: Arc<dyn Store>, clock: SharedClock, max_pending: usize) -> WlcroReceiver {
    let verifier = WebhookVerifier::new(SignatureScheme::default(), vec![SecretString::from(WL_SECRET)]);
    WlcroReceiver::new("wlcro", verifier, MAX_BODY, store, clock).with_max_pending(max_pending)
}

/// The admin app with both receivers.
fn app(store: Arc<dyn Store>, clock: SharedClock, max_pending: usize) -> Router {
    let router = admin(store.clone(), clock.clone());
    let router = hubspot_rx(store.clone(), clock.clone(), &[HS_SECRET], max_pending).attach(router);
    wlcro_rx(store, clock, max_pending).attach(router)
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

impl Reply {
    fn count(&self, key: &str) -> u64 {
        self.body[key].as_u64().unwrap_or_default()
    }
}

async fn call(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let retry_after =
        resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, retry_after, body }
}

/// A HubSpot delivery as the simulator sends it (`post_batch`), to the path of its signed URL.
fn hs_request(batch: &SignedBatch) -> Request<Body> {
    let path = batch.uri.strip_prefix(PUBLIC_URL).unwrap_or(HOOK);
    hs_raw(path, &batch.body, Some(&batch.signature_v3), batch.timestamp_ms)
}

fn hs_raw(path: &str, body: &str, signature: Option<&str>, ts_ms: i64) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-HubSpot-Request-Timestamp", ts_ms.to_string());
    if let Some(s) = signature {
        b = b.header("X-HubSpot-Signature-v3", s);
    }
    b.body(Body::from(body.to_string())).expect("request")
}

/// A WhiteLabelCRO delivery as its simulator sends it (`deliver_due`): the event's JSON, signed.
fn wl_request(body: &[u8], ts: i64) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/webhooks/wlcro")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-webhook-signature", sim_whitelabelcro::sign(WL_SECRET, body))
        .header("x-webhook-timestamp", ts.to_string())
        .body(Body::from(body.to_vec()))
        .expect("request")
}

/// A HubSpot event with an id of the test's choosing.
fn hs_event(id: u64, kind: &str, object: u64, at: DateTime<Utc>, prop: Option<(&str, &str)>) -> WebhookEvent {
    let mut e = sim_hubspot::webhooks::event(kind.to_string(), object, at.timestamp_millis(), "CRM_UI");
    e.event_id = id;
    e.property_name = prop.map(|p| p.0.to_string());
    e.property_value = prop.map(|p| p.1.to_string());
    e
}

/// Stored events of `source` not processed yet: (event id, hint).
async fn pending(store: &dyn Store, source: &str) -> Vec<(String, EventHint)> {
    let events = store.pending_events(source, 1_000_000).await.expect("pending events");
    events.into_iter().map(|e| (e.event_id, serde_json::from_str(&e.payload).expect("a hint"))).collect()
}

/// A stand-in for the runs that process events: marks up to `limit` pending events of `source`
/// processed, the way a run's page commit does. Returns their ids.
async fn drain(
    store: &dyn Store,
    lease: &Lease,
    source: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Vec<String> {
    let events = store.pending_events(source, limit).await.expect("pending events");
    if events.is_empty() {
        return Vec::new();
    }
    let mut commit = PageCommit::new(lease.clone(), "webhook-consumer", now);
    commit.seen_events = events.iter().map(|e| (e.source.clone(), e.event_id.clone())).collect();
    store.commit_page(commit).await.expect("commit");
    events.into_iter().map(|e| e.event_id).collect()
}

async fn consumer_lease(store: &dyn Store, now: DateTime<Utc>) -> Lease {
    let ttl = Duration::from_secs(24 * 3600);
    store.claim_lease("webhook-consumer", "tests", ttl, now).await.expect("claim").expect("free")
}

// --- the HubSpot receiver --------------------------------------------------------------------

/// A correctly signed batch is stored event by event, each named record as a hint without the
/// pushed value (HubSpot events only notify); the same batch again (re-signed, as a retry
/// is) changes nothing and says so.
#[tokio::test]
async fn hubspot_receiver_stores_a_signed_batch_once_and_a_replay_is_a_duplicate() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let app = hubspot_rx(t.store.clone(), clock.shared(), &[HS_SECRET], 1000)
        .attach(admin(t.store.clone(), clock.shared()));
    let events = vec![
        hs_event(11, "contact.propertyChange", 501, t0(), Some(("firstname", "Ana"))),
        hs_event(12, "company.creation", 77, t0(), None),
        hs_event(13, "deal.creation", 9, t0(), None),
    ];
    let first =
        call(&app, hs_request(&sign_batch(HS_SECRET, &hook_url(), t0().timestamp_millis(), events.clone())))
            .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    assert_eq!((first.count("accepted"), first.count("duplicates")), (3, 0));

    clock.advance(Duration::from_secs(60));
    let now = t0().timestamp_millis() + 60_000;
    let replay = call(&app, hs_request(&sign_batch(HS_SECRET, &hook_url(), now, events))).await;
    assert_eq!(replay.status, StatusCode::OK, "{:?}", replay.body);
    assert_eq!((replay.body["status"].as_str(), replay.count("duplicates")), (Some("duplicate"), 3));

    let stored: BTreeMap<String, EventHint> =
        pending(t.store.as_ref(), "hubspot").await.into_iter().collect();
    assert_eq!(stored.keys().map(String::as_str).collect::<Vec<_>>(), ["11", "12", "13"], "keyed by eventId");
    let named = |id: &str| match &stored[id] {
        EventHint::Changes { changes, .. } => {
            changes.iter().map(|c| (c.object.clone(), c.id.clone(), c.fields.is_empty())).collect::<Vec<_>>()
        }
        other => panic!("{id}: not a change hint: {other:?}"),
    };
    assert_eq!(named("11"), [("contacts".to_string(), "501".to_string(), true)], "the value is not kept");
    assert_eq!(named("12"), [("companies".to_string(), "77".to_string(), true)]);
    assert!(named("13").is_empty(), "a deal names nothing a pair syncs");
}

/// A delivery that stored a fresh event wakes `deliveries` (the micro-sync worker's Notify)
/// once, after its commit; a replay, a refused delivery and a batch of only duplicates do not.
/// A 100-event batch with a repeated id inside is stored in one go, the repeat a duplicate.
#[tokio::test]
async fn a_fresh_delivery_wakes_the_deliveries_notify_once_and_a_replay_does_not() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let shared = serve::Shared::default();
    let auth =
        AdminAuth::new(&SecretString::from("admin-token-for-webhook-tests"), ChaCha20Rng::seed_from_u64(9));
    let router = serve::router_sharing(
        t.store.clone(),
        auth,
        clock.shared(),
        crosswalk::review::names::Directory::default(),
        shared.clone(),
    );
    let router = hubspot_rx(t.store.clone(), clock.shared(), &[HS_SECRET], 1000).attach(router);
    let app = wlcro_rx(t.store.clone(), clock.shared(), 1000).attach(router);
    // A zero timeout polls `notified()` once: ready only when a permit is stored.
    let woken = || tokio::time::timeout(Duration::ZERO, shared.deliveries.notified());
    assert!(woken().await.is_err(), "nothing delivered yet");

    let mut events: Vec<WebhookEvent> =
        (0..99).map(|i| hs_event(100 + i, "contact.propertyChange", 500 + i, t0(), None)).collect();
    events.push(hs_event(100, "contact.propertyChange", 500, t0(), None));
    let ts = t0().timestamp_millis();
    let first = call(&app, hs_request(&sign_batch(HS_SECRET, &hook_url(), ts, events.clone()))).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    assert_eq!((first.count("accepted"), first.count("duplicates")), (99, 1), "the repeat within the batch");
    assert_eq!(pending(t.store.as_ref(), "hubspot").await.len(), 99);
    assert!(woken().await.is_ok(), "a fresh batch wakes the worker");
    assert!(woken().await.is_err(), "once per delivery, not once per event");

    let replay = call(&app, hs_request(&sign_batch(HS_SECRET, &hook_url(), ts, events))).await;
    assert_eq!(replay.status, StatusCode::OK, "{:?}", replay.body);
    assert!(woken().await.is_err(), "a batch of replays wakes nothing");
    let forged = call(&app, hs_raw(HOOK, "[]", Some("forged"), ts)).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert!(woken().await.is_err(), "a refused delivery wakes nothing");

    let body =
        serde_json::to_vec(&json!({"id": 900, "type": "client.updated", "createdUtc": t0().to_rfc3339(),
        "companyId": 1, "payload": {"client_id": 5}}))
        .expect("json");
    let wl = call(&app, wl_request(&body, t0().timestamp())).await;
    assert_eq!(wl.status, StatusCode::ACCEPTED, "{:?}", wl.body);
    assert!(woken().await.is_ok(), "the WhiteLabelCRO receiver wakes it too");
    let again = call(&app, wl_request(&body, t0().timestamp())).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert!(woken().await.is_err(), "its replay does not");
}

/// Wrong secret, tampered body, stale or future timestamp, another URL or method signed, no
/// signature: 401 each, and nothing is stored. During a rotation both secrets verify.
#[tokio::test]
async fn hubspot_receiver_refuses_bad_signatures_and_stores_nothing() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let app = hubspot_rx(t.store.clone(), clock.shared(), &[HS_SECRET, HS_NEXT_SECRET], 1000)
        .attach(admin(t.store.clone(), clock.shared()));
    let now = t0().timestamp_millis();
    let events = vec![hs_event(21, "contact.creation", 601, t0(), None)];
    let good = sign_batch(HS_SECRET, &hook_url(), now, events.clone());
    let sign = |secret: &str, method: &str, uri: &str, body: &str, ts: i64| {
        sim_hubspot::sign_v3(secret, method, uri, body, ts)
    };
    let body = good.body.clone();
    let tampered = body.replace("601", "602");
    let cases = [
        ("wrong secret", hs_raw(HOOK, &body, Some(&sign("other", "POST", &hook_url(), &body, now)), now)),
        ("tampered body", hs_raw(HOOK, &tampered, Some(&good.signature_v3), now)),
        (
            "stale",
            hs_raw(
                HOOK,
                &body,
                Some(&sign(HS_SECRET, "POST", &hook_url(), &body, now - 301_000)),
                now - 301_000,
            ),
        ),
        (
            "future",
            hs_raw(
                HOOK,
                &body,
                Some(&sign(HS_SECRET, "POST", &hook_url(), &body, now + 301_000)),
                now + 301_000,
            ),
        ),
        (
            "other url",
            hs_raw(
                HOOK,
                &body,
                Some(&sign(HS_SECRET, "POST", "https://evil.test/webhooks/hubspot", &body, now)),
                now,
            ),
        ),
        ("other method", hs_raw(HOOK, &body, Some(&sign(HS_SECRET, "PUT", &hook_url(), &body, now)), now)),
        ("no signature", hs_raw(HOOK, &body, None, now)),
    ];
    for (what, req) in cases {
        let reply = call(&app, req).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {:?}", reply.body);
        assert_eq!(reply.body["error"], "unauthorized", "{what}");
        assert!(!reply.body.to_string().contains(HS_SECRET), "{what}: no secret in the answer");
    }
    assert!(pending(t.store.as_ref(), "hubspot").await.is_empty(), "refusals store nothing");

    let reply = call(&app, hs_request(&good)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "the old secret during the overlap: {:?}", reply.body);
    let next =
        sign_batch(HS_NEXT_SECRET, &hook_url(), now, vec![hs_event(22, "contact.creation", 603, t0(), None)]);
    let reply = call(&app, hs_request(&next)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "the new secret: {:?}", reply.body);
    assert_eq!(pending(t.store.as_ref(), "hubspot").await.len(), 2);
}

/// An oversized body gets 413 whether its length is declared or streamed, even when its
/// signature is wrong: the size is checked before any hashing (else it would be a 401).
#[tokio::test]
async fn hubspot_receiver_answers_413_before_hashing() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let rx = HubspotReceiver::new(
        "hubspot",
        vec![SecretString::from(HS_SECRET)],
        PUBLIC_URL,
        4096,
        t.store.clone(),
        clock.shared(),
    );
    let app = rx.attach(admin(t.store.clone(), clock.shared()));
    let events: Vec<WebhookEvent> = (1..=40)
        .map(|i| hs_event(i, "contact.propertyChange", 700 + i, t0(), Some(("city", "Oslo"))))
        .collect();
    let batch = sign_batch(HS_SECRET, &hook_url(), t0().timestamp_millis(), events);
    assert!(batch.body.len() > 4096);
    for (what, signature) in [("bad signature", "AAAA"), ("good signature", batch.signature_v3.as_str())] {
        let mut declared = hs_raw(HOOK, &batch.body, Some(signature), batch.timestamp_ms);
        declared.headers_mut().insert(header::CONTENT_LENGTH, batch.body.len().into());
        let reply = call(&app, declared).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "declared, {what}: {:?}", reply.body);
        let streamed = hs_raw(HOOK, &batch.body, Some(signature), batch.timestamp_ms);
        let reply = call(&app, streamed).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "streamed, {what}: {:?}", reply.body);
    }
    assert!(pending(t.store.as_ref(), "hubspot").await.is_empty(), "nothing stored");
}

/// Unreadable events inside a correctly signed batch are stored as quarantined hints (once,
/// also without an eventId) and the rest of the batch proceeds; a body that is not an array
/// is one quarantined item.
#[tokio::test]
async fn hubspot_receiver_quarantines_unreadable_events_in_a_mixed_batch() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let app = hubspot_rx(t.store.clone(), clock.shared(), &[HS_SECRET], 1000)
        .attach(admin(t.store.clone(), clock.shared()));
    let now = t0().timestamp_millis();
    let good = |id: u64, object: u64| {
        serde_json::to_value(hs_event(id, "contact.propertyChange", object, t0(), None)).unwrap()
    };
    let batch = json!([
        good(31, 801),
        {"subscriptionType": "contact.creation", "objectId": 802, "occurredAt": now},
        {"eventId": 33, "subscriptionType": "contact.creation", "occurredAt": now},
        good(34, 804),
    ])
    .to_string();
    let signed = |body: &str| sim_hubspot::sign_v3(HS_SECRET, "POST", &hook_url(), body, now);
    for expected in ["accepted", "duplicate"] {
        let reply = call(&app, hs_raw(HOOK, &batch, Some(&signed(&batch)), now)).await;
        assert!(reply.status.is_success(), "{:?}", reply.body);
        assert_eq!(reply.body["status"].as_str(), Some(expected), "{:?}", reply.body);
    }
    let stored = pending(t.store.as_ref(), "hubspot").await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    let quarantined: Vec<&str> = stored
        .iter()
        .filter_map(|(_, h)| match h {
            EventHint::Quarantined(q) => Some(q.reason.as_str()),
            EventHint::Changes { .. } => None,
        })
        .collect();
    assert_eq!(quarantined.len(), 2, "{stored:?}");
    assert!(quarantined.iter().any(|r| r.contains("without a numeric eventId")), "{quarantined:?}");
    assert!(quarantined.iter().any(|r| r.contains("objectId")), "{quarantined:?}");
    assert!(stored.iter().any(|(id, _)| id == "31") && stored.iter().any(|(id, _)| id == "34"));

    let not_array = r#"{"eventId": 35}"#;
    let reply = call(&app, hs_raw(HOOK, not_array, Some(&signed(not_array)), now)).await;
    assert_eq!((reply.status, reply.count("quarantined")), (StatusCode::ACCEPTED, 1), "{:?}", reply.body);
}

/// Both receivers answer 503 with `Retry-After` and store nothing once `max_pending` events
/// wait, and accept again when the runs have processed them.
#[tokio::test]
async fn both_receivers_refuse_with_retry_after_above_max_pending() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let store = t.store.clone();
    let app = app(store.clone(), clock.shared(), 3);
    let now = || clock_ms(&clock);
    let batch = |ids: std::ops::RangeInclusive<u64>, at: i64| {
        let events = ids.map(|i| hs_event(i, "contact.creation", 900 + i, t0(), None)).collect();
        sign_batch(HS_SECRET, &hook_url(), at, events)
    };
    let reply = call(&app, hs_request(&batch(1..=3, now()))).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    let reply = call(&app, hs_request(&batch(4..=5, now()))).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", reply.body);
    assert!(reply.retry_after.as_deref().is_some_and(|s| s.parse::<u64>().is_ok()), "{reply:?}");
    assert_eq!(pending(store.as_ref(), "hubspot").await.len(), 3, "the refused batch stored nothing");

    let wl = |id: i64| {
        json!({"id": id, "type": "client.status_changed", "createdUtc": "2026-03-02T09:00:00Z", "companyId": 1,
               "payload": {"client_id": 5, "previous_status": "On Hold", "new_status": "Active Client"},
               "metadata": {"source": "web_portal", "user_id": 8}})
        .to_string()
    };
    let ts = t0().timestamp();
    for id in 1..=3 {
        let reply = call(&app, wl_request(wl(id).as_bytes(), ts)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "wlcro {id}: {:?}", reply.body);
    }
    let reply = call(&app, wl_request(wl(4).as_bytes(), ts)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", reply.body);
    assert!(reply.retry_after.is_some(), "{reply:?}");
    assert_eq!(pending(store.as_ref(), "wlcro").await.len(), 3);

    let lease = consumer_lease(store.as_ref(), t0()).await;
    drain(store.as_ref(), &lease, "hubspot", 10, t0()).await;
    drain(store.as_ref(), &lease, "wlcro", 10, t0()).await;
    clock.advance(Duration::from_secs(2));
    let reply = call(&app, hs_request(&batch(4..=5, now()))).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "the retry after the runs caught up: {:?}", reply.body);
    let reply = call(&app, wl_request(wl(4).as_bytes(), ts + 2)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
}

fn clock_ms(clock: &ManualClock) -> i64 {
    use connector_api::Clock;
    clock.now().timestamp_millis()
}

// --- scenarios: shared pieces ----------------------------------------------------------------

fn with_hs_secret(c: &mut crosswalk::demo::WorldConfig) {
    c.hubspot.client_secret = HS_SECRET.to_string();
}

/// Delivers everything HubSpot's outbox holds, as HubSpot would (one signed batch per ≤ 100
/// events). Returns the events delivered; a refused batch is a violation.
async fn deliver_hubspot(sim: &Sim, app: &Router, v: &mut Vec<String>) -> usize {
    let mut n = 0;
    for batch in sim.world.sims.hubspot.take_webhook_batches(&hook_url()) {
        let reply = call(app, hs_request(&batch)).await;
        if !reply.status.is_success() {
            v.push(format!("hubspot delivery refused: {} {:?}", reply.status, reply.body));
        }
        n += batch.events.len();
    }
    n
}

/// Forwarded writes whose request body contains `needle`: (system, wire sequence number).
fn writes_with(wire: &[WireEntry], needle: &str) -> Vec<(&'static str, u64)> {
    wire.iter()
        .filter(|e| e.write && e.forwarded && e.bodies.0.contains(needle))
        .map(|e| (e.system, e.seq))
        .collect()
}

/// No system is written `old` after it was written `new`, and none gets `new` twice (no
/// flip-flop).
fn no_regression(wire: &[WireEntry], old: &str, new: &str) -> Vec<String> {
    let (olds, news) = (writes_with(wire, old), writes_with(wire, new));
    let mut v = Vec::new();
    for system in ["wlcro", "hubspot", "salesforce"] {
        let first_new = news.iter().filter(|(s, _)| *s == system).map(|(_, q)| *q).min();
        let last_old = olds.iter().filter(|(s, _)| *s == system).map(|(_, q)| *q).max();
        if let (Some(n), Some(o)) = (first_new, last_old)
            && o > n
        {
            v.push(format!("{system}: `{old}` written (request #{o}) after `{new}` (request #{n})"));
        }
        let n = news.iter().filter(|(s, _)| *s == system).count();
        if n > 1 {
            v.push(format!("{system}: `{new}` written {n} times (flip-flop)"));
        }
    }
    v
}

fn field<'a>(truth: &'a Truth, system: &str, id: &str, name: &str) -> Option<&'a str> {
    let remote = if system == "hubspot" { &truth.hubspot } else { &truth.salesforce };
    remote.iter().find(|r| r.id == id).and_then(|r| r.fields.get(name)).map(String::as_str)
}

/// Checks that `value` is what every system holds for one person.
fn everywhere(truth: &Truth, who: (i64, u64, &str), fields: [&str; 3], value: &str) -> Vec<String> {
    let (client, hs, sf) = who;
    let held = [
        ("wlcro", truth.clients.get(&client).and_then(|c| c.get(fields[0])).map(String::as_str)),
        ("hubspot", field(truth, "hubspot", &hs.to_string(), fields[1])),
        ("salesforce", field(truth, "salesforce", sf, fields[2])),
    ];
    held.iter()
        .filter(|(_, got)| *got != Some(value))
        .map(|(system, got)| format!("ground truth: {system} holds {got:?}, not `{value}`"))
        .collect()
}

/// The HubSpot connector of one process, stalled at `gate` after its first read (a pulled page
/// or a fetch by id) that holds the record `watch`, until the test opens the gate: a poller that
/// read v1 and paused.
fn gated(inner: Arc<dyn Connector>, watch: String, gate: &Gate) -> Arc<dyn Connector> {
    let gate = gate.clone();
    Intercept::new(inner)
        .after(move |answer| {
            let read = matches!(answer, Answer::Pull(_) | Answer::Fetch(_));
            if read && answer.holds(&watch) { gate.hold() } else { Hook::Pass }
        })
        .shared()
}

// --- F7 --------------------------------------------------------------------------------------

/// F7: R is synced; a HubSpot edit (v1) is pulled by a run whose connector then stalls; while
/// it stalls R is edited again (v2), v2's webhook is received and a second process tries a run
/// (the pair is leased, so it skips it); the first run resumes, then the next run. Proves, from
/// the simulators' request logs and records: no system is written v1 after v2, v2 at most once
/// per system (no flip-flop), v2 everywhere at the end, and the oracle's invariants.
#[test]
fn f07_webhook_racing_the_poller() {
    run_scenario("f07_webhook_racing_the_poller", 4, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, with_hs_secret, sync_options()).await?;
        let linked = sim.populate_linked(6);
        let mut v = Vec::new();
        if !sim.steady("steady", 6).await {
            v.push("setup: the runs never went quiet".into());
            return sim.done(v).await;
        }
        let clock: SharedClock = Arc::new(sim.world.clock.clone());
        let store = sim.ts.store.clone();
        let app = app(store.clone(), clock.clone(), 100_000);
        // The set-up writes' webhooks, delivered and processed like any others.
        deliver_hubspot(&sim, &app, &mut v).await;
        sim.tick("hints").await;

        let (client, hs, sf) = linked[sim.rng.random_range(0..linked.len())].clone();
        sim.world.clock.advance(Duration::from_secs(60));
        sim.hs_edit(hs, &[("firstname", "Vone")]);
        deliver_hubspot(&sim, &app, &mut v).await;
        sim.world.clock.advance(Duration::from_secs(60));

        let gate = Gate::new();
        let mut connectors = sim.world.connectors(1000);
        let inner = connectors.remove("hubspot").expect("hubspot connector");
        connectors.insert("hubspot".into(), gated(inner, hs.to_string(), &gate));
        let ids = Arc::new(IdGen::new(clock.clone(), seed ^ 0xf7f7));
        let poller = Engine::new(
            store.clone(),
            connectors,
            sim.world.pairs.clone(),
            clock.clone(),
            ids,
            sim.opts.clone(),
        );
        let other_opts = SyncOptions { owner: "crosswalk-other".into(), ..sim.opts.clone() };
        let other = sim.world.engine(store.clone(), other_opts, 1001);

        sim.world.net.set_phase("race");
        let mut run = std::pin::pin!(poller.run(RunKind::Scheduled, &[], false));
        let stalled = tokio::select! {
            r = &mut run => {
                v.push(format!("the poller never read v1 (run ended: {})", r.is_ok()));
                false
            }
            () = gate.entered() => true,
        };
        if stalled {
            sim.hs_edit(hs, &[("firstname", "Vtwo")]);
            if deliver_hubspot(&sim, &app, &mut v).await == 0 {
                v.push("no webhook was sent for v2".into());
            }
            sim.world.net.set_phase("race-other");
            match other.run(RunKind::Scheduled, &[], false).await {
                Ok(r) => {
                    let skipped = r.pairs.iter().any(|p| {
                        p.pair == "wlcro-people__hubspot-contacts"
                            && matches!(p.status, PairStatus::Skipped { .. })
                    });
                    if !skipped {
                        v.push("the second process ran the leased pair".into());
                    }
                }
                Err(e) => v.push(format!("the second process failed: {e}")),
            }
            sim.world.net.set_phase("race");
            gate.open();
            match run.await {
                Ok(r) => v.extend(
                    r.pairs
                        .iter()
                        .filter(|p| matches!(p.status, PairStatus::Failed { .. }))
                        .map(|p| format!("race: pair {} failed: {:?}", p.pair, p.status)),
                ),
                Err(e) => v.push(format!("race: the run failed: {e}")),
            }
        }
        sim.tick("next").await;
        if std::env::var("SIM_DEBUG").is_ok() {
            let wire = sim.wire();
            for e in wire
                .iter()
                .filter(|e| e.write && (e.bodies.0.contains("Vone") || e.bodies.0.contains("Vtwo")))
            {
                let value = if e.bodies.0.contains("Vone") { "v1" } else { "v2" };
                eprintln!("[f07] #{} {} {value} {} {} {}", e.seq, e.phase, e.system, e.method, e.path);
            }
        }
        v.extend(sim.settle_and_check().await);
        let truth = Truth::read(&sim.world.sims);
        v.extend(everywhere(&truth, (client, hs, &sf), ["first_name", "firstname", "FirstName"], "Vtwo"));
        v.extend(no_regression(&sim.wire(), "Vone", "Vtwo"));
        sim.done(v).await
    });
}

// --- F8 --------------------------------------------------------------------------------------

/// One delivery as its sender would make it (signed when sent).
enum Delivery {
    Hubspot(Vec<WebhookEvent>),
    Wlcro(Vec<u8>),
}

impl Delivery {
    fn request(&self, now: DateTime<Utc>) -> Request<Body> {
        match self {
            Delivery::Hubspot(events) => {
                hs_request(&sign_batch(HS_SECRET, &hook_url(), now.timestamp_millis(), events.clone()))
            }
            Delivery::Wlcro(body) => wl_request(body, now.timestamp()),
        }
    }

    fn source(&self) -> &'static str {
        match self {
            Delivery::Hubspot(_) => "hubspot",
            Delivery::Wlcro(_) => "wlcro",
        }
    }
}

/// Accepted / duplicate events per source, over every reply.
#[derive(Debug, Default)]
struct Tally {
    accepted: BTreeMap<&'static str, u64>,
    duplicates: BTreeMap<&'static str, u64>,
}

/// Sends `d` twice at once (two copies racing into the store) and counts the answers.
async fn twice_at_once(
    app: &Router,
    d: &Delivery,
    now: DateTime<Utc>,
    tally: &mut Tally,
    v: &mut Vec<String>,
) {
    let (a, b) = tokio::join!(call(app, d.request(now)), call(app, d.request(now)));
    for r in [a, b] {
        if !r.status.is_success() {
            v.push(format!("{} delivery answered {}: {:?}", d.source(), r.status, r.body));
            continue;
        }
        let (acc, dup) = match d {
            Delivery::Hubspot(_) => (r.count("accepted"), r.count("duplicates")),
            Delivery::Wlcro(_) => {
                let word = r.body["status"].as_str().unwrap_or_default();
                (u64::from(word == "accepted"), u64::from(word == "duplicate"))
            }
        };
        *tally.accepted.entry(d.source()).or_default() += acc;
        *tally.duplicates.entry(d.source()).or_default() += dup;
    }
}

/// The WhiteLabelCRO events emitted after event `after`, as the simulator serialises them.
fn wl_events_after(sim: &Sim, after: i64) -> Vec<(i64, Vec<u8>)> {
    let events = sim.world.sims.wlcro.events();
    events
        .iter()
        .filter(|e| e.id > after)
        .map(|e| (e.id, serde_json::to_vec(e).expect("event json")))
        .collect()
}

/// HubSpot by-id reads (`batch/read`) in `phase` that ask for exactly the records in `ids`:
/// the re-read a run makes for the pending events naming them.
fn hubspot_reads_of(wire: &[WireEntry], phase: &str, ids: &BTreeSet<String>) -> usize {
    let asked = |body: &str| -> BTreeSet<String> {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let inputs = v["inputs"].as_array().cloned().unwrap_or_default();
        inputs.iter().filter_map(|i| i["id"].as_str().map(str::to_string)).collect()
    };
    wire.iter()
        .filter(|e| {
            e.phase == phase && e.system == "hubspot" && e.forwarded && e.path.ends_with("/batch/read")
        })
        .filter(|e| asked(&e.bodies.0) == *ids)
        .count()
}

/// F8: HubSpot and WhiteLabelCRO events, every delivery sent twice at once, deliveries
/// shuffled, about 30 % of HubSpot events stripped to notification-only (no property or
/// value), one event of each sender held back and delivered an hour late. Proves, from the
/// store's events table, the replies and the simulators' request logs and records: each
/// (source, event id) is stored once (one copy accepted, the other a duplicate); the run after
/// processes them all (nothing pending) and reads every named HubSpot record by id; a third
/// delivery of everything is a duplicate and makes no run read those records again; the late
/// events make the run after them write nothing; the final state is what people last wrote,
/// and the oracle's invariants hold.
#[test]
fn f08_webhook_redelivery_chaos() {
    run_scenario("f08_webhook_redelivery_chaos", 4, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, with_hs_secret, sync_options()).await?;
        let mut linked = sim.populate_linked(8);
        let mut v = Vec::new();
        if !sim.steady("steady", 6).await {
            v.push("setup: the runs never went quiet".into());
            return sim.done(v).await;
        }
        let clock: SharedClock = Arc::new(sim.world.clock.clone());
        let store = sim.ts.store.clone();
        let app = app(store.clone(), clock.clone(), 100_000);
        deliver_hubspot(&sim, &app, &mut v).await;
        let wl_before = sim.world.sims.wlcro.events().iter().map(|e| e.id).max().unwrap_or(0);
        sim.tick("hints").await;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf8f8);
        linked.shuffle(&mut rng);
        let step = |sim: &Sim| sim.world.clock.advance(Duration::from_secs(5));

        // People edit. One HubSpot edit's events and one status change are held back.
        let (late_hs_client, late_hs, late_hs_sf) = linked[0].clone();
        sim.hs_edit(late_hs, &[("lastname", "Early")]);
        let late_hs_events: Vec<WebhookEvent> = sim
            .world
            .sims
            .hubspot
            .take_webhook_batches(&hook_url())
            .into_iter()
            .flat_map(|b| b.events)
            .collect();
        step(&sim);
        sim.hs_edit(late_hs, &[("lastname", "Later")]);
        for (_, hs, _) in &linked[1..4] {
            step(&sim);
            let city = ["Boise", "Reno", "Omaha", "Tulsa"][rng.random_range(0..4)];
            sim.hs_edit(*hs, &[("city", city), ("firstname", "Fifi")]);
        }
        let (late_wl, _, late_wl_sf) = linked[4].clone();
        step(&sim);
        let held = sim.world.sims.wlcro.ui_status(late_wl, "On Hold", None).ok().flatten();
        let held =
            held.or_else(|| sim.world.sims.wlcro.ui_status(late_wl, "Active Client", None).ok().flatten());
        step(&sim);
        let _ = sim.world.sims.wlcro.ui_status(late_wl, "Completed", None);
        for (client, _, _) in &linked[5..8] {
            step(&sim);
            let status = ["On Hold", "Completed", "Active Client"][rng.random_range(0..3)];
            let _ = sim.world.sims.wlcro.ui_status(*client, status, None);
        }

        // Their deliveries: twice each, at once, shuffled; some HubSpot events notification-only.
        let mut hs_events: Vec<WebhookEvent> = sim
            .world
            .sims
            .hubspot
            .take_webhook_batches(&hook_url())
            .into_iter()
            .flat_map(|b| b.events)
            .collect();
        for e in &mut hs_events {
            if rng.random_bool(0.3) {
                e.property_name = None;
                e.property_value = None;
            }
        }
        hs_events.shuffle(&mut rng);
        let hs_ids: BTreeSet<String> = hs_events.iter().map(|e| e.event_id.to_string()).collect();
        let named: BTreeSet<String> = hs_events.iter().map(|e| e.object_id.to_string()).collect();
        let mut deliveries = Vec::new();
        while !hs_events.is_empty() {
            let n = rng.random_range(1..=4).min(hs_events.len());
            deliveries.push(Delivery::Hubspot(hs_events.drain(..n).collect()));
        }
        let wl_events: Vec<(i64, Vec<u8>)> =
            wl_events_after(&sim, wl_before).into_iter().filter(|(id, _)| Some(*id) != held).collect();
        let wl_ids: BTreeSet<String> = wl_events.iter().map(|(id, _)| id.to_string()).collect();
        deliveries.extend(wl_events.into_iter().map(|(_, body)| Delivery::Wlcro(body)));
        deliveries.shuffle(&mut rng);
        let mut tally = Tally::default();
        for d in &deliveries {
            twice_at_once(&app, d, sim.world.clock.master(), &mut tally, &mut v).await;
        }
        for (source, ids) in [("hubspot", &hs_ids), ("wlcro", &wl_ids)] {
            let n = ids.len() as u64;
            let got = (tally.accepted.get(source).copied(), tally.duplicates.get(source).copied());
            if got != (Some(n), Some(n)) {
                v.push(format!("{source}: {n} events sent twice, answers (accepted, duplicate) = {got:?}"));
            }
            let stored: Vec<String> =
                pending(store.as_ref(), source).await.into_iter().map(|(id, _)| id).collect();
            let unique: BTreeSet<String> = stored.iter().cloned().collect();
            if stored.len() != unique.len() || &unique != ids {
                v.push(format!("{source}: stored events {stored:?}, sent {ids:?}"));
            }
        }

        // The next run processes each of them; a notification is a re-read by id.
        sim.tick("process").await;
        for source in ["hubspot", "wlcro"] {
            let left = pending(store.as_ref(), source).await;
            if !left.is_empty() {
                v.push(format!("{source}: {} event(s) still pending after the run", left.len()));
            }
        }
        let reads = hubspot_reads_of(&sim.wire(), "process", &named);
        if reads != 1 {
            v.push(format!("the records the HubSpot events name were read by id {reads} time(s), not once"));
        }

        // A third delivery of everything changes nothing and costs no by-id read.
        let mut again = Tally::default();
        for d in &deliveries {
            let reply = call(&app, d.request(sim.world.clock.master())).await;
            let fresh = match d {
                Delivery::Hubspot(_) => reply.count("accepted"),
                Delivery::Wlcro(_) => u64::from(reply.body["status"] == "accepted"),
            };
            *again.accepted.entry(d.source()).or_default() += fresh;
        }
        if again.accepted.values().any(|n| *n > 0) {
            v.push(format!("redelivery after processing stored events again: {:?}", again.accepted));
        }
        sim.tick("after").await;
        let reads = hubspot_reads_of(&sim.wire(), "after", &named);
        if reads != 0 {
            v.push(format!("processed events were re-read by id in the next run ({reads} time(s))"));
        }

        // An hour later, the held-back events arrive (signed when sent, as senders do).
        sim.world.clock.advance(Duration::from_secs(3600));
        sim.tick("hour").await;
        let mut late = Tally::default();
        let now = sim.world.clock.master();
        twice_at_once(&app, &Delivery::Hubspot(late_hs_events.clone()), now, &mut late, &mut v).await;
        if let Some(id) = held
            && let Some((_, body)) = wl_events_after(&sim, id - 1).into_iter().find(|(e, _)| *e == id)
        {
            twice_at_once(&app, &Delivery::Wlcro(body), now, &mut late, &mut v).await;
        }
        let late_hs_n = late_hs_events.len() as u64;
        if late.accepted.get("hubspot").copied().unwrap_or_default() != late_hs_n {
            v.push(format!("late hubspot events: {late_hs_n} sent twice, accepted {:?}", late.accepted));
        }
        if late.accepted.get("wlcro").copied().unwrap_or_default() > 1 {
            v.push(format!("the late wlcro event was accepted twice: {:?}", late.accepted));
        }
        sim.tick("late").await;
        v.extend(crate::oracle::check_no_writes(&sim.wire(), &["late"]));
        v.extend(
            writes_with(&sim.wire(), "Early").iter().map(|(s, q)| format!("{s}: `Early` written (#{q})")),
        );
        v.extend(sim.settle_and_check().await);
        let truth = Truth::read(&sim.world.sims);
        let who = (late_hs_client, late_hs, late_hs_sf.as_str());
        v.extend(everywhere(&truth, who, ["last_name", "lastname", "LastName"], "Later"));
        let status = truth.clients.get(&late_wl).and_then(|c| c.get("status_name")).map(String::as_str);
        let sf_status = field(&truth, "salesforce", &late_wl_sf, "WLCRO_Status__c");
        if (status, sf_status) != (Some("Completed"), Some("Completed")) {
            v.push(format!("late status: wlcro {status:?}, salesforce {sf_status:?}, not `Completed`"));
        }
        sim.done(v).await
    });
}

// --- L3 --------------------------------------------------------------------------------------

/// Requests per virtual second: 10 by default, `CROSSWALK_L3_RATE=50` for the scenario's rate.
/// The default keeps the suite's PR budget (a debug build, both stores) while the shape stays
/// the scenario's: the consumer is slower than the inflow and the bound is reached halfway.
fn l3_rate() -> usize {
    std::env::var("CROSSWALK_L3_RATE").ok().and_then(|v| v.parse().ok()).filter(|r| *r > 0).unwrap_or(10)
}
/// Virtual seconds of burst: 12, scaled down from the scenario's 120.
const L3_SECONDS: usize = 12;
/// Events the consumer (the runs) processes per virtual second: 80 % of what arrives.
fn l3_drain() -> usize {
    l3_rate() * sim_hubspot::webhooks::MAX_BATCH * 4 / 5
}
/// The bound: the queue grows a fifth of the inflow a second on top of one second's inflow, so
/// it is full after half the burst.
fn l3_max_pending() -> usize {
    let inflow = l3_rate() * sim_hubspot::webhooks::MAX_BATCH;
    inflow + inflow / 5 * L3_SECONDS / 2
}

/// One answer, as the receiver gave it (wall-clock time, for the figures only).
#[derive(Debug, Clone)]
struct Ack {
    status: u16,
    retry_after: bool,
    micros: u128,
}

impl Ack {
    /// Acknowledged, or refused in a way the sender retries.
    fn acceptable(&self) -> bool {
        let refused = [429, 503].contains(&self.status) && self.retry_after;
        (200..300).contains(&self.status) || refused
    }
}

async fn record_ack(State(acks): State<Arc<Mutex<Vec<Ack>>>>, req: AxumRequest, next: Next) -> Response {
    let started = Instant::now();
    let resp = next.run(req).await;
    let ack = Ack {
        status: resp.status().as_u16(),
        retry_after: resp.headers().contains_key(header::RETRY_AFTER),
        micros: started.elapsed().as_micros(),
    };
    acks.lock().expect("acks").push(ack);
    resp
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// L3: batches of 100 events, 10 requests per virtual second (`CROSSWALK_L3_RATE=50` for the
/// scenario's 50) for 12 virtual seconds, from the HubSpot simulator over a socket (its own
/// signing and retries), while a consumer processes 80 % of the inflow, so the pending queue
/// hits `max_pending` halfway. Proves, from the
/// receiver's answers, the simulator's outbox and the store's events table: every answer is
/// 2xx or 429/503 with `Retry-After`; the bound held (pending ≤ max_pending + one batch);
/// refusals happened; after the sender's retries every event id it generated was stored and
/// processed exactly once, none dropped. Prints the acknowledgement latency (wall clock, not
/// asserted).
#[test]
fn l03_webhook_burst() {
    run_scenario("l03_webhook_burst", 1, 0, |seed, backend: Backend| async move {
        let t = TestStore::new(backend).await?;
        let store = t.store.clone();
        let config = sim_hubspot::SimConfig {
            seed,
            start_time: Some(t0()),
            client_secret: HS_SECRET.into(),
            ..Default::default()
        };
        let hubspot = sim_hubspot::SimState::new(config);
        let clock = ManualClock::new(t0());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let public = format!("http://{}", listener.local_addr().expect("addr"));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let secrets = vec![SecretString::from(HS_SECRET)];
        let rx = HubspotReceiver::new(
            "hubspot",
            secrets,
            public.as_str(),
            MAX_BODY,
            store.clone(),
            clock.shared(),
        )
        .with_max_pending(l3_max_pending());
        let app = rx
            .attach(admin(store.clone(), clock.shared()))
            .layer(axum::middleware::from_fn_with_state(acks.clone(), record_ack));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("{public}{HOOK}");

        let people: Vec<Map<String, Value>> = (0..200)
            .map(|i| [("email".to_string(), json!(format!("p{i}@example.test")))].into_iter().collect())
            .collect();
        let contacts = hubspot.seed(ObjectType::Contacts, &people).expect("seed");
        let lease = consumer_lease(store.as_ref(), t0()).await;
        let (mut generated, mut drained) = (BTreeSet::new(), Vec::new());
        let (mut max_pending, mut first_refusal, mut seconds) = (0, None, 0);
        let mut v = Vec::new();
        loop {
            let burst = seconds < L3_SECONDS;
            if burst {
                for i in 0..l3_rate() * sim_hubspot::webhooks::MAX_BATCH {
                    let name: Map<String, Value> =
                        [("firstname".to_string(), json!(format!("n{seconds}-{i}")))].into_iter().collect();
                    hubspot
                        .external_edit(ObjectType::Contacts, contacts[i % contacts.len()], &name)
                        .expect("edit");
                }
            }
            let outbox = hubspot.pending_webhooks();
            if !burst && outbox.is_empty() {
                break;
            }
            generated.extend(outbox.iter().map(|e| e.event_id.to_string()));
            let (_, failed) = hubspot.deliver_webhooks(&url).await;
            if failed > 0 && first_refusal.is_none() {
                first_refusal = Some(seconds);
            }
            let now = clock_now(&clock);
            max_pending =
                max_pending.max(store.pending_events("hubspot", usize::MAX).await.expect("count").len());
            drained.extend(drain(store.as_ref(), &lease, "hubspot", l3_drain(), now).await);
            hubspot.advance(1000);
            clock.advance(Duration::from_secs(1));
            seconds += 1;
            if seconds > L3_SECONDS + 60 {
                v.push("the sender still had events a minute after the burst".into());
                break;
            }
        }
        drained.extend(drain(store.as_ref(), &lease, "hubspot", usize::MAX, clock_now(&clock)).await);
        server.abort();

        let acks = acks.lock().expect("acks").clone();
        let bad: Vec<&Ack> = acks.iter().filter(|a| !a.acceptable()).collect();
        if !bad.is_empty() {
            v.push(format!(
                "{} answer(s) neither 2xx nor 429/503 with Retry-After: {:?}",
                bad.len(),
                &bad[..bad.len().min(3)]
            ));
        }
        let refused = acks.iter().filter(|a| a.status == 503).count();
        match first_refusal {
            Some(s) if (2..L3_SECONDS).contains(&s) => {}
            other => v.push(format!(
                "the queue should fill halfway through the burst; first refusal at {other:?} s"
            )),
        }
        if max_pending > l3_max_pending() + sim_hubspot::webhooks::MAX_BATCH {
            v.push(format!("{max_pending} events pending, over the bound {} + one batch", l3_max_pending()));
        }
        let unique: BTreeSet<String> = drained.iter().cloned().collect();
        if unique.len() != drained.len() {
            v.push(format!("{} event(s) processed twice", drained.len() - unique.len()));
        }
        if unique != generated {
            let lost = generated.difference(&unique).count();
            let extra = unique.difference(&generated).count();
            v.push(format!(
                "{} generated, {} stored: {lost} lost, {extra} never generated",
                generated.len(),
                unique.len()
            ));
        }
        let mut ok: Vec<u128> = acks.iter().filter(|a| a.status < 300).map(|a| a.micros).collect();
        let mut no: Vec<u128> = acks.iter().filter(|a| a.status >= 300).map(|a| a.micros).collect();
        ok.sort_unstable();
        no.sort_unstable();
        eprintln!(
            "l03 ({backend}): {} events, {} requests ({} refused 503, first at {first_refusal:?} s), {seconds} virtual s; \
             max pending {max_pending}; ack µs 2xx p50 {} p90 {} p99 {} max {}; 503 p50 {} p99 {}",
            generated.len(),
            acks.len(),
            refused,
            percentile(&ok, 0.5),
            percentile(&ok, 0.9),
            percentile(&ok, 0.99),
            ok.last().copied().unwrap_or_default(),
            percentile(&no, 0.5),
            percentile(&no, 0.99),
        );
        let trace = format!("{}:{}:{refused}:{first_refusal:?}", generated.len(), drained.len());
        t.finish().await;
        Some(Outcome { violations: v, trace, ..Outcome::default() })
    });
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use connector_api::Clock;
    clock.now()
}

/// `[systems.NAME.webhook]` and `webhook_secrets` of a HubSpot system: read into the receiver
/// (both secrets verify); a bad `public_url` and an unknown key are named with file, line and
/// key; secrets without `public_url` keep `serve` from starting with the key to fix.
#[tokio::test]
async fn hubspot_webhook_settings_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, value: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, value).unwrap();
        p
    };
    let (token, old, new) = (file("token", "pat"), file("old", HS_SECRET), file("new", HS_NEXT_SECRET));
    let config = |webhook: &str| {
        let text = format!(
            "[systems.hs]\nkind = \"hubspot\"\nbase_url = \"http://127.0.0.1:1\"\ntoken = {{ file = {token:?} }}\n\
             webhook_secret = {{ file = {old:?} }}\nwebhook_secrets = [{{ file = {new:?} }}]\n\n[systems.hs.webhook]\n{webhook}"
        );
        let path = dir.path().join("crosswalk.toml");
        std::fs::write(&path, text).unwrap();
        (crosswalk::settings::load(&path, true), path.display().to_string())
    };

    let (loaded, _) = config("public_url = \"https://crosswalk.test\"\ntolerance = \"2m\"\n");
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let settings = loaded.settings.unwrap();
    assert_eq!(settings.hubspot_webhooks["hs"].secrets.len(), 1);
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let rx = HubspotReceiver::from_settings(&settings, t.store.clone(), clock.shared())
        .unwrap()
        .expect("configured");
    let app = rx.attach(admin(t.store.clone(), clock.shared()));
    let now = t0().timestamp_millis();
    for (id, secret) in [(41, HS_SECRET), (42, HS_NEXT_SECRET)] {
        let batch =
            sign_batch(secret, &hook_url(), now, vec![hs_event(id, "contact.creation", 1, t0(), None)]);
        let reply = call(&app, hs_request(&batch)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{id}: {:?}", reply.body);
    }
    let stale = sign_batch(
        HS_SECRET,
        &hook_url(),
        now - 121_000,
        vec![hs_event(43, "contact.creation", 1, t0(), None)],
    );
    assert_eq!(call(&app, hs_request(&stale)).await.status, StatusCode::UNAUTHORIZED, "tolerance 2m");

    let (loaded, path) = config("public_url = \"crosswalk.test/hooks\"\npublc_url = \"x\"\n");
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    for (line, key, what) in [
        (9, "systems.hs.webhook.public_url", "not a base URL"),
        (10, "systems.hs.webhook.publc_url", "unknown key"),
    ] {
        let want = format!("{path}:{line}: `{key}`: ");
        assert!(problems.iter().any(|p| p.starts_with(&want) && p.contains(what)), "{want}… in {problems:?}");
    }

    let (loaded, _) = config("tolerance = \"5m\"\n");
    let settings = loaded.settings.unwrap();
    let err = HubspotReceiver::from_settings(&settings, t.store.clone(), clock.shared()).unwrap_err();
    assert!(err.contains("systems.hs.webhook.public_url"), "{err}");
}
