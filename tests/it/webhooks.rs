//! `POST /webhooks/wlcro`: signed deliveries are stored once, refused ones store nothing
//! (judged from the store), oversized bodies get 413, rotation accepts both secrets, the
//! simulator's real deliveries verify, and the next run reconciles the records pending events
//! name (judged from the fake systems' records).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use connector_api::{Clock, ManualClock, SharedClock};
use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
use crosswalk::serve::webhooks::WlcroReceiver;
use crosswalk::store::Store;
use crosswalk::sync::SyncOptions;
use crosswalk::sync::webhook_events::EventHint;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::serve_api::{self, Reply, call};
use crate::support::TestStore;
use crate::sync_engine::{World, fields};

pub(crate) const SECRET: &str = "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ=";
const OLD_SECRET: &str = "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ=";
const MAX_BODY: usize = 4096;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc()
}

fn event(id: i64, client_id: i64) -> String {
    json!({
        "id": id,
        "type": "client.status_changed",
        "createdUtc": "2026-03-01T11:59:58Z",
        "companyId": 17,
        "payload": {"client_id": client_id, "previous_status": "On Hold", "new_status": "Active Client",
                    "changed_date": "2026-03-01T11:59:58Z"},
        "metadata": {"source": "web_portal", "user_id": 8}
    })
    .to_string()
}

pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(crate) fn receiver(
    source: &str,
    store: Arc<dyn Store>,
    clock: SharedClock,
    secrets: &[&str],
) -> WlcroReceiver {
    let secrets = secrets.iter().map(|s| SecretString::from(s.to_string())).collect();
    let verifier = WebhookVerifier::new(SignatureScheme::default(), secrets);
    WlcroReceiver::new(source, verifier, MAX_BODY, store, clock)
}

/// The admin app with the receiver for `wlcro`, over a fresh store, at `t0`.
async fn app(secrets: &[&str]) -> (Router, Arc<dyn Store>, ManualClock, TestStore) {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let store = t.store.clone();
    let rx = receiver("wlcro", store.clone(), clock.shared(), secrets);
    (rx.attach(serve_api::app(store.clone(), clock.shared())), store, clock, t)
}

/// A delivery as the simulator sends it; `signature: None` leaves the header out.
pub(crate) fn delivery(body: &str, signature: Option<String>, ts: i64) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri("/webhooks/wlcro")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-webhook-timestamp", ts.to_string())
        .header("x-webhook-event-id", "1");
    if let Some(s) = signature {
        b = b.header("x-webhook-signature", s);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

async fn pending(store: &Arc<dyn Store>) -> Vec<(String, EventHint)> {
    let events = store.pending_events("wlcro", 100).await.unwrap();
    events.into_iter().map(|e| (e.event_id, serde_json::from_str(&e.payload).expect("a hint"))).collect()
}

fn status_of(reply: &Reply) -> String {
    reply.json()["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_signed_event_is_stored_once_and_a_replay_is_a_duplicate() {
    let (app, store, clock, _t) = app(&[SECRET]).await;
    let body = event(40001, 901);
    let ts = clock.now().timestamp();
    let first = call(&app, delivery(&body, Some(sign(SECRET, body.as_bytes())), ts)).await;
    assert_eq!(
        (first.status, status_of(&first)),
        (StatusCode::ACCEPTED, "accepted".into()),
        "{}",
        first.body
    );
    let replay = call(&app, delivery(&body, Some(sign(SECRET, body.as_bytes())), ts + 60)).await;
    assert_eq!((replay.status, status_of(&replay)), (StatusCode::OK, "duplicate".into()), "{}", replay.body);

    let stored = pending(&store).await;
    assert_eq!(stored.len(), 1, "stored once");
    let (id, hint) = &stored[0];
    assert_eq!(id, "40001", "keyed by the id inside the signed body");
    let EventHint::Changes { event_type, changes } = hint else { panic!("not a change hint: {hint:?}") };
    assert_eq!(event_type, "client.status_changed");
    let named: Vec<(&str, &str)> = changes.iter().map(|c| (c.object.as_str(), c.id.as_str())).collect();
    assert_eq!(
        named,
        [("people", "901"), ("clients", "901")],
        "an `Active Client` status names the person and the client (not the lead)"
    );
}

#[tokio::test]
async fn tampered_unsigned_wrongly_signed_or_stale_deliveries_are_refused_and_store_nothing() {
    let (app, store, clock, _t) = app(&[SECRET]).await;
    let body = event(40002, 902);
    let good = sign(SECRET, body.as_bytes());
    let now = clock.now().timestamp();
    let tampered = body.replace("902", "903");
    let cases = [
        ("tampered body", delivery(&tampered, Some(good.clone()), now)),
        ("wrong secret", delivery(&body, Some(sign(OLD_SECRET, body.as_bytes())), now)),
        ("no signature header", delivery(&body, None, now)),
        ("stale timestamp", delivery(&body, Some(good.clone()), now - 301)),
        ("future timestamp", delivery(&body, Some(good.clone()), now + 301)),
        ("digest without its prefix", delivery(&body, Some(good.trim_start_matches("sha256=").into()), now)),
    ];
    for (what, req) in cases {
        let reply = call(&app, req).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}: {}", reply.body);
        assert_eq!(
            reply.json(),
            serde_json::json!({"error": "unauthorized"}),
            "{what}: the check that failed is not told"
        );
        assert!(!reply.body.contains(SECRET), "{what}: no secret in the answer");
    }
    assert!(pending(&store).await.is_empty(), "nothing stored");
    assert_eq!(store.count_dead_letters().await.unwrap(), 0);
    // The same bytes correctly signed are still new: the refusals left no trace.
    let reply = call(&app, delivery(&body, Some(good), now)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
}

#[tokio::test]
async fn during_a_rotation_both_secrets_are_accepted() {
    let (app, store, clock, _t) = app(&[OLD_SECRET, SECRET]).await;
    let now = clock.now().timestamp();
    for (id, secret) in [(40010, OLD_SECRET), (40011, SECRET)] {
        let body = event(id, 910);
        let reply = call(&app, delivery(&body, Some(sign(secret, body.as_bytes())), now)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{id}: {}", reply.body);
    }
    let ids: Vec<String> = pending(&store).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["40010", "40011"]);
}

#[tokio::test]
async fn oversized_bodies_get_413_and_store_nothing() {
    let (app, store, clock, _t) = app(&[SECRET]).await;
    let now = clock.now().timestamp();
    let mut body: Value = serde_json::from_str(&event(40020, 920)).unwrap();
    body["payload"]["note"] = json!("x".repeat(MAX_BODY));
    let body = body.to_string();
    let signature = Some(sign(SECRET, body.as_bytes()));

    // Declared too large: refused on the header alone.
    let mut declared = delivery(&body, signature.clone(), now);
    declared.headers_mut().insert(header::CONTENT_LENGTH, body.len().into());
    let reply = call(&app, declared).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.body);
    assert_eq!(reply.json()["error"], "too_large");
    // No length declared: refused while reading, once past the limit.
    let reply = call(&app, delivery(&body, signature, now)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.body);
    assert!(pending(&store).await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_signed_but_unreadable_body_is_quarantined_once() {
    let (app, store, clock, _t) = app(&[SECRET]).await;
    let now = clock.now().timestamp();
    let body = r#"{"id": "not-a-number", "type": "client.created"}"#;
    for expected in ["quarantined", "duplicate"] {
        let reply = call(&app, delivery(body, Some(sign(SECRET, body.as_bytes())), now)).await;
        assert!(reply.status.is_success(), "{}", reply.body);
        assert_eq!(status_of(&reply), expected);
    }
    let stored = pending(&store).await;
    assert_eq!(stored.len(), 1);
    let EventHint::Quarantined(q) = &stored[0].1 else { panic!("not quarantined: {:?}", stored[0].1) };
    assert!(q.reason.contains("whitelabelcro webhook"), "{}", q.reason);
    assert_eq!(q.raw, body);
}

/// The simulator's own signed deliveries: a subscription created through its API, pointed at
/// the receiver on a real socket; a UI status change and a test event are delivered.
#[tokio::test]
async fn the_simulators_real_deliveries_are_accepted() {
    let (handle, sim) =
        sim_whitelabelcro::start(sim_whitelabelcro::SimConfig::frozen(11, t0())).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/webhooks/wlcro", listener.local_addr().unwrap());
    let http = reqwest::Client::new();
    let key = sim_whitelabelcro::SimConfig::default_key();
    let sub: Value = http
        .post(format!("{}/api/v1/webhooks/subscriptions", handle.base_url()))
        .header("X-Api-Key", &key)
        .json(&json!({"targetUrl": target, "eventTypes": ["client.status_changed", "lead.created"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = sub["secret"].as_str().expect("the secret, shown once").to_string();

    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let store = t.store.clone();
    let app = receiver("wlcro", store.clone(), clock.shared(), &[&secret])
        .attach(serve_api::app(store.clone(), clock.shared()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client =
        sim.seed(sim_whitelabelcro::SeedRecord { first_name: "Ana".into(), ..Default::default() }, false);
    let client = client.unwrap();
    let ui_event = sim.ui_status(client, "On Hold", None).unwrap().expect("a status event");
    let test_event: Value = http
        .post(format!("{}/api/v1/events/test", handle.base_url()))
        .header("X-Api-Key", &key)
        .json(&json!({"type": "lead.created"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sim.deliver_due(sim.now()).await, 2, "two deliveries sent");
    let (_, attempts) = sim.deliveries();
    let answers: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(answers, [Some(202), Some(202)], "the receiver accepted both");

    let mut ids: Vec<String> = pending(&store).await.into_iter().map(|(id, _)| id).collect();
    ids.sort();
    let mut want = vec![ui_event.to_string(), test_event["id"].to_string()];
    want.sort();
    assert_eq!(ids, want);
    let hints = pending(&store).await;
    let status_hint = hints.iter().find(|(id, _)| *id == ui_event.to_string()).unwrap();
    let EventHint::Changes { changes, .. } = &status_hint.1 else { panic!("{:?}", status_hint.1) };
    assert_eq!(changes[0].id, client.to_string(), "names the client whose status changed");
    server.abort();
}

/// A plain field edit makes no event and this world has no sweep, so only the webhook's hint
/// makes the next run re-read the record: the edit reaches the other side, the event is done.
#[tokio::test]
async fn the_next_run_reconciles_the_records_pending_events_name() {
    let opts = SyncOptions { sweep_budget: 0, ..SyncOptions::default().creating_on_first_sync() };
    let w = World::with(31, |c| c.pull_sees_every_edit = false, opts).await;
    w.a.seed_with_id(
        "clients",
        "901",
        fields(&[("email", "ana@example.test"), ("first_name", "Ana"), ("city", "Oslo")]),
    );
    w.run().await;
    w.run().await;
    // A later change moves the checkpoint on, so 901 is no longer re-read in the overlap.
    w.a.seed_with_id("clients", "902", fields(&[("email", "bo@example.test"), ("first_name", "Bo")]));
    w.run().await;
    w.run().await;
    let city = |w: &World| {
        let contacts = w.b.live_records("contacts");
        let ana =
            contacts.into_iter().find(|r| r.fields["email"] == "ana@example.test").expect("Ana's contact");
        ana.fields["city"].clone()
    };
    assert_eq!(city(&w), "Oslo");

    w.a.edit("clients", "901", fields(&[("city", "Bergen")]));
    w.run().await;
    assert_eq!(city(&w), "Oslo", "a silent edit is not pulled (and there is no sweep here)");

    let app = receiver("crm_a", w.store.clone(), w.clock.shared(), &[SECRET])
        .attach(serve_api::app(w.store.clone(), w.clock.shared()));
    let now = w.clock.now().timestamp();
    let body = event(50001, 901);
    let reply = call(&app, delivery(&body, Some(sign(SECRET, body.as_bytes())), now)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let bad = r#"{"id": 50002, "type": "client.created", "payload": {}}"#;
    let reply = call(&app, delivery(bad, Some(sign(SECRET, bad.as_bytes())), now)).await;
    assert_eq!(status_of(&reply), "quarantined");

    w.run().await;
    assert_eq!(city(&w), "Bergen", "the record the event named was re-read and reconciled");
    assert!(w.store.pending_events("crm_a", 10).await.unwrap().is_empty(), "both events processed");
    let letters = w.store.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "the unreadable delivery is a dead letter");
    assert!(letters[0].reason.contains("whitelabelcro webhook"), "{}", letters[0].reason);
    assert_eq!(letters[0].system, "crm_a");

    let writes = w.writes();
    w.run().await;
    assert_eq!(w.writes(), writes, "processed events are not replayed");
}

/// `crosswalk check` names a bad scheme key with its file, line and key.
#[test]
fn bad_signature_settings_are_reported_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k").unwrap();
    let path = dir.path().join("crosswalk.toml");
    let text = format!(
        "[systems.wlcro]\nkind = \"whitelabelcro\"\nbase_url = \"http://127.0.0.1:1\"\napi_key = {{ file = {key:?} }}\n\n\
         [systems.wlcro.webhook]\ndigest = \"hex2\"\ntolerance = \"five minutes\"\nsignature_header = \"X Sig\"\n",
    );
    std::fs::write(&path, text).unwrap();
    let loaded = crosswalk::settings::load(&path, true);
    let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
    let file = path.display().to_string();
    for (line, key, what) in [
        (7, "digest", "`hex2` is not `hex` or `base64`"),
        (8, "tolerance", "not a duration"),
        (9, "signature_header", "not an HTTP header name"),
    ] {
        let want = format!("{file}:{line}: `systems.wlcro.webhook.{key}`: ");
        assert!(problems.iter().any(|p| p.starts_with(&want) && p.contains(what)), "{want}… in {problems:?}");
    }
    assert_eq!(problems.len(), 3, "{problems:?}");
}
