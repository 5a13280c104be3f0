//! Pages that wait for each other's writes, so a run's updates fill the target's batches
//! instead of one short batch per source page (1,000 Salesforce updates spread over 50 feed
//! pages: 5 collection calls, not 50).
//!
//! A planned page may wait here, unsent and uncommitted, only when it cannot see or be seen by
//! the pages around it:
//! - every record on it was already linked (no identity search, no create: a later page's
//!   search must see what an earlier page created or renamed, or people would be duplicated);
//! - none of its links is written by a page already waiting (a record changed on two pages is
//!   planned against the base the first one leaves);
//! - its writes go only to targets that batch (a target taking one record per request gains
//!   nothing from waiting, so a page writing there flushes at once).
//!
//! A flush sends all waiting writes together (`apply::execute` batches per target), then settles
//! and commits each page in source order, each with its own checkpoint, so the stream's
//! checkpoints still advance one page at a time. A page that ends incomplete keeps its
//! checkpoint and every later page's back; a crash before the flush loses nothing: the waiting
//! pages were neither written nor committed and are read again.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::mapping::Side;
use crate::store::{CheckpointUpdate, PageCommit, ReviewItem};

use super::apply::{self, Attempt, Executed};
use super::context::{PairContext, side_index};
use super::error::SyncError;
use super::plan::PlannedLink;
use super::report::PairReport;
use super::{review_items, settle};

/// At most this many pages wait (bounds memory and what a crash makes the next run re-read).
const MAX_PAGES: usize = 64;

/// One planned page, waiting for its writes.
struct Waiting {
    planned: Vec<PlannedLink>,
    commit: PageCommit,
    checkpoint: Option<CheckpointUpdate>,
    sweep: bool,
}

/// The waiting pages of one stream.
pub(crate) struct Batch {
    on: bool,
    pages: Vec<Waiting>,
    /// The links the waiting pages write.
    links: BTreeSet<i64>,
    /// Waiting writes per target (left, right).
    writes: [usize; 2],
}

impl Batch {
    /// A batch that holds nothing: every page is written and committed on its own.
    pub fn off() -> Self {
        Self { on: false, pages: Vec::new(), links: BTreeSet::new(), writes: [0, 0] }
    }

    /// A batch for one stream's pull when the options ask for it (never in a dry run, which
    /// writes nothing).
    pub fn for_pull(ctx: &PairContext) -> Self {
        Self { on: ctx.opts.batch_across_pages && !ctx.dry_run, ..Self::off() }
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Whether a page whose records are all linked, with these links, may wait here.
    pub fn may_hold(&self, link_ids: impl IntoIterator<Item = i64>) -> bool {
        self.on && link_ids.into_iter().all(|id| !self.links.contains(&id))
    }

    /// Whether a planned page can wait: it writes only to targets that batch, and writes
    /// something or follows pages that do (a page without writes never waits alone).
    pub fn worth_holding(&self, ctx: &PairContext, planned: &[PlannedLink]) -> bool {
        let writes = count_writes(ctx, planned);
        let batching =
            [Side::Left, Side::Right].iter().all(|&t| writes[side_index(t)] == 0 || max_batch(ctx, t) > 1);
        batching && (writes != [0, 0] || !self.is_empty())
    }

    /// Holds a planned page; flushes when a target's batch is full or too many pages wait.
    /// `Some(reason)` when the flush left a page incomplete.
    pub async fn hold(
        &mut self,
        ctx: &PairContext,
        planned: Vec<PlannedLink>,
        commit: PageCommit,
        checkpoint: Option<CheckpointUpdate>,
        sweep: bool,
        report: &mut PairReport,
    ) -> Result<Option<String>, SyncError> {
        let writes = count_writes(ctx, &planned);
        self.writes[0] += writes[0];
        self.writes[1] += writes[1];
        self.links.extend(planned.iter().map(|p| p.link.id));
        self.pages.push(Waiting { planned, commit, checkpoint, sweep });
        let full = [Side::Left, Side::Right].iter().any(|&t| self.writes[side_index(t)] >= max_batch(ctx, t));
        if full || self.pages.len() >= MAX_PAGES { self.flush(ctx, report).await } else { Ok(None) }
    }

    /// Sends every waiting page's writes together, then settles and commits the pages in order.
    pub async fn flush(
        &mut self,
        ctx: &PairContext,
        report: &mut PairReport,
    ) -> Result<Option<String>, SyncError> {
        let pages = std::mem::take(&mut self.pages);
        self.links.clear();
        self.writes = [0, 0];
        if pages.is_empty() {
            return Ok(None);
        }
        let mut planned = Vec::new();
        let mut ranges = Vec::new();
        let mut rest = Vec::new();
        for page in pages {
            let start = planned.len();
            planned.extend(page.planned);
            ranges.push(start..planned.len());
            rest.push((page.commit, page.checkpoint, page.sweep));
        }
        let open = review_items::open_by_link(ctx).await?;
        let executed = apply::execute(ctx, &planned, &review_items::refusals(&open)).await?;
        let mut incomplete = None;
        for (range, (mut commit, checkpoint, sweep)) in ranges.into_iter().zip(rest) {
            let page = settle_updates(ctx, &planned, range, &executed, &open, sweep, &mut commit, report);
            // A stream's checkpoints advance in order: none after a page that must be read again.
            if incomplete.is_none() && page.is_none() {
                commit.checkpoint = checkpoint;
            }
            incomplete = incomplete.or(page);
            ctx.commit(commit).await?;
        }
        Ok(incomplete)
    }
}

/// Settles the outcomes of `planned[range]`'s writes into `commit`. `Some(reason)` when one must
/// be tried again (the page is read again).
#[allow(clippy::too_many_arguments)]
pub(crate) fn settle_updates(
    ctx: &PairContext,
    planned: &[PlannedLink],
    range: Range<usize>,
    executed: &Executed,
    open: &BTreeMap<i64, Vec<ReviewItem>>,
    sweep: bool,
    commit: &mut PageCommit,
    report: &mut PairReport,
) -> Option<String> {
    let mut by_link: BTreeMap<usize, Vec<&apply::Sent>> = BTreeMap::new();
    for s in executed.sent.iter().filter(|s| range.contains(&s.link)) {
        by_link.entry(s.link).or_default().push(s);
    }
    let mut incomplete = None;
    for i in range {
        let p = &planned[i];
        let sent = by_link.remove(&i).unwrap_or_default();
        let attempts = sent.into_iter().map(|s| {
            let attempt: Attempt<'_> = executed.attempt(s);
            (s.target, s.key.as_str(), s.refusal.as_str(), attempt)
        });
        let items = open.get(&p.link.id).map_or(&[][..], Vec::as_slice);
        if let Some(reason) = settle::settle_link(ctx, p, items, attempts, sweep, commit, &mut report.stats) {
            incomplete.get_or_insert(reason);
        }
    }
    incomplete
}

/// The writes `planned` sends to each target (left, right), as `apply::execute` would count them.
fn count_writes(ctx: &PairContext, planned: &[PlannedLink]) -> [usize; 2] {
    let mut out = [0, 0];
    for p in planned {
        for t in [Side::Left, Side::Right] {
            let backlinks = p.backlinks.as_ref().is_some_and(|b| !b.fields(t).is_empty());
            if backlinks || !p.plan.remote_writes(&ctx.pair, t).is_empty() {
                out[side_index(t)] += 1;
            }
        }
    }
    out
}

fn max_batch(ctx: &PairContext, target: Side) -> usize {
    let object = &ctx.pair.endpoint(target).object;
    ctx.connector(target).capabilities().object(object).map_or(1, |o| o.max_batch.max(1))
}
