//! One pair's cycle: pull each side page by page from its checkpoint, then run the verification
//! sweep for systems whose pulls miss some edits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Change, Checkpoint, Connector, ConnectorError, PullRequest, Record, SharedClock};

use crate::mapping::{PairMapping, Side};
use crate::store::{Lease, PageCommit, PageCommitResult, Store, StoreError, StreamKey, StreamWindow};

use super::control::{BackfillRun, ProgressSink, RunMode, StopSignal};
use super::page::{self, PageInput};
use super::{PairReport, PairStatus, SyncError, SyncOptions};

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
    pub caps: super::caps::RunCaps,
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
        self.store.commit_page(commit).await.map_err(|e| match e {
            StoreError::LeaseLost => SyncError::LeaseLost(self.pair.name.clone()),
            other => SyncError::Store(other),
        })
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
    async fn keep_lease(&self) -> Result<(), SyncError> {
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

    fn overlap(&self, side: Side) -> Duration {
        let system = &self.pair.endpoint(side).system;
        self.opts.overlaps.get(system).copied().unwrap_or(self.opts.overlap)
    }
}

/// Pulls both sides, then sweeps. Returns early (leaving checkpoints behind) when a page cannot
/// be completed.
pub(crate) async fn run_pair(
    ctx: &PairContext,
    report: &mut PairReport,
    windows: &mut Vec<StreamWindow>,
) -> Result<(), SyncError> {
    let incremental = ctx.backfill().is_none();
    if incremental && let Some(reason) = super::resolutions::apply_resolved(ctx, &mut report.stats).await? {
        report.status = PairStatus::Incomplete { reason };
        return Ok(());
    }
    for side in [Side::Left, Side::Right] {
        if let Some(reason) = pull_side(ctx, side, report, windows).await? {
            report.status = PairStatus::Incomplete { reason };
            return Ok(());
        }
    }
    super::webhook_events::reconcile_pending(ctx, report).await?;
    let released = ctx.caps.applied(&ctx.run_id);
    if incremental && !ctx.dry_run && !released.is_empty() {
        let mut commit = PageCommit::new(ctx.lease.clone(), ctx.run_id.clone(), ctx.clock.now());
        commit.review_transitions = released;
        ctx.commit(commit).await?;
    }
    for side in [Side::Left, Side::Right] {
        let caps = ctx.connector(side).capabilities();
        let object = &ctx.pair.endpoint(side).object;
        if incremental
            && caps.object(object).is_some_and(|o| !o.pull_sees_every_edit)
            && let Some(reason) = sweep(ctx, side, report).await?
        {
            report.status = PairStatus::Incomplete { reason };
            return Ok(());
        }
    }
    Ok(())
}

/// Pulls one side until the stream is done. `Some(reason)` when a page could not be finished.
async fn pull_side(
    ctx: &PairContext,
    side: Side,
    report: &mut PairReport,
    windows: &mut Vec<StreamWindow>,
) -> Result<Option<String>, SyncError> {
    let stream = ctx.stream(side);
    let object = ctx.pair.endpoint(side).object.clone();
    let connector = ctx.connector(side).clone();
    let saved = ctx.store.load_checkpoint(&stream).await?;
    // The window saved with the checkpoint: what the stream has covered so far. A run that reads
    // nothing keeps the previous one (so the lag stays known after a quiet run).
    let saved_window = saved.as_ref().map_or((None, None), |c| (c.window_from, c.window_to));
    let mut checkpoint = saved.map(|c| Checkpoint(c.checkpoint));
    let mut rewind = Some(ctx.overlap(side));
    let (mut from, mut to) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    loop {
        let request = PullRequest {
            object: &object,
            checkpoint: checkpoint.as_ref(),
            rewind: rewind.take(),
            horizon: ctx.horizon,
            since: ctx.backfill().and_then(|b| b.since),
            until: ctx.backfill().map(|b| b.until),
            limit: ctx.opts.page_size,
        };
        let page = connector.pull(request).await.map_err(|e| ctx.err(side, e))?;
        let first = page.changes.iter().map(|c| c.modified_at).min();
        from = match (from, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Never past the horizon: a change newer than it is read again by the next run.
        to = page.newest.map(|t| t.min(crate::store::stored_time(ctx.horizon))).or(to);
        let input = PageInput {
            side,
            changes: page.changes,
            quarantined: page.quarantined,
            checkpoint: Some((
                stream.clone(),
                page.next.0.clone(),
                from.or(saved_window.0),
                to.or(saved_window.1).max(saved_window.1),
            )),
            sweep: false,
        };
        let outcome = page::process(ctx, input, report).await?;
        if let Some(progress) = &ctx.progress {
            progress.page(&ctx.pair.name, side, &report.stats, to);
        }
        if let Some(reason) = outcome.incomplete {
            return Ok(Some(reason));
        }
        if page.done {
            break;
        }
        ctx.keep_lease().await?;
        if ctx.stop.is_requested() {
            windows.push(StreamWindow { stream, from, to });
            return Ok(Some(
                "stopped on request after a committed page; the next run continues from it".into(),
            ));
        }
        checkpoint = Some(page.next);
    }
    windows.push(StreamWindow { stream, from, to });
    Ok(None)
}

/// Re-reads the least-recently-verified linked records of `side` (within the sweep budget) and
/// treats them as changes, so edits that produce no event are still found. With `N` linked
/// records and budget `B` per run, every record is re-read at least once every `ceil(N / B)`
/// runs: that is the worst-case detection delay for a silent edit.
async fn sweep(ctx: &PairContext, side: Side, report: &mut PairReport) -> Result<Option<String>, SyncError> {
    if ctx.opts.sweep_budget == 0 {
        return Ok(None);
    }
    let links = ctx.store.least_recently_verified(&ctx.pair.name, side, ctx.opts.sweep_budget).await?;
    if links.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = links.iter().map(|l| l.record_id(side).to_string()).collect();
    let changes = ctx.fetch_records(side, &ids).await?.into_values().map(Change::upsert).collect();
    report.stats.swept += ids.len() as u64;
    let input = PageInput { side, changes, quarantined: Vec::new(), checkpoint: None, sweep: true };
    Ok(page::process(ctx, input, report).await?.incomplete)
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
