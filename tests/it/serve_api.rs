//! The admin server in-process (`tower::ServiceExt::oneshot`): decisions made through the JSON
//! API are applied by the next engine run exactly once (judged from the fake systems' records),
//! auth and CSRF refuse what they must, values are escaped on the pages, bulk and idempotent
//! resolve, status and metrics.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connector_api::{Clock, FieldMap, SharedClock};
use crosswalk::serve::{self, AdminAuth};
use crosswalk::store::{ReviewState, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

use crate::review_service::{conflict, seed};
use crate::sync_engine::{World, fields};

pub const TOKEN: &str = "test-admin-token-0123456789";

pub fn app(store: Arc<dyn Store>, clock: SharedClock) -> Router {
    let auth = AdminAuth::new(&SecretString::from(TOKEN), ChaCha20Rng::seed_from_u64(7));
    serve::router(store, auth, clock)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub async fn call(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn api(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1:8080");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    match body {
        Some(v) => b.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .expect("request")
}

/// Logs in through the form; returns the `Cookie` header value.
pub async fn login(app: &Router) -> String {
    let req = Request::builder()
        .method("POST")
        .uri("/login")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "http://127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={TOKEN}&name=alice")))
        .expect("request");
    let reply = call(app, req).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let set = reply.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains(TOKEN), "the cookie does not carry the token");
    set.split(';').next().unwrap().to_string()
}

pub fn page_get(path: &str, cookie: &str) -> Request<Body> {
    Request::builder().uri(path).header(header::COOKIE, cookie).body(Body::empty()).expect("request")
}

fn form_post(path: &str, cookie: &str, origin: &str, body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request")
}

pub fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

fn text<'a>(map: &'a FieldMap, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// One linked record with a first-name conflict: (left id, right id, item id).
async fn conflicted(w: &World) -> (String, String, i64) {
    let a_id = w.a.seed("clients", fields(&[("email", "jo@example.test"), ("first_name", "Jo")]));
    w.run().await;
    w.run().await;
    let b_id = w.b.live_records("contacts").pop().expect("created").id;
    w.a.edit("clients", &a_id, fields(&[("first_name", "Joanna")]));
    w.b.edit("contacts", &b_id, fields(&[("firstname", "Joe")]));
    w.run().await;
    let items = w.open_items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    (a_id, b_id, items[0].id)
}

#[tokio::test]
async fn decisions_made_through_the_api_are_applied_by_the_next_run_exactly_once() {
    let cases = [
        (json!({"action": "take_left"}), "Joanna", ReviewState::Applied),
        (json!({"action": "take_right", "note": "HR confirmed"}), "Joe", ReviewState::Applied),
        (json!({"action": "value", "value": "Jo Anne"}), "Jo Anne", ReviewState::Applied),
        (json!({"action": "ignore"}), "", ReviewState::Ignored),
    ];
    for (n, (body, expect, final_state)) in cases.into_iter().enumerate() {
        let w = World::new(40 + n as u64).await;
        let (a_id, b_id, item) = conflicted(&w).await;
        let app = app(w.store.clone(), w.clock.shared());
        let reply =
            call(&app, api("POST", &format!("/api/review/{item}/resolve"), Some(TOKEN), Some(body.clone())))
                .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.json()["item"]["resolution"]["by"], "api");

        let before = w.writes();
        w.run().await;
        let after_first = w.writes();
        w.run().await;
        w.run().await;
        assert_eq!(w.writes(), after_first, "{body}: later runs write nothing more");
        let left = w.a.stored("clients", &a_id).unwrap().record;
        let right = w.b.stored("contacts", &b_id).unwrap().record;
        if final_state == ReviewState::Ignored {
            assert_eq!(after_first, before, "ignore writes nothing");
            assert_eq!(
                (text(&left.fields, "first_name"), text(&right.fields, "firstname")),
                (Some("Joanna"), Some("Joe"))
            );
        } else {
            assert_eq!(text(&left.fields, "first_name"), Some(expect), "{body}");
            assert_eq!(text(&right.fields, "firstname"), Some(expect), "{body}");
            let sides_that_differed = usize::from(expect != "Joanna") + usize::from(expect != "Joe");
            assert_eq!(after_first - before, sides_that_differed, "{body}: one write per differing side");
        }
        let state = w.store.review_item(item).await.unwrap().unwrap().state;
        assert_eq!(state, final_state, "{body}");
        assert!(w.open_items().await.is_empty(), "{body}: nothing reopened");
    }
}

#[tokio::test]
async fn a_resolution_overtaken_by_agreement_is_superseded_and_written_nowhere() {
    let w = World::new(50).await;
    let (a_id, b_id, item) = conflicted(&w).await;
    let app = app(w.store.clone(), w.clock.shared());
    let reply = call(
        &app,
        api(
            "POST",
            &format!("/api/review/{item}/resolve"),
            Some(TOKEN),
            Some(json!({"action": "take_left"})),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    w.a.edit("clients", &a_id, fields(&[("first_name", "Joe")]));
    w.run().await;
    w.run().await;
    assert_eq!(w.store.review_item(item).await.unwrap().unwrap().state, ReviewState::Superseded);
    let right = w.b.stored("contacts", &b_id).unwrap().record;
    assert_eq!(text(&right.fields, "firstname"), Some("Joe"), "the stale decision was not written");
}

#[tokio::test]
async fn without_the_token_nothing_is_served_and_cross_site_posts_are_refused() {
    let ts = crate::support::TestStore::sqlite().await;
    let clock = connector_api::ManualClock::at_epoch();
    let ids =
        seed(&ts.store, vec![conflict("people", "city", "Oslo", "Bergen", 1, clock.now())], clock.now())
            .await;
    let app = app(ts.store.clone(), clock.shared());
    for token in [None, Some("wrong-token")] {
        let reply = call(&app, api("GET", "/api/review", token, None)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.json()["error"], "unauthorized");
        assert!(!reply.body.contains(TOKEN));
    }
    let resolve = format!("/api/review/{}/resolve", ids[0]);
    let reply = call(&app, api("POST", &resolve, None, Some(json!({"action": "take_left"})))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    let mut cross = api("POST", &resolve, Some(TOKEN), Some(json!({"action": "take_left"})));
    cross.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(call(&app, cross).await.status, StatusCode::FORBIDDEN);
    let cookie = login(&app).await;
    let page = call(&app, page_get(&format!("/review/{}", ids[0]), &cookie)).await;
    let csrf = csrf_of(&page.body);
    let body = format!("csrf={csrf}&action=take_left");
    let mut cross = form_post(&resolve.replace("/api", ""), &cookie, "http://127.0.0.1:8080", body.clone());
    cross.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(call(&app, cross).await.status, StatusCode::FORBIDDEN);
    let evil = form_post(&resolve.replace("/api", ""), &cookie, "https://evil.example", body);
    assert_eq!(call(&app, evil).await.status, StatusCode::FORBIDDEN);
    let no_csrf =
        form_post(&resolve.replace("/api", ""), &cookie, "http://127.0.0.1:8080", "action=take_left".into());
    assert_eq!(call(&app, no_csrf).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        ts.store.review_item(ids[0]).await.unwrap().unwrap().state,
        ReviewState::Open,
        "nothing got through"
    );
    let wrong_login = form_post("/login", "", "http://127.0.0.1:8080", "token=nope".into());
    assert_eq!(call(&app, wrong_login).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn values_are_escaped_and_the_form_resolves_with_the_session_csrf_token() {
    let ts = crate::support::TestStore::sqlite().await;
    let clock = connector_api::ManualClock::at_epoch();
    let evil = "<script>alert(1)</script>";
    let ids =
        seed(&ts.store, vec![conflict("people", "city", evil, "Bergen\"'><b>", 1, clock.now())], clock.now())
            .await;
    let app = app(ts.store.clone(), clock.shared());
    let cookie = login(&app).await;
    for path in [format!("/review/{}", ids[0]), "/review".to_string()] {
        let page = call(&app, page_get(&path, &cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", page.body);
        assert!(!page.body.contains(evil) && !page.body.contains("'><b>"), "{}", page.body);
        assert!(
            page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'")
        );
    }
    let page = call(&app, page_get(&format!("/review/{}", ids[0]), &cookie)).await;
    let body = format!("csrf={}&action=take_right&value=ignored&note=checked", csrf_of(&page.body));
    let reply =
        call(&app, form_post(&format!("/review/{}/resolve", ids[0]), &cookie, "http://127.0.0.1:8080", body))
            .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let item = ts.store.review_item(ids[0]).await.unwrap().unwrap();
    let r = item.resolution.expect("resolved");
    assert_eq!(
        (item.state, r.by.as_str(), r.value, r.note.as_deref()),
        (ReviewState::Resolved, "alice", None, Some("checked"))
    );
    let page = call(&app, page_get("/review", "crosswalk_session=forged.1.2.3")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "a forged cookie is sent to the login page");
}

#[tokio::test]
async fn bulk_resolve_by_filter_and_resolving_twice_is_a_no_op() {
    let ts = crate::support::TestStore::sqlite().await;
    let clock = connector_api::ManualClock::at_epoch();
    let t = clock.now();
    let items = vec![
        conflict("people", "city", "a", "b", 1, t),
        conflict("people", "city", "c", "d", 2, t),
        conflict("people", "zip", "1", "2", 3, t),
    ];
    let ids = seed(&ts.store, items, t).await;
    let app = app(ts.store.clone(), clock.shared());
    let bulk = json!({"filter": {"pair": "people", "field": "city"}, "action": "take_right"});
    let reply = call(&app, api("POST", "/api/review/resolve", Some(TOKEN), Some(bulk.clone()))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!((reply.json()["matched"].as_u64(), reply.json()["resolved"].as_u64()), (Some(2), Some(2)));
    let reply = call(&app, api("POST", "/api/review/resolve", Some(TOKEN), Some(bulk))).await;
    assert_eq!(reply.json()["matched"], 0, "resolved items no longer match the open filter");
    let unfiltered = json!({"filter": {}, "action": "ignore"});
    assert_eq!(
        call(&app, api("POST", "/api/review/resolve", Some(TOKEN), Some(unfiltered))).await.status,
        StatusCode::BAD_REQUEST
    );

    let one = format!("/api/review/{}/resolve", ids[0]);
    let again = call(&app, api("POST", &one, Some(TOKEN), Some(json!({"action": "take_right"})))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["result"]["outcome"], "unchanged");
    let differ = call(&app, api("POST", &one, Some(TOKEN), Some(json!({"action": "take_left"})))).await;
    assert_eq!(differ.json()["result"], json!({"outcome": "not_open", "state": "resolved"}));
    let bad = call(
        &app,
        api(
            "POST",
            &format!("/api/review/{}/resolve", ids[2]),
            Some(TOKEN),
            Some(json!({"action": "value"})),
        ),
    )
    .await;
    assert_eq!((bad.status, bad.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid")));
    let missing = call(&app, api("GET", "/api/review/9999", Some(TOKEN), None)).await;
    assert_eq!(
        (missing.status, missing.json()["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let reopen = call(&app, api("POST", &format!("/api/review/{}/reopen", ids[0]), Some(TOKEN), None)).await;
    assert_eq!(reopen.status, StatusCode::OK, "{}", reopen.body);
    let list = call(&app, api("GET", "/api/review?state=open&limit=10", Some(TOKEN), None)).await.json();
    assert_eq!(list["total"], 2);
    let shown = call(&app, api("GET", &format!("/api/review/{}", ids[2]), Some(TOKEN), None)).await.json();
    assert_eq!(shown["diff"]["segments"][0]["kind"], "left");

    let status = call(&app, api("GET", "/api/status", Some(TOKEN), None)).await.json();
    assert_eq!((status["open_total"].as_u64(), status["resolved_waiting"].as_u64()), (Some(2), Some(1)));
    let metrics = call(&app, api("GET", "/metrics", None, None)).await;
    assert!(
        metrics.body.contains("crosswalk_review_open_items{kind=\"field_conflict\"} 2"),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("crosswalk_dead_letters 0"), "{}", metrics.body);
    assert_eq!(call(&app, api("GET", "/healthz", None, None)).await.status, StatusCode::OK);
}
