//! A backfill of everything reads the list API (spec §2), not search, when that is faster at
//! the limits in force; a backfill with `since` still reads the search window. Judged from the
//! simulator's request log.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Change, ChangeKind, Checkpoint, Clock, Connector, PullRequest};
use connector_hubspot::{RateLimits, UserLimits};
use serde_json::json;
use sim_hubspot::{ObjectType, RateLimitConfig};

use crate::common::{World, world, world_user, world_with};

/// A world whose account has the professional tier's burst (190 / 10 s), where listing is
/// faster than search (on the free tier the two tie, and a tie goes to search).
async fn professional() -> World {
    let sim = RateLimitConfig { burst_max: 100_000, search_max: 100_000, ..RateLimitConfig::default() };
    world_with(sim, RateLimits { burst_per_10s: 190, ..RateLimits::default() }).await
}

/// Pulls pages of a backfill `[since .. until]` until done, or until `pages` pages were read.
async fn backfill(
    w: &World,
    since: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
    checkpoint: Option<Checkpoint>,
    pages: usize,
) -> (Vec<Change>, Checkpoint, bool) {
    let (mut cp, mut all) = (checkpoint, Vec::new());
    let mut rewind = Some(Duration::from_secs(120));
    for _ in 0..pages {
        let req = PullRequest {
            object: "contacts",
            checkpoint: cp.as_ref(),
            rewind: rewind.take(),
            horizon: until,
            since,
            until: Some(until),
            limit: 200,
        };
        let page = w.conn.pull(req).await.expect("pull");
        all.extend(page.changes);
        cp = Some(page.next);
        if page.done {
            return (all, cp.unwrap(), true);
        }
    }
    (all, cp.unwrap(), false)
}

fn upserted(changes: &[Change]) -> Vec<String> {
    changes.iter().filter(|c| c.kind == ChangeKind::Upsert).map(|c| c.id.clone()).collect()
}

/// (list pages of live records, recycle-bin pages, searches) in the simulator's log.
fn requests(w: &World) -> (usize, usize, usize) {
    let log = w.sim.requests();
    let list = |archived: bool| {
        log.iter()
            .filter(|r| r.method == "GET" && r.path == "/crm/v3/objects/contacts")
            .filter(|r| r.query.as_deref().unwrap_or_default().contains("archived=true") == archived)
            .count()
    };
    (list(false), list(true), w.search_requests())
}

#[tokio::test]
async fn a_full_backfill_walks_the_list_api_once_and_still_reports_deletes() {
    let w = professional().await;
    let ids = w.seed_contacts(250, "b");
    w.sim.archive(ObjectType::Contacts, ids[7]).unwrap();
    w.advance(Duration::from_secs(5));
    let until = w.clock.now();
    w.advance(Duration::from_secs(5));
    // Edited after the backfill's bound: the incremental stream's, as search's `LTE` leaves it.
    let late = json!({"firstname": "Late"}).as_object().cloned().unwrap();
    w.sim.external_edit(ObjectType::Contacts, ids[9], &late).unwrap();

    let (changes, _, done) = backfill(&w, None, until, None, 100).await;
    assert!(done);
    let got = upserted(&changes);
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(got.len(), unique.len(), "each record delivered once");
    let want: BTreeSet<String> =
        ids.iter().enumerate().filter(|(i, _)| ![7, 9].contains(i)).map(|(_, id)| id.to_string()).collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), want);
    let deleted: Vec<&Change> = changes.iter().filter(|c| c.kind == ChangeKind::Deleted).collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].id, ids[7].to_string());
    // 249 live records: three list pages of 100; one recycle-bin page; one search for merge
    // survivors (there was a delete); no search window.
    assert_eq!(requests(&w), (3, 1, 1));
}

#[tokio::test]
async fn a_list_walk_resumed_by_a_later_run_goes_on_where_it_stopped() {
    let w = professional().await;
    let ids = w.seed_contacts(350, "r");
    w.advance(Duration::from_secs(5));
    let until = w.clock.now();
    let (first, cp, done) = backfill(&w, None, until, None, 2).await;
    assert!(!done);
    assert_eq!(upserted(&first).len(), 200);
    // The next run of the same backfill rewinds: the list walk is not restarted.
    w.advance(Duration::from_secs(60));
    let (rest, _, done) = backfill(&w, None, until, Some(cp), 100).await;
    assert!(done);
    let mut all = upserted(&first);
    all.extend(upserted(&rest));
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (350, 350), "every record once across the two runs");
    assert_eq!(requests(&w), (4, 1, 0), "four list pages for 350, one recycle-bin page");
    assert_eq!(ids.len(), 350);
}

#[tokio::test]
async fn a_backfill_since_a_date_reads_the_search_window() {
    let w = world().await;
    w.seed_contacts(120, "s");
    w.advance(Duration::from_secs(5));
    let since = w.clock.now() - chrono::Duration::seconds(60);
    let until = w.clock.now();
    let (changes, _, done) = backfill(&w, Some(since), until, None, 100).await;
    assert!(done);
    assert_eq!(upserted(&changes).len(), 120);
    let (list, bin, search) = requests(&w);
    assert_eq!((list, bin), (0, 1), "the list cannot filter by modified time");
    assert!(search >= 1);
}

/// A burst the user capped at 40 / 10 s lists 400 records a second, search reads 1,000: the
/// backfill searches.
#[tokio::test]
async fn a_burst_capped_below_searchs_pace_backfills_through_search() {
    let sim = RateLimitConfig { burst_max: 1_000, search_max: 1_000, ..RateLimitConfig::default() };
    let limits = RateLimits { burst_per_10s: 40, ..RateLimits::default() };
    let w = world_user(sim, limits, UserLimits { burst: true, daily: false }).await;
    w.seed_contacts(50, "c");
    w.advance(Duration::from_secs(5));
    let until = w.clock.now();
    let (changes, _, done) = backfill(&w, None, until, None, 100).await;
    assert!(done);
    assert_eq!(upserted(&changes).len(), 50);
    let (list, _, search) = requests(&w);
    assert_eq!(list, 0);
    assert!(search >= 1);
}
