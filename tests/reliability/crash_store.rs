//! A [`Store`] wrapper that makes every store commit a crash point (scenarios §H.1) without
//! touching production code: after the `k`-th crash point the commit has happened (the database
//! keeps it), the call returns an error, and every later call fails as if the process were gone.
//! The harness then drops the engine and starts a new one on a freshly opened store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crosswalk::store::*;

use crate::net::{CrashPoints, Fault, SimNet};

/// See the module docs.
#[derive(Debug)]
pub struct CrashStore {
    inner: Arc<dyn Store>,
    crash: Arc<CrashPoints>,
    net: Arc<SimNet>,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimNet")
    }
}

impl CrashStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, crash: Arc<CrashPoints>, net: Arc<SimNet>) -> Self {
        Self { inner, crash, net }
    }

    fn alive(&self) -> Result<(), StoreError> {
        if self.crash.is_down() {
            return Err(StoreError::Query("harness: the process is down".into()));
        }
        Ok(())
    }

    /// Crash point after a commit that succeeded.
    fn committed<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if r.is_ok() && self.crash.pass() {
            self.net.count_fault(Fault::Crash);
            return Err(StoreError::Query("harness: the process crashed after a commit".into()));
        }
        r
    }
}

#[async_trait]
impl Store for CrashStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        self.alive()?;
        self.inner.migrate().await
    }
    async fn link_by_record(
        &self,
        pair: &str,
        side: Side,
        record_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        self.alive()?;
        self.inner.link_by_record(pair, side, record_id).await
    }
    async fn links_by_records(
        &self,
        pair: &str,
        side: Side,
        ids: &[String],
    ) -> Result<Vec<Link>, StoreError> {
        self.alive()?;
        self.inner.links_by_records(pair, side, ids).await
    }
    async fn links_by_key(
        &self,
        pair: &str,
        side: Side,
        field: &str,
        value: &str,
    ) -> Result<Vec<Link>, StoreError> {
        self.alive()?;
        self.inner.links_by_key(pair, side, field, value).await
    }
    async fn least_recently_verified(
        &self,
        pair: &str,
        side: Side,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        self.alive()?;
        self.inner.least_recently_verified(pair, side, limit).await
    }
    async fn count_links(&self, pair: &str) -> Result<u64, StoreError> {
        self.alive()?;
        self.inner.count_links(pair).await
    }
    async fn load_checkpoint(&self, stream: &StreamKey) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.alive()?;
        self.inner.load_checkpoint(stream).await
    }
    async fn list_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.alive()?;
        self.inner.list_checkpoints().await
    }
    async fn start_run(&self, run: &NewRun) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.start_run(run).await
    }
    async fn finish_run(&self, id: &str, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.finish_run(id, outcome).await
    }
    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.alive()?;
        self.inner.recent_runs(limit).await
    }
    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.alive()?;
        self.inner.run(id).await
    }
    async fn claim_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        self.alive()?;
        self.inner.claim_lease(name, owner, ttl, now).await
    }
    async fn take_over_lease(
        &self,
        name: &str,
        dead_owner: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        self.alive()?;
        self.inner.take_over_lease(name, dead_owner, owner, ttl, now).await
    }
    async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.alive()?;
        self.inner.renew_lease(lease, ttl, now).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.release_lease(lease).await
    }
    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.alive()?;
        self.inner.lease_holder(name).await
    }
    async fn commit_page(&self, commit: PageCommit) -> Result<PageCommitResult, StoreError> {
        self.alive()?;
        let r = self.inner.commit_page(commit).await;
        self.committed(r)
    }
    async fn list_review(&self, filter: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError> {
        self.alive()?;
        self.inner.list_review(filter).await
    }
    async fn count_review(&self, filter: &ReviewFilter) -> Result<u64, StoreError> {
        self.alive()?;
        self.inner.count_review(filter).await
    }
    async fn count_open_review(&self) -> Result<u64, StoreError> {
        self.alive()?;
        self.inner.count_open_review().await
    }
    async fn review_item(&self, id: i64) -> Result<Option<ReviewItem>, StoreError> {
        self.alive()?;
        self.inner.review_item(id).await
    }
    async fn resolve_review(&self, id: i64, resolution: &Resolution) -> Result<ResolveOutcome, StoreError> {
        self.alive()?;
        self.inner.resolve_review(id, resolution).await
    }
    async fn reopen_review(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.alive()?;
        self.inner.reopen_review(id, at).await
    }
    async fn resolved_for_pair(&self, pair: &str) -> Result<Vec<ReviewItem>, StoreError> {
        self.alive()?;
        self.inner.resolved_for_pair(pair).await
    }
    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.alive()?;
        self.inner.list_dead_letters(limit).await
    }
    async fn count_dead_letters(&self) -> Result<u64, StoreError> {
        self.alive()?;
        self.inner.count_dead_letters().await
    }
    async fn find_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError> {
        self.alive()?;
        self.inner.find_dead_letters(filter).await
    }
    async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        self.alive()?;
        self.inner.dead_letter(id).await
    }
    async fn count_dead_letters_by_reason(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.alive()?;
        self.inner.count_dead_letters_by_reason().await
    }
    async fn retry_dead_letter(
        &self,
        id: i64,
        redrive: &Redrive,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterChange, StoreError> {
        self.alive()?;
        self.inner.retry_dead_letter(id, redrive, by, at).await
    }
    async fn discard_dead_letter(
        &self,
        id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterChange, StoreError> {
        self.alive()?;
        self.inner.discard_dead_letter(id, by, at).await
    }
    async fn decisions_for(
        &self,
        system: &str,
        record_id: &str,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        self.alive()?;
        self.inner.decisions_for(system, record_id, limit).await
    }
    async fn record_intents(&self, lease: &Lease, intents: &[WriteIntent]) -> Result<usize, StoreError> {
        self.alive()?;
        let r = self.inner.record_intents(lease, intents).await;
        self.committed(r)
    }
    async fn pending_intents(&self, pair: &str) -> Result<Vec<WriteIntent>, StoreError> {
        self.alive()?;
        self.inner.pending_intents(pair).await
    }
    async fn record_event(
        &self,
        source: &str,
        event_id: &str,
        received_at: DateTime<Utc>,
        payload: &str,
    ) -> Result<bool, StoreError> {
        self.alive()?;
        let r = self.inner.record_event(source, event_id, received_at, payload).await;
        self.committed(r)
    }
    async fn pending_events(&self, source: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.alive()?;
        self.inner.pending_events(source, limit).await
    }
    async fn count_pending_events(&self, source: &str, cap: usize) -> Result<usize, StoreError> {
        self.alive()?;
        self.inner.count_pending_events(source, cap).await
    }
    async fn breakers(&self) -> Result<Vec<BreakerState>, StoreError> {
        self.alive()?;
        self.inner.breakers().await
    }
    async fn record_system_run(
        &self,
        system: &str,
        failure: Option<&str>,
        open_after: u32,
        now: DateTime<Utc>,
    ) -> Result<BreakerUpdate, StoreError> {
        self.alive()?;
        self.inner.record_system_run(system, failure, open_after, now).await
    }
    async fn close_breaker(
        &self,
        system: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.alive()?;
        self.inner.close_breaker(system, reason, now).await
    }
    async fn record_pair_run(&self, pair: &str, failed: bool, now: DateTime<Utc>) -> Result<u32, StoreError> {
        self.alive()?;
        self.inner.record_pair_run(pair, failed, now).await
    }
    async fn alert_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.alive()?;
        self.inner.alert_state(key).await
    }
    async fn swap_alert_state(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.alive()?;
        self.inner.swap_alert_state(key, expected, new, now).await
    }
}
