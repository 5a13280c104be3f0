//! A delegate for [`Store`] wrappers (test doubles such as a store that crashes after a commit):
//! implement [`StoreLayer`] — the wrapped store, and hooks that run before and after every
//! call — and the blanket implementation forwards every `Store` method. Compiled only with the
//! `testsuite` feature (tests and benches); a wrapper is then a few lines, not forty methods.
//!
//! A new `Store` method is added once, to the list in this file.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;

/// A store wrapped by a test double: every [`Store`] method goes to [`inner`](Self::inner),
/// with [`before`](Self::before) run ahead of it and [`after`](Self::after) behind it.
pub trait StoreLayer: Send + Sync + std::fmt::Debug {
    /// The wrapped store.
    fn inner(&self) -> &dyn Store;

    /// Runs before `op` reaches the inner store; an error fails the call without running it.
    fn before(&self, op: StoreOp) -> Result<(), StoreError> {
        let _ = op;
        Ok(())
    }

    /// Runs after the inner store answered `op` (`ok` when it succeeded); an error replaces
    /// the answer (the inner call has happened all the same).
    fn after(&self, op: StoreOp, ok: bool) -> Result<(), StoreError> {
        let _ = (op, ok);
        Ok(())
    }
}

/// Writes the operation list and the forwarding implementation from one table of the `Store`
/// methods (all but `backend`, which is not a call to the database).
macro_rules! layered {
    ($( $op:ident: $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty; )*) => {
        /// The [`Store`] method a [`StoreLayer`] hook is called for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum StoreOp { $($op,)* }

        #[async_trait]
        impl<T: StoreLayer> Store for T {
            fn backend(&self) -> Backend {
                self.inner().backend()
            }
            $(
                async fn $name(&self, $($arg: $ty),*) -> $ret {
                    self.before(StoreOp::$op)?;
                    let out = self.inner().$name($($arg),*).await;
                    self.after(StoreOp::$op, out.is_ok())?;
                    out
                }
            )*
        }
    };
}

layered! {
    Migrate: migrate() -> Result<MigrationReport, StoreError>;
    LinkByRecord: link_by_record(pair: &str, side: Side, record_id: &str) -> Result<Option<Link>, StoreError>;
    LinksByRecords: links_by_records(pair: &str, side: Side, record_ids: &[String]) -> Result<Vec<Link>, StoreError>;
    LinksByKey: links_by_key(pair: &str, side: Side, field: &str, value: &str) -> Result<Vec<Link>, StoreError>;
    LeastRecentlyVerified: least_recently_verified(pair: &str, side: Side, limit: usize) -> Result<Vec<Link>, StoreError>;
    CountLinks: count_links(pair: &str) -> Result<u64, StoreError>;
    IdentityMisses: identity_misses(pair: &str, side: Side, record_ids: &[String]) -> Result<Vec<(String, String)>, StoreError>;
    RememberIdentityMisses: remember_identity_misses(pair: &str, side: Side, misses: &[(String, String)], at: DateTime<Utc>) -> Result<(), StoreError>;
    ForgetIdentityMisses: forget_identity_misses(pair: &str, side: Side, record_ids: &[String]) -> Result<(), StoreError>;
    LoadCheckpoint: load_checkpoint(stream: &StreamKey) -> Result<Option<StoredCheckpoint>, StoreError>;
    ListCheckpoints: list_checkpoints() -> Result<Vec<StoredCheckpoint>, StoreError>;
    StartRun: start_run(run: &NewRun) -> Result<(), StoreError>;
    FinishRun: finish_run(id: &str, outcome: &RunOutcome) -> Result<(), StoreError>;
    RecentRuns: recent_runs(limit: usize) -> Result<Vec<RunRecord>, StoreError>;
    Run: run(id: &str) -> Result<Option<RunRecord>, StoreError>;
    ClaimLease: claim_lease(name: &str, owner: &str, ttl: Duration, now: DateTime<Utc>) -> Result<Option<Lease>, StoreError>;
    TakeOverLease: take_over_lease(name: &str, dead_owner: &str, owner: &str, ttl: Duration, now: DateTime<Utc>) -> Result<Option<Lease>, StoreError>;
    RenewLease: renew_lease(lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<bool, StoreError>;
    ReleaseLease: release_lease(lease: &Lease) -> Result<(), StoreError>;
    LeaseHolder: lease_holder(name: &str) -> Result<Option<String>, StoreError>;
    CommitPage: commit_page(commit: PageCommit) -> Result<PageCommitResult, StoreError>;
    ListReview: list_review(filter: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError>;
    CountReview: count_review(filter: &ReviewFilter) -> Result<u64, StoreError>;
    CountOpenReview: count_open_review() -> Result<u64, StoreError>;
    ReviewItem: review_item(id: i64) -> Result<Option<ReviewItem>, StoreError>;
    ResolveReview: resolve_review(id: i64, resolution: &Resolution) -> Result<ResolveOutcome, StoreError>;
    ReopenReview: reopen_review(id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;
    ResolvedForPair: resolved_for_pair(pair: &str) -> Result<Vec<ReviewItem>, StoreError>;
    ListDeadLetters: list_dead_letters(limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    CountDeadLetters: count_dead_letters() -> Result<u64, StoreError>;
    DecisionsFor: decisions_for(system: &str, record_id: &str, limit: usize) -> Result<Vec<Decision>, StoreError>;
    RecordIntents: record_intents(lease: &Lease, intents: &[WriteIntent]) -> Result<usize, StoreError>;
    PendingIntents: pending_intents(pair: &str) -> Result<Vec<WriteIntent>, StoreError>;
    RecordEvent: record_event(source: &str, event_id: &str, received_at: DateTime<Utc>, payload: &str) -> Result<bool, StoreError>;
    RecordEvents: record_events(source: &str, events: &[(String, String)], received_at: DateTime<Utc>) -> Result<Vec<bool>, StoreError>;
    Freshness: freshness(pair: &str, limit: usize) -> Result<Vec<FreshnessSample>, StoreError>;
    PendingEvents: pending_events(source: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    CountPendingEvents: count_pending_events(source: &str, cap: usize) -> Result<usize, StoreError>;
    FindDeadLetters: find_dead_letters(filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError>;
    DeadLetter: dead_letter(id: i64) -> Result<Option<DeadLetter>, StoreError>;
    CountDeadLettersByReason: count_dead_letters_by_reason() -> Result<Vec<(String, u64)>, StoreError>;
    RetryDeadLetter: retry_dead_letter(id: i64, redrive: &Redrive, by: &str, at: DateTime<Utc>) -> Result<DeadLetterChange, StoreError>;
    DiscardDeadLetter: discard_dead_letter(id: i64, by: &str, at: DateTime<Utc>) -> Result<DeadLetterChange, StoreError>;
    RecordRunCosts: record_run_costs(costs: &[RunCost]) -> Result<(), StoreError>;
    RunCosts: run_costs(runs: usize) -> Result<Vec<RunCost>, StoreError>;
    SaveBacklogs: save_backlogs(backlogs: &[StreamBacklog]) -> Result<(), StoreError>;
    Backlogs: backlogs() -> Result<Vec<StreamBacklog>, StoreError>;
    Breakers: breakers() -> Result<Vec<BreakerState>, StoreError>;
    RecordSystemRun: record_system_run(system: &str, failure: Option<&str>, open_after: u32, now: DateTime<Utc>) -> Result<BreakerUpdate, StoreError>;
    CloseBreaker: close_breaker(system: &str, reason: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    RecordPairRun: record_pair_run(pair: &str, failed: bool, now: DateTime<Utc>) -> Result<u32, StoreError>;
    AlertState: alert_state(key: &str) -> Result<Option<String>, StoreError>;
    SwapAlertState: swap_alert_state(key: &str, expected: Option<&str>, new: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    TakeQuota: take_quota(account: &str, buckets: &[QuotaBucket], now: DateTime<Utc>) -> Result<QuotaTake, StoreError>;
}
