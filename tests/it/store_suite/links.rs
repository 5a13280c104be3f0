//! Conformance cases: migrations and the mapping table (links, identity keys, the sweep order).

use crosswalk::store::{LinkUpsert, ReviewFilter, Side, StoreError, stored_time};

use super::{at, canon, commit, lease, new_link};
use crate::support::TestStore;

pub async fn migrate_is_idempotent(t: &TestStore) {
    let s = &*t.store;
    let again = s.migrate().await.expect("second migrate");
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.latest, 8);
    assert!(again.to_string().contains("up to date"), "{again}");
    assert!(s.migrate().await.expect("third migrate").applied.is_empty());
}

pub async fn link_create_lookup_unique(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let verified = at(5) + chrono::Duration::nanoseconds(1_234_567);
    let made = commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert {
            left_hash: Some("h-left".into()),
            low_confidence: true,
            left_verified_at: Some(verified),
            base: canon(&[("email", Some("a@example.test")), ("phone", None)]),
            ..new_link("people", "L1", "R1")
        });
        p.link_upserts.push(new_link("people", "L2", "R2"));
    })
    .await
    .expect("commit");
    assert_eq!(made.created_links.len(), 2);
    assert!(made.created_links[0] < made.created_links[1], "ids follow upsert order");

    let by_left = s.link_by_record("people", Side::Left, "L1").await.unwrap().expect("by left");
    let by_right = s.link_by_record("people", Side::Right, "R1").await.unwrap().expect("by right");
    assert_eq!(by_left, by_right);
    assert_eq!(by_left.id, made.created_links[0]);
    assert_eq!((by_left.left_id.as_str(), by_left.right_id.as_str()), ("L1", "R1"));
    assert_eq!(by_left.base, canon(&[("email", Some("a@example.test")), ("phone", None)]));
    assert_eq!(by_left.left_hash.as_deref(), Some("h-left"));
    assert_eq!(by_left.right_hash, None);
    assert!(by_left.low_confidence);
    assert_eq!(by_left.created_at, at(10));
    assert_eq!(by_left.updated_at, at(10));
    assert_eq!(by_left.left_verified_at, Some(stored_time(verified)), "microsecond precision");
    assert_eq!(by_left.right_verified_at, None);
    assert_eq!(by_left.record_id(Side::Right), "R1");

    assert!(s.link_by_record("people", Side::Left, "R1").await.unwrap().is_none(), "sides differ");
    assert!(s.link_by_record("other", Side::Left, "L1").await.unwrap().is_none(), "pairs differ");
    assert_eq!(s.count_links("people").await.unwrap(), 2);

    for dup in [new_link("people", "L1", "R9"), new_link("people", "L9", "R2")] {
        let err = commit(s, &lease, |p| p.link_upserts.push(dup)).await.expect_err("duplicate");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    assert_eq!(s.count_links("people").await.unwrap(), 2);
    // The same record ids in another pair are a different link.
    commit(s, &lease, |p| p.link_upserts.push(new_link("companies", "L1", "R1"))).await.unwrap();
    assert_eq!(s.count_links("companies").await.unwrap(), 1);
}

pub async fn batched_lookup(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    // More than one `IN` chunk's worth.
    commit(s, &lease, |p| {
        for i in 0..600 {
            p.link_upserts.push(new_link("p", &format!("L{i}"), &format!("R{i}")));
        }
    })
    .await
    .unwrap();
    let mut ids: Vec<String> = (0..600).map(|i| format!("R{i}")).collect();
    ids.extend((0..600).map(|i| format!("missing-{i}")));
    let found = s.links_by_records("p", Side::Right, &ids).await.unwrap();
    assert_eq!(found.len(), 600);
    let small = s.links_by_records("p", Side::Left, &["L3".into(), "nope".into()]).await.unwrap();
    assert_eq!(small.len(), 1);
    assert_eq!(small[0].right_id, "R3");
    assert!(s.links_by_records("p", Side::Left, &[]).await.unwrap().is_empty());
}

pub async fn identity_keys_find_duplicates(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let email = |v: &str| (Side::Left, "email".to_string(), v.to_string());
    let made = commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert { keys: vec![email("dup@x.test")], ..new_link("p", "L1", "R1") });
        p.link_upserts.push(LinkUpsert {
            keys: vec![email("dup@x.test"), email("dup@x.test"), (Side::Right, "vat".into(), "BE1".into())],
            ..new_link("p", "L2", "R2")
        });
    })
    .await
    .unwrap();
    let dups = s.links_by_key("p", Side::Left, "email", "dup@x.test").await.unwrap();
    assert_eq!(dups.iter().map(|l| l.id).collect::<Vec<_>>(), made.created_links);
    assert!(s.links_by_key("p", Side::Right, "email", "dup@x.test").await.unwrap().is_empty());
    assert!(s.links_by_key("p", Side::Left, "email", "DUP@x.test").await.unwrap().is_empty());
    assert_eq!(s.links_by_key("p", Side::Right, "vat", "BE1").await.unwrap().len(), 1);

    // Left keys given on update replace the left keys only.
    let second = made.created_links[1];
    commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert {
            id: Some(second),
            keys: vec![email("new@x.test")],
            ..new_link("p", "L2", "R2")
        })
    })
    .await
    .unwrap();
    assert_eq!(s.links_by_key("p", Side::Left, "email", "dup@x.test").await.unwrap().len(), 1);
    assert_eq!(s.links_by_key("p", Side::Left, "email", "new@x.test").await.unwrap()[0].id, second);
    assert_eq!(s.links_by_key("p", Side::Right, "vat", "BE1").await.unwrap().len(), 1);
}

pub async fn update_keeps_what_is_not_given(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let made = commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert {
            left_hash: Some("h1".into()),
            right_hash: Some("h2".into()),
            left_verified_at: Some(at(1)),
            ..new_link("p", "L1", "R1")
        })
    })
    .await
    .unwrap();
    let id = made.created_links[0];
    let mut page_at = None;
    let updated = commit(s, &lease, |p| {
        page_at = Some(p.at);
        p.link_upserts.push(LinkUpsert {
            id: Some(id),
            base: canon(&[("email", Some("b@example.test"))]),
            right_hash: Some("h3".into()),
            right_verified_at: Some(at(7)),
            ..LinkUpsert::default()
        })
    })
    .await
    .unwrap();
    assert!(updated.created_links.is_empty(), "an update creates nothing");
    let link = s.link_by_record("p", Side::Left, "L1").await.unwrap().unwrap();
    assert_eq!(link.base, canon(&[("email", Some("b@example.test"))]));
    assert_eq!((link.left_hash.as_deref(), link.right_hash.as_deref()), (Some("h1"), Some("h3")));
    assert_eq!((link.left_verified_at, link.right_verified_at), (Some(at(1)), Some(at(7))));
    assert_eq!(link.updated_at, page_at.unwrap());

    let err = commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert { id: Some(id + 1000), ..LinkUpsert::default() })
    })
    .await
    .expect_err("no such link");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub async fn repoint_and_unlink(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let key = (Side::Right, "email".to_string(), "x@x.test".to_string());
    let made = commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert { keys: vec![key.clone()], ..new_link("p", "L1", "R1") });
        p.link_upserts.push(new_link("p", "L2", "R2"));
    })
    .await
    .unwrap();
    let (a, b) = (made.created_links[0], made.created_links[1]);
    // R1 was merged into R2 on the right: B goes away first, then A points at the survivor.
    commit(s, &lease, |p| {
        p.link_repoints.push((a, Side::Right, "R2".into()));
        p.unlinks.push(b);
    })
    .await
    .unwrap();
    let link = s.link_by_record("p", Side::Right, "R2").await.unwrap().unwrap();
    assert_eq!((link.id, link.left_id.as_str()), (a, "L1"));
    assert!(s.link_by_record("p", Side::Left, "L2").await.unwrap().is_none());
    assert!(s.links_by_key("p", Side::Right, "email", "x@x.test").await.unwrap().is_empty());
    assert_eq!(s.count_links("p").await.unwrap(), 1);
    // Unlinking twice is harmless; a new link never reuses an old id.
    commit(s, &lease, |p| p.unlinks.push(b)).await.unwrap();
    let again = commit(s, &lease, |p| p.link_upserts.push(new_link("p", "L2", "R3"))).await.unwrap();
    assert!(again.created_links[0] > b);
}

pub async fn least_recently_verified_order(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let link = |l: &str, verified: Option<i64>| LinkUpsert {
        right_verified_at: verified.map(at),
        ..new_link("p", l, &format!("R-{l}"))
    };
    commit(s, &lease, |p| {
        p.link_upserts.extend([
            link("old", Some(100)),
            link("never1", None),
            link("new", Some(300)),
            link("mid", Some(200)),
            link("never2", None),
            link("tie", Some(100)),
        ])
    })
    .await
    .unwrap();
    let order = |links: Vec<crosswalk::store::Link>| -> Vec<String> {
        links.into_iter().map(|l| l.left_id).collect()
    };
    let all = s.least_recently_verified("p", Side::Right, 10).await.unwrap();
    assert_eq!(order(all), ["never1", "never2", "old", "tie", "mid", "new"]);
    let first = s.least_recently_verified("p", Side::Right, 3).await.unwrap();
    assert_eq!(order(first), ["never1", "never2", "old"]);
    // The left side was never verified: plain id order.
    let left = s.least_recently_verified("p", Side::Left, 2).await.unwrap();
    assert_eq!(order(left), ["old", "never1"]);
    assert!(s.least_recently_verified("q", Side::Left, 5).await.unwrap().is_empty());
}

pub async fn sql_looking_values_are_literal(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let evil = "'; DROP TABLE links; --";
    let quote = "O'Brien \"x\" \\ % _";
    commit(s, &lease, |p| {
        p.link_upserts.push(LinkUpsert {
            keys: vec![(Side::Left, evil.into(), quote.into())],
            base: canon(&[(evil, Some(quote))]),
            ..new_link(evil, evil, quote)
        });
        p.review_items.push(crosswalk::store::NewReviewItem {
            pair: evil.into(),
            field: Some(evil.into()),
            reason: evil.into(),
            run_id: "run-1".into(),
            ..Default::default()
        });
    })
    .await
    .unwrap();
    let link = s.link_by_record(evil, Side::Left, evil).await.unwrap().expect("matched literally");
    assert_eq!(link.right_id, quote);
    assert_eq!(link.base, canon(&[(evil, Some(quote))]));
    assert_eq!(s.links_by_key(evil, Side::Left, evil, quote).await.unwrap().len(), 1);
    assert!(s.links_by_key(evil, Side::Left, evil, "O'Brien%").await.unwrap().is_empty());
    let filter = ReviewFilter { pair: Some(evil.into()), field: Some(evil.into()), ..Default::default() };
    assert_eq!(s.list_review(&filter).await.unwrap()[0].reason, evil);
    assert_eq!(s.links_by_records(evil, Side::Right, &[quote.into()]).await.unwrap().len(), 1);
    assert_eq!(s.count_links(evil).await.unwrap(), 1, "the links table is still there");
}

pub async fn identity_misses_are_remembered_replaced_and_forgotten(t: &TestStore) {
    let s = &*t.store;
    let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let miss = |id: &str, h: &str| (id.to_string(), h.to_string());
    s.remember_identity_misses("people", Side::Right, &[miss("R1", "k1"), miss("R2", "k2")], at(1))
        .await
        .expect("remember");
    s.remember_identity_misses("other", Side::Right, &[miss("R1", "x")], at(1)).await.expect("other pair");
    s.remember_identity_misses("people", Side::Right, &[miss("R1", "k1b")], at(2)).await.expect("replace");
    let mut found = s.identity_misses("people", Side::Right, &ids(&["R1", "R2", "R3"])).await.expect("load");
    found.sort();
    assert_eq!(found, vec![miss("R1", "k1b"), miss("R2", "k2")], "per pair and side, the newest hash");
    assert!(s.identity_misses("people", Side::Left, &ids(&["R1"])).await.expect("left").is_empty());
    s.forget_identity_misses("people", Side::Right, &ids(&["R1"])).await.expect("forget");
    let found = s.identity_misses("people", Side::Right, &ids(&["R1", "R2"])).await.expect("load");
    assert_eq!(found, vec![miss("R2", "k2")]);
    assert_eq!(
        s.identity_misses("other", Side::Right, &ids(&["R1"])).await.expect("other"),
        vec![miss("R1", "x")]
    );
}
