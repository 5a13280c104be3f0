//! Applying a page's planned updates: one write per link and target (the plan's fields plus any
//! back-links), held back when the same write to the same content was refused for good before,
//! batched per target — and, when the remote refuses a write naming the one field it objects to,
//! sent again at once without that field, so one refused field refuses only itself.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{ConnectorError, Write, WriteOp, WriteResult};

use crate::mapping::{CanonMap, Side};
use crate::reconcile::LinkPlan;

use super::context::PairContext;
use super::error::SyncError;
use super::keys::{canon_hash, update_key, write_key};
use super::plan::PlannedLink;
use super::send;

/// What became of one planned write.
pub(crate) enum Attempt<'a> {
    /// Sent; the remote's outcome (none when it gave none).
    Sent(Option<&'a WriteResult>),
    /// Not sent: the same write to the same content was refused for good before and its review
    /// item is still open.
    Held,
    /// The remote refused one field it named; the rest was sent again without it.
    Without {
        /// The canonical fields (or, for an unmapped remote field, its remote name) left out.
        dropped: Vec<String>,
        /// The refusal that named it.
        refusal: &'a ConnectorError,
        /// The outcome of the rest.
        rest: Option<&'a WriteResult>,
        /// The idempotency key the rest was sent under.
        rest_key: &'a str,
    },
}

/// One write as settlement sees it.
pub(crate) struct Sent {
    /// Index of the link in the page's plan.
    pub link: usize,
    pub target: Side,
    pub key: String,
    /// The fingerprint that holds the same write back next time if it is refused for good.
    pub refusal: String,
    held: bool,
    retry: Option<Retry>,
}

struct Retry {
    dropped: Vec<String>,
    refusal: ConnectorError,
    key: String,
}

/// Everything the page's updates came to.
pub(crate) struct Executed {
    pub sent: Vec<Sent>,
    results: BTreeMap<String, WriteResult>,
}

impl Executed {
    /// What became of `s`.
    pub fn attempt<'a>(&'a self, s: &'a Sent) -> Attempt<'a> {
        if s.held {
            return Attempt::Held;
        }
        match &s.retry {
            Some(r) => Attempt::Without {
                dropped: r.dropped.clone(),
                refusal: &r.refusal,
                rest: self.results.get(&r.key),
                rest_key: &r.key,
            },
            None => Attempt::Sent(self.results.get(&s.key)),
        }
    }
}

/// Sends the updates of the planned `links`; `refused` holds the fingerprints of open refusals
/// by link.
pub(crate) async fn execute(
    ctx: &PairContext,
    links: &[PlannedLink],
    refused: &BTreeMap<i64, BTreeSet<String>>,
) -> Result<Executed, SyncError> {
    let mut out = Executed { sent: Vec::new(), results: BTreeMap::new() };
    for target in [Side::Left, Side::Right] {
        let mut writes = Vec::new();
        for (i, lw) in links.iter().enumerate() {
            let mut fields = lw.plan.remote_writes(&ctx.pair, target);
            if let Some(need) = &lw.backlinks {
                fields.extend(need.fields(target).clone());
            }
            if fields.is_empty() {
                continue;
            }
            let key = update_key(&ctx.pair.name, lw.link.id, target, &fields);
            // The same write to the same content was refused for good and its review item is
            // still open: sending it again would only be refused again (termination).
            let refusal = write_key(&[&key, &canon_hash(lw.values(target))]);
            let held = refused.get(&lw.link.id).is_some_and(|r| r.contains(&refusal));
            out.sent.push(Sent { link: i, target, key: key.clone(), refusal, held, retry: None });
            if !held {
                let id = lw.link.record_id(target).to_string();
                writes.push(Write { key, op: WriteOp::Update { id, fields } });
            }
        }
        let first = send::execute(ctx, target, writes.clone()).await?;
        out.results.extend(first);
        retry_without_refused(ctx, links, target, &writes, &mut out).await?;
    }
    Ok(out)
}

/// Sends again, without the refused field, every write of `target` the remote refused for good
/// naming one field of it while it carried others.
async fn retry_without_refused(
    ctx: &PairContext,
    links: &[PlannedLink],
    target: Side,
    writes: &[Write],
    out: &mut Executed,
) -> Result<(), SyncError> {
    let mut again = Vec::new();
    for w in writes {
        let Some(Err(e @ ConnectorError::Invalid { field: Some(remote), .. })) = out.results.get(&w.key)
        else {
            continue;
        };
        let WriteOp::Update { id, fields } = &w.op else { continue };
        if !fields.contains_key(remote) || fields.len() < 2 {
            continue;
        }
        let Some(sent) = out.sent.iter_mut().find(|s| s.key == w.key) else { continue };
        let lw = &links[sent.link];
        let dropped = dropped_fields(ctx, &lw.plan, target, remote);
        let mut rest = fields.clone();
        for f in &dropped {
            if let Some(m) = ctx.pair.field(f) {
                for r in m.remote(target) {
                    rest.remove(r);
                }
            }
        }
        rest.remove(remote);
        if rest.is_empty() {
            continue;
        }
        // Next time only the refused field is planned, against the record as the rest left it:
        // that is the write the refusal must hold back.
        let mut after = lw.values(target).clone();
        for fw in lw.plan.writes_to(target).filter(|fw| !dropped.contains(&fw.field)) {
            after.insert(fw.field.clone(), fw.new.clone());
        }
        let only: CanonMap = lw
            .plan
            .writes_to(target)
            .filter(|fw| dropped.contains(&fw.field))
            .map(|fw| (fw.field.clone(), fw.new.clone()))
            .collect();
        let next_key = update_key(&ctx.pair.name, lw.link.id, target, &ctx.pair.to_remote(target, &only));
        sent.refusal = write_key(&[&next_key, &canon_hash(&after)]);
        let key = write_key(&[&w.key, "without", remote]);
        tracing::info!(pair = %ctx.pair.name, link = lw.link.id, field = %remote,
            "the remote refused one field; the rest of the record's changes are sent without it");
        sent.retry = Some(Retry { dropped, refusal: e.clone(), key: key.clone() });
        again.push(Write { key, op: WriteOp::Update { id: id.clone(), fields: rest } });
    }
    if !again.is_empty() {
        out.results.extend(send::execute(ctx, target, again).await?);
    }
    Ok(())
}

/// The canonical fields of `plan`'s writes to `target` that `remote` belongs to (or the remote
/// name itself when no mapped field does, e.g. a back-link).
fn dropped_fields(ctx: &PairContext, plan: &LinkPlan, target: Side, remote: &str) -> Vec<String> {
    let mapped: Vec<String> = plan
        .writes_to(target)
        .filter(|w| ctx.pair.field(&w.field).is_some_and(|m| m.remote(target).iter().any(|r| r == remote)))
        .map(|w| w.field.clone())
        .collect();
    if mapped.is_empty() { vec![remote.to_string()] } else { mapped }
}
