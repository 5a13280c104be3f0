//! The search window moves at every page size: records on shared milliseconds (all on one, in
//! pairs, in runs longer than the page) are each read exactly once, in a bounded number of
//! search requests, judged from the simulator's request log (regression: at page size 2 the
//! window restarted at its own start and searched the same window without end).

use std::collections::BTreeMap;
use std::time::Duration;

use connector_api::{ChangeKind, Checkpoint, Clock, Connector, ConnectorError, PullRequest};
use connector_hubspot::RateLimits;
use proptest::prelude::*;
use sim_hubspot::RateLimitConfig;

use crate::common::{World, world_seeded};

async fn tie_world(seed: u64) -> World {
    let sim = RateLimitConfig { burst_max: 1_000_000, search_max: 1_000_000, ..RateLimitConfig::default() };
    world_seeded(
        sim,
        RateLimits { search_per_second: 1_000_000, burst_per_10s: 1_000_000, ..RateLimits::default() },
        seed,
    )
    .await
}

/// Seeds one group of records per entry, each group on one millisecond, groups `gap` ms apart.
fn seed_groups(w: &World, groups: &[usize], gap: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for (g, n) in groups.iter().enumerate() {
        ids.extend(w.seed_contacts(*n, &format!("g{g}-")));
        w.advance(Duration::from_millis(gap));
    }
    w.advance(Duration::from_secs(1));
    ids
}

/// Pulls at `limit` until done; the upserts per id, or the error that stopped the pull.
async fn drain(w: &World, limit: usize, max_pages: usize) -> Result<BTreeMap<String, usize>, ConnectorError> {
    let mut cp: Option<Checkpoint> = None;
    let mut counts = BTreeMap::new();
    for _ in 0..max_pages {
        let req = PullRequest {
            object: "contacts",
            checkpoint: cp.as_ref(),
            rewind: None,
            horizon: w.clock.now(),
            since: None,
            until: None,
            limit,
        };
        let page = w.conn.pull(req).await?;
        for c in page.changes.iter().filter(|c| c.kind == ChangeKind::Upsert) {
            *counts.entry(c.id.clone()).or_insert(0) += 1;
        }
        cp = Some(page.next);
        if page.done {
            return Ok(counts);
        }
    }
    panic!("the pull did not finish within {max_pages} pages");
}

/// Every seeded id once, nothing else; at most four searches per record plus a few.
async fn check(seed: u64, groups: &[usize], gap: u64, limit: usize) -> Result<(), TestCaseError> {
    let w = tie_world(seed).await;
    let ids = seed_groups(&w, groups, gap);
    let counts = drain(&w, limit, 100_000).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    let expected: BTreeMap<String, usize> = ids.iter().map(|i| (i.to_string(), 1)).collect();
    prop_assert_eq!(&counts, &expected, "groups {:?} at page size {}", groups, limit);
    let searches = w.search_requests();
    let bound = 4 * ids.len() + 4;
    prop_assert!(searches <= bound, "{} searches for {} records (bound {})", searches, ids.len(), bound);
    Ok(())
}

#[tokio::test]
async fn page_size_one_and_two_finish_over_a_tie() {
    for limit in [1, 2] {
        // A run longer than the page, then a pair, then singles.
        check(3, &[5, 2, 1, 1], 1, limit).await.expect("reads each once");
        let w = tie_world(5).await;
        let ids = seed_groups(&w, &[7], 1);
        let counts = drain(&w, limit, 200).await.expect("finishes");
        assert_eq!(counts.len(), ids.len(), "page size {limit}: all on one millisecond");
        assert!(counts.values().all(|n| *n == 1), "page size {limit}: {counts:?}");
    }
}

fn patterns() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        (1..=25usize).prop_map(|n| vec![n]),
        (1..=8usize).prop_map(|k| vec![2; k]),
        prop::collection::vec(1..=12usize, 1..=6),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn every_page_size_reads_each_record_once_in_bounded_requests(
        seed in any::<u64>(),
        groups in patterns(),
        gap in 1..=3u64,
        limit in 1..=10usize,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(check(seed, &groups, gap, limit))?;
    }
}
