//! The review service on a real SQLite store: listing with filters, validation of decisions,
//! idempotent resolve, bulk resolve by filter, reopen, and the `show` rendering.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Clock, ManualClock};
use crosswalk::review::names::Directory;
use crosswalk::review::{ResolveReport, ResolveRequest, ReviewError, ReviewService, render};
use crosswalk::store::{
    NewReviewItem, PageCommit, ResolveAction, ReviewFilter, ReviewKind, ReviewState, Store,
};
use serde_json::json;

use crate::support::TestStore;

/// A conflict on `field` of pair `pair` between `left` and `right` (no link behind it).
pub fn conflict(
    pair: &str,
    field: &str,
    left: &str,
    right: &str,
    n: usize,
    at: DateTime<Utc>,
) -> NewReviewItem {
    NewReviewItem {
        pair: pair.into(),
        kind: ReviewKind::FieldConflict,
        field: Some(field.into()),
        base_value: Some("base".into()),
        left_value: Some(left.into()),
        right_value: Some(right.into()),
        left_modified_at: Some(at),
        right_modified_at: Some(at),
        left_id: Some(format!("L{n}")),
        right_id: Some(format!("R{n}")),
        rule: Some("two_way".into()),
        reason: "both sides changed since the last agreed value".into(),
        detected_at: at,
        run_id: "run-seed".into(),
        ..NewReviewItem::default()
    }
}

/// Opens `items` through a page commit, as a run would; returns their ids.
pub async fn seed(store: &Arc<dyn Store>, items: Vec<NewReviewItem>, at: DateTime<Utc>) -> Vec<i64> {
    let lease = store
        .claim_lease("seed", "test", Duration::from_secs(60), at)
        .await
        .expect("claim")
        .expect("free lease");
    let mut commit = PageCommit::new(lease.clone(), "run-seed", at);
    commit.review_items = items;
    let ids = store.commit_page(commit).await.expect("commit").review_items;
    store.release_lease(&lease).await.expect("release");
    ids
}

fn req(action: ResolveAction, value: Option<&str>) -> ResolveRequest {
    ResolveRequest { action, value: value.map(str::to_string), note: None }
}

async fn setup() -> (TestStore, ReviewService, ManualClock, Vec<i64>) {
    let ts = TestStore::sqlite().await;
    let clock = ManualClock::at_epoch();
    let t0 = clock.now();
    let mut items = vec![
        conflict("people", "first_name", "Joanna", "Joe", 1, t0),
        conflict("people", "city", "Oslo", "Bergen", 2, t0),
        conflict("deals", "first_name", "A", "B", 3, t0),
    ];
    items.push(NewReviewItem {
        pair: "people".into(),
        kind: ReviewKind::AmbiguousIdentity,
        left_id: Some("L9".into()),
        reason: "two contacts carry this email".into(),
        candidates: json!({ "side": "right", "ids": ["R1", "R2"] }),
        detected_at: t0,
        run_id: "run-seed".into(),
        ..NewReviewItem::default()
    });
    let ids = seed(&ts.store, items, t0).await;
    let service = ReviewService::new(ts.store.clone(), clock.shared());
    (ts, service, clock, ids)
}

#[tokio::test]
async fn lists_filter_by_pair_kind_field_and_age_and_count_the_total() {
    let (_ts, service, clock, ids) = setup().await;
    let open = ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() };
    let page = service.list(&ReviewFilter { limit: Some(2), ..open.clone() }).await.unwrap();
    assert_eq!((page.items.len(), page.total), (2, 4));
    let people =
        ReviewFilter { pair: Some("people".into()), field: Some("first_name".into()), ..open.clone() };
    let page = service.list(&people).await.unwrap();
    assert_eq!(page.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[0]]);
    let ambiguous = ReviewFilter { kind: Some(ReviewKind::AmbiguousIdentity), ..open.clone() };
    assert_eq!(service.list(&ambiguous).await.unwrap().total, 1);
    let old = ReviewFilter { older_than: Some(clock.now() - chrono::Duration::days(2)), ..open };
    assert_eq!(service.list(&old).await.unwrap().total, 0, "nothing is two days old yet");
}

#[tokio::test]
async fn resolving_validates_records_the_admin_and_is_idempotent() {
    let (_ts, service, _clock, ids) = setup().await;
    let err = service.resolve(ids[0], &req(ResolveAction::Value, None), "alice").await.unwrap_err();
    assert!(matches!(err, ReviewError::Invalid(_)), "{err}");
    let err = service.resolve(ids[3], &req(ResolveAction::Value, Some("R7")), "alice").await.unwrap_err();
    assert!(err.to_string().contains("not one of the candidates"), "{err}");
    let err = service.resolve(ids[3], &req(ResolveAction::TakeLeft, None), "alice").await.unwrap_err();
    assert!(matches!(err, ReviewError::Invalid(_)));
    assert!(matches!(
        service.resolve(999, &req(ResolveAction::Ignore, None), "a").await,
        Err(ReviewError::NotFound(999))
    ));

    let first = service.resolve(ids[0], &req(ResolveAction::TakeRight, None), "alice").await.unwrap();
    assert_eq!(first, ResolveReport::Resolved { state: ReviewState::Resolved });
    let again = service.resolve(ids[0], &req(ResolveAction::TakeRight, None), "bob").await.unwrap();
    assert_eq!(again, ResolveReport::Unchanged { state: ReviewState::Resolved });
    assert!(again.message(ids[0]).contains("nothing changed"));
    let other = service.resolve(ids[0], &req(ResolveAction::TakeLeft, None), "bob").await.unwrap();
    assert_eq!(other, ResolveReport::NotOpen { state: ReviewState::Resolved });
    assert!(other.message(ids[0]).contains("is resolved, not open"));
    let item = service.get(ids[0]).await.unwrap();
    assert_eq!(item.resolution.as_ref().map(|r| r.by.as_str()), Some("alice"), "the first decision stands");

    let picked = service.resolve(ids[3], &req(ResolveAction::Value, Some("R2")), "alice").await.unwrap();
    assert_eq!(picked, ResolveReport::Resolved { state: ReviewState::Resolved });
}

#[tokio::test]
async fn bulk_resolve_touches_only_the_open_items_the_filter_matches_and_reopen_undoes() {
    let (_ts, service, _clock, ids) = setup().await;
    let filter = ReviewFilter { field: Some("first_name".into()), ..ReviewFilter::default() };
    assert_eq!(service.count_open(&filter).await.unwrap(), 2);
    let report = service.resolve_bulk(&filter, &req(ResolveAction::TakeLeft, None), "ops").await.unwrap();
    assert_eq!((report.matched, report.resolved), (2, 2));
    assert_eq!(service.get(ids[1]).await.unwrap().state, ReviewState::Open, "city untouched");
    assert_eq!(service.get(ids[2]).await.unwrap().state, ReviewState::Resolved, "both pairs matched");
    assert_eq!(service.count_open(&filter).await.unwrap(), 0);

    assert!(service.reopen(ids[0]).await.unwrap());
    let item = service.get(ids[0]).await.unwrap();
    assert_eq!((item.state, item.resolution), (ReviewState::Open, None));
    assert!(!service.reopen(ids[1]).await.unwrap(), "an open item does not reopen");
}

/// The systems of the pair `people` the tests seed, as a config and mapping would name them.
pub fn people_names() -> Directory {
    Directory::default().with_pair(
        "people",
        ("wlcro", "WhiteLabelCRO", "clients"),
        ("hubspot", "HubSpot", "contacts"),
    )
}

#[tokio::test]
async fn show_names_the_systems_and_explains_the_rule_reason_diff_and_candidates() {
    let (_ts, service, _clock, ids) = setup().await;
    let service = service.with_directory(people_names());
    let dir = service.directory();
    let text = render::show(&service.view(service.get(ids[0]).await.unwrap()), dir);
    for needle in [
        "Conflict · first name",
        "WhiteLabelCRO says  \"Joanna\"",
        "HubSpot says        \"Joe\"",
        "Last agreed",
        "WhiteLabelCRO record L1",
        "HubSpot record R1",
        "rule:  the mapping syncs it both ways and says a person decides when both change (two_way)",
        "diff WhiteLabelCRO → HubSpot",
        "Jo[-anna-]{+e+}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("left record") && !text.contains("right record"), "{text}");
    let text = render::show(&service.view(service.get(ids[3]).await.unwrap()), dir);
    assert!(text.contains("candidates in HubSpot") && text.contains("R2"), "{text}");
    let status = service.status(5).await.unwrap();
    assert_eq!((status.open_total, status.open_by_kind["ambiguous_identity"]), (4, 1));
}
