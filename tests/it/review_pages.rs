//! The review pages as a person reads them, in-process over the real engine and two fake
//! systems named WhiteLabelCRO and HubSpot: a refused write shows the field and what the remote
//! said; HTML in a person's name or a value is escaped on every page that shows it; search by
//! email keeps its filters in the links; bulk decisions fit every selected item and are
//! previewed before anything is recorded.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use connector_api::{Clock, ConnectorError};
use crosswalk::review::names::Directory;
use crosswalk::review::{ReviewService, render};
use crosswalk::serve::{self, AdminAuth};
use crosswalk::store::{NewReviewItem, ReviewKind, ReviewState, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use serde_json::json;
use std::sync::Arc;

use crate::review_service::{conflict, seed};
use crate::serve_api::{TOKEN, call, csrf_of, login, page_get};
use crate::sync_engine::{World, fields};

/// The fake systems of [`World`] under the names people know.
fn names() -> Directory {
    Directory::default().with_pair(
        "people",
        ("crm_a", "WhiteLabelCRO", "clients"),
        ("crm_b", "HubSpot", "contacts"),
    )
}

fn app(store: Arc<dyn Store>, clock: connector_api::SharedClock) -> Router {
    let auth = AdminAuth::new(&SecretString::from(TOKEN), ChaCha20Rng::seed_from_u64(7));
    serve::router_with(store, auth, clock, names())
}

fn api_get(path: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

fn form_post(path: &str, cookie: &str, body: String) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "http://127.0.0.1:8080")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// A linked person (created on the right by the engine): (left id, right id).
async fn linked(w: &World, email: &str, first: &str) -> (String, String) {
    let a = w.a.seed("clients", fields(&[("email", email), ("first_name", first)]));
    w.run().await;
    w.run().await;
    let b =
        w.b.live_records("contacts").into_iter().find(|r| r.fields["email"] == email).expect("created").id;
    (a, b)
}

#[tokio::test]
async fn a_write_rejected_item_shows_the_field_and_what_the_remote_said() {
    let w = World::new(71).await;
    let (a, _b) = linked(&w, "jo@example.test", "Jo").await;
    let refusal = ConnectorError::Invalid {
        message: "Property values were not valid: firstname".into(),
        code: Some("INVALID_OPTION".into()),
        field: Some("firstname".into()),
    };
    w.b.reject_value("contacts", "firstname", json!("Jö"), refusal);
    w.a.edit("clients", &a, fields(&[("first_name", "Jö")]));
    w.run().await;
    let items = w.open_items().await;
    let item = items.iter().find(|i| i.kind == ReviewKind::WriteRejected).expect("a refused write");
    assert_eq!(
        (item.remote_system.as_deref(), item.remote_code.as_deref(), item.remote_field.as_deref()),
        (Some("crm_b"), Some("INVALID_OPTION"), Some("firstname"))
    );

    let app = app(w.store.clone(), w.clock.shared());
    let cookie = login(&app).await;
    let page = call(&app, page_get(&format!("/review/{}", item.id), &cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "What HubSpot said",
        "<code>firstname</code> in HubSpot",
        "<code>INVALID_OPTION</code>",
        "Property values were not valid: firstname",
        "HubSpot refused the update from WhiteLabelCRO for good on its field `firstname`",
        "Correct the value in WhiteLabelCRO",
        "Acknowledge: fixed, try again",
        "jo@example.test",
    ] {
        assert!(page.body.contains(needle), "missing {needle:?} in {}", page.body);
    }
    assert!(!page.body.contains("take-left") && !page.body.contains("Keep WhiteLabelCRO"), "{}", page.body);
    let list = call(&app, page_get("/review?kind=write_rejected", &cookie)).await;
    assert!(list.body.contains("Property values were not valid: firstname"), "{}", list.body);
    let api = call(&app, api_get(&format!("/api/review/{}", item.id))).await.json();
    assert_eq!(
        (api["remote_message"].as_str(), api["right_system"]["label"].as_str()),
        (Some("Property values were not valid: firstname"), Some("HubSpot"))
    );

    let service = ReviewService::new(w.store.clone(), w.clock.shared()).with_directory(names());
    let text = render::show(&service.view(item.clone()), service.directory());
    assert!(
        text.contains("remote field:   firstname") && text.contains("remote code:    INVALID_OPTION"),
        "{text}"
    );
}

#[tokio::test]
async fn html_in_a_persons_name_or_a_value_is_escaped_on_every_page() {
    let w = World::new(72).await;
    let name = "<img src=x onerror=alert(1)>";
    let (a, b) = linked(&w, "evil@example.test", name).await;
    w.a.edit("clients", &a, fields(&[("first_name", "<script>alert(2)</script>")]));
    w.b.edit("contacts", &b, fields(&[("firstname", "<b>bold</b>")]));
    w.run().await;
    let items = w.open_items().await;
    let id = items.iter().find(|i| i.kind == ReviewKind::FieldConflict).expect("a conflict").id;
    let app = app(w.store.clone(), w.clock.shared());
    let cookie = login(&app).await;
    let list = call(&app, page_get("/review", &cookie)).await;
    let preview = call(
        &app,
        form_post("/review/bulk", &cookie, format!("csrf={}&action=ignore&id={id}", csrf_of(&list.body))),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let pages = [
        ("list", list),
        ("search", call(&app, page_get("/review?q=evil%40example.test", &cookie)).await),
        ("item", call(&app, page_get(&format!("/review/{id}"), &cookie)).await),
        ("left record", call(&app, page_get(&format!("/record/crm_a/{a}"), &cookie)).await),
        ("right record", call(&app, page_get(&format!("/record/crm_b/{b}"), &cookie)).await),
        ("bulk preview", preview),
    ];
    for (what, page) in pages {
        assert_eq!(page.status, StatusCode::OK, "{what}");
        assert!(
            page.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{what} shows the name escaped: {}",
            page.body
        );
        for raw in [name, "<script>alert(2)", "<b>bold"] {
            assert!(!page.body.contains(raw), "{what} shows {raw:?} unescaped: {}", page.body);
        }
    }
    let item = call(&app, page_get(&format!("/review/{id}"), &cookie)).await;
    assert!(
        item.body.contains("&lt;script&gt;alert(2)&lt;/script&gt;")
            && item.body.contains("&lt;b&gt;bold&lt;/b&gt;")
    );
    assert_eq!(
        w.store.review_item(id).await.unwrap().unwrap().state,
        ReviewState::Open,
        "a preview records nothing"
    );
}

#[tokio::test]
async fn search_by_email_sorts_and_keeps_its_filters_in_the_links() {
    let w = World::new(73).await;
    linked(&w, "grace@example.test", "Grace").await;
    let (a2, b2) = linked(&w, "ann@example.test", "Ann").await;
    let (a3, b3) = linked(&w, "bob@example.test", "Bob").await;
    for (a, b) in [(&a2, &b2), (&a3, &b3)] {
        w.a.edit("clients", a, fields(&[("first_name", "Left")]));
        w.b.edit("contacts", b, fields(&[("firstname", "Right")]));
    }
    w.run().await;
    let app = app(w.store.clone(), w.clock.shared());
    let found = call(&app, api_get("/api/review?q=ANN%40EXAMPLE")).await.json();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        (found["items"][0]["person"]["name"].as_str(), found["items"][0]["left_id"].as_str()),
        (Some("Ann"), Some(a2.as_str()))
    );
    let by_id = call(&app, api_get(&format!("/api/review?q={b3}"))).await.json();
    assert_eq!(by_id["items"][0]["person"]["email"], "bob@example.test", "{by_id}");
    let newest = call(&app, api_get("/api/review?sort=newest")).await.json();
    let ids: Vec<i64> =
        newest["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]), "newest first: {ids:?}");
    let bad = call(&app, api_get("/api/review?sort=sideways")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("unknown sort `sideways`"), "{}", bad.body);

    let cookie = login(&app).await;
    let page = call(&app, page_get("/review?q=example.test&sort=oldest&limit=1", &cookie)).await;
    assert!(page.body.contains("value=\"example.test\""), "the box keeps the search: {}", page.body);
    assert!(
        page.body.contains("/review?state=open&amp;q=example.test&amp;sort=oldest&amp;limit=1&amp;offset=1"),
        "next keeps it: {}",
        page.body
    );
    assert!(
        page.body.contains(
            "/review?state=open&amp;q=example.test&amp;kind=field_conflict&amp;sort=oldest&amp;limit=1"
        ),
        "chips keep it"
    );
}

#[tokio::test]
async fn bulk_offers_only_fitting_decisions_and_previews_before_recording() {
    let ts = crate::support::TestStore::sqlite().await;
    let t = connector_api::ManualClock::at_epoch().now();
    let rejected = NewReviewItem {
        pair: "people".into(),
        kind: ReviewKind::WriteRejected,
        left_id: Some("L9".into()),
        right_id: Some("R9".into()),
        reason: "crm_b rejected the write".into(),
        remote_message: Some("Email is invalid".into()),
        detected_at: t,
        run_id: "run-seed".into(),
        ..NewReviewItem::default()
    };
    let items = vec![
        conflict("people", "city", "Oslo", "Bergen", 1, t),
        conflict("people", "city", "Rome", "Milan", 2, t),
        rejected,
    ];
    let ids = seed(&ts.store, items, t).await;
    let app = app(ts.store.clone(), connector_api::ManualClock::at_epoch().shared());
    let cookie = login(&app).await;
    let mixed = call(&app, page_get("/review", &cookie)).await;
    assert!(
        mixed.body.contains("id=\"bulk-ignore\"") && !mixed.body.contains("id=\"bulk-take_right\""),
        "{}",
        mixed.body
    );
    let conflicts = call(&app, page_get("/review?kind=field_conflict", &cookie)).await;
    assert!(
        conflicts.body.contains("Keep HubSpot&#39;s value")
            || conflicts.body.contains("Keep HubSpot's value"),
        "{}",
        conflicts.body
    );
    assert!(conflicts.body.contains("id=\"bulk-take_right\""), "{}", conflicts.body);
    let csrf = csrf_of(&conflicts.body);

    let misfit = format!("csrf={csrf}&action=take_right&id={}&id={}", ids[0], ids[2]);
    let refused = call(&app, form_post("/review/bulk", &cookie, misfit)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body.contains("does not fit every selected item"), "{}", refused.body);

    let two = format!("csrf={csrf}&action=take_right&id={}&id={}", ids[0], ids[1]);
    let preview = call(&app, form_post("/review/bulk", &cookie, two.clone())).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("for <b>2</b> items") && preview.body.contains("Milan"),
        "{}",
        preview.body
    );
    assert_eq!(
        ts.store.review_item(ids[0]).await.unwrap().unwrap().state,
        ReviewState::Open,
        "only a preview"
    );
    let done = call(&app, form_post("/review/bulk", &cookie, format!("{two}&confirm=yes"))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    for id in &ids[..2] {
        assert_eq!(ts.store.review_item(*id).await.unwrap().unwrap().state, ReviewState::Resolved);
    }
    assert_eq!(ts.store.review_item(ids[2]).await.unwrap().unwrap().state, ReviewState::Open);
}

/// A system whose circuit breaker is open is named on the review page, with the way out; once
/// closed, the banner is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_shows_as_a_paused_banner_until_it_closes() {
    let ts = crate::support::TestStore::sqlite().await;
    let t = connector_api::ManualClock::at_epoch().now();
    let app = app(ts.store.clone(), connector_api::ManualClock::at_epoch().shared());
    let cookie = login(&app).await;
    assert!(!call(&app, page_get("/review", &cookie)).await.body.contains("Paused:"));
    ts.store.record_system_run("crm_b", Some("<b>401</b>"), 1, t).await.unwrap();
    let page = call(&app, page_get("/review", &cookie)).await;
    assert!(page.body.contains("Paused: crm_b"), "{}", page.body);
    assert!(page.body.contains("crosswalk resume crm_b"), "{}", page.body);
    assert!(page.body.contains("&lt;b&gt;401&lt;/b&gt;"), "the reason is escaped: {}", page.body);
    ts.store.close_breaker("crm_b", "resumed", t).await.unwrap();
    assert!(!call(&app, page_get("/review", &cookie)).await.body.contains("Paused:"));
}
