//! Processing one page of changes from one side of a pair, stage by stage:
//!
//! 1. **Link** (`identity` decides, `link` commits): merges re-point their links first, then
//!    unlinked records are matched on the other side; new links and relinks are committed at
//!    once so everything after works on links. Ambiguous matches go to review.
//! 2. **Plan** (`plan`): each linked record is planned against its base with the other side's
//!    current values (read in batches). Re-reads whose content hash is unchanged cost nothing.
//! 3. **Guard** (`caps`): a page that would take the run past a safety cap is held back whole.
//! 4. **Apply** (`apply`, `creates`), then **settle** (`settle`, `creates`) and **commit** links,
//!    bases, review items, decisions and the checkpoint in one fenced transaction. The
//!    checkpoint is left out when any write could neither be applied nor parked, so the next run
//!    reads the page again.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{Change, ChangeKind, Quarantined};

use crate::mapping::Side;
use crate::reconcile::{self, Plan};
use crate::store::{CheckpointUpdate, Link, PageCommit};

use super::batch::{self, Batch};
use super::caps::ItemCtx;
use super::context::PairContext;
use super::error::SyncError;
use super::identity::{self, Resolved};
use super::plan::{self, PlannedLink};
use super::report::{PageStats, PairReport};
use super::{apply, creates, link, review_items};

/// One page to process.
pub(crate) struct PageInput {
    pub side: Side,
    pub changes: Vec<Change>,
    pub quarantined: Vec<Quarantined>,
    /// The stream and checkpoint to commit with the page (none for sweeps).
    pub checkpoint: Option<CheckpointUpdate>,
    /// True for verification-sweep pages: stamp `verified_at` on every link read.
    pub sweep: bool,
}

/// How a page ended.
pub(crate) struct PageOutcome {
    /// `Some(reason)` when the checkpoint was not advanced.
    pub incomplete: Option<String>,
}

/// The page's records as links: the links by this side's record id, and what identity decided
/// for the records that had none.
struct Linked {
    links: BTreeMap<String, Link>,
    resolved: Resolved,
}

/// Processes one page on its own: written and committed before this returns.
pub(crate) async fn process(
    ctx: &PairContext,
    input: PageInput,
    report: &mut PairReport,
) -> Result<PageOutcome, SyncError> {
    process_in(ctx, input, report, &mut Batch::off()).await
}

/// Processes one page of a stream whose pages may wait in `batch` for each other's writes (see
/// `batch`). Pages that cannot wait first flush the waiting ones, so everything is written and
/// committed in source order.
pub(crate) async fn process_in(
    ctx: &PairContext,
    input: PageInput,
    report: &mut PairReport,
    batch: &mut Batch,
) -> Result<PageOutcome, SyncError> {
    let side = input.side;
    report.stats.run.pulled += input.changes.len() as u64;
    report.stats.quarantined += input.quarantined.len() as u64;
    let mut commit = ctx.new_commit();
    commit.dead_letters = input.quarantined.into_iter().map(|q| ctx.dead_letter(side, q, None)).collect();

    let changes = latest_per_record(input.changes);
    let links = links_of(ctx, side, &changes).await?;
    // Only records linked and seen from this side before may wait: the echo of a record this
    // run or the last one created (no content hash of this side yet) settles its first base,
    // and is written alone, as it always was.
    let all_linked = changes.iter().all(|c| {
        links.get(&c.id).is_some_and(|l| l.hash(side).is_some())
            && !matches!(c.kind, ChangeKind::Merged { .. })
    });
    let may_wait = !input.sweep && all_linked && batch.may_hold(links.values().map(|l| l.id));
    if !may_wait && let Some(reason) = batch.flush(ctx, report).await? {
        return Ok(PageOutcome { incomplete: Some(reason) });
    }
    let stats = &mut report.stats;
    let Linked { links, resolved } = link_page(ctx, side, &changes, links, &mut commit, stats).await?;
    let planned =
        plan::plan_links(ctx, side, changes, &links, &resolved, input.sweep, &mut commit, stats).await?;
    let mut plan = Plan::new(&ctx.pair);
    for p in &planned {
        plan.push_link(p.plan.clone());
    }
    plan.creates = resolved.creates.clone();

    if ctx.dry_run {
        report.plan.push_str(&reconcile::render(&plan));
        let counts = plan.counts();
        stats.run.created += (counts.creates.0 + counts.creates.1) as u64;
        stats.run.updated += (counts.updates.0 + counts.updates.1) as u64;
        stats.run.conflicts += counts.conflicts as u64;
        return Ok(PageOutcome { incomplete: None });
    }
    if let Some(reason) = held_back(ctx, &plan, &planned, &mut commit) {
        let earlier = batch.flush(ctx, report).await?;
        ctx.commit(commit).await?;
        return Ok(PageOutcome { incomplete: Some(earlier.unwrap_or(reason)) });
    }
    if may_wait && resolved.creates.is_empty() && batch.worth_holding(ctx, &planned) {
        let incomplete = batch.hold(ctx, planned, commit, input.checkpoint, input.sweep, report).await?;
        return Ok(PageOutcome { incomplete });
    }
    if let Some(reason) = batch.flush(ctx, report).await? {
        return Ok(PageOutcome { incomplete: Some(reason) });
    }
    let incomplete =
        write_and_settle(ctx, side, &planned, &resolved, input.sweep, &mut commit, report).await?;
    if incomplete.is_none() {
        commit.checkpoint = input.checkpoint;
    }
    ctx.commit(commit).await?;
    Ok(PageOutcome { incomplete })
}

/// The links of the page's records, by this side's record id.
async fn links_of(
    ctx: &PairContext,
    side: Side,
    changes: &[Change],
) -> Result<BTreeMap<String, Link>, SyncError> {
    let ids: Vec<String> = changes.iter().map(|c| c.id.clone()).collect();
    Ok(ctx
        .store
        .links_by_records(&ctx.pair.name, side, &ids)
        .await?
        .into_iter()
        .map(|l| (l.record_id(side).to_string(), l))
        .collect())
}

/// Links the page's records: merges re-pointed, identity resolved for the unlinked ones, new
/// links and relinks committed.
async fn link_page(
    ctx: &PairContext,
    side: Side,
    changes: &[Change],
    mut links: BTreeMap<String, Link>,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Linked, SyncError> {
    // Merges first, so a survivor seen on this page is already linked when identity runs.
    link::repoint_merges(ctx, side, changes, &mut links).await?;
    let unlinked: Vec<&Change> =
        changes.iter().filter(|c| !links.contains_key(&c.id) && is_live(&c.kind)).collect();
    let mut resolved = identity::resolve(ctx, side, &unlinked, commit, stats).await?;
    // A pair's first sync in this store links what identity finds and creates nothing (a new or
    // wrong store would take every record for unlinked); the backfill creates the rest.
    if ctx.caps.bootstrap && !resolved.creates.is_empty() {
        stats.first_sync_not_created += resolved.creates.len() as u64;
        resolved.creates.clear();
    }
    for (moved, left) in link::commit_relinks(ctx, side, &resolved.relinks).await? {
        links.remove(&left);
        links.insert(moved.record_id(side).to_string(), moved);
    }
    if !resolved.new_links.is_empty() {
        for new in link::commit_links(ctx, resolved.new_links.clone()).await? {
            links.insert(new.record_id(side).to_string(), new);
        }
    }
    Ok(Linked { links, resolved })
}

/// Why the page is held back, if it is: the safety caps over the run (the page waits whole,
/// with one review item), or a backfill's `--max-creates` (the page's checkpoint is not saved,
/// so the next attempt starts with it).
fn held_back(
    ctx: &PairContext,
    plan: &Plan,
    planned: &[PlannedLink],
    commit: &mut PageCommit,
) -> Option<String> {
    let updated: Vec<i64> = planned.iter().filter(|p| !p.plan.writes.is_empty()).map(|p| p.link.id).collect();
    let item_ctx = ItemCtx { link_ids: &updated, now: ctx.clock.now(), run_id: &ctx.run_id };
    if let Some(hold) = ctx.caps.admit(&ctx.pair, plan, item_ctx) {
        commit.review_items.extend(hold.item);
        return Some(hold.reason);
    }
    let over_budget = ctx.backfill().is_some_and(|b| !b.take_creates(plan.creates.len() as u64));
    over_budget.then(|| {
        "stopped at the --max-creates limit; run the backfill again (with a higher limit) to continue".into()
    })
}

/// Sends the page's updates and creates and settles every outcome into `commit`. `Some(reason)`
/// when something failed transiently and the page must be read again.
async fn write_and_settle(
    ctx: &PairContext,
    side: Side,
    planned: &[PlannedLink],
    resolved: &Resolved,
    sweep: bool,
    commit: &mut PageCommit,
    report: &mut PairReport,
) -> Result<Option<String>, SyncError> {
    let open = if planned.is_empty() { BTreeMap::new() } else { review_items::open_by_link(ctx).await? };
    let executed = apply::execute(ctx, planned, &review_items::refusals(&open)).await?;
    let create_results = creates::execute(ctx, side, &resolved.creates).await?;
    let mut incomplete =
        batch::settle_updates(ctx, planned, 0..planned.len(), &executed, &open, sweep, commit, report);
    if let Some(reason) =
        creates::settle(ctx, side, resolved, create_results, commit, &mut report.stats).await?
    {
        incomplete.get_or_insert(reason);
    }
    Ok(incomplete)
}

/// Keeps the newest change per record id, in source order.
fn latest_per_record(changes: Vec<Change>) -> Vec<Change> {
    let mut latest: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        latest.insert(c.id.clone(), i);
    }
    let keep: BTreeSet<usize> = latest.into_values().collect();
    changes.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, c)| c).collect()
}

fn is_live(kind: &ChangeKind) -> bool {
    matches!(kind, ChangeKind::Upsert | ChangeKind::Undeleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn change(id: &str, secs: i64) -> Change {
        Change::upsert(connector_api::Record {
            object: "contacts".into(),
            id: id.into(),
            fields: Default::default(),
            modified_at: DateTime::<Utc>::from_timestamp(secs, 0).expect("time"),
            deleted: false,
        })
    }

    #[test]
    fn the_newest_change_per_record_is_kept_in_source_order() {
        let kept = latest_per_record(vec![change("a", 1), change("b", 2), change("a", 3), change("c", 4)]);
        let ids: Vec<(&str, i64)> = kept.iter().map(|c| (c.id.as_str(), c.modified_at.timestamp())).collect();
        assert_eq!(ids, [("b", 2), ("a", 3), ("c", 4)]);
    }
}
