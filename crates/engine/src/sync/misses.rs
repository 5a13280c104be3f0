//! Identity misses remembered: a record whose probes matched nothing is probed again only when
//! the keys it would be probed with change. A record that appears (or changes) on the other side
//! and could match it runs its own probes, which find this record and link the two; the link
//! forgets the miss, so an unlink later probes afresh. Nothing is remembered in a dry run.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{Change, FieldMap};

use crate::mapping::Side;
use crate::reconcile::{self, Probe};
use crate::store::LinkUpsert;

use super::context::PairContext;
use super::error::SyncError;
use super::keys::write_key;
use super::report::PageStats;

/// The changes of `unlinked` to probe (those whose keys matched nothing before are left out and
/// counted as re-reads), with the keys hash of every record read whole (`full`).
pub(crate) async fn to_probe<'c>(
    ctx: &PairContext,
    side: Side,
    unlinked: &[&'c Change],
    full: &BTreeMap<String, FieldMap>,
    stats: &mut PageStats,
) -> Result<(Vec<&'c Change>, BTreeMap<String, String>), SyncError> {
    let hashes: BTreeMap<String, String> = unlinked
        .iter()
        .filter_map(|c| {
            let probes = reconcile::identity_probes(&ctx.pair, side, &c.id, full.get(&c.id)?);
            Some((c.id.clone(), keys_hash(&probes)))
        })
        .collect();
    let skip = unchanged(ctx, side, &hashes).await?;
    stats.run.reread += skip.len() as u64;
    Ok((unlinked.iter().filter(|c| !skip.contains(&c.id)).copied().collect(), hashes))
}

/// After a page's decisions: remembers its plain misses and forgets the misses of the records
/// it linked.
pub(crate) async fn settle(
    ctx: &PairContext,
    side: Side,
    missed: &[(String, String)],
    new_links: &[LinkUpsert],
) -> Result<(), SyncError> {
    remember(ctx, side, missed).await?;
    let (left, right): (Vec<String>, Vec<String>) =
        new_links.iter().map(|l| (l.left_id.clone(), l.right_id.clone())).unzip();
    forget(ctx, &left, &right).await
}

/// The hash of the identity keys `probes` look up (kind, field, value, in order).
pub(crate) fn keys_hash(probes: &[Probe]) -> String {
    let parts: Vec<String> =
        probes.iter().map(|p| format!("{:?}\u{1f}{}\u{1f}{}", p.kind, p.key.field, p.key.value)).collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    write_key(&refs)
}

/// The records of `hashes` (record id → keys hash) that matched nothing before with the same keys.
async fn unchanged(
    ctx: &PairContext,
    side: Side,
    hashes: &BTreeMap<String, String>,
) -> Result<BTreeSet<String>, SyncError> {
    if hashes.is_empty() {
        return Ok(BTreeSet::new());
    }
    let ids: Vec<String> = hashes.keys().cloned().collect();
    let known = ctx.store.identity_misses(&ctx.pair.name, side, &ids).await?;
    Ok(known.into_iter().filter(|(id, h)| hashes.get(id) == Some(h)).map(|(id, _)| id).collect())
}

/// Remembers `misses` (record id, keys hash) of `side`.
async fn remember(ctx: &PairContext, side: Side, misses: &[(String, String)]) -> Result<(), SyncError> {
    if ctx.dry_run || misses.is_empty() {
        return Ok(());
    }
    ctx.store.remember_identity_misses(&ctx.pair.name, side, misses, ctx.clock.now()).await?;
    Ok(())
}

/// Forgets the misses of the records now linked (`left`, `right` ids).
async fn forget(ctx: &PairContext, left: &[String], right: &[String]) -> Result<(), SyncError> {
    if ctx.dry_run {
        return Ok(());
    }
    for (side, ids) in [(Side::Left, left), (Side::Right, right)] {
        if !ids.is_empty() {
            ctx.store.forget_identity_misses(&ctx.pair.name, side, ids).await?;
        }
    }
    Ok(())
}
