//! S6: admin review endpoint authorisation, for crosswalk's single-tenant design.
//!
//! Already covered in `serve_api` (not repeated here): no token and a wrong token get 401, a
//! cross-site POST (foreign `Origin`, `Sec-Fetch-Site: cross-site`) and a form POST without the
//! session's CSRF token get 403, a forged session cookie is sent to the login page, resolving
//! the same item twice is an `unchanged` no-op.
//!
//! Added here: an expired session, a bearer token in the wrong scheme, the default listen
//! address, and the audit trail — a decision made through the API is recorded with the named
//! actor, replaying it changes nothing, and the write it causes carries `review:<id> by <actor>`
//! in the decision log.
//!
//! Not applicable, by design: reviewer/viewer roles (403 for a viewer approving) and tenant
//! isolation (404 for tenant A approving B's item). crosswalk serves one deployment with one
//! admin token: every authenticated caller is an admin of the only tenant, so there is no
//! weaker role to escalate from and no other tenant's item to reach by id.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connector_api::{Clock, ManualClock};
use crosswalk::serve::auth::{ADMIN_NAME_HEADER, COOKIE, SESSION_TTL};
use crosswalk::store::{ReviewFilter, ReviewState};
use serde_json::json;

use crate::review_service::{conflict, seed};
use crate::serve_api::{TOKEN, app, call, login};
use crate::sync_engine::{World, fields};

fn get(path: &str, auth: Option<(&str, &str)>) -> Request<Body> {
    let mut b = Request::builder().uri(path).header(header::HOST, "127.0.0.1:8080");
    if let Some((name, value)) = auth {
        b = b.header(name, value);
    }
    b.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn s6_expired_sessions_and_malformed_credentials_are_refused() {
    let ts = crate::support::TestStore::sqlite().await;
    let clock = ManualClock::at_epoch();
    seed(&ts.store, vec![conflict("people", "city", "Oslo", "Bergen", 1, clock.now())], clock.now()).await;
    let app = app(ts.store.clone(), clock.shared());
    let cookie = login(&app).await;
    assert!(cookie.starts_with(&format!("{COOKIE}=")), "{cookie}");
    let ok = call(&app, get("/api/review", Some(("cookie", &cookie)))).await;
    assert_eq!(ok.status, StatusCode::OK, "a fresh session reads the queue");

    clock.advance(SESSION_TTL + std::time::Duration::from_secs(1));
    let expired = call(&app, get("/api/review", Some(("cookie", &cookie)))).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED, "an expired session: {}", expired.body);
    let page = call(&app, get("/review", Some(("cookie", &cookie)))).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "the page sends an expired session to the login");

    for bad in [
        format!("Basic {TOKEN}"),
        format!("bearer{TOKEN}"),
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
        "Bearer ".to_string(),
        TOKEN.to_string(),
    ] {
        let reply = call(&app, get("/api/review", Some(("authorization", &bad)))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad:?}: {}", reply.body);
        assert!(!reply.body.contains(TOKEN), "the token is not echoed");
    }
}

#[test]
fn s6_the_admin_server_listens_on_loopback_by_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("crosswalk.toml");
    std::fs::write(&file, "[store]\nurl = \"sqlite://x.db\"\n").expect("config");
    let loaded = crosswalk::settings::load(&file, true);
    let settings = loaded.settings.expect("settings load");
    let listen: std::net::SocketAddr = settings.serve.listen.parse().expect("an address");
    assert!(listen.ip().is_loopback(), "default serve.listen is {listen}, not loopback");
}

/// A decision made through the API names its actor in the resolution, a replay of it is a
/// no-op, and the write it causes is in the decision log with `review:<id> by <actor>`.
#[tokio::test]
async fn s6_every_decision_is_audited_with_its_actor_and_a_replay_changes_nothing() {
    let w = World::new(61).await;
    let a_id = w.a.seed("clients", fields(&[("email", "jo@example.test"), ("first_name", "Jo")]));
    w.run().await;
    w.run().await;
    let b_id = w.b.live_records("contacts").pop().expect("created").id;
    w.a.edit("clients", &a_id, fields(&[("first_name", "Joanna")]));
    w.b.edit("contacts", &b_id, fields(&[("firstname", "Joe")]));
    w.run().await;
    let items = w.open_items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = items[0].id;

    let app = app(w.store.clone(), w.clock.shared());
    let resolve = || {
        Request::builder()
            .method("POST")
            .uri(format!("/api/review/{item}/resolve"))
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(ADMIN_NAME_HEADER, "  alice  ")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"action": "take_left", "note": "checked"}).to_string()))
            .expect("request")
    };
    let first = call(&app, resolve()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.json()["item"]["resolution"]["by"], "alice", "the named actor, trimmed");
    let replay = call(&app, resolve()).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.json()["result"]["outcome"], "unchanged");

    let writes_before = w.writes();
    w.run().await;
    w.run().await;
    assert_eq!(w.writes() - writes_before, 1, "the decision is written once, to the side that differed");
    let stored = w.store.review_item(item).await.expect("item").expect("exists");
    assert_eq!(stored.state, ReviewState::Applied);
    let by = stored.resolution.expect("resolution").by;
    assert_eq!(by, "alice");
    let log = w.store.decisions_for("crm_b", &b_id, 10).await.expect("decisions");
    let audited: Vec<_> = log.iter().filter_map(|d| d.provenance.as_deref()).collect();
    assert_eq!(audited, [format!("review:{item} by alice").as_str()], "{log:?}");
    let replay = call(&app, resolve()).await;
    assert_eq!(replay.json()["result"], json!({"outcome": "unchanged", "state": "applied"}), "still a no-op");
    w.run().await;
    assert_eq!(w.store.decisions_for("crm_b", &b_id, 10).await.expect("decisions").len(), log.len());
    assert!(w.store.list_review(&ReviewFilter::default()).await.expect("list").len() == 1);
}
