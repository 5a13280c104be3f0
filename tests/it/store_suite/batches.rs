//! Conformance cases for the batched writes of a page commit and the batched lookups: an empty
//! batch, a batch larger than one statement carries (500 rows on SQLite, 8 KiB of values on
//! PostgreSQL), and a key named twice within one batch, each with the effect one statement
//! per row had.

use crosswalk::store::{LinkUpsert, NewDecision, Side, WriteIntent};
use serde_json::json;

use super::{at, canon, commit, lease, new_link};
use crate::support::TestStore;

const N: usize = 1_200;

fn decision(link_id: i64, record: &str) -> NewDecision {
    NewDecision {
        run_id: "run-1".into(),
        pair: "p".into(),
        link_id: Some(link_id),
        system: "hubspot".into(),
        record_id: record.into(),
        field: "city".into(),
        old_value: None,
        new_value: Some(format!("City of {record}, with a long enough name to fill the chunks")),
        source_side: Side::Left,
        rule: "lww".into(),
        reason: "newer".into(),
        echo: false,
        provenance: None,
        at: at(5),
    }
}

/// 1,200 links with keys, then 1,200 updates and decisions in one page: several statements per
/// table on both backends, every id returned in its upsert's order.
pub async fn a_page_larger_than_one_statement_is_written_whole(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let email = |i: usize| (Side::Left, "email".to_string(), format!("person{i}@example.test"));
    let made = commit(s, &lease, |p| {
        for i in 0..N {
            let link =
                LinkUpsert { keys: vec![email(i)], ..new_link("p", &format!("L{i}"), &format!("R{i}")) };
            p.link_upserts.push(link);
        }
    })
    .await
    .unwrap();
    assert_eq!(made.created_links.len(), N);
    let lefts: Vec<String> = (0..N).map(|i| format!("L{i}")).collect();
    let found = s.links_by_records("p", Side::Left, &lefts).await.unwrap();
    assert_eq!(found.len(), N);
    for link in &found {
        let i: usize = link.left_id[1..].parse().unwrap();
        assert_eq!(link.id, made.created_links[i], "the id of {} is at its upsert's place", link.left_id);
    }
    let keyed = s.links_by_key("p", Side::Left, "email", "person1111@example.test").await.unwrap();
    assert_eq!(keyed.iter().map(|l| l.left_id.as_str()).collect::<Vec<_>>(), ["L1111"]);

    commit(s, &lease, |p| {
        for (i, id) in made.created_links.iter().enumerate() {
            let base = canon(&[("city", Some(&format!("City {i}")))]);
            let link = LinkUpsert {
                id: Some(*id),
                base,
                right_hash: Some(format!("h{i}")),
                ..new_link("p", &format!("L{i}"), &format!("R{i}"))
            };
            p.link_upserts.push(link);
            p.decisions.push(decision(*id, &format!("R{i}")));
        }
    })
    .await
    .unwrap();
    let found = s.links_by_records("p", Side::Right, &["R7".into(), "R1199".into()]).await.unwrap();
    assert_eq!(found.len(), 2);
    for link in found {
        let i = &link.right_id[1..];
        assert_eq!(link.base, canon(&[("city", Some(&format!("City {i}")))]));
        assert_eq!(link.right_hash.as_deref(), Some(format!("h{i}").as_str()));
    }
    assert_eq!(s.decisions_for("hubspot", "R1199", 10).await.unwrap().len(), 1);
    // The update gave no keys: the left keys stay.
    assert_eq!(s.links_by_key("p", Side::Left, "email", "person7@example.test").await.unwrap().len(), 1);
}

/// A commit with nothing in it, and lookups of nothing, succeed and change nothing.
pub async fn empty_batches_are_no_ops(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let made = commit(s, &lease, |_| {}).await.unwrap();
    assert!(made.created_links.is_empty() && made.review_items.is_empty());
    assert_eq!(s.count_links("p").await.unwrap(), 0);
    assert!(s.links_by_records("p", Side::Right, &[]).await.unwrap().is_empty());
    assert_eq!(s.record_intents(&lease, &[]).await.unwrap(), 0);
    assert!(s.identity_misses("p", Side::Left, &[]).await.unwrap().is_empty());
    s.remember_identity_misses("p", Side::Left, &[], at(1)).await.unwrap();
    s.forget_identity_misses("p", Side::Left, &[]).await.unwrap();
}

/// One link updated twice in a page ends as the two updates in order leave it (a hash or time
/// left out keeps the earlier one; each side's keys come from the last update naming that side);
/// an event, an intent and a miss named twice in one batch are written once.
pub async fn duplicates_within_a_batch_apply_in_order(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let key = |side, v: &str| (side, "email".to_string(), v.to_string());
    let made = commit(s, &lease, |p| {
        p.link_upserts
            .push(LinkUpsert { keys: vec![key(Side::Left, "old@x.test")], ..new_link("p", "L1", "R1") });
    })
    .await
    .unwrap();
    let id = made.created_links[0];
    commit(s, &lease, |p| {
        let first = LinkUpsert {
            id: Some(id),
            base: canon(&[("city", Some("First"))]),
            left_hash: Some("lh-1".into()),
            right_hash: Some("rh-1".into()),
            left_verified_at: Some(at(3)),
            keys: vec![key(Side::Left, "first@x.test"), key(Side::Right, "right@x.test")],
            ..new_link("p", "L1", "R1")
        };
        let second = LinkUpsert {
            id: Some(id),
            base: canon(&[("city", Some("Second"))]),
            right_hash: Some("rh-2".into()),
            keys: vec![key(Side::Left, "second@x.test")],
            ..new_link("p", "L1", "R1")
        };
        p.link_upserts.extend([first, second]);
        p.seen_events.extend([("wlcro".to_string(), "e1".to_string()), ("wlcro".into(), "e1".into())]);
    })
    .await
    .unwrap();
    let link = s.link_by_record("p", Side::Left, "L1").await.unwrap().unwrap();
    assert_eq!(link.base, canon(&[("city", Some("Second"))]));
    assert_eq!(link.left_hash.as_deref(), Some("lh-1"), "the second update left it out");
    assert_eq!(link.right_hash.as_deref(), Some("rh-2"));
    assert_eq!(link.left_verified_at, Some(at(3)));
    let by = |side, v: &'static str| s.links_by_key("p", side, "email", v);
    assert!(by(Side::Left, "old@x.test").await.unwrap().is_empty());
    assert!(by(Side::Left, "first@x.test").await.unwrap().is_empty(), "replaced by the second");
    assert_eq!(by(Side::Left, "second@x.test").await.unwrap().len(), 1);
    assert_eq!(by(Side::Right, "right@x.test").await.unwrap().len(), 1, "only the first named the right");
    assert!(s.pending_events("wlcro", 10).await.unwrap().is_empty(), "e1 is recorded as processed");

    let intent = WriteIntent {
        key: "k1".into(),
        pair: "p".into(),
        system: "hubspot".into(),
        object: "contacts".into(),
        op_json: json!({"op": "update"}),
        run_id: "run-1".into(),
        created_at: at(1),
    };
    assert_eq!(s.record_intents(&lease, &[intent.clone(), intent.clone()]).await.unwrap(), 1);
    assert_eq!(s.pending_intents("p").await.unwrap(), [intent]);

    let misses = [("L9".to_string(), "hash-a".to_string()), ("L9".into(), "hash-b".into())];
    s.remember_identity_misses("p", Side::Left, &misses, at(2)).await.unwrap();
    let known = s.identity_misses("p", Side::Left, &["L9".into(), "L9".into()]).await.unwrap();
    assert_eq!(known, [("L9".to_string(), "hash-b".to_string())], "the last hash is kept");
}
