//! Webhook events as hints for the next run.
//!
//! The receiver (`crosswalk serve`, `POST /webhooks/…`) verifies a delivery, dedupes it by event
//! id and persists an [`EventHint`] under the system's name. A run of a pair that includes that
//! system then re-reads the **whole** records the pending events name and reconciles them like a
//! verification-sweep page, then marks the events processed.
//!
//! Why re-read instead of applying the event: the incremental pull reads the same events from the
//! feed anyway (the webhook is never the only source of a change), but a WhiteLabelCRO status
//! event carries only the status, and plain field edits emit no event at all. Re-reading a record
//! an event names finds the silent edits made with it on the next run instead of within
//! `ceil(N / B)` sweep runs. Correctly signed but unreadable deliveries become dead letters here.
//!
//! Limits: at most `page_size` events per side per run (the rest wait for the next run); an
//! event that names only objects another configured pair syncs (a lead for the leads pair, a
//! company for a companies pair) is left pending for that pair; otherwise it is marked processed
//! by the first pair that consumes it (a second pair over the same object still gets the change
//! from its own pull); nothing happens in a dry run or a backfill.

use std::collections::BTreeSet;

use connector_api::{Change, Quarantined};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::mapping::{Endpoint, Side};
use crate::store::StoredEvent;

use super::context::PairContext;
use super::error::SyncError;
use super::page::{self, PageInput};
use super::report::{PairReport, PairStatus};

/// What the receiver persists for one delivery (the `payload` of a stored event, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventHint {
    /// A verified event and the changes it names, one per object it concerns (none for event
    /// types that touch no synced object, e.g. invoices).
    Changes {
        /// The event type, for admins reading the table.
        event_type: String,
        /// The changes the connector read from the event.
        changes: Vec<Change>,
    },
    /// A correctly signed delivery that could not be read; the next run dead-letters it.
    Quarantined(Quarantined),
}

/// Reconciles the records named by pending webhook events of both sides of the pair and marks
/// the events processed. A page that could not be finished leaves its events pending and marks
/// the pair incomplete.
pub(crate) async fn reconcile_pending(ctx: &PairContext, report: &mut PairReport) -> Result<(), SyncError> {
    if ctx.dry_run || ctx.backfill().is_some() {
        return Ok(());
    }
    for side in [Side::Left, Side::Right] {
        if let Some(reason) = reconcile_side(ctx, side, report).await? {
            if report.status == PairStatus::Done {
                report.status = PairStatus::Incomplete { reason };
            }
            return Ok(());
        }
    }
    Ok(())
}

async fn reconcile_side(
    ctx: &PairContext,
    side: Side,
    report: &mut PairReport,
) -> Result<Option<String>, SyncError> {
    let ep = ctx.pair.endpoint(side);
    let pending = ctx.store.pending_events(&ep.system, ctx.opts.page_size.max(1)).await?;
    let hints = read_pending(ep, &ctx.handled, pending);
    reconcile_hints(ctx, side, hints, report).await
}

/// What one pending event asks of one side of a pair.
#[derive(Debug, Clone)]
pub(crate) enum Hint {
    /// Re-read these records of the side's object (none: the event touches nothing synced).
    Records(Vec<String>),
    /// A signed delivery that could not be read: a dead letter.
    Quarantined(Quarantined),
    /// Names only objects another configured pair syncs: left pending for that pair.
    OtherPair,
}

/// One pending event and what it asks of one side.
#[derive(Debug, Clone)]
pub(crate) struct PendingHint {
    pub event: StoredEvent,
    pub hint: Hint,
}

/// Reads the pending events of `ep`'s system as hints for that endpoint (`handled`: every
/// (system, object) some configured pair syncs).
pub(crate) fn read_pending(
    ep: &Endpoint,
    handled: &BTreeSet<(String, String)>,
    events: Vec<StoredEvent>,
) -> Vec<PendingHint> {
    events
        .into_iter()
        .map(|event| {
            let hint = match serde_json::from_str::<EventHint>(&event.payload) {
                Ok(EventHint::Changes { changes, .. }) => {
                    let others_only = !changes.is_empty()
                        && changes.iter().all(|c| {
                            c.object != ep.object && handled.contains(&(ep.system.clone(), c.object.clone()))
                        });
                    if others_only {
                        Hint::OtherPair
                    } else {
                        Hint::Records(
                            changes.into_iter().filter(|c| c.object == ep.object).map(|c| c.id).collect(),
                        )
                    }
                }
                Ok(EventHint::Quarantined(q)) => Hint::Quarantined(q),
                // Not written by this version's receiver: keep it readable for an admin.
                Err(e) => Hint::Quarantined(Quarantined {
                    id: None,
                    reason: format!("stored webhook event is not readable: {e}"),
                    raw: event.payload.chars().take(2000).collect(),
                }),
            };
            PendingHint { event, hint }
        })
        .collect()
}

/// Re-reads the records `hints` name on `side`, reconciles them like a verification-sweep page
/// and marks the events processed (hints for another pair are skipped and stay pending).
/// `Some(reason)` when the page could not be finished: the events stay pending.
pub(crate) async fn reconcile_hints(
    ctx: &PairContext,
    side: Side,
    hints: Vec<PendingHint>,
    report: &mut PairReport,
) -> Result<Option<String>, SyncError> {
    let ep = ctx.pair.endpoint(side);
    let mut ids = BTreeSet::new();
    let mut quarantined = Vec::new();
    let mut consumed = Vec::new();
    for PendingHint { event, hint } in hints {
        match hint {
            Hint::OtherPair => continue,
            Hint::Records(named) => ids.extend(named),
            Hint::Quarantined(q) => quarantined.push((event.event_id.clone(), q)),
        }
        consumed.push(event);
    }
    if consumed.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = ids.into_iter().collect();
    let changes: Vec<Change> =
        ctx.fetch_records(side, &ids).await?.into_values().map(Change::upsert).collect();
    debug!(pair = %ctx.pair.name, system = %ep.system, events = consumed.len(), records = changes.len(),
        "reconciling records named by webhook events");
    if !changes.is_empty() {
        let input = PageInput { side, changes, quarantined: Vec::new(), checkpoint: None, sweep: true };
        if let Some(reason) = page::process(ctx, input, report).await?.incomplete {
            warn!(pair = %ctx.pair.name, system = %ep.system, "webhook events stay pending: {reason}");
            return Ok(Some(reason));
        }
    }
    // A crash before this commit re-processes the events next run, which costs re-reads only.
    // Unreadable deliveries become dead letters in the same commit that marks them processed.
    let mut commit = ctx.new_commit();
    report.stats.quarantined += quarantined.len() as u64;
    commit.dead_letters =
        quarantined.into_iter().map(|(event_id, q)| ctx.dead_letter(side, q, Some(event_id))).collect();
    commit.seen_events = consumed.into_iter().map(|e| (e.source, e.event_id)).collect();
    ctx.commit(commit).await?;
    Ok(None)
}
