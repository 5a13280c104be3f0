//! The admin page in a real headless Chromium, driven over WebDriver, on a queue made by the real
//! engine over the WhiteLabelCRO and HubSpot simulators: sign in, search a person by email, open
//! the conflict, see both systems and the person named, follow the record's history, resolve
//! with "Keep HubSpot's value"; the next run applies it exactly once (judged from the simulators'
//! records and request logs). Screenshots of the list and the item page, at 1280 px and at a
//! phone's width, are kept in `target/tmp/browser-artifacts/`. Without chromium + chromedriver the
//! test says it skipped, except under `CI=true`, where that is a failure.

#[path = "../browser/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};

use axum::Router;
use crosswalk::review::names::Directory;
use crosswalk::serve::{self, AdminAuth};
use crosswalk::settings::{ReviewSettings, ReviewSystemSettings};
use crosswalk::store::{ReviewKind, ReviewState};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use sim_hubspot::ObjectType;

use crate::hubspot_engine::{Env, prop, props};
use crate::serve_api::TOKEN;
use webdriver::{Browser, find_binary};

/// Where the screenshots go (documented in README.md § Web page).
fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts")
}

async fn shot(browser: &Browser, name: &str) -> Result<(), String> {
    let png = browser.screenshot().await?;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::create_dir_all(artifacts()).map_err(|e| e.to_string())?;
    std::fs::write(artifacts().join(name), &png).map_err(|e| e.to_string())
}

/// The admin app over the engine's store, naming the shipped mapping's systems.
fn admin_app(env: &Env) -> Router {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/wlcro-people__hubspot-contacts.toml");
    let pair = crosswalk::mapping::load_file(&path).expect("shipped mapping loads");
    let hubspot = ReviewSystemSettings { portal: Some("4242".into()), ..Default::default() };
    let review = ReviewSettings { systems: [("hubspot".to_string(), hubspot)].into() };
    let dir = Directory::new(&env.world.systems, &review, &[pair]);
    let auth = AdminAuth::new(&SecretString::from(TOKEN), ChaCha20Rng::seed_from_u64(7));
    serve::router_with(env.test_store.store.clone(), auth, env.clock.shared(), dir)
}

fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let driver = find_binary(&["chromedriver"], &["/usr/lib/chromium/chromedriver"]);
    let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"], &[]);
    let found = driver.zip(chromium);
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but chromium / chromedriver are missing: apt-get install -y chromium chromium-driver"
        );
        eprintln!(
            "SKIPPED: chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_finds_a_person_and_keeps_hubspots_value_in_a_real_browser() {
    let Some((driver, chromium)) = browser_binaries() else { return };
    let env = Env::start().await;
    let ann = env.seed_linked(0, true);
    env.advance(60);
    env.run().await;
    // A one-sided edit first, so the records have a history; then a true conflict.
    env.wlcro().ui_edit(ann.client, &props(&[("last_name", "Lee-Smith")])).expect("ui edit");
    env.advance(60);
    env.run().await;
    env.advance(60);
    env.wlcro().ui_edit(ann.client, &props(&[("first_name", "Annie")])).expect("ui edit");
    let anna = props(&[("firstname", "Anna")]);
    env.hubspot().external_edit(ObjectType::Contacts, ann.contact, &anna).expect("hubspot edit");
    env.advance(30);
    env.run().await;
    let open = env.test_store.store.list_review(&Default::default()).await.unwrap();
    let item = open.iter().find(|i| i.kind == ReviewKind::FieldConflict).expect("a conflict");
    assert_eq!(item.field.as_deref(), Some("first_name"), "{open:?}");
    let id = item.id;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    // `localhost`, not the IP: Chromium keeps `Secure` cookies over plain HTTP only for it.
    let base = format!("http://localhost:{}", listener.local_addr().expect("addr").port());
    let server = tokio::spawn(axum::serve(listener, admin_app(&env)).into_future());
    let browser = Browser::start(&driver, &chromium).await.expect("browser session");
    let outcome = browse(&browser, &base, id, &ann).await;
    browser.quit().await;
    server.abort();
    outcome.expect("browser steps");

    let stored = env.test_store.store.review_item(id).await.unwrap().unwrap();
    let r = stored.resolution.clone().expect("resolved");
    assert_eq!(
        (stored.state, r.by.as_str(), r.note.as_deref()),
        (ReviewState::Resolved, "Alice Admin", Some("checked"))
    );
    env.advance(60);
    let marks = env.marks();
    env.run().await;
    env.advance(60);
    env.run().await;
    assert_eq!(env.client(ann.client)["first_name"], "Anna", "WhiteLabelCRO got HubSpot's value");
    assert_eq!(prop(&env.contact(ann.contact), "firstname").as_deref(), Some("Anna"), "HubSpot kept it");
    let (hs, wl) = env.writes_since(marks);
    let to_client = wl.iter().filter(|w| w.path.contains(&ann.client.to_string())).count();
    assert_eq!(to_client, 1, "the decision was written exactly once in two runs: {wl:?}");
    assert!(hs.is_empty(), "HubSpot already had the value: {hs:?}");
    let applied = env.test_store.store.review_item(id).await.unwrap().unwrap();
    assert_eq!(applied.state, ReviewState::Applied);
    env.finish().await;
}

async fn browse(b: &Browser, base: &str, id: i64, ann: &crate::hubspot_engine::Linked) -> Result<(), String> {
    b.goto(&format!("{base}/review")).await?;
    assert!(b.current_url().await?.ends_with("/login"), "not signed in: sent to the login page");
    b.type_into("#token", TOKEN).await?;
    b.type_into("#name", "Alice Admin").await?;
    b.click("#login").await?;
    assert_eq!(b.tab_to(1).await?, "skip", "the first Tab reaches the skip link");
    b.type_into("#q", "ANN.LEE0@example.test").await?;
    b.click("#search").await?;
    assert!(b.current_url().await?.contains("q=ANN.LEE0%40example.test"), "the search is kept in the URL");
    let list = b.source().await?;
    assert!(list.contains("Ann Lee") && list.contains("WhiteLabelCRO ⇄ HubSpot"), "{list}");
    assert!(list.contains("Items 1–1 of 1"), "only Ann: {list}");
    shot(b, "review-list.png").await?;
    b.click(&format!("#item-{id}")).await?;
    assert_eq!(b.text("#person-name").await?, "Ann Lee-Smith");
    assert_eq!(b.text("#side-left h3").await?, "WhiteLabelCRO says");
    assert_eq!(b.text("#side-right h3").await?, "HubSpot says");
    assert_eq!(b.text("#side-right .value").await?, "Anna");
    let why = b.text("#why-summary").await?;
    assert_eq!(why, "Both WhiteLabelCRO and HubSpot changed the first name since they last agreed.");
    let link = b.attribute("#open-hubspot", "href").await?;
    assert_eq!(link, format!("https://app.hubspot.com/contacts/4242/record/0-1/{}", ann.contact));
    assert_eq!(b.text("#take-right").await?, "Keep HubSpot's value");
    shot(b, "review-item.png").await?;
    b.resize(390, 844).await?;
    shot(b, "review-item-phone.png").await?;
    assert!(!b.overflows_sideways().await?, "the item page fits a phone's width");
    b.goto(&format!("{base}/review?q=ann.lee0")).await?;
    shot(b, "review-list-phone.png").await?;
    assert!(!b.overflows_sideways().await?, "the list fits a phone's width");
    b.resize(1280, 1000).await?;

    b.goto(&format!("{base}/review/{id}")).await?;
    b.click("#history-hubspot").await?;
    assert!(b.current_url().await?.ends_with(&format!("/record/hubspot/{}", ann.contact)));
    let history = b.text("#history").await?;
    assert!(
        history.contains("last name") && history.contains("Lee-Smith") && history.contains("WhiteLabelCRO"),
        "{history}"
    );
    assert_eq!(b.text("#record-person").await?, "Ann Lee-Smith\nann.lee0@example.test");
    b.goto(&format!("{base}/review/{id}")).await?;
    b.type_into("#note", "checked").await?;
    b.click("#take-right").await?;
    let flash = b.text("#flash").await?;
    assert!(flash.contains("Decision recorded"), "{flash}");
    assert_eq!(b.text("#decided-action").await?, "Keep HubSpot's value");
    Ok(())
}
