//! The admin page in a real headless Chromium, driven over WebDriver: sign in, open a conflict,
//! click "Take right", see it resolved, and keep a screenshot of the item page in
//! tests/artifacts/review-item.png. Without chromium + chromedriver the test says it skipped,
//! except under `CI=true`, where that is a failure.

#[path = "../browser/webdriver.rs"]
mod webdriver;

use connector_api::{Clock, ManualClock};
use crosswalk::store::ReviewState;

use crate::review_service::{conflict, seed};
use crate::serve_api::{TOKEN, app};
use webdriver::{Browser, find_binary};

#[tokio::test]
async fn an_admin_resolves_a_conflict_in_a_real_browser() {
    let driver = find_binary(&["chromedriver"], &["/usr/lib/chromium/chromedriver"]);
    let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"], &[]);
    let (Some(driver), Some(chromium)) = (driver, chromium) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but chromium / chromedriver are missing: apt-get install -y chromium chromium-driver"
        );
        eprintln!(
            "SKIPPED: chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
        );
        return;
    };

    let ts = crate::support::TestStore::sqlite().await;
    let clock = ManualClock::at_epoch();
    let t = clock.now();
    let mut item = conflict("wlcro_hubspot_contacts", "street", "12 Main Street", "12 Main St., Apt 4", 1, t);
    item.left_id = Some("C-10442".into());
    item.right_id = Some("901234".into());
    item.reason = "both sides changed `street` since the last agreed value and the rule is two_way".into();
    item.base_value = Some("12 Main St".into());
    let mut other = conflict("wlcro_hubspot_contacts", "phone", "+1 555 0100", "+1 555 0199", 2, t);
    other.reason = "both sides changed".into();
    let ids = seed(&ts.store, vec![item, other], t).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    // `localhost`, not the IP: Chromium keeps `Secure` cookies over plain HTTP only for it.
    let base = format!("http://localhost:{}", listener.local_addr().expect("addr").port());
    let server = tokio::spawn(axum::serve(listener, app(ts.store.clone(), clock.shared())).into_future());

    let browser = Browser::start(&driver, &chromium).await.expect("browser session");
    let outcome = async {
        browser.goto(&format!("{base}/review/{}", ids[0])).await?;
        assert!(browser.current_url().await?.ends_with("/login"), "not signed in: sent to the login page");
        browser.type_into("#token", TOKEN).await?;
        browser.type_into("#name", "Alice Admin").await?;
        browser.click("#login").await?;
        let queue = browser.source().await?;
        assert!(queue.contains("Review queue") && queue.contains("12 Main Street"), "{queue}");
        browser.goto(&format!("{base}/review/{}", ids[0])).await?;
        assert_eq!(browser.text("#side-right .value").await?, "12 Main St., Apt 4");
        let shot = browser.screenshot().await?;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/artifacts/review-item.png");
        std::fs::create_dir_all(std::path::Path::new(path).parent().expect("dir"))
            .map_err(|e| e.to_string())?;
        std::fs::write(path, &shot).map_err(|e| e.to_string())?;
        assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");
        browser.type_into("#note", "checked with the customer").await?;
        browser.click("#take-right").await?;
        let flash = browser.text("#flash").await?;
        assert!(flash.contains("Decision recorded"), "{flash}");
        assert_eq!(browser.text("#decided-action").await?, "take right");
        Ok::<(), String>(())
    }
    .await;
    browser.quit().await;
    server.abort();
    outcome.expect("browser steps");

    let stored = ts.store.review_item(ids[0]).await.unwrap().unwrap();
    let r = stored.resolution.expect("resolved");
    assert_eq!(stored.state, ReviewState::Resolved);
    assert_eq!((r.by.as_str(), r.note.as_deref()), ("Alice Admin", Some("checked with the customer")));
}
