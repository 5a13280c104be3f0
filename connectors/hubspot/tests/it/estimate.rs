//! The backfill estimate: one search with `limit` 1, its `total` counted by the simulator.

use std::time::Duration;

use connector_api::{Clock, Connector};

use crate::common::world;

#[tokio::test]
async fn estimate_counts_the_records_changed_in_the_range_with_one_request() {
    let w = world().await;
    let t0 = w.clock.now();
    w.seed_contacts(30, "early-");
    w.advance(Duration::from_secs(60));
    let middle = w.clock.now();
    w.seed_contacts(10_001, "mid-");
    w.advance(Duration::from_secs(60));
    w.seed_contacts(7, "late-");
    w.advance(Duration::from_secs(1));

    let before = w.search_requests();
    let all = w.conn.estimate("contacts", None, None).await.expect("estimate");
    assert_eq!(all, Some(30 + 10_001 + 7), "the total is not capped at 10,000");
    let range = w
        .conn
        .estimate("contacts", Some(middle), Some(middle + chrono::Duration::seconds(30)))
        .await
        .expect("estimate");
    assert_eq!(range, Some(10_001));
    assert_eq!(w.search_requests(), before + 2, "one search per estimate");
    assert!(t0 < middle);
}
