//! The state store: links and their base, watermarks, runs, leases, the review queue, dead
//! letters, the decision log, the write outbox and seen webhook events. All SQL of crosswalk
//! lives under this module.
//!
//! [`Store`] is the use-case interface, used as `Arc<dyn Store>`; [`open`] picks the backend
//! from the URL scheme: SQLite (`sqlite:state.db`, `sqlite::memory:`) or PostgreSQL
//! (`postgres://…`). Both run the same queries (see `db.rs`) against schemas kept in step by
//! `migrations/sqlite` and `migrations/postgres`, and both pass one shared test suite
//! (`tests/it/store_suite.rs`).
//!
//! Invariants the implementation keeps:
//! - Everything a page of a run produced is written by one [`Store::commit_page`] transaction,
//!   after checking that the run's lease token is still current (fencing).
//! - A lease's token increases on every successful claim; lease rows are never deleted.
//! - At most one review item is open per (pair, link, kind, field).
//! - Timestamps are kept to the microsecond on both backends, so what is read back equals
//!   what was written once truncated ([`stored_time`]). PostgreSQL stores `TIMESTAMPTZ`;
//!   SQLite stores fixed-width RFC 3339 UTC text (`2026-11-22T13:07:00.123456Z`), whose text
//!   order is time order. JSON is `JSONB` on PostgreSQL and text on SQLite.

mod batch;
mod costs;
mod db;
mod dead_letters;
mod error;
mod journal;
mod leases;
mod link_writes;
mod links;
mod migrate;
mod misses;
mod ops;
mod page;
mod postgres;
mod quota;
mod review;
mod runs;
mod sql_store;
mod sqlite;
#[cfg(feature = "testsuite")]
pub mod testsuite;
mod types;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use costs::{RunCost, StreamBacklog};
pub use dead_letters::{DeadLetterChange, DeadLetterFilter, Redrive};
pub use error::{StoreError, redact_url};
pub use types::*;

/// `t` as the store keeps it (truncated to whole microseconds).
pub fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    db::stored(t)
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Opens the store named by `url`. Call [`Store::migrate`] before first use.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    let db = match scheme {
        "sqlite" => db::Db::Sqlite(sqlite::connect(url).await?),
        "postgres" | "postgresql" => db::Db::Postgres(postgres::connect(url).await?),
        _ => return Err(StoreError::BadUrl { url: redact_url(url) }),
    };
    Ok(Arc::new(sql_store::SqlStore::new(db, url)))
}

/// The state store's use cases. Lookups return `Ok(None)` for a missing row; mutations of a
/// missing row return [`StoreError::NotFound`].
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The database behind this store.
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations that are not applied yet and says which; running it
    /// again applies nothing.
    async fn migrate(&self) -> Result<MigrationReport, StoreError>;

    // --- links -------------------------------------------------------------------------

    /// The link of `record_id` on `side` of `pair`.
    async fn link_by_record(
        &self,
        pair: &str,
        side: Side,
        record_id: &str,
    ) -> Result<Option<Link>, StoreError>;

    /// The links of many records of one side, in one query; records without a link are
    /// simply absent from the result (order unspecified).
    async fn links_by_records(
        &self,
        pair: &str,
        side: Side,
        record_ids: &[String],
    ) -> Result<Vec<Link>, StoreError>;

    /// The links whose `side` record carries identity key `field` = `value`: more than one
    /// means a duplicate inside that system.
    async fn links_by_key(
        &self,
        pair: &str,
        side: Side,
        field: &str,
        value: &str,
    ) -> Result<Vec<Link>, StoreError>;

    /// `(record id, keys hash)` of the identity misses remembered for `record_ids` of `side`:
    /// records whose probes matched nothing, with the hash of the keys they were probed with.
    async fn identity_misses(
        &self,
        pair: &str,
        side: Side,
        record_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError>;

    /// Remembers identity misses `(record id, keys hash)` of `side`, replacing older ones.
    async fn remember_identity_misses(
        &self,
        pair: &str,
        side: Side,
        misses: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets the identity misses of `record_ids` of `side` (they are linked now).
    async fn forget_identity_misses(
        &self,
        pair: &str,
        side: Side,
        record_ids: &[String],
    ) -> Result<(), StoreError>;

    /// The links whose `side` record was verified longest ago (never-verified first, then
    /// oldest; ties by id), for the verification sweep.
    async fn least_recently_verified(
        &self,
        pair: &str,
        side: Side,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError>;

    /// How many links `pair` has.
    async fn count_links(&self, pair: &str) -> Result<u64, StoreError>;

    // --- watermarks --------------------------------------------------------------------

    /// The saved checkpoint of one stream (written by [`Store::commit_page`]).
    async fn load_checkpoint(&self, stream: &StreamKey) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Every saved checkpoint, ordered by (scope, system, object).
    async fn list_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    // --- runs --------------------------------------------------------------------------

    /// Records that a run started. A second start with the same id is a [`StoreError::Conflict`].
    async fn start_run(&self, run: &NewRun) -> Result<(), StoreError>;

    /// Records how a run ended.
    async fn finish_run(&self, id: &str, outcome: &RunOutcome) -> Result<(), StoreError>;

    /// The latest runs, newest first.
    async fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError>;

    /// One run.
    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    // --- leases ------------------------------------------------------------------------

    /// Claims lease `name` for `owner` until `now + ttl` if it is free, released or expired.
    /// `None` if someone else holds it. Each successful claim gets a larger token.
    async fn claim_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError>;

    /// Takes lease `name` over from `dead_owner` — a holder known to be gone (its process no
    /// longer exists) — before it expires. `None` if the lease is no longer held by
    /// `dead_owner` (released, expired and re-claimed, or taken over by someone else). The
    /// token increases, so anything the dead owner might still try to commit is fenced off.
    async fn take_over_lease(
        &self,
        name: &str,
        dead_owner: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError>;

    /// Extends a held lease to `now + ttl`. `false` if its token is no longer current (someone
    /// claimed it since) or it was released. A lease that expired but was not claimed by
    /// anyone else can still be renewed: its token still fences.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>)
    -> Result<bool, StoreError>;

    /// Gives a lease up so another owner can claim it at once. A no-op if it is no longer held.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

    /// The owner of lease `name` unless it was released (it may have expired), to say who
    /// holds it when a claim fails.
    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError>;

    // --- the page commit ---------------------------------------------------------------

    /// Applies everything one page produced in one transaction (see [`PageCommit`] for the
    /// order). Fails with [`StoreError::LeaseLost`] — writing nothing — if the lease's token
    /// is no longer current, and with [`StoreError::Conflict`] — writing nothing — if a link
    /// would be duplicated.
    async fn commit_page(&self, commit: PageCommit) -> Result<PageCommitResult, StoreError>;

    // --- review queue ------------------------------------------------------------------

    /// Review items matching `filter`, ordered by id.
    async fn list_review(&self, filter: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError>;

    /// How many review items match `filter` (its limit and offset are ignored).
    async fn count_review(&self, filter: &ReviewFilter) -> Result<u64, StoreError>;

    /// How many review items are open.
    async fn count_open_review(&self) -> Result<u64, StoreError>;

    /// One review item.
    async fn review_item(&self, id: i64) -> Result<Option<ReviewItem>, StoreError>;

    /// Records an admin's decision on an open item: `resolved`, or `ignored` for
    /// [`ResolveAction::Ignore`]. Repeating the same decision is a no-op.
    async fn resolve_review(&self, id: i64, resolution: &Resolution) -> Result<ResolveOutcome, StoreError>;

    /// Puts a resolved or ignored item back to `open`, dropping its resolution. `false` if it
    /// was in another state. [`StoreError::Conflict`] if another item with the same key has
    /// been opened meanwhile.
    async fn reopen_review(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The resolved items of `pair` not applied yet, ordered by id: what the next run writes.
    async fn resolved_for_pair(&self, pair: &str) -> Result<Vec<ReviewItem>, StoreError>;

    // --- dead letters ------------------------------------------------------------------

    /// The latest dead letters, newest first.
    async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;

    /// How many dead letters are open (not retried or discarded).
    async fn count_dead_letters(&self) -> Result<u64, StoreError>;

    /// The dead letters `filter` matches, newest first.
    async fn find_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError>;

    /// One dead letter.
    async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError>;

    /// Open dead letters by reason, most first.
    async fn count_dead_letters_by_reason(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Marks an open dead letter retried and stores `redrive` as a pending event of its system in
    /// the same transaction, so the next run re-reads what it names. A second call changes
    /// nothing ([`DeadLetterChange::Already`]); a discarded letter stays discarded.
    async fn retry_dead_letter(
        &self,
        id: i64,
        redrive: &Redrive,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterChange, StoreError>;

    /// Marks an open dead letter discarded (kept as a record, never re-processed).
    async fn discard_dead_letter(
        &self,
        id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<DeadLetterChange, StoreError>;

    // --- decision log ------------------------------------------------------------------

    /// Why fields of `record_id` in `system` changed, newest first.
    async fn decisions_for(
        &self,
        system: &str,
        record_id: &str,
        limit: usize,
    ) -> Result<Vec<Decision>, StoreError>;

    // --- write intents (outbox) --------------------------------------------------------

    /// Records intended remote writes before they are made, fenced by `lease`. An intent whose
    /// key is already recorded is left as it is. Returns how many were new.
    async fn record_intents(&self, lease: &Lease, intents: &[WriteIntent]) -> Result<usize, StoreError>;

    /// The intents of `pair` not marked done, oldest first.
    async fn pending_intents(&self, pair: &str) -> Result<Vec<WriteIntent>, StoreError>;

    // --- webhook events ----------------------------------------------------------------

    /// Persists a received event. `false` if (source, event id) was seen before: a replay.
    async fn record_event(
        &self,
        source: &str,
        event_id: &str,
        received_at: DateTime<Utc>,
        payload: &str,
    ) -> Result<bool, StoreError>;

    /// Persists one delivery's events — `(event id, payload)` each — in one transaction (one
    /// commit however many events), all received at `received_at`. Returns, per event in
    /// order, `true` when it was stored and `false` for a replay: an id seen before, or a
    /// second copy of an id earlier in the same delivery (the first copy is the one stored).
    async fn record_events(
        &self,
        source: &str,
        events: &[(String, String)],
        received_at: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError>;

    /// The newest `limit` freshness samples of `pair` (both paths), newest first; kept for
    /// [`FRESHNESS_KEEP`].
    async fn freshness(&self, pair: &str, limit: usize) -> Result<Vec<FreshnessSample>, StoreError>;

    /// Persisted events of `source` not processed yet, oldest first.
    async fn pending_events(&self, source: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// How many events of `source` are not processed yet, counting at most `cap` (the webhook
    /// receivers' backpressure bound): one indexed count, no payloads read.
    async fn count_pending_events(&self, source: &str, cap: usize) -> Result<usize, StoreError>;

    // --- run costs and backlogs (0008) ---------------------------------------------------

    /// Records what a run cost on each system (one row per run and system; again replaces).
    async fn record_run_costs(&self, costs: &[RunCost]) -> Result<(), StoreError>;

    /// The cost rows of the newest `runs` runs that have any, newest run first.
    async fn run_costs(&self, runs: usize) -> Result<Vec<RunCost>, StoreError>;

    /// Saves each stream's backlog as a run left it, replacing the stream's previous row.
    async fn save_backlogs(&self, backlogs: &[StreamBacklog]) -> Result<(), StoreError>;

    /// Every stream's last saved backlog, by stream.
    async fn backlogs(&self) -> Result<Vec<StreamBacklog>, StoreError>;

    // --- circuit breakers and alert state ----------------------------------------------

    /// Every system's breaker that has a row (systems never recorded are closed), by name.
    async fn breakers(&self) -> Result<Vec<BreakerState>, StoreError>;

    /// Records one run's verdict on `system`: `Some(reason)` adds a failure and opens the
    /// breaker when the failures reach `open_after` (1 opens it at once); `None` resets the
    /// count of a closed breaker. An open breaker stays open either way.
    async fn record_system_run(
        &self,
        system: &str,
        failure: Option<&str>,
        open_after: u32,
        now: DateTime<Utc>,
    ) -> Result<BreakerUpdate, StoreError>;

    /// Closes `system`'s breaker, noting `reason`. `false` if it was not open.
    async fn close_breaker(&self, system: &str, reason: &str, now: DateTime<Utc>)
    -> Result<bool, StoreError>;

    /// Records whether `pair` failed this run and answers its consecutive failures so far.
    async fn record_pair_run(&self, pair: &str, failed: bool, now: DateTime<Utc>) -> Result<u32, StoreError>;

    /// The state the last alert about `key` was sent for.
    async fn alert_state(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets `key`'s alert state to `new` if it is still `expected` (`None`: no state yet).
    /// `true` for the one caller whose change took: that caller sends the alert.
    async fn swap_alert_state(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Takes one send of every bucket of `account` in `buckets` at `now` when each has had
    /// fewer than its limit sends in its window before `now` (all or none; a bucket named twice
    /// counts once); else says when the fullest one has room again. Shared by every worker on
    /// the store, so N workers of one account never send more than one quota (wired on
    /// PostgreSQL; a SQLite store's one process keeps its own limiter).
    async fn take_quota(
        &self,
        account: &str,
        buckets: &[QuotaBucket],
        now: DateTime<Utc>,
    ) -> Result<QuotaTake, StoreError>;
}
