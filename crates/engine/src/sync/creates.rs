//! Creating the records identity found no match for: send the creates to the other side, tell
//! each source record the id made for it (its back-link, batched), and settle each outcome into
//! a link (with the source's content hash, so the echo of the create costs nothing), a review
//! item for a refusal, or "read the page again" for a transient failure.

use std::collections::BTreeMap;

use connector_api::write::Written;
use connector_api::{ConnectorError, Write, WriteOp, WriteResult};

use crate::mapping::Side;
use crate::reconcile::CreatePlan;
use crate::store::{LinkUpsert, PageCommit};

use super::context::PairContext;
use super::error::SyncError;
use super::identity::Resolved;
use super::keys::{create_key, create_refusal, write_key};
use super::report::PageStats;
use super::{backlinks, review_items, send};

/// Sends the creates to the other side.
pub(crate) async fn execute(
    ctx: &PairContext,
    side: Side,
    creates: &[CreatePlan],
) -> Result<BTreeMap<String, WriteResult>, SyncError> {
    let writes = creates
        .iter()
        .map(|c| Write {
            key: create_key(&ctx.pair.name, side, &c.source_id),
            op: WriteOp::Create { fields: c.fields.clone(), external_id: c.external_id.clone() },
        })
        .collect();
    send::execute(ctx, side.other(), writes).await
}

/// Tells each source record of a successful create the id of the record made for it (when its
/// side has a back-link field), batched in one round. Answers the back-link marker per source id
/// whose back-link is in place; a refused or failed back-link write leaves the marker out, so the
/// link's next planning writes it again.
async fn write_backlinks(
    ctx: &PairContext,
    side: Side,
    resolved: &Resolved,
    results: &BTreeMap<String, WriteResult>,
    commit: &mut PageCommit,
) -> Result<BTreeMap<String, String>, SyncError> {
    let mut markers = BTreeMap::new();
    let mut writes = Vec::new();
    for plan in &resolved.creates {
        let Some(Ok(written)) = results.get(&create_key(&ctx.pair.name, side, &plan.source_id)) else {
            continue;
        };
        let need = backlinks::for_create(ctx, side, &plan.source_id, &written.id);
        let fields = need.fields(side).clone();
        if fields.is_empty() {
            markers.insert(plan.source_id.clone(), need.marker);
            continue;
        }
        let key = write_key(&["backlink", &ctx.pair.name, side.as_str(), &plan.source_id, &written.id]);
        writes.push((
            plan.source_id.clone(),
            need.marker,
            Write { key, op: WriteOp::Update { id: plan.source_id.clone(), fields } },
        ));
    }
    if writes.is_empty() {
        return Ok(markers);
    }
    let mut done = send::execute(ctx, side, writes.iter().map(|(_, _, w)| w.clone()).collect()).await?;
    for (source_id, marker, write) in writes {
        match done.remove(&write.key) {
            Some(Ok(_)) => {
                commit.intents_done.push(write.key);
                markers.insert(source_id, marker);
            }
            Some(Err(e)) if !e.is_retryable() => {
                commit.intents_done.push(write.key);
                tracing::warn!(pair = %ctx.pair.name, record = %source_id, class = ?e.class(),
                    "the back-link of a created record was refused; it is written again when the link is next planned");
            }
            _ => {}
        }
    }
    Ok(markers)
}

/// Turns create outcomes into links, review items and dead letters. `Some(reason)` when a create
/// failed transiently and the page must be read again.
pub(crate) async fn settle(
    ctx: &PairContext,
    side: Side,
    resolved: &Resolved,
    mut results: BTreeMap<String, WriteResult>,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Option<String>, SyncError> {
    let mut incomplete = None;
    let backlinked = write_backlinks(ctx, side, resolved, &results, commit).await?;
    for plan in &resolved.creates {
        let key = create_key(&ctx.pair.name, side, &plan.source_id);
        match results.remove(&key) {
            Some(Ok(written)) => {
                commit.intents_done.push(key);
                let marker = backlinked.get(&plan.source_id).map(String::as_str);
                created(ctx, side, resolved, plan, written, marker, commit, stats).await?;
            }
            Some(Err(e)) if e.is_retryable() => {
                incomplete.get_or_insert_with(|| {
                    format!("creates on {} failed for now: {e}", ctx.pair.endpoint(side.other()).system)
                });
            }
            Some(Err(e)) => refused(ctx, side, plan, key, &e, commit, stats),
            None => {
                incomplete.get_or_insert_with(|| "a create got no outcome".to_string());
            }
        }
    }
    Ok(incomplete)
}

/// A create that went through: the new link, with the source's content hash and the back-link
/// marker when the back-link is in place. The created record's own hash is left to its echo:
/// when it is pulled and agrees with the base (`plan::select`), it costs no read of the source
/// and no plan, and its hash is stored then.
#[allow(clippy::too_many_arguments)]
async fn created(
    ctx: &PairContext,
    side: Side,
    resolved: &Resolved,
    plan: &CreatePlan,
    written: Written,
    marker: Option<&str>,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<(), SyncError> {
    if !ctx.linked_ids(side.other(), std::slice::from_ref(&written.id)).await?.is_empty() {
        commit.review_items.push(review_items::rejected_item(
            ctx,
            side,
            &plan.source_id,
            &written.id,
            "the created record's back-link points at a record that is already linked",
        ));
        return Ok(());
    }
    if written.created {
        stats.run.created += 1;
        ctx.record_freshness(resolved.create_times.get(&plan.source_id).copied(), commit, stats);
    } else {
        stats.run.linked += 1
    }
    let (left_id, right_id) = if side == Side::Left {
        (plan.source_id.clone(), written.id)
    } else {
        (written.id, plan.source_id.clone())
    };
    let source_hash = resolved.create_hashes.get(&plan.source_id).cloned();
    let mut base = plan.initial_base.clone();
    if let Some(marker) = marker {
        base.insert(backlinks::MARKER.to_string(), Some(marker.to_string()));
    }
    let mut up = LinkUpsert { pair: ctx.pair.name.clone(), left_id, right_id, base, ..LinkUpsert::default() };
    match side {
        Side::Left => up.left_hash = source_hash,
        Side::Right => up.right_hash = source_hash,
    }
    commit.link_upserts.push(up);
    Ok(())
}

/// A create the remote refused for good: one review item holding the refusal's fingerprint, so
/// the same create is not sent again while the item is open.
fn refused(
    ctx: &PairContext,
    side: Side,
    plan: &CreatePlan,
    key: String,
    e: &ConnectorError,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) {
    stats.run.rejected += 1;
    commit.intents_done.push(key);
    let mut item = review_items::refused_item(ctx, side, &plan.source_id, "", e);
    review_items::with_refusals(&mut item, vec![create_refusal(&ctx.pair.name, side, plan)]);
    commit.review_items.push(item);
}
