//! Conformance cases: searching and sorting the review queue, the person behind an item, and
//! the remote's details on a refused write.

use crosswalk::store::{LinkUpsert, NewReviewItem, Person, ReviewFilter, ReviewKind, ReviewSort};
use serde_json::json;

use super::{at, canon, commit, lease};
use crate::support::TestStore;

fn person_link(left: &str, right: &str, first: &str, last: &str, email: &str) -> LinkUpsert {
    LinkUpsert {
        pair: "people".into(),
        left_id: left.into(),
        right_id: right.into(),
        base: canon(&[("first_name", Some(first)), ("last_name", Some(last)), ("email", Some(email))]),
        ..LinkUpsert::default()
    }
}

fn item(link: Option<i64>, kind: ReviewKind, field: Option<&str>, secs: i64) -> NewReviewItem {
    NewReviewItem {
        pair: "people".into(),
        link_id: link,
        kind,
        field: field.map(str::to_string),
        reason: "both_changed".into(),
        detected_at: at(secs),
        run_id: "run-1".into(),
        ..NewReviewItem::default()
    }
}

pub async fn review_search_people_ids_fields_and_sort(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let links = commit(s, &lease, |p| {
        p.link_upserts.push(person_link("L1", "R1", "Grace", "Hopper", "Grace@Example.test"));
        p.link_upserts.push(person_link("L2", "R2", "Ann", "Lee_Smith", "ann@example.test"));
    })
    .await
    .unwrap()
    .created_links;
    let made = commit(s, &lease, |p| {
        let mut a = item(Some(links[0]), ReviewKind::FieldConflict, Some("first_name"), 30);
        (a.left_id, a.right_id) = (Some("L1".into()), Some("R1".into()));
        let mut b = item(Some(links[1]), ReviewKind::WriteRejected, None, 10);
        (b.left_id, b.right_id) = (Some("L2".into()), Some("R2".into()));
        (b.remote_system, b.remote_code) = (Some("hubspot".into()), Some("INVALID_EMAIL".into()));
        (b.remote_message, b.remote_field) = (Some("Email is invalid".into()), Some("hs_email".into()));
        let mut c = item(None, ReviewKind::AmbiguousIdentity, None, 20);
        c.left_id = Some("L7".into());
        c.candidates = json!({"side": "right", "ids": ["R8", "R9"], "person": {"first_name": "Zoë", "email": "zoe@example.test"}});
        p.review_items.extend([a, b, c]);
    })
    .await
    .unwrap()
    .review_items;

    let found = |q: &'static str| {
        let f = ReviewFilter { search: Some(q.into()), ..ReviewFilter::default() };
        async move {
            let ids: Vec<i64> = s.list_review(&f).await.unwrap().iter().map(|i| i.id).collect();
            assert_eq!(s.count_review(&f).await.unwrap(), ids.len() as u64, "count agrees for {q:?}");
            ids
        }
    };
    assert_eq!(found("grace@EXAMPLE").await, [made[0]], "email, any case");
    assert_eq!(found("hopper").await, [made[0]], "last name");
    assert_eq!(found("grace hop").await, [made[0]], "first and last name");
    assert_eq!(found("r2").await, [made[1]], "a record id");
    assert_eq!(found("first_name").await, [made[0]], "the field");
    assert_eq!(found("hs_email").await, [made[1]], "the remote field");
    assert_eq!(found("zoe@").await, [made[2]], "an ambiguous record's email");
    assert_eq!(found("R9").await, [made[2]], "a candidate id");
    assert_eq!(found("lee_s").await, [made[1]], "`_` is literal");
    assert!(found("%").await.is_empty() && found("nobody").await.is_empty(), "`%` is literal");

    let all = s.list_review(&ReviewFilter::default()).await.unwrap();
    let grace = Person { name: Some("Grace Hopper".into()), email: Some("Grace@Example.test".into()) };
    assert_eq!(all[0].person.as_ref(), Some(&grace), "from the link's base");
    assert_eq!(all[2].person.as_ref().and_then(|p| p.name.as_deref()), Some("Zoë"), "from the candidates");
    let b = &all[1];
    assert_eq!(
        (
            b.remote_system.as_deref(),
            b.remote_code.as_deref(),
            b.remote_message.as_deref(),
            b.remote_field.as_deref()
        ),
        (Some("hubspot"), Some("INVALID_EMAIL"), Some("Email is invalid"), Some("hs_email"))
    );
    let order = |sort: ReviewSort| async move {
        let f = ReviewFilter { sort, ..ReviewFilter::default() };
        s.list_review(&f).await.unwrap().iter().map(|i| i.id).collect::<Vec<_>>()
    };
    assert_eq!(order(ReviewSort::Oldest).await, [made[1], made[2], made[0]]);
    assert_eq!(order(ReviewSort::Newest).await, [made[0], made[2], made[1]]);
    assert_eq!(order(ReviewSort::Kind).await, [made[2], made[0], made[1]], "ambiguous, field, write");
}

pub async fn review_refusal_again_keeps_the_newest_remote_details(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let refused = |code: &str, message: &str, fp: &str| {
        let mut i = item(Some(5), ReviewKind::WriteRejected, None, 1);
        (i.remote_code, i.remote_message) = (Some(code.into()), Some(message.into()));
        i.candidates = json!({ "refused": [fp] });
        i
    };
    let first = commit(s, &lease, |p| p.review_items.push(refused("A", "first", "f1"))).await.unwrap();
    let again = commit(s, &lease, |p| p.review_items.push(refused("B", "second", "f2"))).await.unwrap();
    assert_eq!(first.review_items, again.review_items, "one open item per link");
    let stored = s.review_item(first.review_items[0]).await.unwrap().unwrap();
    assert_eq!(
        (stored.remote_code.as_deref(), stored.remote_message.as_deref()),
        (Some("B"), Some("second"))
    );
    assert_eq!(stored.candidates["refused"], json!(["f1", "f2"]));
}
