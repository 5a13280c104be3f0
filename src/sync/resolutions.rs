//! Applying what admins decided in the review queue, at the start of a pair's cycle.
//!
//! A resolved field conflict is written to whichever side does not hold the chosen value yet,
//! the base becomes that value (so the write's echo costs nothing), the decision log records
//! the write with its provenance (`review:<id> by <who>`), and the item moves to `applied` in
//! the same commit. If both sides already agree by the time the run gets there, the item is
//! `superseded` instead. Applying twice is impossible: the transition and the write's settlement
//! are one transaction, and an applied item is no longer returned by `resolved_for_pair`.

use std::collections::BTreeMap;

use connector_api::{Write, WriteOp};

use crate::mapping::{CanonMap, Side};
use crate::store::{
    LinkUpsert, NewDecision, PageCommit, ResolveAction, ReviewItem, ReviewKind, ReviewTransition,
};

use super::page::{PageStats, write_key};
use super::pull::PairContext;
use super::{SyncError, apply};

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
    let mut commit = PageCommit::new(ctx.lease.clone(), ctx.run_id.clone(), ctx.clock.now());
    let applied = ReviewTransition::Applied { run_id: ctx.run_id.clone() };
    let Some(resolution) = &item.resolution else { return Ok(None) };
    match (item.kind, resolution.action) {
        (_, ResolveAction::Ignore) => {}
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
    let mut current: BTreeMap<Side, Option<String>> = BTreeMap::new();
    for side in [Side::Left, Side::Right] {
        let id = link.record_id(side).to_string();
        let mut records = ctx.fetch_records(side, std::slice::from_ref(&id)).await?;
        let Some(record) = records.remove(&id).filter(|r| !r.deleted) else { return Ok(Settled::Gone) };
        current.insert(side, ctx.pair.canonical(side, &record.fields).get(&field).cloned().flatten());
    }
    if current[&Side::Left] == current[&Side::Right] && current[&Side::Left] != value {
        return Ok(Settled::AlreadyAgreed);
    }
    for side in [Side::Left, Side::Right] {
        if current[&side] == value {
            continue;
        }
        let canon: CanonMap = [(field.clone(), value.clone())].into();
        let fields = ctx.pair.to_remote(side, &canon);
        let id = link.record_id(side).to_string();
        let key = write_key(&["review", &item.id.to_string(), side.as_str()]);
        let write = Write { key: key.clone(), op: WriteOp::Update { id: id.clone(), fields } };
        let mut results = apply::execute(ctx, side, vec![write]).await?;
        match results.remove(&key) {
            Some(Ok(_)) => {
                stats.run.updated += 1;
                commit.intents_done.push(key);
                commit.decisions.push(NewDecision {
                    run_id: ctx.run_id.clone(),
                    pair: ctx.pair.name.clone(),
                    link_id: Some(link.id),
                    system: ctx.pair.endpoint(side).system.clone(),
                    record_id: id,
                    field: field.clone(),
                    old_value: current[&side].clone(),
                    new_value: value.clone(),
                    source_side: side.other(),
                    rule: item.rule.clone().unwrap_or_else(|| "review".into()),
                    reason: "review_resolution".into(),
                    echo: false,
                    provenance: Some(provenance.to_string()),
                    at: ctx.clock.now(),
                });
            }
            Some(Err(e)) if e.is_retryable() => return Ok(Settled::Later(e.to_string())),
            Some(Err(e)) => {
                stats.run.rejected += 1;
                commit.intents_done.push(key);
                let mut rejected = super::outcome::rejected_item(
                    ctx,
                    side.other(),
                    link.record_id(side.other()),
                    link.record_id(side),
                    &e.to_string(),
                );
                rejected.link_id = Some(link.id);
                super::outcome::note_remote(ctx, side, &mut rejected, &e);
                commit.review_items.push(rejected);
                return Ok(Settled::Written);
            }
            None => return Ok(Settled::Later("the write got no outcome".into())),
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
