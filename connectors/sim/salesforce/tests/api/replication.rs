//! getUpdated / getDeleted: truncation, windows, long transactions, purges and the id cap.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Map, json};
use sim_salesforce::{ExternalEdit, ObjectKind, Quirks, SeedRecord};

use super::{code, sim};

fn win(path: &str, start: &str, end: &str) -> String {
    // `+` must be percent-encoded in the query string.
    format!("/sobjects/Contact/{path}/?start={}&end={}", start.replace('+', "%2B"), end.replace('+', "%2B"))
}

#[tokio::test]
async fn get_updated_truncates_seconds_and_includes_both_bounds() {
    let s = sim().await;
    s.state.advance(Duration::seconds(30)); // 12:00:30
    let ids = s.seed_contacts(1);
    s.state.advance(Duration::minutes(10));
    let a = s.get(&win("updated", "2026-03-01T12:00:45+00:00", "2026-03-01T12:05:59Z")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["ids"], json!([ids[0]]), "start 12:00:45 is read as 12:00:00");
    assert_eq!(a.body["latestDateCovered"], "2026-03-01T12:05:00.000+0000");
    let later = s.get(&win("updated", "2026-03-01T12:01:00Z", "2026-03-01T12:05:00Z")).await;
    assert_eq!(later.body["ids"], json!([]));
}

#[tokio::test]
async fn bad_ranges_and_out_of_window_starts_are_invalid_replication_dates() {
    let s = sim().await;
    let same_minute = s.get(&win("updated", "2026-03-01T11:30:10Z", "2026-03-01T11:30:50Z")).await;
    assert_eq!(code(&same_minute), "INVALID_REPLICATION_DATE");
    let reversed = s.get(&win("updated", "2026-03-01T11:00:00Z", "2026-03-01T10:00:00Z")).await;
    assert_eq!(code(&reversed), "INVALID_REPLICATION_DATE");
    let old = s.get(&win("updated", "2026-01-29T11:59:00Z", "2026-02-01T00:00:00Z")).await;
    assert_eq!(code(&old), "INVALID_REPLICATION_DATE", "more than 30 days back");
    let ok = s.get(&win("updated", "2026-01-30T12:00:00Z", "2026-02-01T00:00:00Z")).await;
    assert_eq!(ok.status, StatusCode::OK);
    let old_del = s.get(&win("deleted", "2026-02-14T11:59:00Z", "2026-02-20T00:00:00Z")).await;
    assert_eq!(code(&old_del), "INVALID_REPLICATION_DATE", "more than 15 days back");
}

#[tokio::test]
async fn a_long_transaction_holds_back_latest_date_covered_and_commits_behind_the_cursor() {
    let s = sim().await;
    let txn = s.state.open_transaction(); // starts 12:00:00
    let rec = SeedRecord {
        object: Some(ObjectKind::Contact),
        fields: json!({"LastName": "Late"}).as_object().unwrap().clone(),
        txn: Some(txn),
        ..SeedRecord::default()
    };
    let late = s.state.seed(vec![rec]).unwrap().remove(0);
    s.state.advance(Duration::minutes(5));
    let visible = s.seed_contacts(1);
    s.state.advance(Duration::minutes(5)); // 12:10
    let a = s.get(&win("updated", "2026-03-01T11:50:00Z", "2026-03-01T12:10:00Z")).await;
    assert_eq!(a.body["ids"], json!([visible[0]]));
    assert_eq!(a.body["latestDateCovered"], "2026-03-01T12:00:00.000+0000");
    let q = s.query("query", "SELECT Id FROM Contact WHERE SystemModstamp >= 2026-03-01T12:00:00Z").await;
    assert_eq!(q.body["totalSize"], 1, "uncommitted row is invisible");

    assert_eq!(s.state.commit_transaction(txn).unwrap(), 1);
    let b = s.get(&win("updated", "2026-03-01T11:50:00Z", "2026-03-01T12:10:00Z")).await;
    assert_eq!(b.body["latestDateCovered"], "2026-03-01T12:10:00.000+0000");
    assert!(b.body["ids"].as_array().unwrap().contains(&json!(late)));
    let stamp = s.state.record(&late).unwrap().modstamp;
    assert_eq!(stamp, super::t0(), "stamped at transaction start, before rows already read");
}

#[tokio::test]
async fn commit_lag_on_an_update_keeps_the_old_state_visible_until_it_lands() {
    let s = sim().await;
    let ids = s.seed_contacts(1);
    s.state.advance(Duration::minutes(1));
    let mut fields = Map::new();
    fields.insert("Title".into(), json!("CEO"));
    s.state
        .edit(ExternalEdit { id: ids[0].clone(), fields, visible_after_secs: 30, ..ExternalEdit::default() })
        .unwrap();
    let q = "SELECT Id, Title, SystemModstamp FROM Contact";
    let before = s.query("query", q).await;
    assert_eq!(before.body["records"][0]["Title"], json!(null));
    assert_eq!(before.body["records"][0]["SystemModstamp"], "2026-03-01T12:00:00.000+0000");
    s.state.advance(Duration::seconds(30));
    let after = s.query("query", q).await;
    assert_eq!(after.body["records"][0]["Title"], "CEO");
    assert_eq!(after.body["records"][0]["SystemModstamp"], "2026-03-01T12:01:00.000+0000");
}

#[tokio::test]
async fn get_deleted_lists_deletes_and_purges_move_earliest_date_available() {
    let s = sim().await;
    let ids = s.seed_contacts(3);
    s.state.advance(Duration::minutes(2));
    s.state.delete(&ids[0]).unwrap();
    s.state.advance(Duration::minutes(2));
    let a = s.get(&win("deleted", "2026-03-01T12:00:00Z", "2026-03-01T12:04:00Z")).await;
    assert_eq!(
        a.body["deletedRecords"],
        json!([{"id": ids[0], "deletedDate": "2026-03-01T12:02:00.000+0000"}])
    );
    assert_eq!(a.body["earliestDateAvailable"], "2026-02-14T12:04:00.000+0000");
    assert_eq!(s.state.purge(ObjectKind::Contact, None), 1);
    let b = s.get(&win("deleted", "2026-03-01T12:00:00Z", "2026-03-01T12:04:00Z")).await;
    assert_eq!(code(&b), "INVALID_REPLICATION_DATE", "purged deletes inside the window are a gap");
    let c = s.get(&win("deleted", "2026-03-01T12:03:00Z", "2026-03-01T12:04:00Z")).await;
    assert_eq!(c.body["earliestDateAvailable"], "2026-03-01T12:02:00.000+0000");
}

#[tokio::test]
async fn too_many_ids_is_exceeded_id_limit() {
    let s = sim().await;
    s.seed_contacts(3);
    s.state.set_quirks(Quirks { id_limit: 2, ..Quirks::default() });
    s.state.advance(Duration::minutes(1));
    let a = s.get(&win("updated", "2026-03-01T12:00:00Z", "2026-03-01T12:01:00Z")).await;
    assert_eq!(code(&a), "EXCEEDED_ID_LIMIT");
}

#[tokio::test]
async fn the_recycle_bin_empties_itself_after_15_days() {
    let mut s = sim().await;
    let ids = s.seed_contacts(2);
    s.state.delete(&ids[0]).unwrap();
    let q = "SELECT Id FROM Contact WHERE IsDeleted = true";
    assert_eq!(s.query("queryAll", q).await.body["totalSize"], 1);
    s.state.advance(Duration::days(15) + Duration::minutes(1));
    s.refresh_token().await;
    assert_eq!(s.query("queryAll", q).await.body["totalSize"], 0);
    let a = s.get(&win("deleted", "2026-03-16T12:00:00Z", "2026-03-16T12:01:00Z")).await;
    assert_eq!(a.body["earliestDateAvailable"], "2026-03-01T12:00:00.000+0000");
}
