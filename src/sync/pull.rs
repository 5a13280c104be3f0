//! One pair's cycle: pull each side page by page from its checkpoint, then run the verification
//! sweep for systems whose pulls miss some edits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Change, Checkpoint, Connector, ConnectorError, PullRequest, Record, SharedClock};

use crate::mapping::{PairMapping, Side};
use crate::store::{Lease, PageCommit, PageCommitResult, Store, StoreError, StreamKey, StreamWindow};

use super::page::{self, PageInput};
use super::{PairReport, PairStatus, SyncError, SyncOptions};

/// Everything one pair's cycle needs.
pub(crate) struct PairContext {
    pub pair: Arc<PairMapping>,
    pub left: Arc<dyn Connector>,
    pub right: Arc<dyn Connector>,
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub opts: SyncOptions,
    pub run_id: String,
    pub horizon: DateTime<Utc>,
    pub dry_run: bool,
    pub lease: Lease,
    /// Links already reconciled in this run: the other side's pass does not plan them again
    /// (an edit made since is re-read by the next run's overlap).
    pub planned: std::sync::Mutex<std::collections::BTreeSet<i64>>,
}

impl PairContext {
    /// The connector on `side`.
    pub fn connector(&self, side: Side) -> &Arc<dyn Connector> {
        match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        }
    }

    /// Wraps a connector error with the system it came from.
    pub fn err(&self, side: Side, source: ConnectorError) -> SyncError {
        SyncError::Connector { system: self.pair.endpoint(side).system.clone(), source }
    }

    /// The incremental stream of `side` for this pair. Checkpoints are kept per pair, so two
    /// pairs reading the same object advance independently.
    pub fn stream(&self, side: Side) -> StreamKey {
        let ep = self.pair.endpoint(side);
        StreamKey {
            scope: format!("pair:{}", self.pair.name),
            system: ep.system.clone(),
            object: ep.object.clone(),
        }
    }

    /// Reads records of `side` by id, in batches of the object's page size; missing ids are
    /// simply absent from the answer.
    pub async fn fetch_records(
        &self,
        side: Side,
        ids: &[String],
    ) -> Result<BTreeMap<String, Record>, SyncError> {
        let object = &self.pair.endpoint(side).object;
        let connector = self.connector(side);
        let batch = connector.capabilities().object(object).map_or(100, |o| o.max_page.max(1));
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(batch) {
            for record in connector.fetch(object, chunk).await.map_err(|e| self.err(side, e))? {
                out.insert(record.id.clone(), record);
            }
        }
        Ok(out)
    }

    /// Commits under this pair's lease; a lost lease is reported as [`SyncError::LeaseLost`].
    pub async fn commit(&self, commit: PageCommit) -> Result<PageCommitResult, SyncError> {
        self.store.commit_page(commit).await.map_err(|e| match e {
            StoreError::LeaseLost => SyncError::LeaseLost(self.pair.name.clone()),
            other => SyncError::Store(other),
        })
    }

    fn overlap(&self, side: Side) -> Duration {
        let system = &self.pair.endpoint(side).system;
        self.opts.overlaps.get(system).copied().unwrap_or(self.opts.overlap)
    }
}

/// Pulls both sides, then sweeps. Returns early (leaving checkpoints behind) when a page cannot
/// be completed.
pub(crate) async fn run_pair(
    ctx: &PairContext,
    report: &mut PairReport,
    windows: &mut Vec<StreamWindow>,
) -> Result<(), SyncError> {
    if let Some(reason) = super::resolutions::apply_resolved(ctx, &mut report.stats).await? {
        report.status = PairStatus::Incomplete { reason };
        return Ok(());
    }
    for side in [Side::Left, Side::Right] {
        if let Some(reason) = pull_side(ctx, side, report, windows).await? {
            report.status = PairStatus::Incomplete { reason };
            return Ok(());
        }
    }
    for side in [Side::Left, Side::Right] {
        let caps = ctx.connector(side).capabilities();
        let object = &ctx.pair.endpoint(side).object;
        if caps.object(object).is_some_and(|o| !o.pull_sees_every_edit)
            && let Some(reason) = sweep(ctx, side, report).await?
        {
            report.status = PairStatus::Incomplete { reason };
            return Ok(());
        }
    }
    Ok(())
}

/// Pulls one side until the stream is done. `Some(reason)` when a page could not be finished.
async fn pull_side(
    ctx: &PairContext,
    side: Side,
    report: &mut PairReport,
    windows: &mut Vec<StreamWindow>,
) -> Result<Option<String>, SyncError> {
    let stream = ctx.stream(side);
    let object = ctx.pair.endpoint(side).object.clone();
    let connector = ctx.connector(side).clone();
    let mut checkpoint = ctx.store.load_checkpoint(&stream).await?.map(|c| Checkpoint(c.checkpoint));
    let mut rewind = Some(ctx.overlap(side));
    let (mut from, mut to) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    loop {
        let request = PullRequest {
            object: &object,
            checkpoint: checkpoint.as_ref(),
            rewind: rewind.take(),
            horizon: ctx.horizon,
            since: None,
            until: None,
            limit: ctx.opts.page_size,
        };
        let page = connector.pull(request).await.map_err(|e| ctx.err(side, e))?;
        let first = page.changes.iter().map(|c| c.modified_at).min();
        from = match (from, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        to = page.newest.or(to);
        let input = PageInput {
            side,
            changes: page.changes,
            quarantined: page.quarantined,
            checkpoint: Some((stream.clone(), page.next.0.clone(), from, to)),
            sweep: false,
        };
        let outcome = page::process(ctx, input, report).await?;
        if let Some(reason) = outcome.incomplete {
            return Ok(Some(reason));
        }
        if page.done {
            break;
        }
        checkpoint = Some(page.next);
    }
    windows.push(StreamWindow { stream, from, to });
    Ok(None)
}

/// Re-reads the least-recently-verified linked records of `side` (within the sweep budget) and
/// treats them as changes, so edits that produce no event are still found. With `N` linked
/// records and budget `B` per run, every record is re-read at least once every `ceil(N / B)`
/// runs: that is the worst-case detection delay for a silent edit.
async fn sweep(ctx: &PairContext, side: Side, report: &mut PairReport) -> Result<Option<String>, SyncError> {
    if ctx.opts.sweep_budget == 0 {
        return Ok(None);
    }
    let links = ctx.store.least_recently_verified(&ctx.pair.name, side, ctx.opts.sweep_budget).await?;
    if links.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = links.iter().map(|l| l.record_id(side).to_string()).collect();
    let changes = ctx.fetch_records(side, &ids).await?.into_values().map(Change::upsert).collect();
    report.stats.swept += ids.len() as u64;
    let input = PageInput { side, changes, quarantined: Vec::new(), checkpoint: None, sweep: true };
    Ok(page::process(ctx, input, report).await?.incomplete)
}
