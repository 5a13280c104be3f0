//! Conformance cases: the review queue.

use std::time::Instant;

use crosswalk::store::{
    NewReviewItem, Resolution, ResolveAction, ResolveOutcome, ReviewFilter, ReviewKind, ReviewState,
    ReviewTransition, StoreError,
};
use serde_json::json;

use super::{at, commit, lease};
use crate::support::TestStore;

fn conflict(pair: &str, link: i64, field: &str) -> NewReviewItem {
    NewReviewItem {
        pair: pair.into(),
        link_id: Some(link),
        kind: ReviewKind::FieldConflict,
        field: Some(field.into()),
        base_value: Some("base".into()),
        left_value: Some("left".into()),
        right_value: None,
        left_modified_at: Some(at(1)),
        left_id: Some(format!("L{link}")),
        right_id: Some(format!("R{link}")),
        rule: Some("two_way".into()),
        reason: "both sides changed".into(),
        detected_at: at(2),
        run_id: "run-1".into(),
        ..NewReviewItem::default()
    }
}

fn resolution(action: ResolveAction, value: Option<&str>) -> Resolution {
    Resolution { action, value: value.map(str::to_owned), by: "alice".into(), at: at(50), note: None }
}

pub async fn review_open_dedupe(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let ambiguous = |left: &str| NewReviewItem {
        pair: "p".into(),
        kind: ReviewKind::AmbiguousIdentity,
        left_id: Some(left.into()),
        reason: "two candidates".into(),
        candidates: json!([{"id": "R1"}, {"id": "R2"}]),
        ..NewReviewItem::default()
    };
    let first = commit(s, &lease, |p| {
        p.review_items.extend([conflict("p", 1, "email"), conflict("p", 1, "email"), ambiguous("L7")]);
    })
    .await
    .unwrap();
    let [a, a_again, amb] = first.review_items[..] else { panic!("{first:?}") };
    assert_eq!(a, a_again, "a duplicate inside one page returns the open item");
    let second = commit(s, &lease, |p| {
        p.review_items.extend([
            NewReviewItem { left_value: Some("newer".into()), ..conflict("p", 1, "email") },
            conflict("p", 1, "phone"),
            conflict("p", 2, "email"),
            conflict("q", 1, "email"),
            NewReviewItem { kind: ReviewKind::HeldBack, ..conflict("p", 1, "email") },
            ambiguous("L7"),
            ambiguous("L8"),
        ])
    })
    .await
    .unwrap();
    let ids = &second.review_items;
    assert_eq!((ids[0], ids[5]), (a, amb), "same key → the open item, unchanged");
    let distinct: std::collections::BTreeSet<_> = ids[1..5].iter().chain([&ids[6], &a, &amb]).collect();
    assert_eq!(distinct.len(), 7, "{ids:?}");
    assert_eq!(s.review_item(a).await.unwrap().unwrap().left_value.as_deref(), Some("left"));
    assert_eq!(s.count_open_review().await.unwrap(), 7);

    // Once resolved, the same key can be opened again as a new item.
    s.resolve_review(a, &resolution(ResolveAction::TakeLeft, None)).await.unwrap();
    let third = commit(s, &lease, |p| p.review_items.push(conflict("p", 1, "email"))).await.unwrap();
    assert_ne!(third.review_items[0], a);
    // ...and reopening the old one would make two open items with one key.
    let err = s.reopen_review(a, at(60)).await.expect_err("duplicate open key");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn review_list_filters(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let made = commit(s, &lease, |p| {
        for i in 0..12 {
            let pair = if i % 3 == 0 { "companies" } else { "people" };
            let field = if i % 2 == 0 { "email" } else { "phone" };
            let kind = if i == 11 { ReviewKind::WriteRejected } else { ReviewKind::FieldConflict };
            p.review_items.push(NewReviewItem { kind, detected_at: at(i), ..conflict(pair, i, field) });
        }
    })
    .await
    .unwrap();
    let ids = made.review_items;
    s.resolve_review(ids[1], &resolution(ResolveAction::TakeRight, None)).await.unwrap();

    let list = |f: ReviewFilter| async move { s.list_review(&f).await.unwrap() };
    let all = list(ReviewFilter::default()).await;
    assert_eq!(all.iter().map(|i| i.id).collect::<Vec<_>>(), ids, "ordered by id");
    let item = &all[0];
    assert_eq!(
        (item.pair.as_str(), item.field.as_deref(), item.link_id),
        ("companies", Some("email"), Some(0))
    );
    assert_eq!((item.base_value.as_deref(), item.right_value.as_deref()), (Some("base"), None));
    assert_eq!((item.left_modified_at, item.right_modified_at), (Some(at(1)), None));
    assert_eq!((item.rule.as_deref(), item.run_id.as_str()), (Some("two_way"), "run-1"));
    assert_eq!((item.state, item.resolution.clone(), item.updated_at), (ReviewState::Open, None, at(10)));

    let people = ReviewFilter { pair: Some("people".into()), ..Default::default() };
    assert_eq!(list(people.clone()).await.len(), 8);
    let people_phone_open =
        ReviewFilter { field: Some("phone".into()), state: Some(ReviewState::Open), ..people.clone() };
    let found = list(people_phone_open.clone()).await;
    assert_eq!(found.iter().map(|i| i.link_id.unwrap()).collect::<Vec<_>>(), [5, 7, 11], "1 is resolved");
    assert_eq!(s.count_review(&people_phone_open).await.unwrap(), 3);
    let rejected = ReviewFilter { kind: Some(ReviewKind::WriteRejected), ..Default::default() };
    assert_eq!(list(rejected).await.len(), 1);
    let old = ReviewFilter { older_than: Some(at(3)), ..Default::default() };
    assert_eq!(list(old.clone()).await.len(), 3, "detected at 0, 1, 2");
    assert_eq!(s.count_review(&old).await.unwrap(), 3);

    let page = |offset| ReviewFilter { limit: Some(5), offset, ..Default::default() };
    let pages = [list(page(0)).await, list(page(5)).await, list(page(10)).await];
    let paged: Vec<i64> = pages.iter().flatten().map(|i| i.id).collect();
    assert_eq!(paged, ids);
    assert_eq!(pages[2].len(), 2);
    assert_eq!(s.count_review(&page(10)).await.unwrap(), 12, "count ignores the page");
}

pub async fn review_resolve_idempotent_and_reopen(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let made =
        commit(s, &lease, |p| p.review_items.extend([conflict("p", 1, "email"), conflict("p", 2, "email")]))
            .await
            .unwrap();
    let (a, b) = (made.review_items[0], made.review_items[1]);
    let typed = Resolution {
        note: Some("checked with sales".into()),
        ..resolution(ResolveAction::Value, Some("x@y.z"))
    };

    assert_eq!(s.resolve_review(a, &typed).await.unwrap(), ResolveOutcome::Resolved);
    let again = Resolution { by: "bob".into(), at: at(99), ..typed.clone() };
    assert_eq!(s.resolve_review(a, &again).await.unwrap(), ResolveOutcome::AlreadyResolvedSame);
    let other = resolution(ResolveAction::TakeLeft, None);
    assert_eq!(s.resolve_review(a, &other).await.unwrap(), ResolveOutcome::NotOpen(ReviewState::Resolved));

    let item = s.review_item(a).await.unwrap().unwrap();
    assert_eq!(item.state, ReviewState::Resolved);
    assert_eq!(item.resolution.as_ref(), Some(&typed), "the first decision, with who and when");
    assert_eq!(item.updated_at, at(50));
    let pending = s.resolved_for_pair("p").await.unwrap();
    assert_eq!(pending.iter().map(|i| i.id).collect::<Vec<_>>(), [a]);
    assert!(s.resolved_for_pair("q").await.unwrap().is_empty());

    assert!(s.reopen_review(a, at(70)).await.unwrap());
    let item = s.review_item(a).await.unwrap().unwrap();
    assert_eq!((item.state, item.resolution, item.updated_at), (ReviewState::Open, None, at(70)));
    assert!(!s.reopen_review(a, at(71)).await.unwrap(), "already open");

    let ignore = resolution(ResolveAction::Ignore, None);
    assert_eq!(s.resolve_review(b, &ignore).await.unwrap(), ResolveOutcome::Resolved);
    assert_eq!(s.review_item(b).await.unwrap().unwrap().state, ReviewState::Ignored);
    assert_eq!(s.resolve_review(b, &ignore).await.unwrap(), ResolveOutcome::AlreadyResolvedSame);
    assert!(s.resolved_for_pair("p").await.unwrap().is_empty(), "ignored items need no write");

    let err = s.resolve_review(9999, &ignore).await.expect_err("missing");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(matches!(s.reopen_review(9999, at(1)).await, Err(StoreError::NotFound(_))));
    assert!(s.review_item(9999).await.unwrap().is_none());
}

pub async fn review_transitions(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    let made = commit(s, &lease, |p| {
        p.review_items.extend([conflict("p", 1, "a"), conflict("p", 2, "b"), conflict("p", 3, "c")])
    })
    .await
    .unwrap();
    let [resolved, open, other] = made.review_items[..] else { panic!() };
    s.resolve_review(resolved, &resolution(ResolveAction::TakeBase, None)).await.unwrap();
    let applied = ReviewTransition::Applied { run_id: "run-2".into() };
    commit(s, &lease, |p| {
        p.review_transitions.push((resolved, applied.clone()));
        // Not resolved: left alone.
        p.review_transitions.push((open, applied.clone()));
        p.review_transitions.push((other, ReviewTransition::Superseded { run_id: "run-2".into() }));
    })
    .await
    .unwrap();
    let state = |id| async move { s.review_item(id).await.unwrap().unwrap() };
    let item = state(resolved).await;
    assert_eq!((item.state, item.applied_run_id.as_deref()), (ReviewState::Applied, Some("run-2")));
    assert_eq!(item.resolution.map(|r| r.action), Some(ResolveAction::TakeBase));
    assert_eq!(state(open).await.state, ReviewState::Open);
    assert_eq!(state(other).await.state, ReviewState::Superseded);
    assert!(s.resolved_for_pair("p").await.unwrap().is_empty());
    // An applied item keeps its decision: resolving it the same way again is a no-op.
    let same = resolution(ResolveAction::TakeBase, None);
    assert_eq!(s.resolve_review(resolved, &same).await.unwrap(), ResolveOutcome::AlreadyResolvedSame);
    assert!(!s.reopen_review(resolved, at(80)).await.unwrap(), "applied items stay applied");
}

pub async fn review_listing_ten_thousand_is_fast(t: &TestStore) {
    let s = &*t.store;
    let lease = lease(s).await;
    commit(s, &lease, |p| {
        p.review_items.extend((0..10_000).map(|i| conflict(if i % 2 == 0 { "a" } else { "b" }, i, "email")))
    })
    .await
    .unwrap();
    let open = ReviewFilter { state: Some(ReviewState::Open), limit: Some(100), ..Default::default() };
    let started = Instant::now();
    let first = s.list_review(&open).await.unwrap();
    let last = s.list_review(&ReviewFilter { offset: 9_900, ..open.clone() }).await.unwrap();
    let pair_b = s.list_review(&ReviewFilter { pair: Some("b".into()), ..open.clone() }).await.unwrap();
    let total = s.count_review(&open).await.unwrap();
    let took = started.elapsed();
    assert_eq!((first.len(), last.len(), pair_b.len(), total), (100, 100, 100, 10_000));
    assert!(first[0].id < last[0].id);
    // Generous for a debug build on a busy machine; a full scan with sorting takes longer.
    assert!(took.as_millis() < 1_000, "four page queries over 10,000 items took {took:?}");
}
