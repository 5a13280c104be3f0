//! S11: a remote whose paging does not advance ends the pull with a `NoProgress` error after the
//! request that showed it, judged from what reached the remote: a Salesforce page with no rows
//! that says `done: false` (which made the connector re-issue the same query 11,174 times in
//! 20 s), and a WhiteLabelCRO feed whose empty page hands back the cursor it was read with; a
//! feed that hands out new cursors without end stops at the per-run ceiling (a tenth of a day's
//! read quota). As for any failed page, the engine commits no checkpoint for it. The HubSpot window (which searched one
//! window 2,644 times at page size 2) is covered by `connector-hubspot`'s `window` tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use connector_api::http::ReqwestTransport;
use connector_api::{Checkpoint, Clock, Connector, ErrorClass, ManualClock, PullRequest};
use crosswalk::demo::world::secret_file;
use crosswalk::settings::{SalesforceSettings, SystemSettings, WlcroSettings};

use super::hosts::{Front, front};

fn request<'a>(
    object: &'a str,
    checkpoint: Option<&'a Checkpoint>,
    rewind: bool,
    clock: &ManualClock,
) -> PullRequest<'a> {
    PullRequest {
        object,
        checkpoint,
        rewind: rewind.then_some(Duration::from_secs(120)),
        horizon: clock.now(),
        since: None,
        until: None,
        limit: 50,
    }
}

fn build(name: &str, system: &SystemSettings, clock: &ManualClock) -> Arc<dyn Connector> {
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).expect("transport"));
    crosswalk::registry::build(name, system, &[], transport, clock.shared(), 5).expect("connector")
}

#[tokio::test]
async fn s11_a_salesforce_page_with_no_rows_and_done_false_ends_the_pull_after_one_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    let instance = Arc::new(Mutex::new(String::new()));
    let stuck = serde_json::json!({"totalSize": 0, "done": false, "records": [],
        "nextRecordsUrl": "/services/data/v62.0/query/01gSTUCK-2000"});
    let mode = Front::Login { instance_url: instance.clone(), status: 200, to: String::new(), answer: stuck };
    let (url, log) = front(mode, 0).await;
    *instance.lock().expect("lock") = url.clone();
    let system = SystemSettings::Salesforce(SalesforceSettings {
        login_url: url,
        client_id: "runaway-test".into(),
        client_secret: secret_file(dir.path(), "sf.secret", "runaway-test-secret-0000").expect("secret"),
        api_version: "62.0".into(),
        external_id_field: "WLCRO_Id__c".into(),
        reserve_share: 0.2,
        overlap: None,
        allowed_instance_hosts: vec!["http://127.0.0.1".into()],
    });
    let c = build("salesforce", &system, &clock);
    let err = c.pull(request("Contact", None, true, &clock)).await.expect_err("a stuck page");
    assert_eq!(err.class(), ErrorClass::NoProgress, "{err}");
    assert!(err.to_string().contains("done: false"), "says what it saw: {err}");
    let queries = log.lock().expect("lock").iter().filter(|s| s.uri.contains("/queryAll")).count();
    assert_eq!(queries, 1, "one query, not a loop");
}

/// A feed that answers every page with no events and the cursor `c1` (or, `moving`, a new
/// cursor each time).
async fn stuck_feed(moving: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = seen.clone();
    let app = Router::new().fallback(move |req: Request| {
        let keep = keep.clone();
        async move {
            let n = {
                let mut seen = keep.lock().expect("lock");
                seen.push(req.uri().to_string());
                seen.len()
            };
            let cursor = if moving { format!("c{n}") } else { "c1".to_string() };
            ([("x-paging-cursor", cursor)], axum::Json(serde_json::json!({"data": []}))).into_response()
        }
    });
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    (url, seen)
}

#[tokio::test]
async fn s11_a_whitelabelcro_page_handing_back_its_own_cursor_ends_the_pull() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    let (url, seen) = stuck_feed(false).await;
    let c = build("wlcro", &wlcro(dir.path(), &url, 6000), &clock);
    let first = c.pull(request("clients", None, true, &clock)).await.expect("the first page moves to c1");
    assert!(!first.done);
    let err = c.pull(request("clients", Some(&first.next), false, &clock)).await.expect_err("stuck on c1");
    assert_eq!(err.class(), ErrorClass::NoProgress, "{err}");
    assert_eq!(seen.lock().expect("lock").len(), 2, "two requests, then the error: {seen:?}");
}

fn wlcro(dir: &std::path::Path, url: &str, per_minute: u32) -> SystemSettings {
    SystemSettings::Whitelabelcro(WlcroSettings {
        base_url: url.into(),
        api_key: secret_file(dir, "wl.key", "wlcro_live_11_runaway-key").expect("secret"),
        webhook_secrets: Vec::new(),
        overlap: None,
        read_per_minute: per_minute,
        write_per_minute: per_minute,
        webhook: Default::default(),
    })
}

#[tokio::test]
async fn s11_a_feed_handing_out_new_cursors_without_end_stops_at_the_per_run_ceiling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    let (url, seen) = stuck_feed(true).await;
    // 1 read per minute: a day's quota is 1,440, the ceiling a tenth of it (the pacing waits
    // run on the manual clock).
    let c = build("wlcro", &wlcro(dir.path(), &url, 1), &clock);
    let mut checkpoint: Option<Checkpoint> = None;
    let mut first = true;
    let err = loop {
        match c.pull(request("clients", checkpoint.as_ref(), first, &clock)).await {
            Ok(page) => {
                assert!(!page.done, "the feed never ends");
                checkpoint = Some(page.next);
                first = false;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.class(), ErrorClass::NoProgress, "{err}");
    assert!(err.to_string().contains("stopped after 144 requests"), "{err}");
    assert_eq!(seen.lock().expect("lock").len(), 144, "the ceiling is a tenth of the day's 1,440 reads");
}

/// A HubSpot search that answers an empty page naming a next page (the identity lookups page
/// through searches too) ends the lookup with `NoProgress` after that one request.
#[tokio::test]
async fn s11_a_hubspot_lookup_search_answering_an_empty_page_with_a_next_page_ends_after_one_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = seen.clone();
    let app = Router::new().fallback(move |req: Request| {
        let keep = keep.clone();
        async move {
            keep.lock().expect("lock").push(req.uri().path().to_string());
            axum::Json(serde_json::json!({"total": 5, "results": [], "paging": {"next": {"after": "5"}}}))
                .into_response()
        }
    });
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    let system = SystemSettings::Hubspot(crosswalk::settings::HubspotSettings {
        base_url: url,
        token: secret_file(dir.path(), "hs.token", "pat-na1-runaway-test-token").expect("secret"),
        webhook_secret: None,
        unique_property: "wlcro_client_id".into(),
        overlap: None,
        tier: None,
        burst_per_10s: None,
        daily: None,
        search_per_second: None,
    });
    let c = build("hubspot", &system, &clock);
    let err =
        c.find_many("contacts", "email", &["a@example.test".to_string()]).await.expect_err("stuck search");
    assert_eq!(err.class(), ErrorClass::NoProgress, "{err}");
    let searches = seen.lock().expect("lock").iter().filter(|p| p.ends_with("/search")).count();
    assert_eq!(searches, 1, "one search, not a loop: {seen:?}");
}
