//! [`SqlStore`]: the one implementation of [`Store`], over either backend. Each method hands
//! over to the area module that owns its tables.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::db::Db;
use super::error::redact_url;
use super::*;

/// A store on SQLite or PostgreSQL.
pub(crate) struct SqlStore {
    db: Db,
    /// For `Debug` and messages: the URL with any password replaced.
    url: String,
}

impl SqlStore {
    pub(crate) fn new(db: Db, url: &str) -> Self {
        Self { db, url: redact_url(url) }
    }
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("url", &self.url).finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlite::migrate(pool).await,
            Db::Postgres(pool) => postgres::migrate(pool).await,
        }
    }

    async fn link_by_record(
        &self,
        pair: &str,
        side: Side,
        record_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        links::by_record(&self.db, pair, side, record_id).await
    }

    async fn links_by_records(
        &self,
        pair: &str,
        side: Side,
        record_ids: &[String],
    ) -> Result<Vec<Link>, StoreError> {
        links::by_records(&self.db, pair, side, record_ids).await
    }

    async fn links_by_key(
        &self,
        pair: &str,
        side: Side,
        field: &str,
        value: &str,
    ) -> Result<Vec<Link>, StoreError> {
        links::by_key(&self.db, pair, side, field, value).await
    }

    async fn identity_misses(
        &self,
        pair: &str,
        side: Side,
        record_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        misses::misses(&self.db, pair, side, record_ids).await
    }

    async fn remember_identity_misses(
        &self,
        pair: &str,
        side: Side,
        found: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        misses::remember(&self.db, pair, side, found, at).await
    }

    async fn forget_identity_misses(
        &self,
        pair: &str,
        side: Side,
        record_ids: &[String],
    ) -> Result<(), StoreError> {
        misses::forget(&self.db, pair, side, record_ids).await
    }

    async fn least_recently_verified(
        &self,
        pair: &str,
        side: Side,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        links::least_recently_verified(&self.db, pair, side, limit).await
    }

    async fn count_links(&self, pair: &str) -> Result<u64, StoreError> {
        links::count(&self.db, pair).await
    }

    async fn load_checkpoint(&self, stream: &StreamKey) -> Result<Option<StoredCheckpoint>, StoreError> {
        runs::load_checkpoint(&self.db, stream).await
    }

    async fn list_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        runs::list_checkpoints(&self.db).await
    }

    async fn start_run(&self, run: &NewRun) -> Result<(), StoreError> {
        runs::start(&self.db, run).await
    }

    async fn finish_run(&self, id: &str, outcome: &RunOutcome) -> Result<(), StoreError> {
        runs::finish(&self.db, id, outcome).await
    }

    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        runs::recent(&self.db, limit).await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        runs::get(&self.db, id).await
    }

    async fn claim_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        leases::claim(&self.db, name, owner, ttl, now).await
    }

    async fn take_over_lease(
        &self,
        name: &str,
        dead_owner: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        leases::take_over(&self.db, name, dead_owner, owner, ttl, now).await
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        leases::renew(&self.db, lease, ttl, now).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        leases::release(&self.db, lease).await
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        leases::holder(&self.db, name).await
    }

    async fn commit_page(&self, commit: PageCommit) -> Result<PageCommitResult, StoreError> {
        page::commit(&self.db, &commit).await
    }

    async fn list_review(&self, filter: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError> {
        review::list(&self.db, filter).await
    }

    async fn count_review(&self, filter: &ReviewFilter) -> Result<u64, StoreError> {
        review::count(&self.db, filter).await
    }

    async fn count_open_review(&self) -> Result<u64, StoreError> {
        let open = ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() };
        review::count(&self.db, &open).await
    }

    async fn review_item(&self, id: i64) -> Result<Option<ReviewItem>, StoreError> {
        review::get(&self.db, id).await
    }

    async fn resolve_review(&self, id: i64, resolution: &Resolution) -> Result<ResolveOutcome, StoreError> {
        review::resolve(&self.db, id, resolution).await
    }

    async fn reopen_review(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        review::reopen(&self.db, id, at).await
    }

    async fn resolved_for_pair(&self, pair: &str) -> Result<Vec<ReviewItem>, StoreError> {
        let filter = ReviewFilter {
            pair: Some(pair.to_owned()),
            state: Some(ReviewState::Resolved),
            ..ReviewFilter::default()
        };
        review::list(&self.db, &filter).await
    }

    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        journal::list_dead_letters(&self.db, limit).await
    }

    async fn count_dead_letters(&self) -> Result<u64, StoreError> {
        journal::count_dead_letters(&self.db).await
    }

    async fn find_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError> {
        dead_letters::find(&self.db, filter).await
    }

    async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        dead_letters::get(&self.db, id).await
    }

    async fn count_dead_letters_by_reason(&self) -> Result<Vec<(String, u64)>, StoreError> {
        dead_letters::count_open_by_reason(&self.db).await
    }

    async fn retry_dead_letter(
        &self,
        id: i64,
        redrive: &Redrive,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterChange, StoreError> {
        dead_letters::transition(&self.db, id, DeadLetterStatus::Retried, Some(redrive), by, at).await
    }

    async fn discard_dead_letter(
        &self,
        id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterChange, StoreError> {
        dead_letters::transition(&self.db, id, DeadLetterStatus::Discarded, None, by, at).await
    }

    async fn decisions_for(
        &self,
        system: &str,
        record_id: &str,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError> {
        journal::decisions_for(&self.db, system, record_id, limit).await
    }

    async fn record_intents(&self, lease: &Lease, intents: &[WriteIntent]) -> Result<usize, StoreError> {
        journal::record_intents(&self.db, lease, intents).await
    }

    async fn pending_intents(&self, pair: &str) -> Result<Vec<WriteIntent>, StoreError> {
        journal::pending_intents(&self.db, pair).await
    }

    async fn record_event(
        &self,
        source: &str,
        event_id: &str,
        received_at: DateTime<Utc>,
        payload: &str,
    ) -> Result<bool, StoreError> {
        journal::record_event(&self.db, source, event_id, received_at, payload).await
    }

    async fn record_events(
        &self,
        source: &str,
        events: &[(String, String)],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        journal::record_events(&self.db, source, events, received_at).await
    }

    async fn freshness(&self, pair: &str, limit: usize) -> Result<Vec<FreshnessSample>, StoreError> {
        journal::freshness(&self.db, pair, limit).await
    }

    async fn pending_events(&self, source: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        journal::pending_events(&self.db, source, limit).await
    }

    async fn count_pending_events(&self, source: &str, cap: usize) -> Result<usize, StoreError> {
        journal::count_pending_events(&self.db, source, cap).await
    }

    async fn record_run_costs(&self, costs: &[RunCost]) -> Result<(), StoreError> {
        costs::record_costs(&self.db, costs).await
    }

    async fn run_costs(&self, runs: usize) -> Result<Vec<RunCost>, StoreError> {
        costs::costs(&self.db, runs).await
    }

    async fn save_backlogs(&self, backlogs: &[StreamBacklog]) -> Result<(), StoreError> {
        costs::save_backlogs(&self.db, backlogs).await
    }

    async fn backlogs(&self) -> Result<Vec<StreamBacklog>, StoreError> {
        costs::backlogs(&self.db).await
    }

    async fn breakers(&self) -> Result<Vec<BreakerState>, StoreError> {
        ops::breakers(&self.db).await
    }

    async fn record_system_run(
        &self,
        system: &str,
        failure: Option<&str>,
        open_after: u32,
        now: DateTime<Utc>,
    ) -> Result<BreakerUpdate, StoreError> {
        ops::record_system_run(&self.db, system, failure, open_after, now).await
    }

    async fn close_breaker(
        &self,
        system: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        ops::close(&self.db, system, reason, now).await
    }

    async fn record_pair_run(&self, pair: &str, failed: bool, now: DateTime<Utc>) -> Result<u32, StoreError> {
        ops::record_pair_run(&self.db, pair, failed, now).await
    }

    async fn alert_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        ops::alert_state(&self.db, key).await
    }

    async fn swap_alert_state(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        ops::swap_alert_state(&self.db, key, expected, new, now).await
    }

    async fn take_quota(
        &self,
        account: &str,
        buckets: &[QuotaBucket],
        now: DateTime<Utc>,
    ) -> Result<QuotaTake, StoreError> {
        quota::take(&self.db, account, buckets, now).await
    }
}
