//! Settling one planned link after its writes: the new base and content hashes, the decision
//! log, review items for conflicts, drift and permanent rejections.
//!
//! Echo suppression lives here: after a successful write the base becomes exactly what was
//! written, and each side's content hash becomes the hash of what that side now holds, so when
//! our own write comes back on the next pull it matches and costs nothing.

use connector_api::{Change, ConnectorError, WriteResult};

use crate::mapping::{CanonMap, Side};
use crate::reconcile::LinkPlan;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::store::{
    Link, LinkUpsert, NewReviewItem, PageCommit, ReviewFilter, ReviewItem, ReviewKind, ReviewState,
};

use super::SyncError;
use super::page::{PageStats, canon_hash, decisions};
use super::pull::PairContext;

/// The key under which a write-rejected review item keeps the fingerprints of the writes that
/// were refused (the write and the content of the record it was sent to).
pub(crate) const REFUSED: &str = "refused";

/// What became of one planned write.
pub(crate) enum Attempt<'a> {
    /// Sent; the remote's outcome (none when it gave none).
    Sent(Option<&'a WriteResult>),
    /// Not sent: the same write to the same content was refused for good before and its review
    /// item is still open.
    Held,
}

/// The refusal fingerprints of the pair's open write-rejected items, by link (`None` for
/// creates, which have no link yet) and record.
pub(crate) async fn refusals(ctx: &PairContext) -> Result<BTreeMap<i64, BTreeSet<String>>, SyncError> {
    let filter = ReviewFilter {
        pair: Some(ctx.pair.name.clone()),
        kind: Some(ReviewKind::WriteRejected),
        state: Some(ReviewState::Open),
        ..ReviewFilter::default()
    };
    let mut out: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for item in ctx.store.list_review(&filter).await? {
        if let Some(link) = item.link_id {
            out.entry(link).or_default().extend(refused_in(&item));
        }
    }
    Ok(out)
}

/// The refusal fingerprints an item keeps.
pub(crate) fn refused_in(item: &ReviewItem) -> impl Iterator<Item = String> + '_ {
    item.candidates
        .get(REFUSED)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
}

/// The inputs of [`settle_link`] for one planned link.
pub(crate) struct Planned<'a> {
    pub link: &'a Link,
    pub change: &'a Change,
    /// This side's canonical values (partial when the change was).
    pub canon: &'a CanonMap,
    /// The other side's whole canonical record.
    pub other_canon: &'a CanonMap,
    /// The other side's record-level modified time.
    pub other_modified: chrono::DateTime<chrono::Utc>,
    pub plan: &'a LinkPlan,
}

/// Records the outcome of one link's writes in `commit`. `Some(reason)` when a write failed
/// transiently: the link keeps its old state and the page must be read again.
pub(crate) fn settle_link<'k>(
    ctx: &PairContext,
    side: Side,
    p: &Planned<'_>,
    writes: impl Iterator<Item = (Side, &'k str, &'k str, Attempt<'k>)>,
    sweep: bool,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Option<String> {
    let mut base = p.plan.new_base.clone();
    let mut failed: Vec<Side> = Vec::new();
    for (target, key, refusal, attempt) in writes {
        let result = match attempt {
            Attempt::Sent(result) => result,
            Attempt::Held => {
                // Refused before and nothing changed: the open item already says so.
                stats.held += 1;
                failed.push(target);
                for w in p.plan.writes_to(target) {
                    base.insert(w.field.clone(), p.link.base.get(&w.field).cloned().flatten());
                }
                continue;
            }
        };
        match result {
            Some(Ok(_)) => {
                stats.run.updated += 1;
                commit.intents_done.push(key.to_string());
                let record_id = p.link.record_id(target);
                commit.decisions.extend(decisions(ctx, p.link.id, target, record_id, p.plan, target.other()));
            }
            Some(Err(e)) if e.is_retryable() => {
                return Some(format!("writes to {} failed for now: {e}", ctx.pair.endpoint(target).system));
            }
            Some(Err(e)) => {
                stats.run.rejected += 1;
                commit.intents_done.push(key.to_string());
                failed.push(target);
                let record_id = p.link.record_id(target);
                let mut item = rejected_item(
                    ctx,
                    target.other(),
                    p.link.record_id(target.other()),
                    record_id,
                    &e.to_string(),
                );
                item.link_id = Some(p.link.id);
                note_remote(ctx, target, &mut item, e);
                item.candidates = json!({ REFUSED: [refusal] });
                commit.review_items.push(item);
                for w in p.plan.writes_to(target) {
                    base.insert(w.field.clone(), p.link.base.get(&w.field).cloned().flatten());
                }
            }
            None => return Some("a write got no outcome".to_string()),
        }
    }
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
            left_modified_at: modified(ctx, p, side, Side::Left),
            right_modified_at: modified(ctx, p, side, Side::Right),
            left_id: Some(p.link.left_id.clone()),
            right_id: Some(p.link.right_id.clone()),
            rule: Some(c.rule.name().to_string()),
            reason: c.why.as_str().to_string(),
            detected_at: ctx.clock.now(),
            run_id: ctx.run_id.clone(),
            ..NewReviewItem::default()
        });
    }
    for d in &p.plan.drift {
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
    let after = |s: Side, canon: &CanonMap| {
        let mut now = canon.clone();
        for w in p.plan.writes_to(s) {
            now.insert(w.field.clone(), w.new.clone());
        }
        canon_hash(&now)
    };
    let mut up =
        LinkUpsert { id: Some(p.link.id), pair: ctx.pair.name.clone(), base, ..LinkUpsert::default() };
    let this_hash = (!p.change.partial && !failed.contains(&side)).then(|| after(side, p.canon));
    let other_hash = (!failed.contains(&side.other())).then(|| after(side.other(), p.other_canon));
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
    commit.link_upserts.push(up);
    None
}

/// A record's modified time for the review item; none when its system cannot say (a read time
/// would mislead the reviewer).
fn modified(
    ctx: &PairContext,
    p: &Planned<'_>,
    side: Side,
    which: Side,
) -> Option<chrono::DateTime<chrono::Utc>> {
    ctx.modified_time(which, if which == side { p.change.modified_at } else { p.other_modified })
}

/// Keeps on a write-rejected `item` what the `target` system said: its error code, message and
/// the field it named (never a value). The item's `field` stays as it was: it is part of the key
/// that keeps one item open per link.
pub(crate) fn note_remote(ctx: &PairContext, target: Side, item: &mut NewReviewItem, e: &ConnectorError) {
    item.remote_system = Some(ctx.pair.endpoint(target).system.clone());
    match e {
        ConnectorError::Invalid { message, code, field } => {
            item.remote_message = Some(message.clone());
            item.remote_code = code.clone();
            item.remote_field = field.clone();
        }
        other => item.remote_message = Some(other.to_string()),
    }
}

/// A review item for a write the remote rejected for good.
pub(crate) fn rejected_item(
    ctx: &PairContext,
    source: Side,
    source_id: &str,
    target_id: &str,
    error: &str,
) -> NewReviewItem {
    let target = source.other();
    let (left_id, right_id) = match source {
        Side::Left => (source_id, target_id),
        Side::Right => (target_id, source_id),
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        kind: ReviewKind::WriteRejected,
        left_id: non_empty(left_id),
        right_id: non_empty(right_id),
        reason: format!("{} rejected the write: {error}", ctx.pair.endpoint(target).system),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}
