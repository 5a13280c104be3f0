//! Identity resolution for records with no link yet: it decides, and changes nothing.
//!
//! Probes run strongest first (back-link, external id, email, company keys, name + country); the
//! first probe that finds candidates not already linked decides. One candidate is a link; several
//! are an ambiguous-identity review item (never a guess); none lets the creation rule decide.
//! The decisions ([`Resolved`]) are carried out by the stages above: `link` commits the new links
//! and relinks, `creates` sends the creates (with the external-id back-link, so a retry finds
//! the first create) and settles them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use connector_api::{Change, FieldMap};

use crate::mapping::{CanonMap, Side};
use crate::reconcile::identity::RECORD_ID_FIELD;
use crate::reconcile::{self, Confidence, CreatePlan, Match, Probe, ProbeKind, SideView};
use crate::store::{Link, LinkUpsert, PageCommit, ReviewItem, ReviewKind, ReviewTransition};

use super::backlinks;
use super::context::PairContext;
use super::error::SyncError;
use super::keys::{canon_hash, create_refusal};
use super::misses;
use super::report::PageStats;
use super::review_items::{self, names};

/// What identity resolution decided for a page.
#[derive(Default)]
pub(crate) struct Resolved {
    /// Links to existing records, to be committed before planning.
    pub new_links: Vec<LinkUpsert>,
    /// Records to create on the other side.
    pub creates: Vec<CreatePlan>,
    /// The source's content hash per create, for the new link.
    pub create_hashes: BTreeMap<String, String>,
    /// The source's modified time per create (when real), for its freshness.
    pub create_times: BTreeMap<String, DateTime<Utc>>,
    /// Links to move (and the record of this side each moves to): the partner's back-link names it.
    pub relinks: Vec<(Link, String)>,
    /// The whole records read for partial changes, so planning does not read them again.
    pub fetched: BTreeMap<String, FieldMap>,
    /// Records of this side linked by a back-link (either side's names the other): pairs that
    /// were synced before, whose fields neither side can read are taken as agreed.
    pub by_backlink: BTreeSet<String>,
}

/// The pair's open review items identity must respect.
#[derive(Default)]
struct Known {
    /// Records named by an open ambiguous-identity item (on either side).
    disputed: BTreeSet<String>,
    /// Open delete items.
    deletes: Vec<ReviewItem>,
    /// Open write-rejected items (a refused create waits there).
    refused: Vec<ReviewItem>,
}

impl Known {
    async fn load(ctx: &PairContext) -> Result<Self, SyncError> {
        Ok(Self {
            disputed: review_items::disputed_ids(ctx).await?,
            deletes: review_items::open_of_kind(ctx, ReviewKind::Deleted).await?,
            refused: review_items::open_of_kind(ctx, ReviewKind::WriteRejected).await?,
        })
    }
}

/// The probes one record ran, what they found and what they decided.
struct Probed {
    found: Vec<(Probe, Vec<String>)>,
    excluded: BTreeSet<String>,
    decision: Match,
}

/// One record being resolved.
struct Subject<'a> {
    change: &'a Change,
    fields: &'a FieldMap,
}

/// Resolves each unlinked change. Review items the decisions open go into `commit`.
pub(crate) async fn resolve(
    ctx: &PairContext,
    side: Side,
    unlinked: &[&Change],
    commit: &mut PageCommit,
    stats: &mut PageStats,
) -> Result<Resolved, SyncError> {
    let mut out = Resolved::default();
    if unlinked.is_empty() {
        return Ok(out);
    }
    let full = full_records(ctx, side, unlinked).await?;
    out.fetched = unlinked
        .iter()
        .filter(|c| c.partial)
        .filter_map(|c| full.get(&c.id).map(|f| (c.id.clone(), f.clone())))
        .collect();
    let (unlinked, hashes) = misses::to_probe(ctx, side, unlinked, &full, stats).await?;
    let known = Known::load(ctx).await?;
    let all_probes: Vec<Vec<Probe>> = unlinked
        .iter()
        .filter_map(|c| full.get(&c.id).map(|f| reconcile::identity_probes(&ctx.pair, side, &c.id, f)))
        .collect();
    let lookups = prefetch(ctx, side.other(), &all_probes).await?;
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let mut missed = Vec::new();
    for change in unlinked {
        let Some(fields) = full.get(&change.id) else { continue };
        let subject = Subject { change, fields };
        let probed = probe(ctx, side, &subject, &lookups, &known, &mut claimed, commit, &mut out).await?;
        if decide(ctx, side, &subject, probed, &known, &mut claimed, commit, stats, &mut out) {
            missed.extend(hashes.get(&change.id).map(|h| (change.id.clone(), h.clone())));
        }
    }
    misses::settle(ctx, side, &missed, &out.new_links).await?;
    Ok(out)
}

/// Runs `subject`'s probes strongest first until one decides. A dangling back-link opens a
/// review item, and a candidate whose back-link names this record moves its link here (a
/// relink); both end the probing as "handled" (an empty ambiguous decision).
#[allow(clippy::too_many_arguments)]
async fn probe(
    ctx: &PairContext,
    side: Side,
    subject: &Subject<'_>,
    lookups: &Lookups,
    known: &Known,
    claimed: &mut BTreeSet<String>,
    commit: &mut PageCommit,
    out: &mut Resolved,
) -> Result<Probed, SyncError> {
    let other = side.other();
    let id = &subject.change.id;
    let probes = reconcile::identity_probes(&ctx.pair, side, id, subject.fields);
    let mut p = Probed { found: Vec::new(), excluded: BTreeSet::new(), decision: Match::None };
    for (i, probe) in probes.into_iter().enumerate() {
        let ids = candidates(ctx, other, &probe.key, lookups).await?;
        if i == 0 && probe.kind == ProbeKind::BackLink && ids.is_empty() {
            // Our back-link names a record that no longer exists: its partner was deleted
            // or merged away. Never re-create it silently; a person decides.
            commit.review_items.push(review_items::dangling(ctx, side, id, &probe.key.value));
            p.decision = Match::Ambiguous(Vec::new());
            break;
        }
        let linked = ctx.linked_ids(other, &ids).await?;
        // The other record's back-link names this one, but it is linked to another record
        // (matched by a weaker key, e.g. email, before this one was seen): the stronger key
        // wins and the link moves here, unless that other record's own back-link claims it.
        if probe.kind == ProbeKind::ExternalId
            && let [candidate] = ids.as_slice()
            && linked.contains(candidate)
            && !claimed.contains(candidate)
            && !known.disputed.contains(candidate)
            && !known.disputed.contains(id)
            && let Some(link) = relinkable(ctx, side, candidate).await?
        {
            claimed.insert(candidate.clone());
            out.relinks.push((link, id.clone()));
            p.decision = Match::Ambiguous(Vec::new());
            break;
        }
        // Exclusions accumulate over the probes: `decide_match` looks at every probe found
        // so far, so a candidate a stronger probe found must stay excluded when a weaker
        // probe finds nothing (else it would be linked a second time).
        p.excluded.extend(linked);
        p.excluded.extend(claimed.iter().cloned());
        p.found.push((probe, ids));
        p.decision = reconcile::decide_match(&p.found, &p.excluded);
        if p.decision != Match::None {
            break;
        }
    }
    Ok(p)
}

/// Carries out what the probes decided for `subject`: a link, an ambiguous item, or a create.
/// True for a plain miss: nothing matched and the creation rule creates nothing.
#[allow(clippy::too_many_arguments)]
fn decide(
    ctx: &PairContext,
    side: Side,
    subject: &Subject<'_>,
    probed: Probed,
    known: &Known,
    claimed: &mut BTreeSet<String>,
    commit: &mut PageCommit,
    stats: &mut PageStats,
    out: &mut Resolved,
) -> bool {
    let id = subject.change.id.as_str();
    let canon = ctx.pair.canonical(side, subject.fields);
    let taken = if probed.decision == Match::None {
        taken_matches(&probed.found, &probed.excluded)
    } else {
        Vec::new()
    };
    match probed.decision {
        // A record already in an open ambiguous-identity item, on either side, is not linked
        // from this side either: that would be the guess the item exists to prevent.
        Match::Linked(other_id, _) if known.disputed.contains(&other_id) || known.disputed.contains(id) => {
            stats.ambiguous += 1;
        }
        Match::Linked(other_id, confidence) => {
            claimed.insert(other_id.clone());
            stats.run.linked += 1;
            if probed
                .found
                .last()
                .is_some_and(|(p, _)| matches!(p.kind, ProbeKind::BackLink | ProbeKind::ExternalId))
            {
                out.by_backlink.insert(id.to_string());
            }
            out.new_links.push(new_link(ctx, side, id, &other_id, confidence, &probed.found));
            // The same two records linked again (an undelete): the delete settled itself.
            for item in known
                .deletes
                .iter()
                .filter(|i| names(i, side) == Some(id) && names(i, side.other()) == Some(other_id.as_str()))
            {
                let superseded = ReviewTransition::Superseded { run_id: ctx.run_id.clone() };
                commit.review_transitions.push((item.id, superseded));
            }
        }
        Match::Ambiguous(ids) if ids.is_empty() => {}
        Match::Ambiguous(ids) => {
            stats.ambiguous += 1;
            commit.review_items.push(review_items::ambiguous_item(ctx, side, id, &ids, &canon));
        }
        // Its partner was deleted and the delete waits for a person: re-creating it now would
        // undo the delete behind the reviewer's back (and duplicate it if it is undeleted).
        Match::None if known.deletes.iter().any(|i| names(i, side) == Some(id)) => {}
        // Its email (or company key) names a record over there that is linked to another
        // record here: this side holds the same person twice. Creating it over there would
        // make a second copy; a person decides.
        Match::None if !taken.is_empty() => {
            stats.ambiguous += 1;
            commit.review_items.push(review_items::taken_item(ctx, side, id, taken));
        }
        Match::None => {
            plan_create(ctx, side, subject, &canon, known, stats, out);
            return ctx.pair.creation(side) != crate::mapping::CreationRule::Create;
        }
    }
    false
}

/// The create of an unmatched record, per the pair's creation rule — unless the same create
/// was refused for good and its item is still open: sending it again (each time the overlap
/// re-reads the record) would only be refused again. Judged by content, never by time:
/// WhiteLabelCRO's "modified" is its read time.
fn plan_create(
    ctx: &PairContext,
    side: Side,
    subject: &Subject<'_>,
    canon: &CanonMap,
    known: &Known,
    stats: &mut PageStats,
    out: &mut Resolved,
) {
    let id = subject.change.id.as_str();
    let view =
        SideView { id, values: canon, modified_at: ctx.modified_time(side, subject.change.modified_at) };
    let Some(plan) = reconcile::plan_create(&ctx.pair, side, &view) else { return };
    let refusal = create_refusal(&ctx.pair.name, side, &plan);
    if known.refused.iter().any(|i| {
        i.link_id.is_none()
            && names(i, side) == Some(id)
            && names(i, side.other()).is_none()
            && review_items::refused_in(i).any(|r| r == refusal)
    }) {
        stats.held += 1;
        return;
    }
    out.create_hashes.insert(id.to_string(), canon_hash(canon));
    out.create_times.extend(view.modified_at.map(|at| (id.to_string(), at)));
    out.creates.push(plan);
}

/// The candidates an email or company-key probe found that are all linked to other records.
fn taken_matches(found: &[(Probe, Vec<String>)], excluded: &BTreeSet<String>) -> Vec<String> {
    let strong = |p: &Probe| matches!(p.kind, ProbeKind::Email | ProbeKind::CompanyKey);
    let mut ids: Vec<String> = found
        .iter()
        .filter(|(p, _)| strong(p))
        .flat_map(|(_, ids)| ids.iter().filter(|id| excluded.contains(*id)).cloned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
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
        && !backlinks::ours(&link);
    Ok((!claims).then_some(link))
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
async fn prefetch(ctx: &PairContext, side: Side, probes: &[Vec<Probe>]) -> Result<Lookups, SyncError> {
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

fn new_link(
    ctx: &PairContext,
    side: Side,
    id: &str,
    other_id: &str,
    confidence: Confidence,
    found: &[(Probe, Vec<String>)],
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

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::IdentityKey;

    fn found(kind: ProbeKind, ids: &[&str]) -> (Probe, Vec<String>) {
        let key = IdentityKey { field: "email".into(), value: "a@x.io".into() };
        (Probe { kind, key }, ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn only_email_and_company_matches_that_are_linked_elsewhere_are_taken() {
        let excluded: BTreeSet<String> = ["h1".to_string(), "h3".to_string()].into();
        let probes = vec![
            found(ProbeKind::Email, &["h1", "h2"]),
            found(ProbeKind::CompanyKey, &["h3", "h1"]),
            found(ProbeKind::NameCountry, &["h3"]),
        ];
        assert_eq!(taken_matches(&probes, &excluded), ["h1", "h3"], "sorted, once each");
        assert!(taken_matches(&probes[2..], &excluded).is_empty(), "a weak probe proves nothing");
        assert!(taken_matches(&probes, &BTreeSet::new()).is_empty(), "nothing linked, nothing taken");
    }
}
