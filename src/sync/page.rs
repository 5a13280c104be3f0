//! Processing one page of changes from one side of a pair.
//!
//! 1. **Identity**: changes with no link are matched on the other side (back-link, external id,
//!    email, company keys); new links are committed first so everything after works on links.
//!    Ambiguous matches go to review; unmatched records are created per the creation rule.
//! 2. **Plan**: each linked record is planned against its base with the other side's current
//!    values (fetched in batches). Re-reads whose content hash is unchanged cost nothing.
//! 3. **Execute** the writes and creates, then **commit** links, bases, review items, decisions
//!    and the checkpoint in one fenced transaction. The checkpoint is left out when any write
//!    could neither be applied nor parked, so the next run reads the page again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use connector_api::{Change, ChangeKind, Quarantined};
use sha2::{Digest, Sha256};

use crate::mapping::{CanonMap, DeletePolicy, Side};
use crate::reconcile::{self, LinkPlan, Plan, SideView};
use crate::store::{
    CheckpointUpdate, Link, LinkUpsert, NewDeadLetter, NewDecision, NewReviewItem, PageCommit, ReviewKind,
    RunCounts,
};

use super::outcome::{self, Planned, settle_link};
use super::pull::PairContext;
use super::{SyncError, backlinks, identity, writes};

/// Counters of what a pair's pages did: the run counters the store records, plus four it
/// does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageStats {
    /// Pulled, re-read, linked, created, updated, conflicts, rejected, deletes, echoes.
    pub run: RunCounts,
    /// Ambiguous identities sent to review.
    pub ambiguous: u64,
    /// Malformed items quarantined.
    pub quarantined: u64,
    /// Linked records re-read by the verification sweep.
    pub swept: u64,
    /// Writes and creates not sent because the same one was refused for good before and its
    /// review item is still open.
    pub held: u64,
    /// Records with no match that were not created because the pair has never synced in this
    /// store (a backfill creates them).
    pub first_sync_not_created: u64,
}

impl PageStats {
    /// Remote writes made.
    pub fn written(&self) -> u64 {
        self.run.created + self.run.updated
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &PageStats) {
        self.run += o.run;
        self.ambiguous += o.ambiguous;
        self.quarantined += o.quarantined;
        self.swept += o.swept;
        self.held += o.held;
        self.first_sync_not_created += o.first_sync_not_created;
    }
}

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

/// A linked record to plan: the link, this side's canonical values and whether they are whole.
struct Work {
    link: Link,
    change: Change,
    canon: CanonMap,
}

/// Processes one page.
pub(crate) async fn process(
    ctx: &PairContext,
    input: PageInput,
    report: &mut super::PairReport,
) -> Result<PageOutcome, SyncError> {
    let side = input.side;
    let pair = &ctx.pair;
    let stats = &mut report.stats;
    stats.run.pulled += input.changes.len() as u64;
    stats.quarantined += input.quarantined.len() as u64;
    let mut commit = PageCommit::new(ctx.lease.clone(), ctx.run_id.clone(), ctx.clock.now());
    let ep = pair.endpoint(side).clone();
    for q in input.quarantined {
        commit.dead_letters.push(NewDeadLetter {
            pair: Some(pair.name.clone()),
            system: ep.system.clone(),
            object: ep.object.clone(),
            record_id: q.id,
            reason: q.reason,
            payload: q.raw,
            run_id: ctx.run_id.clone(),
            ..NewDeadLetter::default()
        });
    }

    let changes = latest_per_record(input.changes);
    let ids: Vec<String> = changes.iter().map(|c| c.id.clone()).collect();
    let mut links: BTreeMap<String, Link> = ctx
        .store
        .links_by_records(&pair.name, side, &ids)
        .await?
        .into_iter()
        .map(|l| (l.record_id(side).to_string(), l))
        .collect();

    // 1. Merges first, so a survivor seen on this page is already linked when identity runs.
    repoint_merges(ctx, side, &changes, &mut links).await?;

    // 2. Identity for unlinked records.
    let unlinked: Vec<&Change> =
        changes.iter().filter(|c| !links.contains_key(&c.id) && is_live(&c.kind)).collect();
    let mut resolved = identity::resolve(ctx, side, &unlinked, &mut commit, stats).await?;
    // A pair's first sync in this store links what identity finds and creates nothing (a new or
    // wrong store would take every record for unlinked); the backfill creates the rest.
    if ctx.caps.bootstrap && !resolved.creates.is_empty() {
        stats.first_sync_not_created += resolved.creates.len() as u64;
        resolved.creates.clear();
    }
    for (link, left) in identity::commit_relinks(ctx, side, &resolved.relinks).await? {
        links.remove(&left);
        links.insert(link.record_id(side).to_string(), link);
    }
    if !resolved.new_links.is_empty() {
        for link in identity::commit_links(ctx, resolved.new_links.clone()).await? {
            links.insert(link.record_id(side).to_string(), link);
        }
    }

    // 2. Plan the linked records.
    let mut works = Vec::new();
    for mut change in changes {
        let Some(link) = links.get(&change.id).cloned() else { continue };
        if change.partial
            && let Some(fields) = resolved.fetched.get(&change.id)
        {
            change.fields = fields.clone();
            change.partial = false;
        }
        match &change.kind {
            ChangeKind::Upsert | ChangeKind::Undeleted => {
                let canon = pair.canonical(side, &change.fields);
                if !change.partial && link.hash(side) == Some(canon_hash(&canon).as_str()) {
                    stats.run.reread += 1;
                    if input.sweep {
                        commit.link_upserts.push(verified(&link, side, ctx.clock.now()));
                    }
                    continue;
                }
                if !input.sweep && !ctx.needs_planning(link.id, side, change.modified_at) {
                    stats.run.reread += 1;
                    continue;
                }
                works.push(Work { link, change, canon });
            }
            ChangeKind::Deleted => deleted(ctx, side, &link, &change, &mut commit, stats),
            // Merges of linked records were re-pointed before identity; one still linked here
            // merged into a record that already had a link of its own.
            ChangeKind::Merged { .. } => deleted(ctx, side, &link, &change, &mut commit, stats),
        }
    }
    complete_partials(ctx, side, &mut works).await?;
    let other_ids: Vec<String> = works.iter().map(|w| w.link.record_id(side.other()).to_string()).collect();
    let others = ctx.fetch_records(side.other(), &other_ids).await?;
    complete_overwritten_partials(ctx, side, &mut works, &others).await?;
    let drift = schema_drift(ctx);
    for d in &drift {
        commit.review_items.push(d.review_item(ctx));
    }
    let mut plan = Plan::new(pair);
    let mut planned: Vec<(Work, LinkPlan, CanonMap, DateTime<Utc>)> = Vec::new();
    let mut needs: Vec<Option<backlinks::Needed>> = Vec::new();
    for work in works {
        let other_id = work.link.record_id(side.other()).to_string();
        let Some(other) = others.get(&other_id) else {
            // The other side's record is gone; its own pull reports the delete.
            continue;
        };
        let other_canon = pair.canonical(side.other(), &other.fields);
        let this_view = SideView {
            id: &work.change.id,
            values: &work.canon,
            modified_at: ctx.modified_time(side, work.change.modified_at),
        };
        let other_view = SideView {
            id: &other_id,
            values: &other_canon,
            modified_at: ctx.modified_time(side.other(), other.modified_at),
        };
        let (left, right) =
            if side == Side::Left { (&this_view, &other_view) } else { (&other_view, &this_view) };
        let base = if work.link.base.is_empty() && resolved.by_backlink.contains(&work.change.id) {
            agreed_unreadable(ctx, &work.link.base, [left.values, right.values])
        } else {
            work.link.base.clone()
        };
        let mut link_plan = reconcile::plan_link(pair, &base, left, right);
        for d in &drift {
            d.hold(&mut link_plan, &work.link.base);
        }
        if link_plan.is_noop() {
            stats.run.skipped_echo += 1;
        }
        ctx.mark_planned(work.link.id, side, work.change.modified_at, other.modified_at);
        let this_fields = (!work.change.partial).then_some(&work.change.fields);
        let (left_fields, right_fields) = if side == Side::Left {
            (this_fields, Some(&other.fields))
        } else {
            (Some(&other.fields), this_fields)
        };
        needs.push(backlinks::needed(ctx, &work.link, left_fields, right_fields));
        plan.push_link(link_plan.clone());
        planned.push((work, link_plan, other_canon, other.modified_at));
    }
    plan.creates = resolved.creates.clone();

    // Safety caps over the run: hold the whole page back rather than write past a cap.
    let updated: Vec<i64> =
        planned.iter().filter(|(_, p, _, _)| !p.writes.is_empty()).map(|(w, _, _, _)| w.link.id).collect();
    let item_ctx = super::caps::ItemCtx { link_ids: &updated, now: ctx.clock.now(), run_id: &ctx.run_id };
    if !ctx.dry_run
        && let Some(hold) = ctx.caps.admit(pair, &plan, item_ctx)
    {
        commit.review_items.extend(hold.item);
        ctx.commit(commit).await?;
        return Ok(PageOutcome { incomplete: Some(hold.reason) });
    }
    // A backfill's `--max-creates`: stop before the page that would pass it (the page's
    // checkpoint is not saved, so the next attempt starts with it).
    if let Some(backfill) = ctx.backfill()
        && !ctx.dry_run
        && !backfill.take_creates(plan.creates.len() as u64)
    {
        ctx.commit(commit).await?;
        return Ok(PageOutcome {
            incomplete: Some(
                "stopped at the --max-creates limit; run the backfill again (with a higher limit) to continue"
                    .into(),
            ),
        });
    }
    if ctx.dry_run {
        report.plan.push_str(&reconcile::render(&plan));
        let counts = plan.counts();
        stats.run.created += (counts.creates.0 + counts.creates.1) as u64;
        stats.run.updated += (counts.updates.0 + counts.updates.1) as u64;
        stats.run.conflicts += counts.conflicts as u64;
        return Ok(PageOutcome { incomplete: None });
    }

    // 3. Execute, then commit.
    let open = if planned.is_empty() { BTreeMap::new() } else { outcome::open_items(ctx).await? };
    let refused = outcome::refusals(&open);
    let link_writes: Vec<writes::LinkWrites<'_>> = planned
        .iter()
        .zip(&needs)
        .map(|((work, link_plan, other_canon, _), need)| {
            let canon =
                if side == Side::Left { [&work.canon, other_canon] } else { [other_canon, &work.canon] };
            writes::LinkWrites { link: &work.link, plan: link_plan, canon, backlinks: need.as_ref() }
        })
        .collect();
    let executed = writes::execute(ctx, &link_writes, &refused).await?;
    let create_results = identity::execute_creates(ctx, side, &resolved.creates).await?;

    let mut incomplete = None;
    for (i, (work, link_plan, other_canon, other_modified)) in planned.iter().enumerate() {
        let p = Planned {
            link: &work.link,
            change: &work.change,
            canon: &work.canon,
            other_canon,
            other_modified: *other_modified,
            plan: link_plan,
            open: open.get(&work.link.id).map_or(&[], Vec::as_slice),
            backlinks: needs[i].as_ref().map(|n| n.marker.as_str()),
        };
        let attempts = executed
            .sent
            .iter()
            .filter(|s| s.link == i)
            .map(|s| (s.target, s.key.as_str(), s.refusal.as_str(), executed.attempt(s)));
        if let Some(reason) = settle_link(ctx, side, &p, attempts, input.sweep, &mut commit, stats) {
            incomplete.get_or_insert(reason);
        }
    }
    let settled = identity::settle_creates(ctx, side, &resolved, create_results, &mut commit, stats).await?;
    if let Some(reason) = settled {
        incomplete.get_or_insert(reason);
    }
    if incomplete.is_none() {
        commit.checkpoint = input.checkpoint;
    }
    ctx.commit(commit).await?;
    Ok(PageOutcome { incomplete })
}

/// Re-points the link of each merged-away record to its survivor (unless the survivor has a link
/// of its own), committed at once, and updates `links` to match: the loser's entry moves to the
/// survivor's id.
async fn repoint_merges(
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
    let mut commit = PageCommit::new(ctx.lease.clone(), ctx.run_id.clone(), ctx.clock.now());
    commit.link_repoints = repoints;
    ctx.commit(commit).await?;
    Ok(())
}

/// The first base of a pair found by its back-links (synced before, by crosswalk or by whoever
/// set those back-links): a field one side cannot read is taken as agreed with the side that
/// can, instead of written through again. A pair found by email gets no such assumption: there
/// the owner's value is written through once.
fn agreed_unreadable(ctx: &PairContext, base: &CanonMap, values: [&CanonMap; 2]) -> CanonMap {
    let mut out = base.clone();
    for f in &ctx.pair.fields {
        for (blind, seen) in [(Side::Left, values[1]), (Side::Right, values[0])] {
            if f.unreadable_on(blind, ctx.unreadable(blind))
                && let Some(v) = seen.get(&f.name)
            {
                out.insert(f.name.clone(), v.clone());
            }
        }
    }
    out
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

/// A partial change stands for "the other fields are as in the base"; a link with no base yet
/// has nothing to stand on, so its record is read in full first (else every field the change
/// lacks would look blank and be "restored" from the other side). A partial change that
/// disagrees with the base is read in full too: its payload may be an old event re-read in the
/// overlap, whose values would otherwise revert newer edits on both sides.
async fn complete_partials(ctx: &PairContext, side: Side, works: &mut [Work]) -> Result<(), SyncError> {
    let differs = |w: &Work| w.canon.iter().any(|(k, v)| w.link.base.get(k) != Some(v));
    let ids: Vec<String> = works
        .iter()
        .filter(|w| w.change.partial && (w.link.base.is_empty() || differs(w)))
        .map(|w| w.change.id.clone())
        .collect();
    read_in_full(ctx, side, works, &ids).await
}

/// A partial change that agrees with the base can still be stale: an old event re-read in the
/// overlap says nothing about a later edit that emitted no event (a WhiteLabelCRO plain edit).
/// Before a plan writes to the change's own side, its record is read in full, so the write is
/// judged against what the record holds now and never silently overwrites that edit.
async fn complete_overwritten_partials(
    ctx: &PairContext,
    side: Side,
    works: &mut [Work],
    others: &BTreeMap<String, connector_api::Record>,
) -> Result<(), SyncError> {
    let pair = &ctx.pair;
    let mut ids = Vec::new();
    for w in works.iter().filter(|w| w.change.partial) {
        let Some(other) = others.get(w.link.record_id(side.other())) else { continue };
        let other_canon = pair.canonical(side.other(), &other.fields);
        let this = SideView { id: &w.change.id, values: &w.canon, modified_at: None };
        let that = SideView { id: &other.id, values: &other_canon, modified_at: None };
        let (left, right) = if side == Side::Left { (&this, &that) } else { (&that, &this) };
        if reconcile::plan_link(pair, &w.link.base, left, right).writes_to(side).next().is_some() {
            ids.push(w.change.id.clone());
        }
    }
    read_in_full(ctx, side, works, &ids).await
}

/// A mapped field one side's system stopped returning (a deleted or renamed property). The field
/// fails closed: nothing is read from it (the record's canonical view lacks it, so the base
/// stands) and nothing is written to it; one review item per pair and field names it.
struct Drift {
    side: Side,
    field: String,
    remote: String,
}

impl Drift {
    /// Takes the writes of the field to the drifted side out of `plan`; the base keeps its value.
    fn hold(&self, plan: &mut LinkPlan, base: &CanonMap) {
        let before = plan.writes.len();
        plan.writes.retain(|w| !(w.target == self.side && w.field == self.field));
        if plan.writes.len() != before {
            plan.new_base.insert(self.field.clone(), base.get(&self.field).cloned().flatten());
        }
    }

    fn review_item(&self, ctx: &PairContext) -> NewReviewItem {
        let ep = ctx.pair.endpoint(self.side);
        NewReviewItem {
            pair: ctx.pair.name.clone(),
            kind: ReviewKind::HeldBack,
            field: Some(self.field.clone()),
            reason: format!(
                "schema drift: {} no longer returns the field `{}` of {} (mapped to `{}`); the field is \
                 held on every record (neither read nor written) until the field exists again or \
                 the mapping changes",
                ep.system, self.remote, ep.object, self.field
            ),
            remote_system: Some(ep.system.clone()),
            remote_field: Some(self.remote.clone()),
            detected_at: ctx.clock.now(),
            run_id: ctx.run_id.clone(),
            ..NewReviewItem::default()
        }
    }
}

/// The pair's mapped fields either side's connector reports missing from its latest reads.
fn schema_drift(ctx: &PairContext) -> Vec<Drift> {
    let mut out = Vec::new();
    for side in [Side::Left, Side::Right] {
        let missing = ctx.connector(side).missing_fields(&ctx.pair.endpoint(side).object);
        for remote in missing {
            for f in ctx.pair.fields.iter().filter(|f| f.remote(side).contains(&remote)) {
                tracing::warn!(pair = %ctx.pair.name, system = %ctx.pair.endpoint(side).system, field = %remote, "a mapped field is missing from the system's answers; it is held");
                out.push(Drift { side, field: f.name.clone(), remote: remote.clone() });
            }
        }
    }
    out
}

/// Reads the records `ids` of `side` in full and puts them in place of their partial changes.
async fn read_in_full(
    ctx: &PairContext,
    side: Side,
    works: &mut [Work],
    ids: &[String],
) -> Result<(), SyncError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut full = ctx.fetch_records(side, ids).await?;
    for work in works.iter_mut() {
        if let Some(record) = full.remove(&work.change.id) {
            work.canon = ctx.pair.canonical(side, &record.fields);
            work.change.fields = record.fields;
            work.change.partial = false;
        }
    }
    Ok(())
}

/// A delete (or a merge into an already linked survivor) on a linked record, per the pair's
/// delete policy. Deletes never propagate unless the pair says so.
fn deleted(
    ctx: &PairContext,
    side: Side,
    link: &Link,
    change: &Change,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) {
    stats.run.deleted += 1;
    if ctx.pair.deletes == DeletePolicy::Ignore {
        return;
    }
    commit.unlinks.push(link.id);
    commit.review_items.push(NewReviewItem {
        pair: ctx.pair.name.clone(),
        link_id: Some(link.id),
        kind: ReviewKind::Deleted,
        left_id: Some(link.left_id.clone()),
        right_id: Some(link.right_id.clone()),
        reason: format!(
            "record {} was {} on the {side} side ({}); the link was removed and the other side left as it is",
            change.id,
            match change.kind {
                ChangeKind::Merged { .. } => "merged into an already linked record",
                _ => "deleted",
            },
            ctx.pair.endpoint(side).system
        ),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    });
}

/// A link update that only stamps the sweep's verification time.
fn verified(link: &Link, side: Side, now: chrono::DateTime<chrono::Utc>) -> LinkUpsert {
    let mut up = LinkUpsert {
        id: Some(link.id),
        pair: link.pair.clone(),
        base: link.base.clone(),
        ..LinkUpsert::default()
    };
    match side {
        Side::Left => up.left_verified_at = Some(now),
        Side::Right => up.right_verified_at = Some(now),
    }
    up
}

/// The content hash of a canonical record, so re-reads of unchanged records cost nothing.
pub(crate) fn canon_hash(canon: &CanonMap) -> String {
    let bytes = serde_json::to_vec(canon).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// A stable idempotency key from the parts of an intent.
pub(crate) fn write_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Records the decision log entries for the writes of a link plan that succeeded.
pub(crate) fn decisions(
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
