//! Conformance cases: leases and fencing, and the page commit's checkpoint and atomicity.

use std::time::Duration;

use crosswalk::store::{
    NewDeadLetter, NewReviewItem, ReviewFilter, Side, StoreError, StreamKey, WriteIntent,
};
use serde_json::json;

use super::{at, commit, lease, new_link};
use crate::support::TestStore;

const TTL: Duration = Duration::from_secs(60);

pub async fn lease_exclusive_under_concurrency(t: &TestStore) {
    // Two handles with their own pools: as far as the database can tell, two processes.
    let (a, b) = (t.store.clone(), t.second_handle().await);
    for round in 0..25 {
        let name = format!("pair-{round}");
        let (x, y) = tokio::join!(
            a.claim_lease(&name, "worker-a", TTL, at(round)),
            b.claim_lease(&name, "worker-b", TTL, at(round)),
        );
        let winners: Vec<_> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].token, 1);
    }
    // Many claimers of one expired lease, as parallel tasks: still exactly one winner.
    let name = "contended";
    a.claim_lease(name, "first", TTL, at(0)).await.unwrap().expect("free");
    let mut claims = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        claims.spawn(async move { s.claim_lease(name, &format!("w{i}"), TTL, at(1000)).await.unwrap() });
    }
    let won: Vec<_> = claims.join_all().await.into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].token, 2);
}

pub async fn lease_expiry_renew_release(t: &TestStore) {
    let s = &*t.store;
    let first = s.claim_lease("p", "a", TTL, at(0)).await.unwrap().expect("free");
    assert_eq!((first.owner.as_str(), first.token, first.expires_at), ("a", 1, at(60)));
    assert!(s.claim_lease("p", "b", TTL, at(59)).await.unwrap().is_none(), "held");
    assert!(s.claim_lease("p", "a", TTL, at(59)).await.unwrap().is_none(), "held, even by its owner");
    assert_eq!(s.lease_holder("p").await.unwrap().as_deref(), Some("a"));
    assert_eq!(s.lease_holder("nobody").await.unwrap(), None);

    assert!(s.renew_lease(&first, TTL, at(50)).await.unwrap());
    assert!(s.claim_lease("p", "b", TTL, at(100)).await.unwrap().is_none(), "renewed to 110");

    let second = s.claim_lease("p", "b", TTL, at(110)).await.unwrap().expect("expired at 110");
    assert_eq!(second.token, 2);
    assert!(!s.renew_lease(&first, TTL, at(111)).await.unwrap(), "a's token is stale");
    s.release_lease(&first).await.unwrap(); // a no-op: a no longer holds it
    assert_eq!(s.lease_holder("p").await.unwrap().as_deref(), Some("b"));

    s.release_lease(&second).await.unwrap();
    assert_eq!(s.lease_holder("p").await.unwrap(), None);
    assert!(!s.renew_lease(&second, TTL, at(112)).await.unwrap(), "released");
    let third = s.claim_lease("p", "c", TTL, at(112)).await.unwrap().expect("released");
    assert_eq!(third.token, 3, "tokens keep increasing across release");
}

pub async fn lease_fencing(t: &TestStore) {
    let s = &*t.store;
    let stream = StreamKey::incremental("hubspot", "contacts");
    let old = s.claim_lease("pair", "a", TTL, at(0)).await.unwrap().unwrap();
    let new = s.claim_lease("pair", "b", TTL, at(61)).await.unwrap().expect("a's lease expired");

    let err = commit(s, &old, |p| {
        p.link_upserts.push(new_link("p", "L1", "R1"));
        p.checkpoint = Some((stream.clone(), json!({"after": "x"}), None, Some(at(5))));
        p.dead_letters.push(NewDeadLetter { system: "s".into(), reason: "r".into(), ..Default::default() });
    })
    .await
    .expect_err("a's token is stale");
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
    assert_eq!(s.count_links("p").await.unwrap(), 0);
    assert!(s.load_checkpoint(&stream).await.unwrap().is_none());
    assert_eq!(s.count_dead_letters().await.unwrap(), 0);

    let intent = WriteIntent {
        key: "k1".into(),
        pair: "p".into(),
        system: "hubspot".into(),
        object: "contacts".into(),
        op_json: json!({"op": "create"}),
        run_id: "run-1".into(),
        created_at: at(1),
    };
    let err = s.record_intents(&old, std::slice::from_ref(&intent)).await.expect_err("fenced");
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
    assert!(s.pending_intents("p").await.unwrap().is_empty());

    commit(s, &new, |p| p.link_upserts.push(new_link("p", "L1", "R1"))).await.expect("b holds it");
    // An expired lease nobody has taken over still fences correctly: its token is current.
    commit(s, &new, |p| p.unlinks.push(1)).await.expect("b's token is still the latest");
    s.release_lease(&new).await.unwrap();
    let err = commit(s, &new, |_| {}).await.expect_err("released");
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
}

pub async fn checkpoint_round_trip_in_commit(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let stream = StreamKey::incremental("hubspot", "contacts");
    let backfill = StreamKey { scope: "backfill-7".into(), ..stream.clone() };
    let cp = json!({"cursor": "abc", "seen": [{"t": "2026-01-01T00:00:00Z", "id": "9"}], "n": 1.5});
    commit(s, &lease, |p| p.checkpoint = Some((stream.clone(), cp.clone(), Some(at(-120)), Some(at(3)))))
        .await
        .unwrap();
    let saved = s.load_checkpoint(&stream).await.unwrap().expect("saved");
    assert_eq!(saved.stream, stream);
    assert_eq!(saved.checkpoint, cp);
    assert_eq!((saved.window_from, saved.window_to), (Some(at(-120)), Some(at(3))));
    assert_eq!(saved.updated_at, at(10));

    let cp2 = json!({"cursor": "def"});
    commit(s, &lease, |p| p.checkpoint = Some((stream.clone(), cp2.clone(), None, None))).await.unwrap();
    commit(s, &lease, |p| p.checkpoint = Some((backfill.clone(), json!(null), None, Some(at(9)))))
        .await
        .unwrap();
    let saved = s.load_checkpoint(&stream).await.unwrap().unwrap();
    assert_eq!((saved.checkpoint, saved.window_from, saved.window_to), (cp2, None, None));
    let all = s.list_checkpoints().await.unwrap();
    assert_eq!(all.iter().map(|c| c.stream.clone()).collect::<Vec<_>>(), [backfill, stream]);
    assert!(s.load_checkpoint(&StreamKey::incremental("x", "y")).await.unwrap().is_none());
}

pub async fn commit_is_atomic(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    commit(s, &lease, |p| p.link_upserts.push(new_link("p", "L1", "R1"))).await.unwrap();
    let stream = StreamKey::incremental("wlcro", "clients");
    let err = commit(s, &lease, |p| {
        p.checkpoint = Some((stream.clone(), json!({"cursor": 42}), None, Some(at(9))));
        p.review_items.push(NewReviewItem { pair: "p".into(), reason: "x".into(), ..Default::default() });
        p.dead_letters.push(NewDeadLetter { system: "s".into(), reason: "r".into(), ..Default::default() });
        p.seen_events.push(("wlcro".into(), "e1".into()));
        p.link_upserts.push(new_link("p", "L2", "R2"));
        // Fails midway: R1 is already linked.
        p.link_upserts.push(new_link("p", "L3", "R1"));
    })
    .await
    .expect_err("unique violation");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(s.load_checkpoint(&stream).await.unwrap().is_none(), "no checkpoint");
    assert!(s.link_by_record("p", Side::Left, "L2").await.unwrap().is_none(), "no partial links");
    assert_eq!(s.count_links("p").await.unwrap(), 1);
    assert_eq!(s.count_review(&ReviewFilter::default()).await.unwrap(), 0);
    assert_eq!(s.count_dead_letters().await.unwrap(), 0);
    assert!(s.record_event("wlcro", "e1", at(1), "{}").await.unwrap(), "event not marked seen");
    // The store is still usable after the rollback.
    commit(s, &lease, |p| p.link_upserts.push(new_link("p", "L2", "R2"))).await.unwrap();
}

pub async fn lease_take_over_from_a_dead_holder(t: &TestStore) {
    let s = &*t.store;
    let dead = s.claim_lease("p", "box:100", TTL, at(0)).await.unwrap().expect("free");
    assert!(
        s.take_over_lease("p", "box:999", "box:200", TTL, at(1)).await.unwrap().is_none(),
        "only from the named holder"
    );
    let taken = s.take_over_lease("p", "box:100", "box:200", TTL, at(1)).await.unwrap().expect("taken over");
    assert_eq!((taken.owner.as_str(), taken.token), ("box:200", dead.token + 1));
    assert_eq!(s.lease_holder("p").await.unwrap().as_deref(), Some("box:200"));
    assert!(!s.renew_lease(&dead, TTL, at(2)).await.unwrap(), "the dead holder's token is fenced off");
    let stale = commit(s, &dead, |_| {}).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost)), "{stale:?}");
    assert!(
        s.take_over_lease("p", "box:100", "box:300", TTL, at(3)).await.unwrap().is_none(),
        "a second taker from the same dead holder loses"
    );
    s.release_lease(&taken).await.unwrap();
    assert!(
        s.take_over_lease("p", "box:200", "box:300", TTL, at(4)).await.unwrap().is_none(),
        "a released lease is claimed, not taken over"
    );
}
