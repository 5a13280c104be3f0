//! Conformance cases for the shared rate-limit quota (`Store::take_quota`): an exact sliding
//! log per account and bucket, all or none across buckets, and exact under concurrent takers.

use std::sync::Arc;
use std::time::Duration;

use crosswalk::store::{QuotaBucket, QuotaTake, Store};

use super::at;
use crate::support::TestStore;

fn bucket(name: &str, limit: u32, secs: u64) -> QuotaBucket {
    QuotaBucket { name: name.into(), limit, window: Duration::from_secs(secs) }
}

pub async fn quota_is_a_sliding_log_per_account_and_bucket(t: &TestStore) {
    let s = &*t.store;
    let write = [bucket("write", 3, 10)];
    for secs in [0, 1, 2] {
        assert_eq!(s.take_quota("acct-a", &write, at(secs)).await.unwrap(), QuotaTake::Taken);
    }
    // Full: room again when the first send leaves the window.
    assert_eq!(s.take_quota("acct-a", &write, at(3)).await.unwrap(), QuotaTake::NotBefore(at(10)));
    assert_eq!(s.take_quota("acct-b", &write, at(3)).await.unwrap(), QuotaTake::Taken, "per account");
    assert_eq!(s.take_quota("acct-a", &[bucket("read", 3, 10)], at(3)).await.unwrap(), QuotaTake::Taken);
    assert_eq!(s.take_quota("acct-a", &write, at(10)).await.unwrap(), QuotaTake::Taken);
    assert_eq!(s.take_quota("acct-a", &write, at(10)).await.unwrap(), QuotaTake::NotBefore(at(11)));
    // A limit the server lowered counts the sends already made.
    assert_eq!(
        s.take_quota("acct-a", &[bucket("write", 2, 10)], at(10)).await.unwrap(),
        QuotaTake::NotBefore(at(12))
    );
}

pub async fn quota_takes_all_buckets_or_none(t: &TestStore) {
    let s = &*t.store;
    let both = [bucket("burst", 1, 10), bucket("daily", 3, 100)];
    assert_eq!(s.take_quota("acct", &both, at(0)).await.unwrap(), QuotaTake::Taken);
    assert_eq!(s.take_quota("acct", &both, at(1)).await.unwrap(), QuotaTake::NotBefore(at(10)));
    // The refused request counted nothing in `daily`: two more fit there.
    let daily = [bucket("daily", 3, 100)];
    assert_eq!(s.take_quota("acct", &daily, at(2)).await.unwrap(), QuotaTake::Taken);
    assert_eq!(s.take_quota("acct", &daily, at(3)).await.unwrap(), QuotaTake::Taken);
    assert_eq!(s.take_quota("acct", &both, at(20)).await.unwrap(), QuotaTake::NotBefore(at(100)));
    // A bucket named twice counts once.
    let twice = [bucket("solo", 1, 10), bucket("solo", 1, 10)];
    assert_eq!(s.take_quota("acct", &twice, at(0)).await.unwrap(), QuotaTake::Taken);
}

/// 40 takers at once on a bucket of 7: exactly 7 are admitted, on either backend.
pub async fn quota_is_exact_under_concurrent_takers(t: &TestStore) {
    let store: Arc<dyn Store> = t.store.clone();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.take_quota("acct", &[bucket("write", 7, 60)], at(5)).await })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == QuotaTake::Taken {
            taken += 1;
        }
    }
    assert_eq!(taken, 7);
}
