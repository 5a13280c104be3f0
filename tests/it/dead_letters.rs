//! The redrive procedure: a correctly signed but unreadable WhiteLabelCRO delivery becomes a dead
//! letter listed with its reason; retried, the next run re-reads the record it names and syncs
//! it exactly once (judged from the fake systems' records and write logs, and once more from the
//! WhiteLabelCRO and HubSpot simulators' records and request logs); a second retry and
//! later runs change nothing; a discarded letter stays discarded and is never processed.

use axum::http::StatusCode;
use connector_api::Clock;
use crosswalk::commands::dead_letters::{DeadLetterCommand, execute};
use crosswalk::dead_letters::DeadLetters;
use crosswalk::store::{DeadLetterSource, DeadLetterStatus};
use crosswalk::sync::SyncOptions;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};

use crate::serve_api::{self, call, csrf_of, login, page_get};
use crate::sync_engine::{World, fields};
use crate::webhooks::{SECRET, delivery, receiver, sign};

/// A status event whose `new_status` is missing: signed, so stored, but not readable.
fn unreadable_status_event(id: i64, client_id: i64) -> String {
    serde_json::json!({
        "id": id,
        "type": "client.status_changed",
        "createdUtc": "2026-03-01T11:59:58Z",
        "companyId": 17,
        "payload": {"client_id": client_id, "previous_status": "On Hold"},
    })
    .to_string()
}

fn city_of(w: &World, email: &str) -> String {
    let contacts = w.b.live_records("contacts");
    let r = contacts.into_iter().find(|r| r.fields["email"] == email).expect("contact");
    r.fields["city"].as_str().unwrap_or_default().to_string()
}

/// Two linked people whose WhiteLabelCRO records were edited silently, and an unreadable
/// signed delivery about each, turned into dead letters by a run. Returns the admin app too.
async fn world_with_two_dead_letters() -> (World, Router) {
    let opts = SyncOptions { sweep_budget: 0, ..SyncOptions::default().creating_on_first_sync() };
    let w = World::with(43, |c| c.pull_sees_every_edit = false, opts).await;
    w.a.seed_with_id(
        "clients",
        "901",
        fields(&[("email", "ana@example.test"), ("first_name", "Ana"), ("city", "Oslo")]),
    );
    w.a.seed_with_id(
        "clients",
        "902",
        fields(&[("email", "bo@example.test"), ("first_name", "Bo"), ("city", "Rome")]),
    );
    w.run().await;
    w.run().await;
    w.a.seed_with_id("clients", "903", fields(&[("email", "cy@example.test"), ("first_name", "Cy")]));
    w.run().await;
    w.run().await;
    assert_eq!(
        (city_of(&w, "ana@example.test"), city_of(&w, "bo@example.test")),
        ("Oslo".into(), "Rome".into())
    );

    // Silent edits (no event, no sweep here): only a re-read of the record finds them.
    w.a.edit("clients", "901", fields(&[("city", "Bergen")]));
    w.a.edit("clients", "902", fields(&[("city", "Milan")]));
    let app = receiver("crm_a", w.store.clone(), w.clock.shared(), &[SECRET])
        .attach(serve_api::app(w.store.clone(), w.clock.shared()));
    let now = w.clock.now().timestamp();
    for (event, client) in [(60001, 901), (60002, 902)] {
        let body = unreadable_status_event(event, client);
        let reply = call(&app, delivery(&body, Some(sign(SECRET, body.as_bytes())), now)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert_eq!(reply.json()["status"], "quarantined");
    }
    w.run().await;
    assert_eq!(city_of(&w, "ana@example.test"), "Oslo", "an unreadable delivery changes nothing");
    (w, app)
}

#[tokio::test]
async fn a_quarantined_delivery_is_retried_once_and_a_discarded_one_stays_discarded() {
    let (w, _app) = world_with_two_dead_letters().await;

    // `status` counts them by reason.
    let report = crosswalk::status::gather(&w.store, &w.clock.shared(), 1).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let reasons = json["dead_letters_by_reason"].as_object().expect("by reason").clone();
    assert_eq!((json["dead_letters"].as_u64(), reasons.len()), (Some(2), 1), "{json}");
    assert_eq!(reasons.values().next().and_then(serde_json::Value::as_u64), Some(2));
    let text = crosswalk::status::render::text(&report);
    assert!(text.contains("Dead letters: 2 open") && text.contains("new_status"), "{text}");

    // Listed with reason, source and the record it named.
    let service = DeadLetters::new(w.store.clone());
    let list = |status: &str| DeadLetterCommand::List {
        status: status.into(),
        reason: Some("new_status".into()),
        system: Some("crm_a".into()),
        source: Some("webhook".into()),
        limit: 10,
        json: false,
    };
    let text = execute(&service, &list("open"), w.clock.now()).await.unwrap();
    assert_eq!(text.lines().filter(|l| l.contains("crm_a/clients")).count(), 2, "{text}");
    assert!(text.contains("901") && text.contains("902") && text.contains("webhook"), "{text}");
    let letters = w.store.find_dead_letters(&Default::default()).await.unwrap();
    let letter_for =
        |record: &str| letters.iter().find(|d| d.record_id.as_deref() == Some(record)).unwrap().id;
    let (ana, bo) = (letter_for("901"), letter_for("902"));
    let shown =
        execute(&service, &DeadLetterCommand::Show { id: ana, json: false }, w.clock.now()).await.unwrap();
    assert!(
        shown.contains("\"id\":60001") && shown.contains("event:   60001"),
        "the payload is shown: {shown}"
    );
    assert_eq!(w.store.dead_letter(ana).await.unwrap().unwrap().source, DeadLetterSource::Webhook);

    let discard = DeadLetterCommand::Discard { id: bo, by: "ops".into() };
    assert!(execute(&service, &discard, w.clock.now()).await.unwrap().contains("discarded"));
    let retry = DeadLetterCommand::Retry { id: ana, by: "ops".into() };
    assert!(execute(&service, &retry, w.clock.now()).await.unwrap().contains("retried"));
    let again = execute(&service, &retry, w.clock.now()).await.unwrap();
    assert!(again.contains("already retried"), "{again}");
    let refused =
        execute(&service, &DeadLetterCommand::Retry { id: bo, by: "ops".into() }, w.clock.now()).await;
    assert!(refused.is_err_and(|e| e.contains("is discarded")), "a discarded letter is not retried");

    let (writes_a, writes_b) = (w.a.write_log().len(), w.b.write_log().len());
    w.run().await;
    assert_eq!(
        city_of(&w, "ana@example.test"),
        "Bergen",
        "the retried letter's record was re-read and synced"
    );
    assert_eq!(city_of(&w, "bo@example.test"), "Rome", "the discarded letter's record was not");
    assert_eq!(
        (w.a.write_log().len(), w.b.write_log().len()),
        (writes_a, writes_b + 1),
        "one write, to HubSpot's side"
    );
    assert!(w.store.pending_events("crm_a", 10).await.unwrap().is_empty(), "the re-read hint was used");

    w.run().await;
    w.run().await;
    assert_eq!(
        (w.a.write_log().len(), w.b.write_log().len()),
        (writes_a, writes_b + 1),
        "processed exactly once"
    );
    let store = &w.store;
    let status = |id| async move { store.dead_letter(id).await.unwrap().unwrap().status };
    assert_eq!(status(ana).await, DeadLetterStatus::Retried);
    assert_eq!(status(bo).await, DeadLetterStatus::Discarded);
    assert_eq!(w.store.count_dead_letters().await.unwrap(), 0, "no new dead letter from the re-read");
    let open = execute(&service, &list("open"), w.clock.now()).await.unwrap();
    assert!(open.contains("no dead letters match"), "{open}");
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

/// The same on the admin page: behind the login, listed with reason and source, the payload on
/// the letter's own page, retry and discard as CSRF-checked forms; the retried record syncs once.
#[tokio::test]
async fn the_admin_page_lists_shows_retries_and_discards_behind_login_and_csrf() {
    let (w, app) = world_with_two_dead_letters().await;
    let anonymous = call(&app, Request::builder().uri("/dead-letters").body(Body::empty()).unwrap()).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "sent to the login form");
    let cookie = login(&app).await;

    let list =
        call(&app, page_get("/dead-letters?reason=NEW_STATUS&source=webhook&system=crm_a", &cookie)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body.matches("href=\"/dead-letters/").count(), 2, "{}", list.body);
    assert!(list.body.contains("new_status") && list.body.contains("crm_a / clients"), "{}", list.body);
    assert!(!list.body.contains("previous_status"), "payloads only on a letter's page");
    let letters = w.store.find_dead_letters(&Default::default()).await.unwrap();
    let id_for = |r: &str| letters.iter().find(|d| d.record_id.as_deref() == Some(r)).unwrap().id;
    let (ana, bo) = (id_for("901"), id_for("902"));

    let page = call(&app, page_get(&format!("/dead-letters/{ana}"), &cookie)).await;
    assert!(
        page.body.contains("previous_status") && page.body.contains("60001"),
        "the payload: {}",
        page.body
    );
    let csrf = csrf_of(&page.body);
    let forged =
        call(&app, form_post(&format!("/dead-letters/{ana}/retry"), &cookie, "csrf=wrong".into())).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(w.store.dead_letter(ana).await.unwrap().unwrap().status, DeadLetterStatus::Open);

    let retry = || form_post(&format!("/dead-letters/{ana}/retry"), &cookie, format!("csrf={csrf}"));
    let done = call(&app, retry()).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], format!("/dead-letters/{ana}?done=retried").as_str());
    let again = call(&app, retry()).await;
    assert_eq!(again.headers[header::LOCATION], format!("/dead-letters/{ana}?done=unchanged").as_str());
    let discard =
        call(&app, form_post(&format!("/dead-letters/{bo}/discard"), &cookie, format!("csrf={csrf}"))).await;
    assert_eq!(discard.status, StatusCode::SEE_OTHER, "{}", discard.body);
    let refused =
        call(&app, form_post(&format!("/dead-letters/{bo}/retry"), &cookie, format!("csrf={csrf}"))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "a discarded letter stays discarded");
    let letter = w.store.dead_letter(ana).await.unwrap().unwrap();
    assert_eq!((letter.status, letter.status_by.as_deref()), (DeadLetterStatus::Retried, Some("alice")));

    let writes_b = w.b.write_log().len();
    w.run().await;
    w.run().await;
    assert_eq!(city_of(&w, "ana@example.test"), "Bergen");
    assert_eq!(city_of(&w, "bo@example.test"), "Rome");
    assert_eq!(w.b.write_log().len(), writes_b + 1, "processed exactly once");
}

#[test]
fn dead_letters_and_each_subcommand_have_help() {
    for args in [
        &["dead-letters", "--help"][..],
        &["dead-letters", "list", "--help"],
        &["dead-letters", "show", "--help"],
        &["dead-letters", "retry", "--help"],
        &["dead-letters", "discard", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crosswalk")).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Usage: crosswalk dead-letters"), "{args:?}: {text}");
    }
}

/// The same redrive judged from the simulators: an unreadable signed delivery about a linked
/// WhiteLabelCRO client (edited silently, so only a re-read finds the edit) is dead-lettered;
/// retried, the next run re-reads the client from the WhiteLabelCRO simulator and the HubSpot
/// simulator's contact takes the edit with exactly one write; later runs write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_delivery_reaches_the_hubspot_simulator_exactly_once() {
    use crate::hubspot_engine::Env;
    let opts = SyncOptions { sweep_budget: 0, ..SyncOptions::default().creating_on_first_sync() };
    let env = Env::start_with(opts).await;
    let linked = env.seed_linked(1, true);
    env.run().await;
    env.advance(10);
    env.run().await;
    let first_name = |env: &Env| env.contact(linked.contact).properties.get("firstname").cloned();
    assert_eq!(first_name(&env).as_deref(), Some("Ann"));

    // A plain edit in WhiteLabelCRO's UI: no event, and no sweep in this world.
    let edit = serde_json::json!({ "first_name": "Anna" });
    env.wlcro().ui_edit(linked.client, edit.as_object().unwrap()).expect("ui edit");
    env.advance(10);
    env.run().await;
    assert_eq!(first_name(&env).as_deref(), Some("Ann"), "nothing found the silent edit");

    let store = env.test_store.store.clone();
    let app = receiver("wlcro", store.clone(), env.clock.shared(), &[SECRET])
        .attach(serve_api::app(store.clone(), env.clock.shared()));
    let body = unreadable_status_event(70001, linked.client);
    let now = env.clock.now().timestamp();
    let reply = call(&app, delivery(&body, Some(sign(SECRET, body.as_bytes())), now)).await;
    assert_eq!((reply.status, reply.json()["status"].as_str()), (StatusCode::ACCEPTED, Some("quarantined")));
    env.advance(10);
    env.run().await;
    assert_eq!(first_name(&env).as_deref(), Some("Ann"), "an unreadable delivery changes nothing");

    let service = DeadLetters::new(store.clone());
    let letters = store.find_dead_letters(&Default::default()).await.unwrap();
    let client = linked.client.to_string();
    let letter = letters.iter().find(|d| d.record_id.as_deref() == Some(client.as_str())).expect("listed");
    assert!(letter.reason.contains("new_status"), "{}", letter.reason);
    let retry = DeadLetterCommand::Retry { id: letter.id, by: "ops".into() };
    assert!(execute(&service, &retry, env.clock.now()).await.unwrap().contains("retried"));

    let marks = env.marks();
    env.advance(10);
    env.run().await;
    assert_eq!(
        first_name(&env).as_deref(),
        Some("Anna"),
        "the retried letter's client was re-read and synced"
    );
    let (hubspot, wlcro) = env.writes_since(marks);
    assert_eq!((hubspot.len(), wlcro.len()), (1, 0), "one write, to the HubSpot contact: {hubspot:?}");
    env.advance(10);
    env.run().await;
    let (hubspot, wlcro) = env.writes_since(marks);
    assert_eq!((hubspot.len(), wlcro.len()), (1, 0), "processed exactly once");
    assert_eq!(store.dead_letter(letter.id).await.unwrap().unwrap().status, DeadLetterStatus::Retried);
    env.finish().await;
}
