//! Prometheus metrics, kept with the maintained `prometheus-client` crate and exposed in its
//! text format by `serve` (`/metrics`) and by `run --metrics-listen ADDR`.
//!
//! Counters (`_total`) move in the process that does the work: runs and records from each run's
//! report ([`Metrics::observe_run`]); API requests by system and status class, 429s and retries
//! from every request a connector sends, through [`Metrics::transport`] (a retry is a request
//! whose `x-request-id` was seen before: the shared client keeps one id per logical request).
//! Gauges are read from the store at each scrape ([`Metrics::refresh`]): lag per stream (as
//! [`super::stream_lags`] measures it), open
//! review items per pair, dead letters, the last successful run per pair and each system's
//! breaker; the remaining API budgets come from the rate-limit headers of the latest answers.
//! No label carries an id or a value: only pair, system, stream, bucket and class names.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::HeaderMap;
use connector_api::http::{HttpTransport, Request, Response, TransportFailure};
use connector_api::{ConnectorError, SharedClock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::status::probe;
use crate::store::{ReviewFilter, ReviewKind, ReviewState, RunStatus, Store, StoreError};
use crate::sync::{PairStatus, RunReport};

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PairLabel {
    pair: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    pair: String,
    /// `poll` or `webhook`.
    path: String,
}

/// Seconds from a source's change to the other side's write: a webhook path lands in the
/// first buckets, a poll within the interval (5 min by default) plus the run.
fn freshness_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0])
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SystemLabel {
    system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    system: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    pair: String,
    system: String,
    stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BudgetLabels {
    system: String,
    bucket: String,
}

/// What one system's requests did, cumulative since the process started (the breaker reads
/// the difference over a run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Attempts sent.
    pub attempts: u64,
    /// Attempts that got a 5xx or no answer at all.
    pub failed: u64,
    /// Attempts answered 401 (the credentials were refused).
    pub auth_refused: u64,
}

impl Traffic {
    /// `self - earlier`, per field.
    pub fn since(&self, earlier: &Traffic) -> Traffic {
        Traffic {
            attempts: self.attempts.saturating_sub(earlier.attempts),
            failed: self.failed.saturating_sub(earlier.failed),
            auth_refused: self.auth_refused.saturating_sub(earlier.auth_refused),
        }
    }
}

#[derive(Default)]
struct SystemSeen {
    traffic: Traffic,
    recent_ids: VecDeque<String>,
    last_headers: Vec<HeaderMap>,
}

/// Every metric of one process.
pub struct Metrics {
    registry: Registry,
    runs: Family<StatusLabel, Counter>,
    pulled: Family<PairLabel, Counter>,
    linked: Family<PairLabel, Counter>,
    created: Family<PairLabel, Counter>,
    updated: Family<PairLabel, Counter>,
    conflicts: Family<PairLabel, Counter>,
    paused: Family<PairLabel, Counter>,
    requests: Family<RequestLabels, Counter>,
    throttled: Family<SystemLabel, Counter>,
    retries: Family<SystemLabel, Counter>,
    run_duration: Histogram,
    freshness: Family<PathLabels, Histogram, fn() -> Histogram>,
    lag: Family<StreamLabels, Gauge>,
    queue: Family<PairLabel, Gauge>,
    review_open: Family<KindLabel, Gauge>,
    dead_letters: Gauge,
    dead_by_reason: Family<ReasonLabel, Gauge>,
    last_success: Family<PairLabel, Gauge>,
    breaker_open: Family<SystemLabel, Gauge>,
    budget: Family<BudgetLabels, Gauge>,
    costs: super::costs::CostGauges,
    seen: Mutex<BTreeMap<String, SystemSeen>>,
    last_success_at: Mutex<BTreeMap<String, i64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// How many request ids per system are remembered to recognise retries.
const IDS_KEPT: usize = 512;

impl Metrics {
    /// Every metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let run_duration = Histogram::new([1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0]);
        let m = Metrics {
            runs: Family::default(),
            pulled: Family::default(),
            linked: Family::default(),
            created: Family::default(),
            updated: Family::default(),
            conflicts: Family::default(),
            paused: Family::default(),
            requests: Family::default(),
            throttled: Family::default(),
            retries: Family::default(),
            run_duration: run_duration.clone(),
            freshness: Family::new_with_constructor(freshness_histogram as fn() -> Histogram),
            lag: Family::default(),
            queue: Family::default(),
            review_open: Family::default(),
            dead_letters: Gauge::default(),
            dead_by_reason: Family::default(),
            last_success: Family::default(),
            breaker_open: Family::default(),
            budget: Family::default(),
            costs: Default::default(),
            seen: Mutex::new(BTreeMap::new()),
            last_success_at: Mutex::new(BTreeMap::new()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("crosswalk_runs", "Runs finished, by status.", m.runs.clone());
        r.register("crosswalk_records_pulled", "Records pulled, per pair.", m.pulled.clone());
        r.register("crosswalk_records_linked", "Records linked, per pair.", m.linked.clone());
        r.register("crosswalk_records_created", "Records created, per pair.", m.created.clone());
        r.register("crosswalk_records_updated", "Records updated, per pair.", m.updated.clone());
        r.register("crosswalk_conflicts", "Conflicts sent to review, per pair.", m.conflicts.clone());
        r.register("crosswalk_pairs_paused", "Pair runs skipped by an open breaker.", m.paused.clone());
        r.register(
            "crosswalk_api_requests",
            "API requests sent, by system and status class (2xx, 3xx, 4xx, 5xx, error).",
            m.requests.clone(),
        );
        r.register("crosswalk_api_throttled", "429 answers, per system.", m.throttled.clone());
        r.register("crosswalk_api_retries", "Requests that were retries, per system.", m.retries.clone());
        r.register("crosswalk_run_duration_seconds", "How long runs took.", run_duration);
        r.register(
            "crosswalk_freshness_seconds",
            "Seconds from a source record's change (its own modified time) to the write to the other side, per pair and path (poll or webhook).",
            m.freshness.clone(),
        );
        r.register(
            "crosswalk_stream_lag_seconds",
            "Seconds from a stream's newest applied change to now.",
            m.lag.clone(),
        );
        r.register("crosswalk_review_queue_depth", "Open review items, per pair.", m.queue.clone());
        r.register("crosswalk_review_open_items", "Open review items, by kind.", m.review_open.clone());
        r.register("crosswalk_dead_letters", "Open dead letters.", m.dead_letters.clone());
        r.register(
            "crosswalk_dead_letters_by_reason",
            "Open dead letters, by reason (the same groups as `crosswalk status`).",
            m.dead_by_reason.clone(),
        );
        r.register(
            "crosswalk_last_success_timestamp_seconds",
            "When the pair last finished a run cleanly (Unix time).",
            m.last_success.clone(),
        );
        r.register(
            "crosswalk_breaker_open",
            "1 while a system's breaker pauses its pairs.",
            m.breaker_open.clone(),
        );
        r.register(
            "crosswalk_api_budget_remaining",
            "Requests left in a rate-limit bucket, as the system last reported.",
            m.budget.clone(),
        );
        m.costs.register(r);
        Metrics { registry, ..m }
    }

    /// Counts one finished run (its duration measured on the injected clock).
    pub fn observe_run(&self, report: &RunReport, seconds: f64, finished_at: chrono::DateTime<chrono::Utc>) {
        self.runs.get_or_create(&StatusLabel { status: report.status.as_str().into() }).inc();
        self.run_duration.observe(seconds.max(0.0));
        for p in &report.pairs {
            let l = PairLabel { pair: p.pair.clone() };
            let c = &p.stats.run;
            self.pulled.get_or_create(&l).inc_by(c.pulled);
            self.linked.get_or_create(&l).inc_by(c.linked);
            self.created.get_or_create(&l).inc_by(c.created);
            self.updated.get_or_create(&l).inc_by(c.updated);
            self.conflicts.get_or_create(&l).inc_by(c.conflicts);
            for (path, millis) in &p.stats.freshness {
                let labels = PathLabels { pair: p.pair.clone(), path: path.as_str().into() };
                self.freshness.get_or_create(&labels).observe(*millis as f64 / 1000.0);
            }
            match p.status {
                PairStatus::Done | PairStatus::Carried { .. } => {
                    self.last_success_at
                        .lock()
                        .expect("metrics lock")
                        .insert(p.pair.clone(), finished_at.timestamp());
                }
                PairStatus::Paused { .. } => {
                    self.paused.get_or_create(&l).inc();
                }
                _ => {}
            }
        }
    }

    /// `inner`, counting every request to `system`.
    pub fn transport(
        self: &Arc<Self>,
        system: &str,
        inner: Arc<dyn HttpTransport>,
    ) -> Arc<dyn HttpTransport> {
        Arc::new(Metered { inner, system: system.to_string(), metrics: self.clone() })
    }

    /// Each system's traffic so far.
    pub fn traffic(&self) -> BTreeMap<String, Traffic> {
        self.seen.lock().expect("metrics lock").iter().map(|(k, v)| (k.clone(), v.traffic)).collect()
    }

    fn record(&self, system: &str, request_id: Option<String>, answer: Result<&Response, ()>) {
        let class = match answer {
            Ok(resp) => format!("{}xx", resp.status().as_u16() / 100),
            Err(()) => "error".to_string(),
        };
        self.requests.get_or_create(&RequestLabels { system: system.into(), class }).inc();
        let label = SystemLabel { system: system.into() };
        let mut seen = self.seen.lock().expect("metrics lock");
        let s = seen.entry(system.to_string()).or_default();
        s.traffic.attempts += 1;
        match answer {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if status >= 500 {
                    s.traffic.failed += 1;
                }
                if status == 401 {
                    s.traffic.auth_refused += 1;
                }
                if status == 429 {
                    self.throttled.get_or_create(&label).inc();
                }
                let budgets = probe::budgets(std::slice::from_ref(resp.headers()));
                if !budgets.is_empty() {
                    s.last_headers.push(resp.headers().clone());
                    if s.last_headers.len() > 8 {
                        s.last_headers.remove(0);
                    }
                }
            }
            Err(()) => s.traffic.failed += 1,
        }
        if let Some(id) = request_id {
            if s.recent_ids.contains(&id) {
                self.retries.get_or_create(&label).inc();
            } else {
                if s.recent_ids.len() >= IDS_KEPT {
                    s.recent_ids.pop_front();
                }
                s.recent_ids.push_back(id);
            }
        }
    }

    /// Sets the gauges from the store (as of `clock.now()`) and each system's latest budgets.
    pub async fn refresh(&self, store: &Arc<dyn Store>, clock: &SharedClock) -> Result<(), StoreError> {
        let now = clock.now();
        self.lag.clear();
        let mut pairs: Vec<String> = Vec::new();
        for (stream, behind) in super::stream_lags(store.as_ref(), now).await? {
            let pair = stream.scope.strip_prefix("pair:").unwrap_or(&stream.scope).to_string();
            pairs.push(pair.clone());
            let labels = StreamLabels { pair, system: stream.system, stream: stream.object };
            self.lag.get_or_create(&labels).set(behind.num_seconds());
        }
        let runs = store.recent_runs(100).await?;
        let mut last = self.last_success_at.lock().expect("metrics lock").clone();
        for run in &runs {
            pairs.extend(run.pairs.iter().cloned());
            if let (Some(RunStatus::Ok), Some(at)) = (run.status, run.finished_at) {
                for p in &run.pairs {
                    let t = last.entry(p.clone()).or_insert(at.timestamp());
                    *t = (*t).max(at.timestamp());
                }
            }
        }
        for (pair, t) in last {
            self.last_success.get_or_create(&PairLabel { pair }).set(t);
        }
        pairs.sort();
        pairs.dedup();
        self.queue.clear();
        for pair in pairs {
            let filter = ReviewFilter {
                pair: Some(pair.clone()),
                state: Some(ReviewState::Open),
                ..Default::default()
            };
            let n = store.count_review(&filter).await?;
            self.queue.get_or_create(&PairLabel { pair }).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        for kind in ReviewKind::ALL {
            let filter =
                ReviewFilter { kind: Some(*kind), state: Some(ReviewState::Open), ..Default::default() };
            let n = store.count_review(&filter).await?;
            self.review_open
                .get_or_create(&KindLabel { kind: kind.as_str().into() })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.dead_letters.set(i64::try_from(store.count_dead_letters().await?).unwrap_or(i64::MAX));
        self.dead_by_reason.clear();
        for (reason, n) in store.count_dead_letters_by_reason().await? {
            self.dead_by_reason
                .get_or_create(&ReasonLabel { reason })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.breaker_open.clear();
        for b in store.breakers().await? {
            self.breaker_open.get_or_create(&SystemLabel { system: b.system }).set(i64::from(b.open));
        }
        self.costs.refresh(store.as_ref()).await?;
        self.budget.clear();
        let seen = self.seen.lock().expect("metrics lock");
        for (system, s) in seen.iter() {
            for b in probe::budgets(&s.last_headers) {
                let labels = BudgetLabels { system: system.clone(), bucket: b.bucket };
                self.budget.get_or_create(&labels).set(i64::try_from(b.remaining).unwrap_or(i64::MAX));
            }
        }
        Ok(())
    }

    /// The exposition text (OpenMetrics, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// A transport that counts what it carries for [`Metrics`].
struct Metered {
    inner: Arc<dyn HttpTransport>,
    system: String,
    metrics: Arc<Metrics>,
}

fn request_id(req: &Request) -> Option<String> {
    req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[async_trait]
impl HttpTransport for Metered {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        let id = request_id(&req);
        let answer = self.inner.send(req).await;
        self.metrics.record(&self.system, id, answer.as_ref().map_err(|_| ()));
        answer
    }

    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        let id = request_id(&req);
        let answer = self.inner.send_checked(req).await;
        self.metrics.record(&self.system, id, answer.as_ref().map_err(|_| ()));
        answer
    }
}

/// Serves `GET /metrics` on `addr` (for `run --metrics-listen`), refreshing the gauges from
/// `store` at each scrape. Answers the bound address (port 0 picks one).
pub async fn listen(
    addr: &str,
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    clock: SharedClock,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, store, clock) = (metrics.clone(), store.clone(), clock.clone());
            async move { scrape(&metrics, &store, &clock).await }
        }),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    });
    Ok((bound, task))
}

/// One scrape: refreshed gauges, then the text; 503 when the store cannot be read.
pub async fn scrape(
    metrics: &Metrics,
    store: &Arc<dyn Store>,
    clock: &SharedClock,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match metrics.refresh(store, clock).await {
        Ok(()) => ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics: state store unreachable");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "state store unreachable\n").into_response()
        }
    }
}
