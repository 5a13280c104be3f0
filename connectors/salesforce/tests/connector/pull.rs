//! Incremental pulls: ties at page boundaries, future checkpoints, rewinds, late commits,
//! deletes, merges and undeletes.

use std::collections::BTreeSet;
use std::time::Duration;

use connector_api::{ChangeKind, Checkpoint};
use serde_json::json;
use sim_salesforce::{ObjectKind, SeedRecord};

use crate::support::{contact, obj, world};

#[tokio::test]
async fn pages_through_a_tied_second_exactly_once() {
    let w = world().await;
    // Seven rows share one SystemModstamp second; pages of 3 split the tie twice.
    let rows = (0..7).map(|i| contact(&format!("Tie{i}"), &format!("t{i}@example.com"))).collect();
    let seeded: BTreeSet<String> = w.seed_many(ObjectKind::Contact, rows).into_iter().collect();
    w.advance(1);
    let later = w.seed(ObjectKind::Contact, contact("Later", "later@example.com"));

    let mut seen = Vec::new();
    let mut cp: Option<Checkpoint> = None;
    let mut pages = 0;
    loop {
        let page = w.pull("Contact", cp.as_ref(), None, 3).await;
        pages += 1;
        assert!(page.changes.len() <= 3);
        seen.extend(page.changes.iter().map(|c| c.id.clone()));
        cp = Some(page.next);
        if page.done {
            break;
        }
        assert!(pages < 10, "pulls must advance through the tie");
    }
    assert_eq!(seen.len(), 8, "every row exactly once: {seen:?}");
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), 8);
    assert!(seeded.is_subset(&unique));
    assert_eq!(seen.last(), Some(&later), "source order: (stamp, id)");
    assert!(seen.iter().all(|id| id.len() == 18));
}

#[tokio::test]
async fn a_future_checkpoint_returns_nothing_and_does_not_move() {
    let w = world().await;
    w.seed(ObjectKind::Contact, contact("Ada", "ada@example.com"));
    let future = Checkpoint(json!({"ts": "2026-03-02T12:00:00Z", "id": ""}));
    let page = w.pull("Contact", Some(&future), None, 10).await;
    assert!(page.changes.is_empty());
    assert!(page.done);
    assert_eq!(page.next.0["ts"], json!("2026-03-02T12:00:00Z"));
}

#[tokio::test]
async fn a_rewind_rereads_the_overlap_and_an_idle_stream_does_not_drift_back() {
    let w = world().await;
    w.seed(ObjectKind::Contact, contact("Old", "old@example.com"));
    w.advance(600);
    let recent = w.seed(ObjectKind::Contact, contact("Recent", "recent@example.com"));
    let (all, cp) = w.drain("Contact", None, None, 10).await;
    assert_eq!(all.len(), 2);
    w.advance(60);

    let page = w.pull("Contact", cp.as_ref(), Some(Duration::from_secs(120)), 10).await;
    let ids: Vec<_> = page.changes.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, vec![recent], "only what lies inside the overlap is re-read");
    assert!(page.done);
    let (next, before) = (&page.next.0, cp.unwrap().0);
    assert_eq!(
        (&next["ts"], &next["id"]),
        (&before["ts"], &before["id"]),
        "a finished rewound page ends where the run started"
    );
    assert!(
        next["read_to"].as_str() > before["read_to"].as_str(),
        "the read horizon moved with the clock: {next}"
    );

    let page = w.pull("Contact", Some(&page.next), None, 10).await;
    assert!(page.changes.is_empty(), "without a rewind nothing is re-read");
}

#[tokio::test]
async fn a_long_transaction_committed_behind_the_watermark_is_picked_up_within_the_overlap() {
    let w = world().await;
    let txn = w.sim.open_transaction();
    let late = SeedRecord {
        object: Some(ObjectKind::Contact),
        fields: obj(contact("Late", "late@example.com")),
        txn: Some(txn),
        ..SeedRecord::default()
    };
    let late_id = w.sim.seed(vec![late]).unwrap().remove(0);
    w.advance(30);
    let quick = w.seed(ObjectKind::Contact, contact("Quick", "quick@example.com"));

    let (first, cp) = w.drain("Contact", None, None, 10).await;
    assert_eq!(first.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![quick]);
    w.advance(30);
    w.sim.commit_transaction(txn).unwrap();

    // Continuing exactly from the watermark misses it: it is stamped 30 s behind.
    let page = w.pull("Contact", cp.as_ref(), None, 10).await;
    assert!(page.changes.is_empty());
    // The next run's rewind covers it.
    let (second, _) = w.drain("Contact", cp, Some(Duration::from_secs(120)), 10).await;
    assert!(second.iter().any(|c| c.id == late_id && c.kind == ChangeKind::Upsert), "{second:?}");
}

#[tokio::test]
async fn merges_deletes_and_undeletes_come_through_the_stream() {
    let w = world().await;
    let ids = w.seed_many(
        ObjectKind::Contact,
        vec![
            contact("Master", "m@example.com"),
            contact("Loser", "l@example.com"),
            contact("Gone", "g@example.com"),
        ],
    );
    let (master, loser, gone) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let (_, cp) = w.drain("Contact", None, None, 10).await;
    w.advance(10);
    w.sim.merge(&master, std::slice::from_ref(&loser)).unwrap();
    w.sim.delete(&gone).unwrap();
    w.advance(10);
    let (changes, cp) = w.drain("Contact", cp, None, 10).await;
    let kind = |id: &str| changes.iter().find(|c| c.id == id).map(|c| c.kind.clone());
    assert_eq!(kind(&loser), Some(ChangeKind::Merged { survivor_id: master.clone() }));
    assert_eq!(kind(&gone), Some(ChangeKind::Deleted));
    assert_eq!(kind(&master), Some(ChangeKind::Upsert), "the survivor's clocks move");

    w.sim.undelete(&gone).unwrap();
    w.advance(10);
    let (changes, cp) = w.drain("Contact", cp, Some(Duration::from_secs(5)), 10).await;
    let restored: Vec<_> = changes.iter().filter(|c| c.id == gone).collect();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].kind, ChangeKind::Undeleted);
    assert_eq!(restored[0].fields["LastName"], json!("Gone"));

    // Re-read in a later overlap, it is an ordinary upsert, not a second undelete.
    let (again, _) = w.drain("Contact", cp, Some(Duration::from_secs(60)), 10).await;
    assert!(again.iter().any(|c| c.id == gone && c.kind == ChangeKind::Upsert), "{again:?}");
}
