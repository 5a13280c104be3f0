//! Applying what admins decided in the review queue, at the start of a pair's cycle.
//!
//! A resolved field conflict is written to whichever side does not hold the chosen value yet,
//! the base becomes that value (so the write's echo costs nothing), the decision log records
//! the write with its provenance (`review:<id> by <who>`), and the item moves to `applied` in
//! the same commit. If both sides already agree by the time the run gets there, the item is
//! `superseded` instead. Applying twice is impossible: the transition and the write's settlement
//! are one transaction, and an applied item is no longer returned by `resolved_for_pair`.

use connector_api::{Write, WriteOp};

use crate::mapping::{CanonMap, Side};
use crate::store::{
    Link, LinkUpsert, NewDecision, PageCommit, ResolveAction, ReviewItem, ReviewKind, ReviewTransition,
};

use super::caps;
use super::context::{PairContext, side_index};
use super::error::SyncError;
use super::keys::write_key;
use super::report::PageStats;
use super::{review_items, send};

/// Applies every resolved, not yet applied item of the pair. `Some(reason)` when some could not
/// be written now (they stay resolved and the next run tries again).
pub(crate) async fn apply_resolved(
    ctx: &PairContext,
    stats: &mut PageStats,
) -> Result<Option<String>, SyncError> {
    if ctx.dry_run {
        return Ok(None);
    }
    let items = ctx.store.resolved_for_pair(&ctx.pair.name).await?;
    let mut incomplete = None;
    for item in items {
        if let Some(reason) = apply_one(ctx, &item, stats).await? {
            incomplete.get_or_insert(reason);
        }
    }
    Ok(incomplete)
}

async fn apply_one(
    ctx: &PairContext,
    item: &ReviewItem,
    stats: &mut PageStats,
) -> Result<Option<String>, SyncError> {
    let mut commit = ctx.new_commit();
    let applied = ReviewTransition::Applied { run_id: ctx.run_id.clone() };
    let Some(resolution) = &item.resolution else { return Ok(None) };
    match (item.kind, resolution.action) {
        (_, ResolveAction::Ignore) => {}
        // A safety cap's held page: released by the caps when the page is read again, and marked
        // applied once the pair's pull went through (`caps::RunCaps::applied`).
        _ if caps::is_cap_item(item) => return Ok(None),
        (ReviewKind::FieldConflict, action) => {
            let value = match action {
                ResolveAction::TakeLeft => item.left_value.clone(),
                ResolveAction::TakeRight => item.right_value.clone(),
                ResolveAction::TakeBase => item.base_value.clone(),
                ResolveAction::Value => resolution.value.clone(),
                ResolveAction::Ignore => unreachable!("handled above"),
            };
            let provenance = format!("review:{} by {}", item.id, resolution.by);
            match write_field(ctx, item, value, &provenance, &mut commit, stats).await? {
                Settled::Written => commit.review_transitions.push((item.id, applied)),
                Settled::AlreadyAgreed => commit
                    .review_transitions
                    .push((item.id, ReviewTransition::Superseded { run_id: ctx.run_id.clone() })),
                Settled::Later(reason) => return Ok(Some(reason)),
                Settled::Gone => commit.review_transitions.push((item.id, applied)),
            }
        }
        (ReviewKind::AmbiguousIdentity, ResolveAction::Value) => {
            // The admin picked one of the candidates: link to it.
            if let (Some(chosen), Some(side)) = (resolution.value.clone(), unlinked_side(item)) {
                let source = item.left_id.clone().or_else(|| item.right_id.clone()).unwrap_or_default();
                let (left_id, right_id) =
                    if side == Side::Left { (source, chosen) } else { (chosen, source) };
                commit.link_upserts.push(LinkUpsert {
                    pair: ctx.pair.name.clone(),
                    left_id,
                    right_id,
                    ..LinkUpsert::default()
                });
                stats.run.linked += 1;
            }
            commit.review_transitions.push((item.id, applied));
        }
        // Rejections, held-back changes and deletes: the admin acknowledged them; the next pull
        // re-plans the records with whatever changed meanwhile.
        _ => commit.review_transitions.push((item.id, applied)),
    }
    ctx.commit(commit).await?;
    Ok(None)
}

enum Settled {
    Written,
    AlreadyAgreed,
    Later(String),
    Gone,
}

fn unlinked_side(item: &ReviewItem) -> Option<Side> {
    match (&item.left_id, &item.right_id) {
        (Some(_), None) => Some(Side::Left),
        (None, Some(_)) => Some(Side::Right),
        _ => None,
    }
}

/// Writes `value` for the item's field to each side that does not hold it yet.
async fn write_field(
    ctx: &PairContext,
    item: &ReviewItem,
    value: Option<String>,
    provenance: &str,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Settled, SyncError> {
    let (Some(field), Some(left_id)) = (item.field.clone(), item.left_id.clone()) else {
        return Ok(Settled::Gone);
    };
    let Some(link) = ctx.store.link_by_record(&ctx.pair.name, Side::Left, &left_id).await? else {
        return Ok(Settled::Gone);
    };
    let Some(current) = current_values(ctx, &link, &field).await? else { return Ok(Settled::Gone) };
    if current[0] == current[1] && current[0] != value {
        return Ok(Settled::AlreadyAgreed);
    }
    let target = Target { item, link: &link, field: &field, value: &value, provenance };
    for side in [Side::Left, Side::Right] {
        let held = &current[side_index(side)];
        if held != &value
            && let Some(settled) = write_side(ctx, &target, side, held, commit, stats).await?
        {
            return Ok(settled);
        }
    }
    let mut base = link.base.clone();
    base.insert(field, value);
    commit.link_upserts.push(LinkUpsert {
        id: Some(link.id),
        pair: ctx.pair.name.clone(),
        base,
        ..LinkUpsert::default()
    });
    Ok(Settled::Written)
}

/// What the resolution writes, and where.
struct Target<'a> {
    item: &'a ReviewItem,
    link: &'a Link,
    field: &'a str,
    value: &'a Option<String>,
    provenance: &'a str,
}

/// The field's current value on each side (left, right); `None` when either record is gone.
async fn current_values(
    ctx: &PairContext,
    link: &Link,
    field: &str,
) -> Result<Option<[Option<String>; 2]>, SyncError> {
    let mut current = [None, None];
    for side in [Side::Left, Side::Right] {
        let id = link.record_id(side).to_string();
        let mut records = ctx.fetch_records(side, std::slice::from_ref(&id)).await?;
        let Some(record) = records.remove(&id).filter(|r| !r.deleted) else { return Ok(None) };
        current[side_index(side)] = ctx.pair.canonical(side, &record.fields).get(field).cloned().flatten();
    }
    Ok(Some(current))
}

/// Writes the resolution to `side`, which holds `held`. `Some` ends the resolution there: a
/// refusal (settled as written: its own item says so) or a transient failure (tried again later).
async fn write_side(
    ctx: &PairContext,
    t: &Target<'_>,
    side: Side,
    held: &Option<String>,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Option<Settled>, SyncError> {
    let canon: CanonMap = [(t.field.to_string(), t.value.clone())].into();
    let fields = ctx.pair.to_remote(side, &canon);
    let id = t.link.record_id(side).to_string();
    let key = write_key(&["review", &t.item.id.to_string(), side.as_str()]);
    let write = Write { key: key.clone(), op: WriteOp::Update { id: id.clone(), fields } };
    let mut results = send::execute(ctx, side, vec![write]).await?;
    match results.remove(&key) {
        Some(Ok(_)) => {
            stats.run.updated += 1;
            commit.intents_done.push(key);
            commit.decisions.push(NewDecision {
                run_id: ctx.run_id.clone(),
                pair: ctx.pair.name.clone(),
                link_id: Some(t.link.id),
                system: ctx.pair.endpoint(side).system.clone(),
                record_id: id,
                field: t.field.to_string(),
                old_value: held.clone(),
                new_value: t.value.clone(),
                source_side: side.other(),
                rule: t.item.rule.clone().unwrap_or_else(|| "review".into()),
                reason: "review_resolution".into(),
                echo: false,
                provenance: Some(t.provenance.to_string()),
                at: ctx.clock.now(),
            });
            Ok(None)
        }
        Some(Err(e)) if e.is_retryable() => Ok(Some(Settled::Later(e.to_string()))),
        Some(Err(e)) => {
            stats.run.rejected += 1;
            commit.intents_done.push(key);
            let (source, target) = (t.link.record_id(side.other()), t.link.record_id(side));
            let mut rejected = review_items::refused_item(ctx, side.other(), source, target, &e);
            rejected.link_id = Some(t.link.id);
            commit.review_items.push(rejected);
            Ok(Some(Settled::Written))
        }
        None => Ok(Some(Settled::Later("the write got no outcome".into()))),
    }
}
