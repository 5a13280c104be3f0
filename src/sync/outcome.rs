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
    ReviewTransition,
};

use super::SyncError;
use super::page::{PageStats, canon_hash, decisions};
use super::pull::PairContext;

/// The key under which a write-rejected review item keeps the fingerprints of the writes that
/// were refused (the write and the content of the record it was sent to).
pub(crate) const REFUSED: &str = "refused";
/// The key under which a write-rejected item keeps the remote's error code and field name.
pub(crate) const REMOTE: &str = "remote";

/// What became of one planned write.
pub(crate) enum Attempt<'a> {
    /// Sent; the remote's outcome (none when it gave none).
    Sent(Option<&'a WriteResult>),
    /// Not sent: the same write to the same content was refused for good before and its review
    /// item is still open.
    Held,
    /// The remote refused one field it named; the rest was sent again without it.
    Without {
        /// The canonical fields (or, for an unmapped remote field, its remote name) left out.
        dropped: Vec<String>,
        /// The refusal that named it.
        refusal: &'a connector_api::ConnectorError,
        /// The outcome of the rest.
        rest: Option<&'a WriteResult>,
        /// The idempotency key the rest was sent under.
        rest_key: &'a str,
    },
}

/// The pair's open write-rejected and field-conflict items, by link: what a page's settlement
/// may find stale (superseded) and the refusal fingerprints that hold a write back.
pub(crate) async fn open_items(ctx: &PairContext) -> Result<BTreeMap<i64, Vec<ReviewItem>>, SyncError> {
    let mut out: BTreeMap<i64, Vec<ReviewItem>> = BTreeMap::new();
    for kind in [ReviewKind::WriteRejected, ReviewKind::FieldConflict] {
        let filter = ReviewFilter {
            pair: Some(ctx.pair.name.clone()),
            kind: Some(kind),
            state: Some(ReviewState::Open),
            ..ReviewFilter::default()
        };
        for item in ctx.store.list_review(&filter).await? {
            if let Some(link) = item.link_id {
                out.entry(link).or_default().push(item);
            }
        }
    }
    Ok(out)
}

/// The refusal fingerprints of the open write-rejected items in `open`, by link.
pub(crate) fn refusals(open: &BTreeMap<i64, Vec<ReviewItem>>) -> BTreeMap<i64, BTreeSet<String>> {
    open.iter()
        .map(|(link, items)| {
            let fingerprints = items
                .iter()
                .filter(|i| i.kind == ReviewKind::WriteRejected)
                .flat_map(|i| refused_in(i).collect::<Vec<_>>())
                .collect();
            (*link, fingerprints)
        })
        .collect()
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
    /// The link's open write-rejected and field-conflict items.
    pub open: &'a [ReviewItem],
    /// The back-link marker to keep in the base once every write went through, when the
    /// writes carried back-links (see `backlinks`).
    pub backlinks: Option<&'a str>,
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
    let mut s = Settled { base: p.plan.new_base.clone(), ..Settled::default() };
    for (target, key, refusal, attempt) in writes {
        if let Some(reason) = settle_write(ctx, p, target, key, refusal, attempt, &mut s, commit, stats) {
            return Some(reason);
        }
    }
    supersede_stale(ctx, p, &s.succeeded, commit);
    if let Some(marker) = p.backlinks
        && s.failed.is_empty()
        && s.unwritten.is_empty()
    {
        s.base.insert(super::backlinks::MARKER.to_string(), Some(marker.to_string()));
    }
    review_conflicts(ctx, p, side, &s, commit, stats);
    commit.link_upserts.push(new_state(ctx, p, side, s, sweep));
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
    fn revert(&mut self, p: &Planned<'_>, target: Side, only: Option<&[String]>) {
        for w in p.plan.writes_to(target).filter(|w| only.is_none_or(|o| o.contains(&w.field))) {
            self.base.insert(w.field.clone(), p.link.base.get(&w.field).cloned().flatten());
            self.unwritten.insert((target, w.field.clone()));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn settle_write(
    ctx: &PairContext,
    p: &Planned<'_>,
    target: Side,
    key: &str,
    refusal: &str,
    attempt: Attempt<'_>,
    s: &mut Settled,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Option<String> {
    let refuse = |e: &connector_api::ConnectorError, commit: &mut PageCommit| {
        let mut item =
            refused_item(ctx, target.other(), p.link.record_id(target.other()), p.link.record_id(target), e);
        item.link_id = Some(p.link.id);
        with_refusals(&mut item, vec![refusal.to_string()]);
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
            commit.intents_done.push(key.to_string());
            let record_id = p.link.record_id(target);
            let mut logged = decisions(ctx, p.link.id, target, record_id, p.plan, target.other());
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
    p: &Planned<'_>,
    side: Side,
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
    let happened = |d: &&crate::reconcile::DriftFlag| {
        !s.failed.contains(&d.side) && !s.unwritten.contains(&(d.side, d.field.clone()))
    };
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
fn new_state(ctx: &PairContext, p: &Planned<'_>, side: Side, s: Settled, sweep: bool) -> LinkUpsert {
    let after = |t: Side, canon: &CanonMap| {
        let mut now = canon.clone();
        for w in p.plan.writes_to(t).filter(|w| !s.unwritten.contains(&(t, w.field.clone()))) {
            now.insert(w.field.clone(), w.new.clone());
        }
        canon_hash(&now)
    };
    let this_hash = (!p.change.partial && !s.failed.contains(&side)).then(|| after(side, p.canon));
    let other_hash = (!s.failed.contains(&side.other())).then(|| after(side.other(), p.other_canon));
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
fn supersede_stale(ctx: &PairContext, p: &Planned<'_>, succeeded: &[Side], commit: &mut PageCommit) {
    let superseded = || ReviewTransition::Superseded { run_id: ctx.run_id.clone() };
    for item in p.open {
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
fn modified(
    ctx: &PairContext,
    p: &Planned<'_>,
    side: Side,
    which: Side,
) -> Option<chrono::DateTime<chrono::Utc>> {
    ctx.modified_time(which, if which == side { p.change.modified_at } else { p.other_modified })
}

/// A review item for a write the remote refused for good, keeping what the remote named: its
/// error code and the field (mapped back to the pair's canonical name when it is a mapped
/// field). Never a value: the message is the connector's, which carries names and codes only.
pub(crate) fn refused_item(
    ctx: &PairContext,
    source: Side,
    source_id: &str,
    target_id: &str,
    e: &connector_api::ConnectorError,
) -> NewReviewItem {
    let (code, remote_field) = match e {
        connector_api::ConnectorError::Invalid { code, field, .. } => (code.clone(), field.clone()),
        _ => (None, None),
    };
    let target = source.other();
    let canonical = remote_field
        .as_ref()
        .and_then(|f| ctx.pair.fields.iter().find(|m| m.remote(target).contains(f)).map(|m| m.name.clone()));
    let mut detail = Vec::new();
    if let Some(code) = &code {
        detail.push(format!("code {code}"));
    }
    if let Some(f) = &remote_field {
        detail.push(format!("field `{f}`"));
    }
    tracing::warn!(
        pair = %ctx.pair.name,
        system = %ctx.pair.endpoint(target).system,
        code = code.as_deref().unwrap_or("-"),
        field = remote_field.as_deref().unwrap_or("-"),
        "the remote refused a write for good; it waits in the review queue"
    );
    let error = if detail.is_empty() { e.to_string() } else { format!("{} ({})", e, detail.join(", ")) };
    let mut item = rejected_item(ctx, source, source_id, target_id, &error);
    note_remote(ctx, target, &mut item, e);
    // One open item per link and field: a refusal naming a field is that field's item.
    item.field = canonical.or(remote_field.clone());
    item.candidates = json!({ REMOTE: { "code": code, "field": remote_field } });
    item
}

/// Adds refusal fingerprints to an item's `candidates` (keeping what else it holds).
pub(crate) fn with_refusals(item: &mut NewReviewItem, refusals: Vec<String>) {
    if !item.candidates.is_object() {
        item.candidates = json!({});
    }
    item.candidates[REFUSED] = json!(refusals);
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
