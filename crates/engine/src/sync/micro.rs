//! Webhook-driven micro-syncs: a worker that syncs the records pending webhook events name
//! within seconds of their delivery, instead of at the next scheduled run.
//!
//! The worker wakes when a receiver of this process stored a delivery (`wake`, a
//! [`Notify`](tokio::sync::Notify)) and at least every `poll` (so it also sees deliveries a
//! separate `serve` process stored, e.g. on PostgreSQL across hosts). Each step reads every
//! pair's pending events and picks the records that are **due**: no new event for that record
//! for `quiet`, or its first pending event older than `max_delay` (a constantly edited record
//! still syncs). A burst of edits to one record is therefore one sync, and all due records of a
//! side are one batch: read by id in the connector's batches (HubSpot: 100), reconciled and
//! written by [`webhook_events::reconcile_hints`] — the path the scheduled run takes for the same
//! events (page stages, decision log, review queue, dead letters, one fenced commit).
//!
//! A batch runs under the pair's lease, like a scheduled run: when another process holds it (a
//! run on another host, a backfill), the records stay pending and the worker tries again after
//! `poll`. Inside one process a scheduled run or backfill of the pair waits for the batch to end
//! (see `Engine::turn`) rather than being skipped, and the worker never starts a batch while one
//! of them holds the pair. The connectors are the engine's own, so their rate limiters pace
//! micro-syncs and scheduled runs together: a webhook storm waits for quota, it is never refused.
//!
//! A micro-sync never moves a stream's checkpoint and has no row in `runs` (its decisions carry
//! a batch id of their own): the scheduled pull still reads everything, so a lost delivery costs
//! latency, not data, and a record a micro-sync already wrote is an echo by base for that pull.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::mapping::{PairMapping, Side};

use super::context::side_index;
use super::control::{RunMode, StopSignal};
use super::engine::{Engine, PairRun};
use super::error::SyncError;
use super::lease::{self, Claim};
use super::report::{PairReport, PairStatus};
use super::webhook_events::{self, Hint, PendingHint};

/// How the worker debounces and polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicroOptions {
    /// A record is due once no new event named it for this long.
    pub quiet: Duration,
    /// ... or once its oldest pending event is this old, however often it is still edited.
    pub max_delay: Duration,
    /// The longest wait between two looks at the store (deliveries of another process, a lease
    /// that was busy).
    pub poll: Duration,
    /// Pending events read per system per step (oldest first; the rest wait for the next step).
    /// Bounds one batch, so a scheduled run of this process waiting for the pair waits for at
    /// most one batch's reads and writes, even in a webhook storm.
    pub max_events: usize,
}

impl Default for MicroOptions {
    fn default() -> Self {
        Self {
            quiet: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            poll: Duration::from_secs(2),
            max_events: 200,
        }
    }
}

/// What one step of the worker did.
#[derive(Debug, Clone, Default)]
pub struct MicroStep {
    /// One report per pair that synced a batch.
    pub synced: Vec<PairReport>,
    /// Pairs with due records that another run holds (`pair: holder`); they wait for a later step.
    pub waiting: Vec<String>,
    /// When the next pending record becomes due.
    pub next_due: Option<DateTime<Utc>>,
    /// Pairs whose batch failed (`pair: reason`); their events stay pending.
    pub failed: Vec<String>,
}

impl MicroStep {
    fn due_at(&mut self, at: Option<DateTime<Utc>>) {
        self.next_due = match (self.next_due, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What the worker did until it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MicroStats {
    /// Batches synced.
    pub batches: u64,
    /// Records written to either side by those batches.
    pub written: u64,
    /// Steps that found a pair held by another run.
    pub waited: u64,
}

/// Runs the worker until `stop` is raised: a step on every `wake` and at least every
/// `opts.poll`. Pass the engine's own [`Engine::stop_signal`] so waits inside a batch (rate
/// limits, reads) end at once too; the batch then leaves its events pending.
pub async fn run(engine: Arc<Engine>, wake: Arc<Notify>, stop: StopSignal, opts: MicroOptions) -> MicroStats {
    let mut stats = MicroStats::default();
    info!(quiet = ?opts.quiet, max_delay = ?opts.max_delay, poll = ?opts.poll, "webhook micro-sync worker started");
    while !stop.is_requested() {
        let done = step(&engine, &opts).await;
        stats.batches += done.synced.len() as u64;
        stats.written += done.synced.iter().map(|r| r.stats.written()).sum::<u64>();
        stats.waited += done.waiting.len() as u64;
        let mut wait = opts.poll;
        if let Some(due) = done.next_due {
            let until = (due - engine.clock.now()).to_std().unwrap_or_default();
            wait = wait.min(until.max(Duration::from_millis(50)));
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.requested() => {}
        }
    }
    info!(batches = stats.batches, written = stats.written, "webhook micro-sync worker stopped");
    stats
}

/// One look at the store: syncs every pair's due records (a pair another run holds waits).
pub async fn step(engine: &Engine, opts: &MicroOptions) -> MicroStep {
    let mut out = MicroStep::default();
    let now = engine.clock.now();
    for pair in &engine.pairs {
        if engine.stop.is_requested() {
            break;
        }
        if let Err(e) = step_pair(engine, pair, opts, now, &mut out).await {
            warn!(pair = %pair.name, error = %e, "micro-sync failed; its webhook events stay pending");
            out.failed.push(format!("{}: {e}", pair.name));
        }
    }
    out
}

async fn step_pair(
    engine: &Engine,
    pair: &Arc<PairMapping>,
    opts: &MicroOptions,
    now: DateTime<Utc>,
    out: &mut MicroStep,
) -> Result<(), SyncError> {
    if let Some(gate) = &engine.gate
        && gate.paused(pair).await.is_some()
    {
        return Ok(());
    }
    let handled = engine.handled();
    let mut due: [Vec<PendingHint>; 2] = Default::default();
    for side in [Side::Left, Side::Right] {
        let ep = pair.endpoint(side);
        let events = engine.store.pending_events(&ep.system, opts.max_events.max(1)).await?;
        let (ready, next) = debounce(webhook_events::read_pending(ep, &handled, events), now, opts);
        due[side_index(side)] = ready;
        out.due_at(next);
    }
    if due.iter().all(Vec::is_empty) {
        return Ok(());
    }
    let lease_name = lease::pair_lease(&pair.name);
    let Ok(_turn) = engine.turn(&lease_name).try_write_owned() else {
        out.waiting.push(format!("{}: a run of this process", pair.name));
        return Ok(());
    };
    let lease = match engine.claim(&lease_name).await? {
        Claim::Held(lease) => lease,
        Claim::Busy(holder) => {
            let holder = holder.unwrap_or_else(|| "another process".into());
            debug!(pair = %pair.name, %holder, "micro-sync waits: the pair's lease is held");
            out.waiting.push(format!("{}: {holder}", pair.name));
            return Ok(());
        }
    };
    let run_id = engine.ids.next().to_string();
    let run = PairRun { pair, run_id: &run_id, started_at: now, dry_run: false, mode: &RunMode::Incremental };
    let result = match engine.pair_context(&run, lease.clone()).await {
        Ok(mut ctx) => {
            // Its writes' freshness samples are the webhook path's.
            ctx.opts.path = super::options::SyncPath::Webhook;
            sync_batch(&ctx, due).await
        }
        Err(e) => Err(e),
    };
    engine.release(&lease, &pair.name).await;
    let report = result?;
    info!(pair = %pair.name, written = report.stats.written(), conflicts = report.stats.run.conflicts,
        "micro-sync done");
    out.synced.push(report);
    Ok(())
}

/// Both sides' due hints through the scheduled run's path, under the context's lease.
async fn sync_batch(
    ctx: &super::context::PairContext,
    due: [Vec<PendingHint>; 2],
) -> Result<PairReport, SyncError> {
    let mut report = PairReport::new(&ctx.pair.name, PairStatus::Done);
    for (side, hints) in [Side::Left, Side::Right].into_iter().zip(due) {
        if hints.is_empty() {
            continue;
        }
        if let Some(reason) = webhook_events::reconcile_hints(ctx, side, hints, &mut report).await? {
            report.status = PairStatus::Incomplete { reason };
            break;
        }
    }
    Ok(report)
}

/// The hints that are due at `now` (an event is due when every record it names is) and when
/// the next record becomes due. Hints for another pair are dropped; unreadable ones are due.
pub(crate) fn debounce(
    hints: Vec<PendingHint>,
    now: DateTime<Utc>,
    opts: &MicroOptions,
) -> (Vec<PendingHint>, Option<DateTime<Utc>>) {
    let quiet = chrono::Duration::from_std(opts.quiet).unwrap_or_default();
    let max_delay = chrono::Duration::from_std(opts.max_delay).unwrap_or_default();
    // Per record: its oldest and newest pending event.
    let mut seen: BTreeMap<&str, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for h in &hints {
        if let Hint::Records(ids) = &h.hint {
            for id in ids {
                let at = h.event.received_at;
                let e = seen.entry(id.as_str()).or_insert((at, at));
                *e = (e.0.min(at), e.1.max(at));
            }
        }
    }
    let ready_at: BTreeMap<String, DateTime<Utc>> = seen
        .into_iter()
        .map(|(id, (first, last))| (id.to_string(), (last + quiet).min(first + max_delay)))
        .collect();
    let next = ready_at.values().filter(|at| **at > now).min().copied();
    let due = |ids: &[String]| ids.iter().all(|id| ready_at.get(id).is_none_or(|at| *at <= now));
    let ready = hints
        .into_iter()
        .filter(|h| match &h.hint {
            Hint::OtherPair => false,
            Hint::Quarantined(_) => true,
            Hint::Records(ids) => due(ids),
        })
        .collect();
    (ready, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredEvent;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    fn hint(id: &str, record: &str, secs: i64) -> PendingHint {
        let event = StoredEvent {
            source: "s".into(),
            event_id: id.into(),
            received_at: at(secs),
            payload: String::new(),
        };
        PendingHint { event, hint: Hint::Records(vec![record.into()]) }
    }

    fn ids(hints: &[PendingHint]) -> Vec<&str> {
        hints.iter().map(|h| h.event.event_id.as_str()).collect()
    }

    #[test]
    fn a_record_is_due_after_a_quiet_second_or_five_seconds_of_edits() {
        let opts = MicroOptions::default();
        // Record a: two edits at 0 s, due at 1 s. Record b: edited every second until 4 s.
        let burst = || {
            let mut h = vec![hint("a1", "a", 0), hint("a2", "a", 0)];
            h.extend((0..10).map(|i| hint(&format!("b{i}"), "b", i / 2)));
            h
        };
        let (ready, next) = debounce(burst(), at(0), &opts);
        assert!(ready.is_empty(), "nothing is due at once: {:?}", ids(&ready));
        assert_eq!(next, Some(at(1)));
        let (ready, next) = debounce(burst(), at(1), &opts);
        assert_eq!(ids(&ready), ["a1", "a2"]);
        assert_eq!(next, Some(at(5)), "b: its last event at 4 s + 1 s, or its first at 0 + 5 s");
        let (ready, _) = debounce(burst(), at(5), &opts);
        assert_eq!(ready.len(), 12, "the capped record is due too");
    }

    #[test]
    fn an_event_naming_a_record_not_yet_due_waits_with_it() {
        let mut two = hint("ab", "a", 0);
        two.hint = Hint::Records(vec!["a".into(), "b".into()]);
        let hints = vec![hint("a", "a", 0), two, hint("b", "b", 3)];
        let (ready, next) = debounce(hints, at(2), &MicroOptions::default());
        assert_eq!(ids(&ready), ["a"]);
        assert_eq!(next, Some(at(4)));
    }
}
