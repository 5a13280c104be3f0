//! Settling one planned link after its writes: the new base and content hashes, the decision
//! log, review items for conflicts, drift and permanent rejections.
//!
//! Echo suppression lives here: after a successful write the base becomes exactly what was
//! written, and each side's content hash becomes the hash of what that side now holds, so when
//! our own write comes back on the next pull it matches and costs nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::mapping::{CanonMap, Side};
use crate::reconcile::{DriftFlag, LinkPlan};
use crate::store::{
    LinkUpsert, NewDecision, NewReviewItem, PageCommit, ReviewItem, ReviewKind, ReviewTransition,
};

use super::apply::Attempt;
use super::backlinks;
use super::context::PairContext;
use super::keys::canon_hash;
use super::plan::PlannedLink;
use super::report::PageStats;
use super::review_items;

/// Records the outcome of one link's writes in `commit`. `Some(reason)` when a write failed
/// transiently: the link keeps its old state and the page must be read again.
pub(crate) fn settle_link<'k>(
    ctx: &PairContext,
    p: &PlannedLink,
    open: &[ReviewItem],
    writes: impl Iterator<Item = (Side, &'k str, &'k str, Attempt<'k>)>,
    sweep: bool,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Option<String> {
    let mut s = Settled { base: p.plan.new_base.clone(), ..Settled::default() };
    for (target, key, refusal, attempt) in writes {
        if let Some(reason) = settle_write(ctx, p, target, key, refusal, attempt, &mut s, commit, stats) {
            return Some(reason);
        }
    }
    supersede_stale(ctx, p, open, &s.succeeded, commit);
    if let Some(need) = &p.backlinks
        && s.failed.is_empty()
        && s.unwritten.is_empty()
    {
        s.base.insert(backlinks::MARKER.to_string(), Some(need.marker.clone()));
    }
    review_conflicts(ctx, p, &s, commit, stats);
    commit.link_upserts.push(new_state(ctx, p, s, sweep));
    None
}

/// What a link's writes came to so far.
#[derive(Default)]
struct Settled {
    base: CanonMap,
    failed: Vec<Side>,
    succeeded: Vec<Side>,
    /// Fields that were planned for a side but not written there (refused on their own).
    unwritten: BTreeSet<(Side, String)>,
}

impl Settled {
    /// The planned writes to `target` did not happen: the base keeps the old value.
    fn revert(&mut self, p: &PlannedLink, target: Side, only: Option<&[String]>) {
        for w in p.plan.writes_to(target).filter(|w| only.is_none_or(|o| o.contains(&w.field))) {
            self.base.insert(w.field.clone(), p.link.base.get(&w.field).cloned().flatten());
            self.unwritten.insert((target, w.field.clone()));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn settle_write(
    ctx: &PairContext,
    p: &PlannedLink,
    target: Side,
    key: &str,
    refusal: &str,
    attempt: Attempt<'_>,
    s: &mut Settled,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Option<String> {
    let refuse = |e: &connector_api::ConnectorError, commit: &mut PageCommit| {
        let mut item = review_items::refused_item(
            ctx,
            target.other(),
            p.link.record_id(target.other()),
            p.link.record_id(target),
            e,
        );
        item.link_id = Some(p.link.id);
        review_items::with_refusals(&mut item, vec![refusal.to_string()]);
        commit.review_items.push(item);
    };
    let (result, dropped) = match attempt {
        Attempt::Held => {
            // Refused before and nothing changed: the open item already says so.
            stats.held += 1;
            s.failed.push(target);
            s.revert(p, target, None);
            return None;
        }
        Attempt::Sent(result) => (result, None),
        Attempt::Without { dropped, refusal: e, rest, rest_key } => {
            // The refused field alone goes to review; the rest of the record's changes went on.
            stats.run.rejected += 1;
            commit.intents_done.push(rest_key.to_string());
            refuse(e, commit);
            s.revert(p, target, Some(&dropped));
            (rest, Some(dropped))
        }
    };
    match result {
        Some(Ok(_)) => {
            s.succeeded.push(target);
            stats.run.updated += 1;
            ctx.record_freshness(modified(ctx, p, target.other()), commit, stats);
            commit.intents_done.push(key.to_string());
            let record_id = p.link.record_id(target);
            let mut logged = decisions(ctx, p.link.id, target, record_id, &p.plan, target.other());
            logged.retain(|d| dropped.as_ref().is_none_or(|dr| !dr.contains(&d.field)));
            commit.decisions.extend(logged);
            None
        }
        Some(Err(e)) if e.is_retryable() => {
            Some(format!("writes to {} failed for now: {e}", ctx.pair.endpoint(target).system))
        }
        Some(Err(e)) => {
            stats.run.rejected += 1;
            commit.intents_done.push(key.to_string());
            s.failed.push(target);
            refuse(e, commit);
            s.revert(p, target, None);
            None
        }
        None => Some("a write got no outcome".to_string()),
    }
}

/// Review items for the plan's conflicts, and drift notices for overwrites that happened (an
/// overwrite that was refused or held is no drift: the refusal's own item says so, once).
fn review_conflicts(
    ctx: &PairContext,
    p: &PlannedLink,
    s: &Settled,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) {
    for c in &p.plan.conflicts {
        stats.run.conflicts += 1;
        commit.review_items.push(NewReviewItem {
            pair: ctx.pair.name.clone(),
            link_id: Some(p.link.id),
            kind: ReviewKind::FieldConflict,
            field: Some(c.field.clone()),
            base_value: c.base.clone(),
            left_value: c.left.clone(),
            right_value: c.right.clone(),
            left_modified_at: modified(ctx, p, Side::Left),
            right_modified_at: modified(ctx, p, Side::Right),
            left_id: Some(p.link.left_id.clone()),
            right_id: Some(p.link.right_id.clone()),
            rule: Some(c.rule.name().to_string()),
            reason: c.why.as_str().to_string(),
            detected_at: ctx.clock.now(),
            run_id: ctx.run_id.clone(),
            ..NewReviewItem::default()
        });
    }
    let happened =
        |d: &&DriftFlag| !s.failed.contains(&d.side) && !s.unwritten.contains(&(d.side, d.field.clone()));
    for d in p.plan.drift.iter().filter(happened) {
        commit.review_items.push(NewReviewItem {
            pair: ctx.pair.name.clone(),
            link_id: Some(p.link.id),
            kind: ReviewKind::FieldConflict,
            field: Some(d.field.clone()),
            left_id: Some(p.link.left_id.clone()),
            right_id: Some(p.link.right_id.clone()),
            reason: format!(
                "drift: an edit on the {} side was overwritten by the system of record (flag_drift)",
                d.side
            ),
            detected_at: ctx.clock.now(),
            run_id: ctx.run_id.clone(),
            ..NewReviewItem::default()
        });
    }
}

/// The link's new state: the base, and each side's content hash as that side now holds it (so
/// the echo of our own write costs nothing); none for a side whose writes failed.
fn new_state(ctx: &PairContext, p: &PlannedLink, s: Settled, sweep: bool) -> LinkUpsert {
    let side = p.side;
    let after = |t: Side, canon: &CanonMap| {
        let mut now = canon.clone();
        for w in p.plan.writes_to(t).filter(|w| !s.unwritten.contains(&(t, w.field.clone()))) {
            now.insert(w.field.clone(), w.new.clone());
        }
        canon_hash(&now)
    };
    let this_hash = (!p.change.partial && !s.failed.contains(&side)).then(|| after(side, &p.canon));
    let other_hash = (!s.failed.contains(&side.other())).then(|| after(side.other(), &p.other_canon));
    let mut up = LinkUpsert {
        id: Some(p.link.id),
        pair: ctx.pair.name.clone(),
        base: s.base,
        ..LinkUpsert::default()
    };
    let now = ctx.clock.now();
    match side {
        Side::Left => {
            (up.left_hash, up.right_hash) = (this_hash, other_hash);
            up.left_verified_at = sweep.then_some(now);
        }
        Side::Right => {
            (up.right_hash, up.left_hash) = (this_hash, other_hash);
            up.right_verified_at = sweep.then_some(now);
        }
    }
    up
}

/// Open items of the link that this settlement made stale: a refused write whose field has now
/// been written, and a conflict whose sides agree again (neither a conflict nor a difference
/// kept by rule any more). Drift notices (no rule) stay for a person to read.
fn supersede_stale(
    ctx: &PairContext,
    p: &PlannedLink,
    open: &[ReviewItem],
    succeeded: &[Side],
    commit: &mut PageCommit,
) {
    let superseded = || ReviewTransition::Superseded { run_id: ctx.run_id.clone() };
    for item in open {
        let stale = match (item.kind, item.field.as_deref()) {
            (ReviewKind::WriteRejected, field) => {
                succeeded.iter().any(|t| p.plan.writes_to(*t).any(|w| field.is_none_or(|f| f == w.field)))
            }
            (ReviewKind::FieldConflict, Some(field)) if item.rule.is_some() => p.plan.field_decided(field),
            _ => false,
        };
        if stale {
            commit.review_transitions.push((item.id, superseded()));
        }
    }
}

/// A record's modified time for the review item; none when its system cannot say (a read time
/// would mislead the reviewer).
fn modified(ctx: &PairContext, p: &PlannedLink, which: Side) -> Option<DateTime<Utc>> {
    ctx.modified_time(which, if which == p.side { p.change.modified_at } else { p.other_modified })
}

/// Records the decision log entries for the writes of a link plan that succeeded.
fn decisions(
    ctx: &PairContext,
    link_id: i64,
    target: Side,
    record_id: &str,
    plan: &LinkPlan,
    source: Side,
) -> Vec<NewDecision> {
    plan.writes_to(target)
        .map(|w| NewDecision {
            run_id: ctx.run_id.clone(),
            pair: ctx.pair.name.clone(),
            link_id: Some(link_id),
            system: ctx.pair.endpoint(target).system.clone(),
            record_id: record_id.to_string(),
            field: w.field.clone(),
            old_value: w.old.clone(),
            new_value: w.new.clone(),
            source_side: source,
            rule: w.rule.name().to_string(),
            reason: w.reason.as_str().to_string(),
            echo: false,
            provenance: None,
            at: ctx.clock.now(),
        })
        .collect()
}
