//! Identity resolution for records with no link yet, and the creates that follow from it.
//!
//! Probes run strongest first (back-link, external id, email, company keys, name + country); the
//! first probe that finds candidates not already linked decides. One candidate is a link; several
//! are an ambiguous-identity review item (never a guess); none lets the creation rule decide.
//! Creates carry the external-id back-link so a retry finds the first create (find-or-create).

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{Change, FieldMap, Write, WriteOp, WriteResult};
use serde_json::json;

use crate::mapping::{CanonMap, Side};
use crate::reconcile::identity::RECORD_ID_FIELD;
use crate::reconcile::{self, Confidence, CreatePlan, Match, ProbeKind, SideView};
use crate::store::{
    Link, LinkUpsert, NewReviewItem, PageCommit, ReviewFilter, ReviewItem, ReviewKind, ReviewState,
    ReviewTransition,
};

use super::SyncError;
use super::page::{PageStats, canon_hash, write_key};
use super::pull::PairContext;
use super::{apply, outcome};

/// What identity resolution decided for a page.
#[derive(Default)]
pub(crate) struct Resolved {
    /// Links to existing records, to be committed before planning.
    pub new_links: Vec<LinkUpsert>,
    /// Records to create on the other side.
    pub creates: Vec<CreatePlan>,
    /// The source's content hash per create, for the new link.
    pub create_hashes: BTreeMap<String, String>,
    /// Links to move to a record of this side whose partner's back-link names it: the link and
    /// the record it moves to.
    pub relinks: Vec<(Link, String)>,
    /// The whole records read for partial changes, so planning does not read them again.
    pub fetched: BTreeMap<String, FieldMap>,
    /// Records of this side linked by a back-link (either side's names the other): pairs that
    /// were synced before, whose fields neither side can read are taken as agreed.
    pub by_backlink: BTreeSet<String>,
}

/// Resolves each unlinked change.
pub(crate) async fn resolve(
    ctx: &PairContext,
    side: Side,
    unlinked: &[&Change],
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Resolved, SyncError> {
    let mut out = Resolved::default();
    let other = side.other();
    let pair = &ctx.pair;
    let full = full_records(ctx, side, unlinked).await?;
    out.fetched = unlinked
        .iter()
        .filter(|c| c.partial)
        .filter_map(|c| full.get(&c.id).map(|f| (c.id.clone(), f.clone())))
        .collect();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let disputed = if unlinked.is_empty() { BTreeSet::new() } else { disputed_ids(ctx).await? };
    let deletes = if unlinked.is_empty() { Vec::new() } else { open_items(ctx, ReviewKind::Deleted).await? };
    let refused =
        if unlinked.is_empty() { Vec::new() } else { open_items(ctx, ReviewKind::WriteRejected).await? };
    let all_probes: Vec<Vec<reconcile::Probe>> = unlinked
        .iter()
        .filter_map(|c| full.get(&c.id).map(|f| reconcile::identity_probes(pair, side, &c.id, f)))
        .collect();
    let lookups = prefetch(ctx, other, &all_probes).await?;
    for change in unlinked {
        let Some(fields) = full.get(&change.id) else { continue };
        let probes = reconcile::identity_probes(pair, side, &change.id, fields);
        let mut found = Vec::new();
        let mut decision = Match::None;
        let mut excluded: BTreeSet<String> = BTreeSet::new();
        for (i, probe) in probes.into_iter().enumerate() {
            let ids = candidates(ctx, other, &probe.key, &lookups).await?;
            if i == 0 && probe.kind == ProbeKind::BackLink && ids.is_empty() {
                // Our back-link names a record that no longer exists: its partner was deleted
                // or merged away. Never re-create it silently; a person decides.
                commit.review_items.push(dangling(ctx, side, &change.id, &probe.key.value));
                decision = Match::Ambiguous(Vec::new());
                break;
            }
            let linked = already_linked(ctx, other, &ids).await?;
            // The other record's back-link names this one, but it is linked to another record
            // (matched by a weaker key, e.g. email, before this one was seen): the stronger key
            // wins and the link moves here, unless that other record's own back-link claims it.
            if probe.kind == ProbeKind::ExternalId
                && let [candidate] = ids.as_slice()
                && linked.contains(candidate)
                && !claimed.contains(candidate)
                && !disputed.contains(candidate)
                && !disputed.contains(&change.id)
                && let Some(link) = relinkable(ctx, side, candidate).await?
            {
                claimed.insert(candidate.clone());
                out.relinks.push((link, change.id.clone()));
                decision = Match::Ambiguous(Vec::new());
                break;
            }
            // Exclusions accumulate over the probes: `decide_match` looks at every probe found
            // so far, so a candidate a stronger probe found must stay excluded when a weaker
            // probe finds nothing (else it would be linked a second time).
            excluded.extend(linked);
            excluded.extend(claimed.iter().cloned());
            found.push((probe, ids));
            decision = reconcile::decide_match(&found, &excluded);
            if decision != Match::None {
                break;
            }
        }
        let canon = pair.canonical(side, fields);
        let taken = if decision == Match::None { taken_matches(&found, &excluded) } else { Vec::new() };
        match decision {
            // A record already in an open ambiguous-identity item, on either side, is not linked
            // from this side either: that would be the guess the item exists to prevent.
            Match::Linked(other_id, _) if disputed.contains(&other_id) || disputed.contains(&change.id) => {
                stats.ambiguous += 1;
            }
            Match::Linked(other_id, confidence) => {
                claimed.insert(other_id.clone());
                stats.run.linked += 1;
                if found
                    .last()
                    .is_some_and(|(p, _)| matches!(p.kind, ProbeKind::BackLink | ProbeKind::ExternalId))
                {
                    out.by_backlink.insert(change.id.clone());
                }
                out.new_links.push(new_link(ctx, side, &change.id, &other_id, confidence, &found));
                // The same two records linked again (an undelete): the delete settled itself.
                for item in deletes.iter().filter(|i| {
                    names(i, side) == Some(change.id.as_str()) && names(i, other) == Some(other_id.as_str())
                }) {
                    let superseded = ReviewTransition::Superseded { run_id: ctx.run_id.clone() };
                    commit.review_transitions.push((item.id, superseded));
                }
            }
            Match::Ambiguous(ids) if ids.is_empty() => {}
            Match::Ambiguous(ids) => {
                stats.ambiguous += 1;
                let (left_id, right_id) = if side == Side::Left {
                    (Some(change.id.clone()), None)
                } else {
                    (None, Some(change.id.clone()))
                };
                commit.review_items.push(NewReviewItem {
                    pair: pair.name.clone(),
                    kind: ReviewKind::AmbiguousIdentity,
                    left_id,
                    right_id,
                    reason: format!(
                        "{} {} matches {} records on {}; link it to one of them or ignore",
                        pair.endpoint(side).system,
                        change.id,
                        ids.len(),
                        pair.endpoint(other).system
                    ),
                    candidates: json!({ "side": other.as_str(), "ids": ids, "person": person_of(&canon) }),
                    detected_at: ctx.clock.now(),
                    run_id: ctx.run_id.clone(),
                    ..NewReviewItem::default()
                });
            }
            // Its partner was deleted and the delete waits for a person: re-creating it now would
            // undo the delete behind the reviewer's back (and duplicate it if it is undeleted).
            Match::None if deletes.iter().any(|i| names(i, side) == Some(change.id.as_str())) => {}
            // Its email (or company key) names a record over there that is linked to another
            // record here: this side holds the same person twice. Creating it over there would
            // make a second copy; a person decides.
            Match::None if !taken.is_empty() => {
                stats.ambiguous += 1;
                commit.review_items.push(taken_item(ctx, side, &change.id, taken));
            }
            Match::None => {
                let view = SideView {
                    id: &change.id,
                    values: &canon,
                    modified_at: ctx.modified_time(side, change.modified_at),
                };
                let Some(plan) = reconcile::plan_create(pair, side, &view) else { continue };
                // The same create was refused for good and its item is still open: sending it
                // again (each time the overlap re-reads the record) would only be refused again.
                // Judged by content, never by time: WhiteLabelCRO's "modified" is its read time.
                let refusal = create_refusal(ctx, side, &plan);
                if refused.iter().any(|i| {
                    i.link_id.is_none()
                        && names(i, side) == Some(change.id.as_str())
                        && names(i, other).is_none()
                        && outcome::refused_in(i).any(|r| r == refusal)
                }) {
                    stats.held += 1;
                    continue;
                }
                out.create_hashes.insert(change.id.clone(), canon_hash(&canon));
                out.creates.push(plan);
            }
        }
    }
    Ok(out)
}

/// The candidates an email or company-key probe found that are all linked to other records.
fn taken_matches(found: &[(reconcile::Probe, Vec<String>)], excluded: &BTreeSet<String>) -> Vec<String> {
    let strong = |p: &reconcile::Probe| matches!(p.kind, ProbeKind::Email | ProbeKind::CompanyKey);
    let mut ids: Vec<String> = found
        .iter()
        .filter(|(p, _)| strong(p))
        .flat_map(|(_, ids)| ids.iter().filter(|id| excluded.contains(*id)).cloned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The review item for a record whose match over there is linked to another record here.
fn taken_item(ctx: &PairContext, side: Side, id: &str, ids: Vec<String>) -> NewReviewItem {
    let (left_id, right_id) =
        if side == Side::Left { (Some(id.to_string()), None) } else { (None, Some(id.to_string())) };
    let other = ctx.pair.endpoint(side.other());
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        kind: ReviewKind::AmbiguousIdentity,
        left_id,
        right_id,
        reason: format!(
            "{} {id} matches {} record(s) on {} that are already linked to another record: {} holds this \
             person twice; merge the duplicates there, or ignore this item; nothing was created",
            ctx.pair.endpoint(side).system,
            ids.len(),
            other.system,
            ctx.pair.endpoint(side).system,
        ),
        candidates: json!({ "side": side.other().as_str(), "ids": ids, "taken": true }),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}

/// The link of `candidate` (on the other side) when it may move to another record of `side`:
/// its current partner on `side` does not name `candidate` in its own back-link (it was matched
/// by a weaker key). `None` when the partner's back-link claims it too, or it is not readable.
async fn relinkable(ctx: &PairContext, side: Side, candidate: &str) -> Result<Option<Link>, SyncError> {
    let other = side.other();
    let Some(link) = ctx.store.link_by_record(&ctx.pair.name, other, candidate).await? else {
        return Ok(None);
    };
    let partner = link.record_id(side).to_string();
    let Some(record) = ctx.fetch_records(side, std::slice::from_ref(&partner)).await?.remove(&partner) else {
        return Ok(None);
    };
    let probes = reconcile::identity_probes(&ctx.pair, side, &partner, &record.fields);
    // A back-link crosswalk wrote itself after a weaker match is no claim of the partner's own.
    let claims = probes.first().is_some_and(|p| p.kind == ProbeKind::BackLink && p.key.value == candidate)
        && !super::backlinks::ours(&link);
    Ok((!claims).then_some(link))
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
    let mut commit = PageCommit::new(ctx.lease.clone(), ctx.run_id.clone(), ctx.clock.now());
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
        .filter(|(link, _)| super::backlinks::ours(link))
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
    for (key, result) in apply::execute(ctx, side, writes).await? {
        match result {
            Ok(_) => commit.intents_done.push(key),
            Err(e) => tracing::warn!(pair = %ctx.pair.name, class = ?e.class(),
                "a back-link crosswalk wrote on a record the link left could not be cleared"),
        }
    }
    Ok(())
}

/// Every record id named by an open ambiguous-identity item of the pair: the record itself and
/// its candidates.
async fn disputed_ids(ctx: &PairContext) -> Result<BTreeSet<String>, SyncError> {
    let filter = ReviewFilter {
        pair: Some(ctx.pair.name.clone()),
        kind: Some(ReviewKind::AmbiguousIdentity),
        state: Some(ReviewState::Open),
        ..ReviewFilter::default()
    };
    let mut out = BTreeSet::new();
    for item in ctx.store.list_review(&filter).await? {
        out.extend(item.left_id.into_iter().chain(item.right_id));
        if let Some(ids) = item.candidates.get("ids").and_then(|v| v.as_array()) {
            out.extend(ids.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    Ok(out)
}

/// The pair's open review items of one kind.
async fn open_items(ctx: &PairContext, kind: ReviewKind) -> Result<Vec<ReviewItem>, SyncError> {
    let filter = ReviewFilter {
        pair: Some(ctx.pair.name.clone()),
        kind: Some(kind),
        state: Some(ReviewState::Open),
        ..ReviewFilter::default()
    };
    Ok(ctx.store.list_review(&filter).await?)
}

/// The record a review item names on `side`.
fn names(item: &ReviewItem, side: Side) -> Option<&str> {
    match side {
        Side::Left => item.left_id.as_deref(),
        Side::Right => item.right_id.as_deref(),
    }
}

/// A review item for a record whose back-link points at a record that is gone.
fn dangling(ctx: &PairContext, side: Side, id: &str, target: &str) -> NewReviewItem {
    let (left_id, right_id) = match side {
        Side::Left => (Some(id.to_string()), None),
        Side::Right => (None, Some(id.to_string())),
    };
    let other = ctx.pair.endpoint(side.other());
    NewReviewItem {
        pair: ctx.pair.name.clone(),
        kind: ReviewKind::Deleted,
        left_id,
        right_id,
        reason: format!(
            "{} {id} is linked by its back-link to {} record {target}, which no longer exists; it was not re-created",
            ctx.pair.endpoint(side).system,
            other.system
        ),
        detected_at: ctx.clock.now(),
        run_id: ctx.run_id.clone(),
        ..NewReviewItem::default()
    }
}

/// The whole record of each change (partial changes are fetched in full first).
async fn full_records(
    ctx: &PairContext,
    side: Side,
    changes: &[&Change],
) -> Result<BTreeMap<String, FieldMap>, SyncError> {
    let mut out: BTreeMap<String, FieldMap> =
        changes.iter().filter(|c| !c.partial).map(|c| (c.id.clone(), c.fields.clone())).collect();
    let partial: Vec<String> = changes.iter().filter(|c| c.partial).map(|c| c.id.clone()).collect();
    if !partial.is_empty() {
        out.extend(ctx.fetch_records(side, &partial).await?.into_iter().map(|(id, r)| (id, r.fields)));
    }
    Ok(out)
}

/// Candidate ids per identity key `(field, value)`, looked up for a whole page at once.
type Lookups = BTreeMap<(String, String), Vec<String>>;

/// Looks up the page's identity keys in batches, one round per probe position: the keys of
/// probe `r` of every record whose earlier probes found nothing, one batched call per field
/// (`fetch` for back-links, `find_many` otherwise). A record that needs a key no round looked up
/// (its earlier candidates were all taken) is looked up alone by [`candidates`].
async fn prefetch(
    ctx: &PairContext,
    side: Side,
    probes: &[Vec<reconcile::Probe>],
) -> Result<Lookups, SyncError> {
    let mut cache = Lookups::new();
    let object = &ctx.pair.endpoint(side).object;
    let connector = ctx.connector(side);
    let rounds = probes.iter().map(Vec::len).max().unwrap_or(0);
    for r in 0..rounds {
        let mut by_field: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for record in probes {
            let Some(probe) = record.get(r) else { continue };
            let settled = record[..r].iter().any(|p| {
                cache.get(&(p.key.field.clone(), p.key.value.clone())).is_some_and(|ids| !ids.is_empty())
            });
            if !settled {
                by_field.entry(probe.key.field.clone()).or_default().insert(probe.key.value.clone());
            }
        }
        for (field, values) in by_field {
            let values: Vec<String> = values.into_iter().collect();
            let found: BTreeMap<String, Vec<String>> = if field == RECORD_ID_FIELD {
                let records = ctx.fetch_records(side, &values).await?;
                values
                    .iter()
                    .map(|v| {
                        (
                            v.clone(),
                            records.get(v).filter(|r| !r.deleted).map(|r| r.id.clone()).into_iter().collect(),
                        )
                    })
                    .collect()
            } else {
                let found =
                    connector.find_many(object, &field, &values).await.map_err(|e| ctx.err(side, e))?;
                found
                    .into_iter()
                    .map(|(v, records)| {
                        (v, records.into_iter().filter(|r| !r.deleted).map(|r| r.id).collect())
                    })
                    .collect()
            };
            for v in values {
                let ids = found.get(&v).cloned().unwrap_or_default();
                cache.insert((field.clone(), v), ids);
            }
        }
    }
    Ok(cache)
}

async fn candidates(
    ctx: &PairContext,
    side: Side,
    key: &connector_api::IdentityKey,
    cache: &Lookups,
) -> Result<Vec<String>, SyncError> {
    if let Some(ids) = cache.get(&(key.field.clone(), key.value.clone())) {
        return Ok(ids.clone());
    }
    let object = &ctx.pair.endpoint(side).object;
    let connector = ctx.connector(side);
    let records = if key.field == RECORD_ID_FIELD {
        connector.fetch(object, std::slice::from_ref(&key.value)).await
    } else {
        connector.find(object, key).await
    }
    .map_err(|e| ctx.err(side, e))?;
    Ok(records.into_iter().filter(|r| !r.deleted).map(|r| r.id).collect())
}

async fn already_linked(
    ctx: &PairContext,
    side: Side,
    ids: &[String],
) -> Result<BTreeSet<String>, SyncError> {
    if ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    let links = ctx.store.links_by_records(&ctx.pair.name, side, ids).await?;
    Ok(links.iter().map(|l| l.record_id(side).to_string()).collect())
}

fn new_link(
    ctx: &PairContext,
    side: Side,
    id: &str,
    other_id: &str,
    confidence: Confidence,
    found: &[(reconcile::Probe, Vec<String>)],
) -> LinkUpsert {
    let (left_id, right_id) = if side == Side::Left { (id, other_id) } else { (other_id, id) };
    let keys = found
        .iter()
        .filter(|(p, _)| matches!(p.kind, ProbeKind::Email | ProbeKind::CompanyKey))
        .map(|(p, _)| (side, p.key.field.clone(), p.key.value.clone()))
        .collect();
    LinkUpsert {
        pair: ctx.pair.name.clone(),
        left_id: left_id.to_string(),
        right_id: right_id.to_string(),
        low_confidence: confidence == Confidence::Low,
        keys,
        ..LinkUpsert::default()
    }
}

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

/// What identifies a refused create: the record and exactly what would be sent.
fn create_refusal(ctx: &PairContext, side: Side, plan: &CreatePlan) -> String {
    write_key(&[
        "create",
        &ctx.pair.name,
        side.as_str(),
        &plan.source_id,
        &serde_json::to_string(&plan.fields).unwrap_or_default(),
        &serde_json::to_string(&plan.external_id).unwrap_or_default(),
    ])
}

fn create_key(ctx: &PairContext, side: Side, source_id: &str) -> String {
    write_key(&["create", &ctx.pair.name, side.as_str(), source_id])
}

/// Sends the creates to the other side.
pub(crate) async fn execute_creates(
    ctx: &PairContext,
    side: Side,
    creates: &[CreatePlan],
) -> Result<BTreeMap<String, WriteResult>, SyncError> {
    let writes = creates
        .iter()
        .map(|c| Write {
            key: create_key(ctx, side, &c.source_id),
            op: WriteOp::Create { fields: c.fields.clone(), external_id: c.external_id.clone() },
        })
        .collect();
    apply::execute(ctx, side.other(), writes).await
}

/// Tells each source record of a successful create the id of the record made for it (when its
/// side has a back-link field), batched in one round. Answers the back-link marker per source id
/// whose back-link is in place; a refused or failed back-link write leaves the marker out, so the
/// link's next planning writes it again.
async fn write_create_backlinks(
    ctx: &PairContext,
    side: Side,
    resolved: &Resolved,
    results: &BTreeMap<String, WriteResult>,
    commit: &mut PageCommit,
) -> Result<BTreeMap<String, String>, SyncError> {
    let mut markers = BTreeMap::new();
    let mut writes = Vec::new();
    for plan in &resolved.creates {
        let Some(Ok(written)) = results.get(&create_key(ctx, side, &plan.source_id)) else { continue };
        let need = super::backlinks::for_create(ctx, side, &plan.source_id, &written.id);
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
    let mut done = apply::execute(ctx, side, writes.iter().map(|(_, _, w)| w.clone()).collect()).await?;
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
pub(crate) async fn settle_creates(
    ctx: &PairContext,
    side: Side,
    resolved: &Resolved,
    mut results: BTreeMap<String, WriteResult>,
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Option<String>, SyncError> {
    let other = side.other();
    let mut incomplete = None;
    let backlinked = write_create_backlinks(ctx, side, resolved, &results, commit).await?;
    for plan in &resolved.creates {
        let key = create_key(ctx, side, &plan.source_id);
        match results.remove(&key) {
            Some(Ok(written)) => {
                commit.intents_done.push(key);
                if !already_linked(ctx, other, std::slice::from_ref(&written.id)).await?.is_empty() {
                    commit.review_items.push(super::outcome::rejected_item(
                        ctx,
                        side,
                        &plan.source_id,
                        &written.id,
                        "the created record's back-link points at a record that is already linked",
                    ));
                    continue;
                }
                if written.created {
                    stats.run.created += 1
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
                if let Some(marker) = backlinked.get(&plan.source_id) {
                    base.insert(super::backlinks::MARKER.to_string(), Some(marker.clone()));
                }
                let mut up = LinkUpsert {
                    pair: ctx.pair.name.clone(),
                    left_id,
                    right_id,
                    base,
                    ..LinkUpsert::default()
                };
                match side {
                    Side::Left => up.left_hash = source_hash,
                    Side::Right => up.right_hash = source_hash,
                }
                commit.link_upserts.push(up);
            }
            Some(Err(e)) if e.is_retryable() => {
                incomplete.get_or_insert_with(|| {
                    format!("creates on {} failed for now: {e}", ctx.pair.endpoint(other).system)
                });
            }
            Some(Err(e)) => {
                stats.run.rejected += 1;
                commit.intents_done.push(key);
                let mut item = outcome::refused_item(ctx, side, &plan.source_id, "", &e);
                outcome::with_refusals(&mut item, vec![create_refusal(ctx, side, plan)]);
                commit.review_items.push(item);
            }
            None => {
                incomplete.get_or_insert_with(|| "a create got no outcome".to_string());
            }
        }
    }
    Ok(incomplete)
}

/// The fields that name the person of a record (for the review queue), from its canonical form.
fn person_of(canon: &CanonMap) -> serde_json::Value {
    let named = crate::store::Person::FIELDS.iter().filter_map(|&k| Some((k, canon.get(k)?.clone()?)));
    serde_json::Value::Object(named.map(|(k, v)| (k.to_string(), serde_json::Value::String(v))).collect())
}
