//! Everything one pair's cycle needs, built once per pair run and handed down to every stage:
//! the pair, its connectors and store, the run's horizon and mode, the lease, the safety caps,
//! and what the run planned so far. The store and connector calls every stage makes go through
//! it (fenced commits, batched reads, errors named after their system).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Connector, ConnectorError, Quarantined, Record, SharedClock};

use crate::mapping::{PairMapping, Side};
use crate::store::{
    DeadLetterSource, FreshnessSample, Lease, NewDeadLetter, PageCommit, PageCommitResult, Store, StreamKey,
};

use super::caps::RunCaps;
use super::control::{BackfillRun, ProgressSink, RunMode, StopSignal};
use super::error::SyncError;
use super::options::SyncOptions;
use super::report::PageStats;

/// Everything one pair's cycle needs.
pub(crate) struct PairContext {
    pub pair: Arc<PairMapping>,
    pub left: Arc<dyn Connector>,
    pub right: Arc<dyn Connector>,
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub opts: SyncOptions,
    pub run_id: String,
    pub horizon: DateTime<Utc>,
    pub dry_run: bool,
    pub lease: Lease,
    /// Links already reconciled in this run, with the change time of each side that planning
    /// saw: a later change is planned again only if it is newer than what was seen (a re-read
    /// of the same or an older change costs nothing; a newer one is never skipped).
    pub planned: std::sync::Mutex<BTreeMap<i64, [Option<DateTime<Utc>>; 2]>>,
    /// The time box's end: no page is started after it (`None`: not boxed). See `timebox`.
    pub deadline: Option<DateTime<Utc>>,
    /// Per side (left, right): the slowest time per record a page of this run took, measured
    /// by `timebox` (what a page or the sweep is expected to cost).
    pub paces: std::sync::Mutex<[Option<Duration>; 2]>,
    /// When the lease was last claimed or renewed (by this clock).
    pub lease_renewed: std::sync::Mutex<DateTime<Utc>>,
    /// Incremental cycle or backfill.
    pub mode: RunMode,
    /// Raised to stop after the current page.
    pub stop: StopSignal,
    /// Told after every page.
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// Every (system, object) some configured pair syncs: a webhook event naming only objects
    /// of other pairs is left for them.
    pub handled: Arc<BTreeSet<(String, String)>>,
    /// Per side (left, right): whether its connector reports real modified times for the
    /// pair's object (read once from the capabilities, not per record).
    pub modified_times: [bool; 2],
    /// The safety caps over this run, and whether the pair is in its first sync.
    pub caps: RunCaps,
    /// Per side (left, right): the remote fields its system never returns in reads.
    pub unreadable: [BTreeSet<String>; 2],
}

impl PairContext {
    /// The connector on `side`.
    pub fn connector(&self, side: Side) -> &Arc<dyn Connector> {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// The time `side` says its record was modified, when its connector reports real modified
    /// times for the pair's object (else `None`: a read time must not decide `newest`).
    pub fn modified_time(&self, side: Side, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let real = match side {
            Side::Left => self.modified_times[0],
            Side::Right => self.modified_times[1],
        };
        real.then_some(at)
    }

    /// A freshness sample for a write that just succeeded: from `changed` (the source record's
    /// own modified time, when its connector reports real ones; else no sample) to now, on the
    /// engine's path ([`SyncOptions::path`]). Stored with the page and counted in `stats`.
    pub fn record_freshness(
        &self,
        changed: Option<DateTime<Utc>>,
        commit: &mut PageCommit,
        stats: &mut PageStats,
    ) {
        let Some(changed) = changed else { return };
        let now = self.clock.now();
        let millis = (now - changed).num_milliseconds().max(0);
        let path = self.opts.path;
        stats.freshness.push((path, millis.unsigned_abs()));
        commit.freshness.push(FreshnessSample {
            pair: self.pair.name.clone(),
            path: path.as_str().to_string(),
            millis,
            at: now,
        });
    }

    /// The remote fields `side`'s system takes in writes but never returns.
    pub fn unreadable(&self, side: Side) -> &BTreeSet<String> {
        &self.unreadable[side_index(side)]
    }

    /// Wraps a connector error with the system it came from.
    pub fn err(&self, side: Side, source: ConnectorError) -> SyncError {
        SyncError::Connector { system: self.pair.endpoint(side).system.clone(), source }
    }

    /// The incremental stream of `side` for this pair. Checkpoints are kept per pair, so two
    /// pairs reading the same object advance independently.
    pub fn stream(&self, side: Side) -> StreamKey {
        match &self.mode {
            RunMode::Incremental => incremental_stream(&self.pair, side),
            RunMode::Backfill(b) => {
                let ep = self.pair.endpoint(side);
                StreamKey { scope: b.scope.clone(), system: ep.system.clone(), object: ep.object.clone() }
            }
        }
    }

    /// Reads records of `side` by id, in batches of the object's page size; missing ids are
    /// simply absent from the answer.
    pub async fn fetch_records(
        &self,
        side: Side,
        ids: &[String],
    ) -> Result<BTreeMap<String, Record>, SyncError> {
        let object = &self.pair.endpoint(side).object;
        let connector = self.connector(side);
        let batch = connector.capabilities().object(object).map_or(100, |o| o.max_page.max(1));
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(batch) {
            for record in connector.fetch(object, chunk).await.map_err(|e| self.err(side, e))? {
                out.insert(record.id.clone(), record);
            }
        }
        Ok(out)
    }

    /// Commits under this pair's lease; a lost lease is reported as [`SyncError::LeaseLost`].
    pub async fn commit(&self, commit: PageCommit) -> Result<PageCommitResult, SyncError> {
        self.store.commit_page(commit).await.map_err(|e| SyncError::fenced(&self.pair.name, e))
    }

    /// True when `change_at` on `side` of link `link_id` is newer than anything planned for that
    /// link in this run (so it must be planned).
    pub fn needs_planning(&self, link_id: i64, side: Side, change_at: DateTime<Utc>) -> bool {
        let planned = self.planned.lock().expect("planned lock");
        planned.get(&link_id).and_then(|seen| seen[side_index(side)]).is_none_or(|seen| change_at > seen)
    }

    /// Records what planning link `link_id` saw of each side.
    pub fn mark_planned(&self, link_id: i64, side: Side, this_at: DateTime<Utc>, other_at: DateTime<Utc>) {
        let mut planned = self.planned.lock().expect("planned lock");
        let seen = planned.entry(link_id).or_insert([None, None]);
        for (s, t) in [(side, this_at), (side.other(), other_at)] {
            let slot = &mut seen[side_index(s)];
            *slot = Some(slot.map_or(t, |old| old.max(t)));
        }
    }

    /// The backfill this run is, if it is one.
    pub fn backfill(&self) -> Option<&BackfillRun> {
        match &self.mode {
            RunMode::Backfill(b) => Some(b),
            RunMode::Incremental => None,
        }
    }

    /// Renews the lease once half its time has passed, so a long run (a backfill paced to a
    /// rate limit) keeps it. A lease someone else claimed meanwhile is [`SyncError::LeaseLost`].
    pub async fn keep_lease(&self) -> Result<(), SyncError> {
        if self.dry_run {
            return Ok(());
        }
        let now = self.clock.now();
        let renewed = *self.lease_renewed.lock().expect("lease lock");
        let half = chrono::Duration::from_std(self.opts.lease_ttl / 2).unwrap_or_default();
        if now - renewed < half {
            return Ok(());
        }
        if !self.store.renew_lease(&self.lease, self.opts.lease_ttl, now).await? {
            return Err(SyncError::LeaseLost(self.pair.name.clone()));
        }
        *self.lease_renewed.lock().expect("lease lock") = now;
        Ok(())
    }

    /// The re-read window of `side`'s stream.
    pub fn overlap(&self, side: Side) -> Duration {
        self.opts.overlap_of(&self.pair.endpoint(side).system)
    }

    /// A new commit under this pair's lease, stamped now.
    pub fn new_commit(&self) -> PageCommit {
        PageCommit::new(self.lease.clone(), self.run_id.clone(), self.clock.now())
    }

    /// A dead letter of `side` for the malformed item `q`, from a pull (no event) or a webhook
    /// delivery (its event id).
    pub fn dead_letter(&self, side: Side, q: Quarantined, event_id: Option<String>) -> NewDeadLetter {
        let ep = self.pair.endpoint(side);
        NewDeadLetter {
            pair: Some(self.pair.name.clone()),
            system: ep.system.clone(),
            object: ep.object.clone(),
            record_id: q.id,
            reason: q.reason,
            payload: q.raw,
            run_id: self.run_id.clone(),
            source: if event_id.is_some() { DeadLetterSource::Webhook } else { DeadLetterSource::Pull },
            event_id,
        }
    }

    /// The records of `ids` on `side` that are linked in this pair already.
    pub async fn linked_ids(&self, side: Side, ids: &[String]) -> Result<BTreeSet<String>, SyncError> {
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let links = self.store.links_by_records(&self.pair.name, side, ids).await?;
        Ok(links.iter().map(|l| l.record_id(side).to_string()).collect())
    }
}

/// The incremental stream of `side` of `pair` (scope `pair:<name>`).
pub(crate) fn incremental_stream(pair: &PairMapping, side: Side) -> StreamKey {
    let ep = pair.endpoint(side);
    StreamKey { scope: format!("pair:{}", pair.name), system: ep.system.clone(), object: ep.object.clone() }
}

pub(crate) fn side_index(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}
