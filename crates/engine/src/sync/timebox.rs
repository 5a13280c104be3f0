//! The time box of a scheduled run, and the backlog each stream is left with.
//!
//! A boxed run (`crosswalk run`: [`SyncOptions::time_box`](super::options::SyncOptions)) starts
//! no page once its budget has passed, and none that the slowest page of the same stream in
//! this run says cannot finish inside the box; a page already started finishes and commits with
//! its checkpoint. Rate-limit waits are part of a page's time, so they count against the box.
//! Three things run whatever the box says, so every part of the pair keeps moving: the first
//! page of each side (a stream behind a slow one is not starved), the stored webhook events,
//! and the verification sweep (its budget is bounded, and its expected time — the budget at the
//! slowest per-record pace measured on the swept side — is reserved from the box, so the pulls
//! stop early enough for it to fit). The box's share of the interval (80 % by default) is the
//! margin those take.
//!
//! After each side's pull the stream's backlog is measured: the changes still to read, counted
//! by the API where it can say in one request (`Connector::estimate`: HubSpot's search `total`,
//! Salesforce's `totalSize`) or else extrapolated from the density of the changes this run read
//! over the time still behind (WhiteLabelCRO's events feed reports no total), and the ETA to
//! drain it at this run's pace, one run per interval.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::mapping::Side;
use crate::store::StreamBacklog;

use super::context::{PairContext, side_index};
use super::error::SyncError;

/// Why a boxed stream stopped: what `status` and the run's summary say.
pub(crate) fn carried_reason(ctx: &PairContext, side: Side) -> String {
    let ep = ctx.pair.endpoint(side);
    format!("time box reached, backlog carried: {}/{} continues in the next run", ep.system, ep.object)
}

/// Whether a page of `side` expected to take `page` may still start: false once the box's end
/// minus the sweep's reserve is closer than that. Always true for an unboxed run.
pub(crate) fn may_start(ctx: &PairContext, page: Duration) -> bool {
    let Some(deadline) = ctx.deadline else { return true };
    let room = deadline - ctx.clock.now() - to_chrono(sweep_reserve(ctx));
    room > to_chrono(page)
}

/// Records that a page of `side` with `records` changes took from `started` to now; answers its
/// time.
pub(crate) fn page_done(ctx: &PairContext, side: Side, started: DateTime<Utc>, records: usize) -> Duration {
    let took = (ctx.clock.now() - started).to_std().unwrap_or_default();
    let per_record = took / u32::try_from(records.max(1)).unwrap_or(u32::MAX);
    let mut paces = ctx.paces.lock().expect("paces lock");
    let pace = &mut paces[side_index(side)];
    *pace = Some(pace.map_or(per_record, |p| p.max(per_record)));
    took
}

/// Whether `side` of the pair gets a verification sweep in this run.
pub(crate) fn sweeps(ctx: &PairContext, side: Side) -> bool {
    let object = &ctx.pair.endpoint(side).object;
    ctx.backfill().is_none()
        && ctx.opts.sweep_budget > 0
        && ctx.connector(side).capabilities().object(object).is_some_and(|o| !o.pull_sees_every_edit)
}

/// The time the sweeps still to come are expected to take: their budget at the slowest pace
/// measured on the swept side (nothing while no pace is known).
fn sweep_reserve(ctx: &PairContext) -> Duration {
    let paces = *ctx.paces.lock().expect("paces lock");
    [Side::Left, Side::Right]
        .into_iter()
        .filter(|s| sweeps(ctx, *s))
        .filter_map(|s| paces[side_index(s)])
        .map(|pace| pace * u32::try_from(ctx.opts.sweep_budget).unwrap_or(u32::MAX))
        .sum()
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// What one side's pull did in this run, for its backlog.
pub(crate) struct StreamRun {
    pub side: Side,
    /// The oldest change read that the stream had not covered before.
    pub from: Option<DateTime<Utc>>,
    /// The newest change read (never past the horizon).
    pub to: Option<DateTime<Utc>>,
    /// Changes read that the stream had not covered before (re-reads of the overlap are not
    /// backlog drained).
    pub drained: u64,
    /// When the side's pull started.
    pub started: DateTime<Utc>,
    /// True when the box stopped it before the stream's end.
    pub carried: bool,
}

/// The backlog `run` left on its stream.
pub(crate) async fn backlog(ctx: &PairContext, run: StreamRun) -> Result<StreamBacklog, SyncError> {
    let now = ctx.clock.now();
    let run_ms = (now - run.started).num_milliseconds().max(0);
    let behind_ms = match (run.carried, run.to.or(run.from)) {
        (false, _) => 0,
        (true, Some(to)) => (ctx.horizon - to).num_milliseconds().max(0),
        (true, None) => 0,
    };
    let (records, counted) =
        if run.carried { left_to_read(ctx, &run, behind_ms).await } else { (Some(0), true) };
    let pace_ms = match ctx.opts.time_box {
        Some(b) => b.every.as_millis() as f64,
        None => run_ms as f64,
    };
    let eta_ms = match records {
        Some(0) => Some(0),
        Some(n) if run.drained > 0 => Some((n as f64 / run.drained as f64 * pace_ms).round() as i64),
        _ => None,
    };
    let sweep_budget = sweeps(ctx, run.side).then_some(ctx.opts.sweep_budget as u64);
    Ok(StreamBacklog {
        stream: ctx.stream(run.side),
        pair: ctx.pair.name.clone(),
        side: run.side,
        carried: run.carried,
        records,
        counted,
        behind_ms,
        drained: run.drained,
        run_ms,
        eta_ms,
        sweep_budget,
        linked: ctx.store.count_links(&ctx.pair.name).await?,
        at: now,
    })
}

/// The changes still to read behind a carried stream: the API's count when it gives one,
/// else the density of this run's changes over its window times the time still behind.
async fn left_to_read(ctx: &PairContext, run: &StreamRun, behind_ms: i64) -> (Option<u64>, bool) {
    let ep = ctx.pair.endpoint(run.side);
    match ctx.connector(run.side).estimate(&ep.object, run.to, Some(ctx.horizon)).await {
        Ok(Some(n)) => return (Some(n), true),
        Ok(None) => {}
        Err(e) => warn!(system = %ep.system, error = %e, "could not count the backlog; extrapolating it"),
    }
    let span_ms = match (run.from, run.to) {
        (Some(from), Some(to)) => (to - from).num_milliseconds(),
        _ => 0,
    };
    if span_ms <= 0 || run.drained == 0 {
        return (None, false);
    }
    let density = run.drained as f64 / span_ms as f64;
    (Some((density * behind_ms as f64).round() as u64), false)
}
