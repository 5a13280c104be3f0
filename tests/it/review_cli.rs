//! `crosswalk review …` and `crosswalk serve` as an operator runs them: a config naming a
//! SQLite store seeded with conflicts, the binary's output and exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use connector_api::{Clock, ManualClock};
use crosswalk::store::{self, ReviewState};

use crate::review_service::{conflict, seed};

fn crosswalk(dir: &Path, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .args(args)
        .current_dir(dir)
        .env_remove("CROSSWALK_CONFIG")
        .env("USER", "cli-tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run crosswalk");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The store, two systems with the names and record links the review queue shows, no secrets.
fn config(url: &str) -> String {
    format!(
        "[store]\nurl = \"{url}\"\n\
         [systems.wlcro]\nkind = \"memory\"\n[systems.hubspot]\nkind = \"memory\"\n\
         [review.systems.wlcro]\nlabel = \"WhiteLabelCRO\"\nrecord_url = \"https://wlcro.example/clients/{{id}}\"\n\
         [review.systems.hubspot]\nlabel = \"HubSpot\"\nportal = \"4242\"\n\
         record_url = \"https://app.hubspot.com/contacts/{{portal}}/record/0-1/{{id}}\"\n"
    )
}

async fn setup() -> (tempfile::TempDir, Vec<i64>, std::sync::Arc<dyn store::Store>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mappings")).unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    std::fs::write(dir.path().join("crosswalk.toml"), config(&url)).unwrap();
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/wlcro-people__hubspot-contacts.toml"),
    )
    .unwrap();
    let people = shipped.replace("name = \"wlcro-people__hubspot-contacts\"", "name = \"people\"");
    std::fs::write(dir.path().join("mappings/people.toml"), people).unwrap();
    let store = store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let t = ManualClock::at_epoch().now();
    let items = vec![
        conflict("people", "city", "Oslo", "Bergen", 1, t),
        conflict("people", "city", "Rome", "Milan", 2, t),
        conflict("people", "zip", "0150", "5003", 3, t),
    ];
    let ids = seed(&store, items, t).await;
    (dir, ids, store)
}

#[tokio::test]
async fn list_show_resolve_twice_and_reopen_from_the_command_line() {
    let (dir, ids, store) = setup().await;
    let (code, text) = crosswalk(dir.path(), &["review", "list", "--field", "city"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"Oslo\"") && text.contains("\"Milan\"") && !text.contains("0150"), "{text}");
    assert!(text.contains("rows 1-2 of 2"), "{text}");
    let (_, json) = crosswalk(dir.path(), &["review", "list", "--json", "--limit", "1", "--page", "2"], "");
    let page: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!((page["total"].as_u64(), page["items"][0]["id"].as_i64()), (Some(3), Some(ids[1])));

    let id = ids[0].to_string();
    let (code, text) = crosswalk(dir.path(), &["review", "show", &id], "");
    assert_eq!(code, 0, "{text}");
    for needle in [
        "WhiteLabelCRO record L1  https://wlcro.example/clients/L1",
        "HubSpot record R1  https://app.hubspot.com/contacts/4242/record/0-1/R1",
        "WhiteLabelCRO says",
        "HubSpot says",
        "[-Oslo-]{+Bergen+}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }

    let (code, text) =
        crosswalk(dir.path(), &["review", "resolve", &id, "--take", "right", "--note", "ok"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("resolved"), "{text}");
    let (code, text) = crosswalk(dir.path(), &["review", "resolve", &id, "--take", "right"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("already carries this decision"), "{text}");
    let (code, text) = crosswalk(dir.path(), &["review", "resolve", &id, "--ignore"], "");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("is resolved, not open"), "{text}");
    let item = store.review_item(ids[0]).await.unwrap().unwrap();
    assert_eq!(item.resolution.map(|r| r.by), Some("cli-tester".to_string()), "--by defaults to $USER");

    let (code, text) = crosswalk(dir.path(), &["review", "reopen", &id], "");
    assert_eq!(code, 0, "{text}");
    assert_eq!(store.review_item(ids[0]).await.unwrap().unwrap().state, ReviewState::Open);
    let (code, text) =
        crosswalk(dir.path(), &["review", "resolve", &id, "--value", "x", "--take", "left"], "");
    assert_eq!(code, 2, "one decision at a time: {text}");
}

#[tokio::test]
async fn bulk_resolve_asks_first_and_does_nothing_on_no() {
    let (dir, ids, store) = setup().await;
    let args = ["review", "resolve", "--all", "--pair", "people", "--field", "city", "--take", "left"];
    let (code, text) = crosswalk(dir.path(), &args, "n\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("2 open item(s) match") && text.contains("aborted"), "{text}");
    assert_eq!(store.review_item(ids[0]).await.unwrap().unwrap().state, ReviewState::Open);
    let (code, text) = crosswalk(dir.path(), &args, "y\n");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("2 item(s) matched: 2 resolved"), "{text}");
    assert_eq!(store.review_item(ids[2]).await.unwrap().unwrap().state, ReviewState::Open, "zip untouched");
    let (code, text) = crosswalk(dir.path(), &[&args[..], &["--yes"]].concat(), "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("no open items match"), "{text}");
}

#[tokio::test]
async fn serve_refuses_to_start_without_an_admin_token() {
    let (dir, _, _) = setup().await;
    let (code, text) = crosswalk(dir.path(), &["serve", "--listen", "127.0.0.1:0"], "");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no admin token is configured"), "{text}");
}

#[tokio::test]
async fn bulk_resolve_without_a_filter_is_refused_unless_everything_is_said() {
    let (dir, ids, store) = setup().await;
    let (code, text) = crosswalk(dir.path(), &["review", "resolve", "--all", "--ignore", "--yes"], "");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("--all without a filter") && text.contains("--everything"), "{text}");
    for id in &ids {
        assert_eq!(
            store.review_item(*id).await.unwrap().unwrap().state,
            ReviewState::Open,
            "nothing decided"
        );
    }
    let (code, text) =
        crosswalk(dir.path(), &["review", "resolve", "--all", "--search", "  ", "--ignore", "--yes"], "");
    assert_eq!(code, 1, "a blank search is no filter: {text}");
    let args = ["review", "resolve", "--all", "--everything", "--ignore", "--yes"];
    let (code, text) = crosswalk(dir.path(), &args, "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("3 item(s) matched: 3 resolved"), "{text}");
}

#[tokio::test]
async fn list_searches_record_ids_and_fields_and_sorts() {
    let (dir, ids, _store) = setup().await;
    let (code, text) = crosswalk(dir.path(), &["review", "list", "--search", "r2"], "");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Rome") && !text.contains("Oslo") && text.contains("rows 1-1 of 1"), "{text}");
    assert!(text.contains("WhiteLabelCRO ⇄ HubSpot"), "{text}");
    let (_, json) = crosswalk(dir.path(), &["review", "list", "--search", "ZIP", "--json"], "");
    let page: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(page["items"][0]["id"].as_i64(), Some(ids[2]), "{json}");
    assert_eq!(page["items"][0]["left_system"]["label"], "WhiteLabelCRO", "{json}");
    let (_, json) = crosswalk(dir.path(), &["review", "list", "--sort", "newest", "--json"], "");
    let page: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(page["items"][0]["id"].as_i64(), Some(ids[2]), "same time: newest id first: {json}");
}
