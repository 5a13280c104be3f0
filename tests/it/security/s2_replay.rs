//! S2: a valid delivery replayed inside the tolerance window is processed once. The store's
//! (source, event id) dedupe is the guard: two concurrent copies through two separate handles
//! (two processes, as far as the database can tell), a third copy a minute later, and a fourth
//! after the event was processed — exactly one is recorded, and nothing is pending again once
//! it is processed.

use crosswalk::store::Store;

use crate::store_suite::{at, commit, lease};
use crate::support::TestStore;

pub async fn s2_replays_inside_the_window_are_recorded_once(t: &TestStore) {
    let s = &*t.store;
    let other = t.second_handle().await;
    let body = r#"{"id":40001,"type":"client.updated"}"#;
    for round in 0..5 {
        let id = format!("evt-{round}");
        let (a, b) = tokio::join!(
            s.record_event("wlcro", &id, at(0), body),
            other.record_event("wlcro", &id, at(0), "the concurrent copy"),
        );
        let (a, b) = (a.expect("first copy"), b.expect("second copy"));
        assert!(a ^ b, "round {round}: exactly one concurrent copy is new ({a}, {b})");
        let late = s.record_event("wlcro", &id, at(60), "a minute later").await.expect("third copy");
        assert!(!late, "round {round}: the third copy is a replay");
    }
    let pending = s.pending_events("wlcro", 100).await.expect("pending");
    assert_eq!(pending.len(), 5, "one pending event per id: {pending:?}");

    let lease = lease(s).await;
    commit(s, &lease, |p| {
        p.seen_events.extend((0..5).map(|r| ("wlcro".to_string(), format!("evt-{r}"))));
    })
    .await
    .expect("processed");
    assert!(s.pending_events("wlcro", 100).await.expect("pending").is_empty());
    for (store, name) in [(s, "first handle"), (&*other as &dyn Store, "second handle")] {
        let again = store.record_event("wlcro", "evt-0", at(290), body).await.expect("fourth copy");
        assert!(!again, "{name}: a replay after processing is not recorded again");
    }
    assert!(s.pending_events("wlcro", 100).await.expect("pending").is_empty(), "nothing to process twice");
}

/// Over HTTP, through the real `POST /webhooks/wlcro` receiver: a signed delivery sent three
/// times within five minutes, two copies concurrently, is accepted once (202) and answered 200
/// `duplicate` otherwise; exactly one event is stored. Forged and stale copies of it get 401 and
/// store nothing.
pub async fn s2_receiver_processes_a_replayed_delivery_once(t: &TestStore) {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use connector_api::{Clock, ManualClock};
    use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
    use crosswalk::serve::webhooks::WlcroReceiver;
    use secrecy::SecretString;

    use super::s1_forged_webhooks::{WL_BODY, WL_SECRET, now, wl_signature};
    use crate::serve_api::{app, call};

    let clock = ManualClock::new(now());
    let verifier = WebhookVerifier::new(SignatureScheme::default(), vec![SecretString::from(WL_SECRET)]);
    let rx = WlcroReceiver::new("wlcro", verifier, 256 * 1024, t.store.clone(), clock.shared());
    let app = rx.attach(app(t.store.clone(), clock.shared()));
    let sent_at = clock.now().timestamp();
    let delivery = |body: &str, sig: &str, ts: i64| {
        Request::builder()
            .method("POST")
            .uri("/webhooks/wlcro")
            .header("content-type", "application/json")
            .header("x-webhook-signature", sig)
            .header("x-webhook-timestamp", ts.to_string())
            .header("x-webhook-event-id", "40001")
            .header("x-webhook-event-type", "client.created")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let good = wl_signature(WL_SECRET, WL_BODY.as_bytes());

    // Forgeries first: nothing may be stored for them, and a later genuine copy still counts.
    let forged = [
        ("tampered", delivery(&WL_BODY.replace("Ana", "Eve"), &good, sent_at)),
        (
            "wrong secret",
            delivery(WL_BODY, &wl_signature("not-the-secret-0000000000", WL_BODY.as_bytes()), sent_at),
        ),
        ("stale", delivery(WL_BODY, &good, sent_at - 301)),
        ("future", delivery(WL_BODY, &good, sent_at + 301)),
        ("unsigned", {
            let mut r = delivery(WL_BODY, &good, sent_at);
            r.headers_mut().remove("x-webhook-signature");
            r
        }),
    ];
    for (name, req) in forged {
        let reply = call(&app, req).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}: {}", reply.body);
        assert_eq!(reply.json()["error"], "unauthorized", "{name}");
        assert!(
            !reply.body.contains(WL_SECRET) && !reply.body.contains(&good[7..]),
            "{name}: {}",
            reply.body
        );
    }
    assert!(
        t.store.pending_events("wlcro", 10).await.expect("pending").is_empty(),
        "forgeries stored nothing"
    );

    let (a, b) = tokio::join!(
        call(&app, delivery(WL_BODY, &good, sent_at)),
        call(&app, delivery(WL_BODY, &good, sent_at)),
    );
    clock.advance(std::time::Duration::from_secs(240));
    let c = call(&app, delivery(WL_BODY, &good, sent_at)).await;
    let mut statuses: Vec<(u16, String)> = [&a, &b, &c]
        .iter()
        .map(|r| (r.status.as_u16(), r.json()["status"].as_str().unwrap_or("").to_string()))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [(200, "duplicate".to_string()), (200, "duplicate".to_string()), (202, "accepted".to_string())],
        "one accepted, the replays are 2xx no-ops"
    );
    let stored = t.store.pending_events("wlcro", 10).await.expect("pending");
    assert_eq!(stored.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), ["40001"], "stored once");
    // The fourth copy, after the window: stale, refused, still one event.
    clock.advance(std::time::Duration::from_secs(120));
    let late = call(&app, delivery(WL_BODY, &good, sent_at)).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.body);
    assert_eq!(t.store.pending_events("wlcro", 10).await.expect("pending").len(), 1);
}
