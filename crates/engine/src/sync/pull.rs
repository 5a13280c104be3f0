//! One pair's cycle: pull each side page by page from its checkpoint, then run the verification
//! sweep for systems whose pulls miss some edits.

use chrono::{DateTime, Utc};
use connector_api::{Change, Checkpoint, PullRequest};

use crate::mapping::Side;
use crate::store::StreamWindow;

use super::batch::Batch;
use super::context::PairContext;
use super::error::SyncError;
use super::page::{self, PageInput};
use super::report::{PairReport, PairStatus};
use super::{resolutions, webhook_events};

/// Pulls both sides, then sweeps. Returns early (leaving checkpoints behind) when a page cannot
/// be completed.
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
    for side in [Side::Left, Side::Right] {
        if let Some(reason) = pull_side(ctx, side, report, windows).await? {
            report.status = PairStatus::Incomplete { reason };
            return Ok(());
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
    // Pages whose updates wait for the next pages', so the target's batches fill (`batch`).
    let mut batch = Batch::for_pull(ctx);
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
        let mut outcome = page::process_in(ctx, input, report, &mut batch).await?;
        if outcome.incomplete.is_none() && (page.done || ctx.stop.is_requested()) {
            outcome.incomplete = batch.flush(ctx, report).await?;
        }
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
