//! Planning a page's linked records: pick the changes that need it (an unchanged re-read costs
//! nothing), complete partial changes whose missing fields planning needs, read the other side's
//! records in batches, hold fields whose remote property vanished (schema drift), and plan each
//! link three ways against its base with the pure planner. Deletes of linked records are settled
//! here too, per the pair's delete policy. Nothing is written.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use connector_api::{Change, ChangeKind, Record};

use crate::mapping::{CanonMap, DeletePolicy, PairMapping, Side};
use crate::reconcile::{self, LinkPlan, SideView};
use crate::store::{Link, LinkUpsert, NewReviewItem, PageCommit, ReviewKind};

use super::backlinks::{self, Needed};
use super::context::{PairContext, side_index};
use super::error::SyncError;
use super::identity::Resolved;
use super::keys::canon_hash;
use super::report::PageStats;
use super::review_items;

/// A linked record planned against the other side: what each side holds, the plan, and the
/// back-links the link still needs.
pub(crate) struct PlannedLink {
    /// The side the page was pulled from.
    pub side: Side,
    pub link: Link,
    /// The change pulled (whole unless the system only sent part of it).
    pub change: Change,
    /// This side's canonical values (partial when the change is).
    pub canon: CanonMap,
    /// The other side's whole canonical record.
    pub other_canon: CanonMap,
    /// The other side's record-level modified time.
    pub other_modified: DateTime<Utc>,
    pub plan: LinkPlan,
    /// The back-link writes the link needs (none when they are settled).
    pub backlinks: Option<Needed>,
}

impl PlannedLink {
    /// What `target` holds now, canonical.
    pub fn values(&self, target: Side) -> &CanonMap {
        if target == self.side { &self.canon } else { &self.other_canon }
    }
}

/// A linked record to plan: the link, the change and this side's canonical values.
struct Work {
    link: Link,
    change: Change,
    canon: CanonMap,
}

/// Plans the linked records among `changes` (`links` by this side's record id). Review items for
/// deletes and schema drift, and the sweep's verification stamps, go into `commit`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan_links(
    ctx: &PairContext,
    side: Side,
    changes: Vec<Change>,
    links: &BTreeMap<String, Link>,
    resolved: &Resolved,
    sweep: bool,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Vec<PlannedLink>, SyncError> {
    let mut works = select(ctx, side, changes, links, resolved, sweep, commit, stats);
    complete_partials(ctx, side, &mut works).await?;
    let other_ids: Vec<String> = works.iter().map(|w| w.link.record_id(side.other()).to_string()).collect();
    let others = ctx.fetch_records(side.other(), &other_ids).await?;
    complete_overwritten_partials(ctx, side, &mut works, &others).await?;
    let drift = schema_drift(ctx);
    commit.review_items.extend(drift.iter().map(|d| d.review_item(ctx)));
    let mut planned = Vec::new();
    for work in works {
        // The other side's record is gone: its own pull reports the delete.
        let Some(other) = others.get(work.link.record_id(side.other())) else { continue };
        let by_backlink = resolved.by_backlink.contains(&work.change.id);
        let p = plan_one(ctx, side, work, other, by_backlink, &drift);
        if p.plan.is_noop() {
            stats.run.skipped_echo += 1;
        }
        planned.push(p);
    }
    Ok(planned)
}

/// The changes of linked records that need planning: a re-read whose content hash is unchanged
/// costs nothing, and neither does a change no newer than what this run planned already.
#[allow(clippy::too_many_arguments)]
fn select(
    ctx: &PairContext,
    side: Side,
    changes: Vec<Change>,
    links: &BTreeMap<String, Link>,
    resolved: &Resolved,
    sweep: bool,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Vec<Work> {
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
                let canon = ctx.pair.canonical(side, &change.fields);
                if !change.partial && link.hash(side) == Some(canon_hash(&canon).as_str()) {
                    stats.run.reread += 1;
                    if sweep {
                        commit.link_upserts.push(verified(&link, side, ctx.clock.now()));
                    }
                    continue;
                }
                if agrees_with_base(ctx, &link, side, &change, &canon) {
                    // The echo of what crosswalk created or wrote (or a record already agreed):
                    // nothing new here, so no read of the other side and no plan.
                    stats.run.skipped_echo += 1;
                    commit.link_upserts.push(agreed(&link, side, &change, &canon, sweep, ctx.clock.now()));
                    continue;
                }
                if !sweep && !ctx.needs_planning(link.id, side, change.modified_at) {
                    stats.run.reread += 1;
                    continue;
                }
                works.push(Work { link, change, canon });
            }
            // Merges of linked records were re-pointed before identity; one still linked here
            // merged into a record that already had a link of its own.
            ChangeKind::Deleted | ChangeKind::Merged { .. } => {
                deleted(ctx, side, &link, &change, commit, stats)
            }
        }
    }
    works
}

/// True when `canon` (this side's values now) holds nothing the link's base does not: every
/// field it carries equals the base (a blank equals a field the base never had), and the
/// back-links are settled. For a whole record this is judged only while the side has no content
/// hash yet (the record crosswalk created, whose echo is judged by the base); once it has one,
/// the hash decides. A partial change (an event) that agrees with the base brings no news either.
fn agrees_with_base(ctx: &PairContext, link: &Link, side: Side, change: &Change, canon: &CanonMap) -> bool {
    if link.base.is_empty() || (!change.partial && link.hash(side).is_some()) || !backlinks::settled(link) {
        return false;
    }
    let mapped = |k: &String| ctx.pair.field(k).is_some();
    canon.iter().filter(|(k, _)| mapped(k)).all(|(k, v)| link.base.get(k).cloned().flatten() == *v)
}

/// The link update for a record that agrees with its base: this side's content hash (for a
/// whole record) and the sweep's verification stamp.
fn agreed(
    link: &Link,
    side: Side,
    change: &Change,
    canon: &CanonMap,
    sweep: bool,
    now: DateTime<Utc>,
) -> LinkUpsert {
    let mut up = verified(link, side, now);
    let hash = (!change.partial).then(|| canon_hash(canon));
    match side {
        Side::Left => (up.left_hash, up.left_verified_at) = (hash, up.left_verified_at.filter(|_| sweep)),
        Side::Right => (up.right_hash, up.right_verified_at) = (hash, up.right_verified_at.filter(|_| sweep)),
    }
    up
}

/// Plans one link against `other`, the other side's record as read now.
fn plan_one(
    ctx: &PairContext,
    side: Side,
    work: Work,
    other: &Record,
    by_backlink: bool,
    drift: &[Drift],
) -> PlannedLink {
    let pair = &ctx.pair;
    let other_canon = pair.canonical(side.other(), &other.fields);
    let this_view = SideView {
        id: &work.change.id,
        values: &work.canon,
        modified_at: ctx.modified_time(side, work.change.modified_at),
    };
    let other_view = SideView {
        id: &other.id,
        values: &other_canon,
        modified_at: ctx.modified_time(side.other(), other.modified_at),
    };
    let (left, right) =
        if side == Side::Left { (&this_view, &other_view) } else { (&other_view, &this_view) };
    let base = if work.link.base.is_empty() && by_backlink {
        agreed_unreadable(pair, &ctx.unreadable, &work.link.base, [left.values, right.values])
    } else {
        work.link.base.clone()
    };
    let mut plan = reconcile::plan_link(pair, &base, left, right);
    for d in drift {
        d.hold(&mut plan, &work.link.base);
    }
    ctx.mark_planned(work.link.id, side, work.change.modified_at, other.modified_at);
    let this_fields = (!work.change.partial).then_some(&work.change.fields);
    let (left_fields, right_fields) = if side == Side::Left {
        (this_fields, Some(&other.fields))
    } else {
        (Some(&other.fields), this_fields)
    };
    let backlinks = backlinks::needed(ctx, &work.link, left_fields, right_fields);
    PlannedLink {
        side,
        link: work.link,
        change: work.change,
        canon: work.canon,
        other_canon,
        other_modified: other.modified_at,
        plan,
        backlinks,
    }
}

/// The first base of a pair found by its back-links (synced before, by crosswalk or by whoever
/// set those back-links): a field one side cannot read is taken as agreed with the side that
/// can, instead of written through again. A pair found by email gets no such assumption: there
/// the owner's value is written through once.
fn agreed_unreadable(
    pair: &PairMapping,
    unreadable: &[BTreeSet<String>; 2],
    base: &CanonMap,
    values: [&CanonMap; 2],
) -> CanonMap {
    let mut out = base.clone();
    for f in &pair.fields {
        for (blind, seen) in [(Side::Left, values[1]), (Side::Right, values[0])] {
            if f.unreadable_on(blind, &unreadable[side_index(blind)])
                && let Some(v) = seen.get(&f.name)
            {
                out.insert(f.name.clone(), v.clone());
            }
        }
    }
    out
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
    others: &BTreeMap<String, Record>,
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
    let merged = matches!(change.kind, ChangeKind::Merged { .. });
    commit.review_items.push(review_items::deleted_item(ctx, side, link, &change.id, merged));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(pairs: &[(&str, Option<&str>)]) -> CanonMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string))).collect()
    }

    #[test]
    fn a_field_one_side_cannot_read_is_agreed_with_the_side_that_can() {
        let toml = r#"
            version = 1
            name = "people"
            left = { system = "wlcro", object = "people" }
            right = { system = "hubspot", object = "contacts" }
            [identity]
            email = { left = "email", right = "email" }
            [creation]
            left_to_right = "link_only"
            right_to_left = "link_only"
            [fields.email]
            rule = "two_way"
            left = "email"
            right = "email"
            [fields.city]
            rule = "right"
            left = "city"
            right = "city"
        "#;
        let pair = crate::mapping::load_str(toml, std::path::Path::new("people.toml")).expect("mapping");
        let unreadable = [BTreeSet::from(["city".to_string()]), BTreeSet::new()];
        let left = canon(&[("email", Some("a@x.io"))]);
        let right = canon(&[("email", Some("a@x.io")), ("city", Some("Oslo"))]);
        let base = agreed_unreadable(&pair, &unreadable, &CanonMap::new(), [&left, &right]);
        assert_eq!(base.get("city"), Some(&Some("Oslo".to_string())), "taken from the side that reads it");
        assert_eq!(base.get("email"), None, "a readable field starts with no base");
    }
}
