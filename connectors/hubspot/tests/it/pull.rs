//! Pulls: paging, checkpoints, rewind, the 10k cap with one shared millisecond, index lag,
//! merges and archives.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use connector_api::{ChangeKind, Checkpoint, Clock, Connector, IdentityKey, PullRequest, Write, WriteOp};
use serde_json::{Map, json};
use sim_hubspot::ObjectType;

use crate::common::world;

fn upsert_counts(changes: &[connector_api::Change]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in changes.iter().filter(|c| c.kind == ChangeKind::Upsert) {
        *m.entry(c.id.clone()).or_insert(0) += 1;
    }
    m
}

#[tokio::test]
async fn pages_every_record_exactly_once_and_stops_at_the_checkpoint() {
    let w = world().await;
    let mut ids = Vec::new();
    for i in 0..9 {
        ids.extend(w.seed_contacts(50, &format!("b{i}-")));
        w.advance(Duration::from_millis(1));
    }
    w.advance(Duration::from_secs(1));
    let (changes, cp) = w.pull_all("contacts", None, None).await;
    let counts = upsert_counts(&changes);
    assert_eq!(counts.len(), 450);
    assert!(
        counts.values().all(|n| *n == 1),
        "duplicates: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).count()
    );
    let expected: BTreeSet<String> = ids.iter().map(u64::to_string).collect();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for pair in changes.windows(2) {
        assert!(pair[0].modified_at <= pair[1].modified_at, "out of order");
    }
    // Nothing new: the next pull from the checkpoint returns nothing.
    let (again, _) = w.pull_all("contacts", Some(cp.clone()), None).await;
    assert!(again.is_empty(), "{} re-read", again.len());
}

#[tokio::test]
async fn a_checkpoint_past_the_horizon_returns_nothing() {
    let w = world().await;
    w.seed_contacts(5, "f");
    w.advance(Duration::from_secs(60));
    let future_ts = w.clock.now().timestamp_millis() + 3_600_000;
    let future = Checkpoint(json!({ "ts": future_ts }));
    let page = w
        .conn
        .pull(PullRequest {
            object: "contacts",
            checkpoint: Some(&future),
            rewind: None,
            horizon: w.clock.now(),
            since: None,
            until: None,
            limit: 200,
        })
        .await
        .unwrap();
    assert!(page.changes.is_empty() && page.done);
    assert_eq!(page.next.0["ts"], json!(future_ts), "claims nothing new");
    assert_eq!(w.search_requests(), 0, "not even asked");
}

#[tokio::test]
async fn rewind_rereads_the_overlap_only() {
    let w = world().await;
    let old = w.seed_contacts(3, "old");
    w.advance(Duration::from_secs(600));
    let recent = w.seed_contacts(2, "new");
    w.advance(Duration::from_secs(30));
    let (_, cp) = w.pull_all("contacts", None, None).await;
    let (re, _) = w.pull_all("contacts", Some(cp), Some(Duration::from_secs(120))).await;
    let ids: BTreeSet<String> = re.iter().map(|c| c.id.clone()).collect();
    for id in &recent {
        assert!(ids.contains(&id.to_string()), "recent {id} re-read");
    }
    for id in &old {
        assert!(!ids.contains(&id.to_string()), "old {id} outside the overlap");
    }
}

#[tokio::test]
async fn twelve_thousand_records_in_one_millisecond_are_all_read_in_bounded_requests() {
    let w = world().await;
    let ids = w.seed_contacts(12_000, "bulk");
    w.advance(Duration::from_secs(5));
    let (ts, touched) = w.sim.bulk_touch(ObjectType::Contacts, 12_000);
    assert_eq!(touched.len(), 12_000);
    w.advance(Duration::from_secs(5));
    w.sim.log.clear();
    let (changes, cp) = w.pull_all("contacts", None, None).await;
    let counts = upsert_counts(&changes);
    assert_eq!(counts.len(), 12_000, "every record read");
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), ids.iter().map(u64::to_string).collect());
    assert!(changes.iter().all(|c| c.modified_at.timestamp_millis() == ts));
    let searches = w.search_requests();
    let minimum = 12_000usize.div_ceil(200);
    assert!(searches <= 2 * minimum, "{searches} search requests (minimum {minimum})");
    // Everything the pull sent, the recycle-bin scan included (one more page at the minimum).
    let all = w.sim.requests().len();
    assert!(all <= 2 * (minimum + 1), "{all} requests in all (minimum {})", minimum + 1);
    assert!(w.sim.requests().iter().all(|r| r.status < 400), "no 400 from the 10k cap");
    // And the window moved on: nothing is re-read.
    let (again, _) = w.pull_all("contacts", Some(cp), None).await;
    assert!(again.is_empty());
}

#[tokio::test]
async fn a_write_hidden_by_index_lag_is_found_within_the_overlap() {
    let w = world().await;
    w.seed_contacts(2, "base");
    w.advance(Duration::from_secs(10));
    let (_, cp) = w.pull_all("contacts", None, None).await;
    w.sim.set_search_lag(5_000, 0);
    // A create through the API, visible to search only after the lag.
    let create = Write {
        key: "k".into(),
        op: WriteOp::Create {
            fields: obj(json!({"email": "late@example.test"})).into_iter().collect(),
            external_id: Some(IdentityKey { field: crate::common::UNIQUE.into(), value: "W-late".into() }),
        },
    };
    let out = w.conn.apply("contacts", vec![create]).await.unwrap();
    let lagged: u64 = out[0].result.as_ref().unwrap().id.parse().unwrap();
    w.advance(Duration::from_millis(1));
    w.seed_contacts(1, "visible"); // seeds are indexed at once and move the window past `lagged`
    w.advance(Duration::from_millis(500));
    let (first, cp) = w.pull_all("contacts", Some(cp), None).await;
    assert!(!first.iter().any(|c| c.id == lagged.to_string()), "not yet indexed");
    assert_eq!(first.len(), 1, "only the immediately visible record");
    w.advance(Duration::from_secs(10));
    let (without, _) = w.pull_all("contacts", Some(cp.clone()), None).await;
    assert!(!without.iter().any(|c| c.id == lagged.to_string()), "the overlap is what finds it");
    let (with, _) = w.pull_all("contacts", Some(cp), Some(Duration::from_secs(120))).await;
    assert!(with.iter().any(|c| c.id == lagged.to_string()), "found within the overlap");
}

fn obj(v: serde_json::Value) -> Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn merge_surfaces_as_merged_and_archive_as_deleted() {
    let w = world().await;
    let ids = w.seed_contacts(4, "m");
    w.advance(Duration::from_secs(10));
    let (_, cp) = w.pull_all("contacts", None, None).await;
    w.advance(Duration::from_secs(1));
    let survivor = w.sim.merge(ObjectType::Contacts, ids[0], ids[1]).unwrap();
    w.sim.archive(ObjectType::Contacts, ids[2]).unwrap();
    w.advance(Duration::from_secs(10));
    let (changes, _) = w.pull_all("contacts", Some(cp), None).await;
    let loser = ids[1].to_string();
    let merged: Vec<_> = changes.iter().filter(|c| c.id == loser).map(|c| c.kind.clone()).collect();
    assert!(!merged.is_empty());
    assert!(
        merged.iter().all(|k| *k == ChangeKind::Merged { survivor_id: survivor.id.to_string() }),
        "{merged:?}"
    );
    let archived: Vec<_> = changes.iter().filter(|c| c.id == ids[2].to_string()).map(|c| &c.kind).collect();
    assert_eq!(archived, vec![&ChangeKind::Deleted]);
    assert!(!changes.iter().any(|c| c.id == ids[3].to_string()), "untouched record not re-read");
}
