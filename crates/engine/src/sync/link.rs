//! Carrying out identity's decisions in the store before planning: new links, links moved to a
//! stronger match (relinks, with the back-links crosswalk wrote on the records they leave
//! cleared), and links re-pointed to the survivor of a merge. Each is committed at once, so
//! everything after works on links.

use std::collections::BTreeMap;

use connector_api::{Change, ChangeKind, FieldMap, Write, WriteOp};

use crate::mapping::{CanonMap, Side};
use crate::store::{Link, LinkUpsert, PageCommit};

use super::context::PairContext;
use super::error::SyncError;
use super::keys::write_key;
use super::{backlinks, send};

/// Commits new links (alone, before planning) and returns them as stored. In a dry run nothing
/// is written and the links are returned with id 0.
pub(crate) async fn commit_links(ctx: &PairContext, links: Vec<LinkUpsert>) -> Result<Vec<Link>, SyncError> {
    let now = ctx.clock.now();
    let ids = if ctx.dry_run {
        vec![0; links.len()]
    } else {
        let mut commit = PageCommit::new(ctx.lease.clone(), ctx.run_id.clone(), now);
        commit.link_upserts = links.clone();
        ctx.commit(commit).await?.created_links
    };
    Ok(links
        .into_iter()
        .zip(ids)
        .map(|(up, id)| Link {
            id,
            pair: up.pair,
            left_id: up.left_id,
            right_id: up.right_id,
            base: CanonMap::new(),
            left_hash: None,
            right_hash: None,
            low_confidence: up.low_confidence,
            created_at: now,
            updated_at: now,
            left_verified_at: None,
            right_verified_at: None,
        })
        .collect())
}

/// Moves each link in `relinks` to its new record on `side`, committed at once, and starts it
/// afresh like a first link (no base, no hashes): the record it now joins was never merged
/// against that base. Returns the moved links and the records they left.
pub(crate) async fn commit_relinks(
    ctx: &PairContext,
    side: Side,
    relinks: &[(Link, String)],
) -> Result<Vec<(Link, String)>, SyncError> {
    if relinks.is_empty() || ctx.dry_run {
        return Ok(Vec::new());
    }
    let mut commit = ctx.new_commit();
    let mut out = Vec::new();
    for (link, to) in relinks {
        let left = link.record_id(side).to_string();
        tracing::info!(
            pair = %ctx.pair.name,
            link = link.id,
            from = %left,
            to = %to,
            "the other record's back-link names another record: the link moves to it"
        );
        commit.link_repoints.push((link.id, side, to.clone()));
        let mut moved = link.clone();
        match side {
            Side::Left => moved.left_id = to.clone(),
            Side::Right => moved.right_id = to.clone(),
        }
        moved.base = CanonMap::new();
        moved.left_hash = None;
        moved.right_hash = None;
        commit.link_upserts.push(LinkUpsert {
            id: Some(link.id),
            pair: ctx.pair.name.clone(),
            left_id: moved.left_id.clone(),
            right_id: moved.right_id.clone(),
            base: CanonMap::new(),
            ..LinkUpsert::default()
        });
        out.push((moved, left));
    }
    unwrite_backlinks(ctx, side, relinks, &mut commit).await?;
    ctx.commit(commit).await?;
    Ok(out)
}

/// The back-links crosswalk itself wrote on the records the links leave (after the weaker match
/// the relink corrects) are cleared again, so no record goes on naming a partner it lost.
async fn unwrite_backlinks(
    ctx: &PairContext,
    side: Side,
    relinks: &[(Link, String)],
    commit: &mut PageCommit,
) -> Result<(), SyncError> {
    let Some(ext) = ctx.pair.identity.external_id(side) else { return Ok(()) };
    let writes: Vec<Write> = relinks
        .iter()
        .filter(|(link, _)| backlinks::ours(link))
        .map(|(link, _)| {
            let id = link.record_id(side).to_string();
            let fields = FieldMap::from([(ext.field.clone(), serde_json::Value::Null)]);
            Write {
                key: write_key(&["unlink-backlink", &ctx.pair.name, &link.id.to_string(), &id]),
                op: WriteOp::Update { id, fields },
            }
        })
        .collect();
    if writes.is_empty() {
        return Ok(());
    }
    for (key, result) in send::execute(ctx, side, writes).await? {
        match result {
            Ok(_) => commit.intents_done.push(key),
            Err(e) => tracing::warn!(pair = %ctx.pair.name, class = ?e.class(),
                "a back-link crosswalk wrote on a record the link left could not be cleared"),
        }
    }
    Ok(())
}

/// Re-points the link of each merged-away record to its survivor (unless the survivor has a link
/// of its own), committed at once, and updates `links` to match: the loser's entry moves to the
/// survivor's id.
pub(crate) async fn repoint_merges(
    ctx: &PairContext,
    side: Side,
    changes: &[Change],
    links: &mut BTreeMap<String, Link>,
) -> Result<(), SyncError> {
    let mut repoints = Vec::new();
    for change in changes {
        let ChangeKind::Merged { survivor_id } = &change.kind else { continue };
        if links.contains_key(survivor_id) || !links.contains_key(&change.id) {
            continue;
        }
        let survivor_linked = ctx.store.link_by_record(&ctx.pair.name, side, survivor_id).await?.is_some();
        if survivor_linked {
            continue;
        }
        let Some(mut link) = links.remove(&change.id) else { continue };
        repoints.push((link.id, side, survivor_id.clone()));
        match side {
            Side::Left => link.left_id = survivor_id.clone(),
            Side::Right => link.right_id = survivor_id.clone(),
        }
        // The survivor's values are compared afresh against the base on its next change.
        link.left_hash = None;
        link.right_hash = None;
        links.insert(survivor_id.clone(), link);
    }
    if repoints.is_empty() || ctx.dry_run {
        return Ok(());
    }
    let mut commit = ctx.new_commit();
    commit.link_repoints = repoints;
    ctx.commit(commit).await?;
    Ok(())
}
