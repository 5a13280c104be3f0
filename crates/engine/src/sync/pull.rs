//! One pair's cycle: pull each side page by page from its checkpoint (within the run's time box,
//! see `timebox`), then run the verification sweep for systems whose pulls miss some edits.

use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Change, Checkpoint, PullRequest};

use crate::mapping::Side;
use crate::store::StreamWindow;

use super::batch::Batch;
use super::context::PairContext;
use super::error::SyncError;
use super::page::{self, PageInput};
use super::report::{PairReport, PairStatus};
use super::{resolutions, timebox, webhook_events};

/// Pulls both sides, then sweeps. Returns early (leaving checkpoints behind) when a page cannot
/// be completed. A side stopped by the run's time box (`timebox`) does not stop the pair: the
/// other side still pulls and the sweep still runs; the pair then reports its backlog carried.
pub(crate) async fn run_pair(
    ctx: &PairContext,
    report: &mut PairReport,
    windows: &mut Vec<StreamWindow>,
) -> Result<(), SyncError> {
    let incremental = ctx.backfill().is_none();
    if incremental && let Some(reason) = resolutions::apply_resolved(ctx, &mut report.stats).await? {
        report.status = PairStatus::Incomplete { reason };
        return Ok(());
    }
    let mut carried = Vec::new();
    for side in [Side::Left, Side::Right] {
        match pull_side(ctx, side, report, windows).await? {
            Pulled::Done => {}
            Pulled::Carried(reason) => carried.push(reason),
            Pulled::Stopped(reason) => {
                report.status = PairStatus::Incomplete { reason };
                return Ok(());
            }
        }
    }
    webhook_events::reconcile_pending(ctx, report).await?;
    let released = ctx.caps.applied(&ctx.run_id);
    if incremental && !ctx.dry_run && !released.is_empty() {
        let mut commit = ctx.new_commit();
        commit.review_transitions = released;
        ctx.commit(commit).await?;
    }
    for side in [Side::Left, Side::Right] {
        if timebox::sweeps(ctx, side)
            && let Some(reason) = sweep(ctx, side, report).await?
        {
            report.status = PairStatus::Incomplete { reason };
            return Ok(());
        }
    }
    if !carried.is_empty() {
        report.status = PairStatus::Carried { reason: carried.join("; ") };
    }
    Ok(())
}

/// How one side's pull ended.
enum Pulled {
    /// Read to the stream's end.
    Done,
    /// The time box stopped it after a committed page; the rest waits for the next run.
    Carried(String),
    /// A page could not be finished, or a stop was requested: the pair stops here.
    Stopped(String),
}

/// Pulls one side until the stream is done, the time box is reached or a page cannot be
/// finished; then measures the stream's backlog.
async fn pull_side(
    ctx: &PairContext,
    side: Side,
    report: &mut PairReport,
    windows: &mut Vec<StreamWindow>,
) -> Result<Pulled, SyncError> {
    let stream = ctx.stream(side);
    let saved = ctx.store.load_checkpoint(&stream).await?;
    // The window saved with the checkpoint: what the stream has covered so far. A run that reads
    // nothing keeps the previous one (so the lag stays known after a quiet run).
    let saved_window = saved.as_ref().map_or((None, None), |c| (c.window_from, c.window_to));
    let mut pages = Pages {
        side,
        checkpoint: saved.map(|c| Checkpoint(c.checkpoint)),
        rewind: Some(ctx.overlap(side)),
        from: None,
        to: None,
        seen_to: saved_window.1,
        fresh_from: None,
        drained: 0,
        slowest: Duration::ZERO,
        started: ctx.clock.now(),
    };
    // Pages whose updates wait for the next pages', so the target's batches fill (`batch`).
    let mut batch = Batch::for_pull(ctx);
    let ended = loop {
        let page_started = ctx.clock.now();
        let page = pages.next(ctx).await?;
        let (count, done, next) = (page.changes.len(), page.done, page.next.clone());
        let window = (pages.from.or(saved_window.0), pages.to.or(saved_window.1).max(saved_window.1));
        let input = PageInput {
            side,
            changes: page.changes,
            quarantined: page.quarantined,
            checkpoint: Some((stream.clone(), page.next.0, window.0, window.1)),
            sweep: false,
        };
        let mut outcome = page::process_in(ctx, input, report, &mut batch).await?;
        let took = timebox::page_done(ctx, side, page_started, count);
        // The waiting pages are written before the stream ends, stops or is carried.
        let last = done || ctx.stop.is_requested() || !timebox::may_start(ctx, pages.slowest.max(took));
        if outcome.incomplete.is_none() && last {
            outcome.incomplete = batch.flush(ctx, report).await?;
        }
        if let Some(progress) = &ctx.progress {
            progress.page(&ctx.pair.name, side, &report.stats, pages.to);
        }
        if let Some(reason) = outcome.incomplete {
            return Ok(Pulled::Stopped(reason));
        }
        pages.slowest = pages.slowest.max(took);
        if done {
            break Pulled::Done;
        }
        ctx.keep_lease().await?;
        // Checked again: the stop or the box may have come while the lease was kept.
        if (ctx.stop.is_requested() || !timebox::may_start(ctx, pages.slowest))
            && let Some(reason) = batch.flush(ctx, report).await?
        {
            return Ok(Pulled::Stopped(reason));
        }
        if ctx.stop.is_requested() {
            windows.push(StreamWindow { stream, from: pages.from, to: pages.to });
            let reason = "stopped on request after a committed page; the next run continues from it";
            return Ok(Pulled::Stopped(reason.into()));
        }
        if !timebox::may_start(ctx, pages.slowest) {
            break Pulled::Carried(timebox::carried_reason(ctx, side));
        }
        pages.checkpoint = Some(next);
    };
    windows.push(StreamWindow { stream, from: pages.from, to: pages.to });
    if ctx.backfill().is_none() && !ctx.dry_run {
        let carried = matches!(ended, Pulled::Carried(_));
        report.backlogs.push(timebox::backlog(ctx, pages.stream_run(carried)).await?);
    }
    Ok(ended)
}

/// Where one side's pull is: the checkpoint to continue from, the window read so far, what it
/// drained and how long its slowest page took.
struct Pages {
    side: Side,
    checkpoint: Option<Checkpoint>,
    rewind: Option<Duration>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// The end of the window the stream had covered before this run: changes up to it are
    /// re-reads of the overlap, not backlog drained.
    seen_to: Option<DateTime<Utc>>,
    /// The oldest change newer than `seen_to` read in this run.
    fresh_from: Option<DateTime<Utc>>,
    /// Changes newer than `seen_to` read in this run.
    drained: u64,
    slowest: Duration,
    started: DateTime<Utc>,
}

impl Pages {
    /// Pulls the next page and widens the window by it.
    async fn next(&mut self, ctx: &PairContext) -> Result<connector_api::PullPage, SyncError> {
        let object = &ctx.pair.endpoint(self.side).object;
        let request = PullRequest {
            object,
            checkpoint: self.checkpoint.as_ref(),
            rewind: self.rewind.take(),
            horizon: ctx.horizon,
            since: ctx.backfill().and_then(|b| b.since),
            until: ctx.backfill().map(|b| b.until),
            limit: ctx.opts.page_size,
        };
        let page = ctx.connector(self.side).pull(request).await.map_err(|e| ctx.err(self.side, e))?;
        let first = page.changes.iter().map(|c| c.modified_at).min();
        self.from = match (self.from, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Never past the horizon: a change newer than it is read again by the next run.
        self.to = page.newest.map(|t| t.min(crate::store::stored_time(ctx.horizon))).or(self.to);
        let fresh: Vec<_> = page
            .changes
            .iter()
            .map(|c| c.modified_at)
            .filter(|t| self.seen_to.is_none_or(|s| *t > s))
            .collect();
        self.drained += fresh.len() as u64;
        self.fresh_from = self.fresh_from.into_iter().chain(fresh).min();
        Ok(page)
    }

    fn stream_run(&self, carried: bool) -> timebox::StreamRun {
        timebox::StreamRun {
            side: self.side,
            from: self.fresh_from,
            to: self.to,
            drained: self.drained,
            started: self.started,
            carried,
        }
    }
}

/// Re-reads the least-recently-verified linked records of `side` (within the sweep budget) and
/// treats them as changes, so edits that produce no event are still found. With `N` linked
/// records and budget `B` per run, every record is re-read at least once every `ceil(N / B)`
/// runs: that is the worst-case detection delay for a silent edit.
async fn sweep(ctx: &PairContext, side: Side, report: &mut PairReport) -> Result<Option<String>, SyncError> {
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
