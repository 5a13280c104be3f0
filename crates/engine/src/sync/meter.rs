//! The work the engine asks of each system, counted at the connector boundary: changes pulled
//! (and how many were partial), records fetched by id, writes applied, per object. With the
//! objects' batch limits this gives the batch-limited minimum of requests for the work a run
//! did ([`SystemWork::minimum`]), which the API-cost report puts beside the requests actually
//! sent (counted under the HTTP client, where every request passes).
//!
//! [`Metered`] wraps a connector and forwards every call; the engine wraps each system once, so
//! the counters cover scheduled runs, backfills and micro-syncs alike.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::{
    AccessNeed, Capabilities, Connector, ConnectorError, IdentityKey, MissingScope, ObjectSchema, PullPage,
    PullRequest, Record, StopToken, Write, WriteOutcome,
};

/// Work on one object of one system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectWork {
    /// Pull calls (pages).
    pub pages: u64,
    /// Changes pulled.
    pub pulled: u64,
    /// Of which partial (an event that carries some fields only: completing it is a read the
    /// API forces).
    pub partial: u64,
    /// Records asked for by id.
    pub fetched: u64,
    /// Writes sent (items, not calls).
    pub written: u64,
    /// Identity searches (`find`, or values of `find_many`).
    pub searched: u64,
}

impl ObjectWork {
    fn since(&self, o: &ObjectWork) -> ObjectWork {
        ObjectWork {
            pages: self.pages.saturating_sub(o.pages),
            pulled: self.pulled.saturating_sub(o.pulled),
            partial: self.partial.saturating_sub(o.partial),
            fetched: self.fetched.saturating_sub(o.fetched),
            written: self.written.saturating_sub(o.written),
            searched: self.searched.saturating_sub(o.searched),
        }
    }
}

/// One system's work: per object, with the object's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemWork {
    /// Per object: the work and its limits (largest write batch, largest page).
    pub objects: BTreeMap<String, (ObjectWork, usize, usize)>,
}

impl SystemWork {
    /// Writes sent to this system.
    pub fn written(&self) -> u64 {
        self.objects.values().map(|(w, _, _)| w.written).sum()
    }

    /// The fewest requests the API's batch limits allow for this work: every object read at
    /// all costs at least one page, pulled changes at the largest page, writes at the largest
    /// batch, and the reads by id that completed partial changes — counted up to the partial
    /// changes pulled, at the size the system reads by id (one record per request where writes
    /// take one record per request, as WhiteLabelCRO's do; else a page). Identity searches,
    /// reads of the other side for planning and the sweep's reads are not in it: they are what
    /// the report shows as overhead.
    pub fn minimum(&self) -> u64 {
        self.objects
            .values()
            .map(|(w, batch, page)| {
                let (batch, page) = ((*batch).max(1) as u64, (*page).max(1) as u64);
                let by_id = if batch == 1 { 1 } else { page };
                let pages = if w.pages > 0 { w.pulled.div_ceil(page).max(1) } else { 0 };
                pages + w.written.div_ceil(batch) + w.fetched.min(w.partial).div_ceil(by_id)
            })
            .sum()
    }

    /// `self - earlier`, per object.
    pub fn since(&self, earlier: &SystemWork) -> SystemWork {
        let objects = self
            .objects
            .iter()
            .map(|(name, (w, b, p))| {
                let before = earlier.objects.get(name).map(|(w, _, _)| *w).unwrap_or_default();
                (name.clone(), (w.since(&before), *b, *p))
            })
            .collect();
        SystemWork { objects }
    }
}

/// A connector whose calls are counted.
pub struct Metered {
    inner: Arc<dyn Connector>,
    work: Mutex<BTreeMap<String, ObjectWork>>,
}

impl Metered {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Connector>) -> Arc<Self> {
        Arc::new(Self { inner, work: Mutex::default() })
    }

    /// The work so far, with each object's limits.
    pub fn work(&self) -> SystemWork {
        let caps = self.inner.capabilities();
        let work = self.work.lock().expect("meter lock");
        let objects = work
            .iter()
            .map(|(name, w)| {
                let (batch, page) = caps.object(name).map_or((1, 1), |o| (o.max_batch, o.max_page));
                (name.clone(), (*w, batch, page))
            })
            .collect();
        SystemWork { objects }
    }

    fn count(&self, object: &str, f: impl FnOnce(&mut ObjectWork)) {
        let mut work = self.work.lock().expect("meter lock");
        f(work.entry(object.to_string()).or_default());
    }
}

#[async_trait]
impl Connector for Metered {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn pull(&self, req: PullRequest<'_>) -> Result<PullPage, ConnectorError> {
        let object = req.object.to_string();
        let page = self.inner.pull(req).await?;
        let partial = page.changes.iter().filter(|c| c.partial).count() as u64;
        self.count(&object, |w| {
            w.pages += 1;
            w.pulled += page.changes.len() as u64;
            w.partial += partial;
        });
        Ok(page)
    }

    async fn fetch(&self, object: &str, ids: &[String]) -> Result<Vec<Record>, ConnectorError> {
        self.count(object, |w| w.fetched += ids.len() as u64);
        self.inner.fetch(object, ids).await
    }

    async fn find(&self, object: &str, key: &IdentityKey) -> Result<Vec<Record>, ConnectorError> {
        self.count(object, |w| w.searched += 1);
        self.inner.find(object, key).await
    }

    async fn find_many(
        &self,
        object: &str,
        field: &str,
        values: &[String],
    ) -> Result<BTreeMap<String, Vec<Record>>, ConnectorError> {
        let distinct = values.iter().collect::<BTreeSet<_>>().len() as u64;
        self.count(object, |w| w.searched += distinct);
        self.inner.find_many(object, field, values).await
    }

    async fn apply(&self, object: &str, writes: Vec<Write>) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.count(object, |w| w.written += writes.len() as u64);
        self.inner.apply(object, writes).await
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        self.inner.health().await
    }

    fn stop_on(&self, stop: StopToken) {
        self.inner.stop_on(stop);
    }

    fn missing_fields(&self, object: &str) -> Vec<String> {
        self.inner.missing_fields(object)
    }

    async fn schema(&self, object: &str) -> Result<Option<ObjectSchema>, ConnectorError> {
        self.inner.schema(object).await
    }

    async fn missing_scopes(&self, needs: &[AccessNeed]) -> Result<Vec<MissingScope>, ConnectorError> {
        self.inner.missing_scopes(needs).await
    }

    async fn estimate(
        &self,
        object: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<u64>, ConnectorError> {
        self.inner.estimate(object, since, until).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_counts_batches_pages_and_forced_reads() {
        let wlcro =
            ObjectWork { pages: 60, pulled: 10_000, partial: 10_000, fetched: 10_000, ..Default::default() };
        let hubspot = ObjectWork { pages: 1, written: 10_000, fetched: 10_000, ..Default::default() };
        let w = SystemWork { objects: BTreeMap::from([("people".to_string(), (wlcro, 1, 200))]) };
        assert_eq!(w.minimum(), 50 + 10_000, "pages of 200, one read per partial event");
        let h = SystemWork { objects: BTreeMap::from([("contacts".to_string(), (hubspot, 100, 100))]) };
        assert_eq!(
            h.minimum(),
            1 + 100,
            "a quiet page, writes in batches of 100; its planning reads are overhead"
        );
        assert_eq!((w.written(), h.written()), (0, 10_000));
        let echoes = ObjectWork { pages: 2, pulled: 300, partial: 300, fetched: 100, ..Default::default() };
        let e = SystemWork { objects: BTreeMap::from([("people".to_string(), (echoes, 1, 200))]) };
        assert_eq!(e.minimum(), 2 + 100, "partial echoes completed from the base cost no read");
        let none = SystemWork { objects: BTreeMap::from([("x".to_string(), (ObjectWork::default(), 1, 1))]) };
        assert_eq!(none.minimum(), 0);
    }
}
