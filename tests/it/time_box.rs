//! Time-boxed runs with a carried backlog, the backlog and ETA in `status`, the sweep's promise
//! and the API-cost report (issue #21). WhiteLabelCRO at its real 60 reads a minute behind the
//! shipped WhiteLabelCRO ⇄ HubSpot mapping, over loopback HTTP; one virtual clock moves the
//! engine, the connectors' rate-limit waits and the simulators, so nothing sleeps on the wall
//! clock. Judged from the simulators' records and request logs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::testsuite::LinkedClock;
use connector_api::{Clock, Connector};
use crosswalk::demo::{SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::{self, Cap, PairMapping};
use crosswalk::ops::metrics::Metrics;
use crosswalk::ops::{Ops, OpsConfig};
use crosswalk::store::{RunKind, RunStatus};
use crosswalk::sync::{Engine, PairStatus, RunReport, SyncOptions, TimeBox};
use serde_json::{Map, Value, json};
use sim_core::LoggedRequest;
use sim_hubspot::ObjectType;

use crate::support::TestStore;

const HUBSPOT: &str = "mappings/wlcro-people__hubspot-contacts.toml";
const SEED: u64 = 33;
/// Linked people; `CHANGED` of them get a status change.
const PEOPLE: usize = 120;
const CHANGED: usize = 100;
/// Runs every 150 s may start pages for 120 s: at 60 reads a minute a run drains about two
/// pages of 20 (the first 60 reads ride a full window, the next wait a minute).
const EVERY: Duration = Duration::from_secs(150);
const PAGE: usize = 20;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-06T09:00:00Z").expect("valid time").to_utc()
}

struct World {
    world: SimWorld,
    clock: LinkedClock,
    store: TestStore,
    pair: PairMapping,
    connectors: BTreeMap<String, Arc<dyn Connector>>,
    metrics: Arc<Metrics>,
    clients: Vec<i64>,
    contacts: Vec<u64>,
    _dir: tempfile::TempDir,
}

fn pair() -> PairMapping {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(HUBSPOT);
    let mut pair = mapping::load_file(&path).expect("the shipped mapping loads");
    let none = Cap { max: None, max_pct: None };
    pair.caps.creates = none;
    pair.caps.overwrites = none;
    pair
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

impl World {
    /// `PEOPLE` clients and contacts with back-links both ways and equal values; WhiteLabelCRO
    /// at 60 requests a minute per bucket (simulator and connector), HubSpot unthrottled.
    async fn start() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WorldConfig::demo(SEED, 60).starting_at(t0());
        config.wlcro.webhook_jitter = false;
        config.hubspot.rate_limits.burst_max = 1_000_000;
        config.hubspot.rate_limits.search_max = 1_000_000;
        let world = SimWorld::start(config, dir.path()).await.expect("simulators start");
        let clock = world.linked_clock(t0());
        let pair = pair();
        let metrics = Arc::new(Metrics::new());
        let inner: Arc<dyn HttpTransport> =
            Arc::new(ReqwestTransport::new(Duration::from_secs(30)).expect("http"));
        let mut connectors = BTreeMap::new();
        for (i, (name, system)) in world.systems.iter().enumerate() {
            let transport = metrics.transport(name, inner.clone());
            let c = crosswalk::registry::build(
                name,
                system,
                std::slice::from_ref(&pair),
                transport,
                clock.shared(),
                SEED + i as u64,
            )
            .expect("connector");
            connectors.insert(name.clone(), c);
        }
        let store = TestStore::sqlite().await;
        let mut w = World {
            world,
            clock,
            store,
            pair,
            connectors,
            metrics,
            clients: Vec::new(),
            contacts: Vec::new(),
            _dir: dir,
        };
        w.seed();
        // The seed's events are a minute old when the first run reads them.
        w.clock.advance(Duration::from_secs(60));
        w
    }

    fn seed(&mut self) {
        let sims = &self.world.sims;
        let contacts: Vec<Map<String, Value>> = (0..PEOPLE)
            .map(|i| {
                let email = format!("box{i}@example.test");
                let last = format!("Box{i}");
                props(&[
                    ("email", &email),
                    ("firstname", "Ann"),
                    ("lastname", &last),
                    ("lifecyclestage", "customer"),
                ])
            })
            .collect();
        self.contacts = sims.hubspot.seed(ObjectType::Contacts, &contacts).expect("seed contacts");
        for (i, contact) in self.contacts.iter().enumerate() {
            let r = sim_whitelabelcro::SeedRecord {
                first_name: "Ann".into(),
                last_name: format!("Box{i}"),
                email: format!("box{i}@example.test"),
                status: Some("Active Client".into()),
                external_id: Some(format!("hubspot_{contact}")),
                ..Default::default()
            };
            let id = sims.wlcro.seed_at(r, false, true, None).expect("seed client");
            let back = props(&[("wlcro_client_id", &id.to_string())]);
            sims.hubspot.external_edit(ObjectType::Contacts, *contact, &back).expect("back-link");
            self.clients.push(id);
        }
    }

    /// An engine over the world; `time_box` boxes its runs.
    fn engine(&self, sweep_budget: usize, time_box: Option<TimeBox>) -> Engine {
        let shared = self.clock.shared();
        let ids = Arc::new(IdGen::new(shared.clone(), SEED));
        let opts = SyncOptions {
            owner: "time-box-test".into(),
            page_size: PAGE,
            sweep_budget,
            ..SyncOptions::default().creating_on_first_sync()
        };
        Engine::new(
            self.store.store.clone(),
            self.connectors.clone(),
            vec![self.pair.clone()],
            shared,
            ids,
            opts,
        )
        .with_time_box(time_box)
    }

    fn ops(&self) -> Ops {
        let config = OpsConfig {
            breaker: Default::default(),
            alerts: Default::default(),
            systems: self.world.systems.clone(),
            pairs: vec![self.pair.clone()],
            transport: Arc::new(ReqwestTransport::new(Duration::from_secs(5)).expect("http")),
            seed: SEED,
        };
        Ops::new(self.store.store.clone(), self.clock.shared(), self.metrics.clone(), config).expect("ops")
    }

    /// Links everything (an unboxed run), then lets the clock pass the overlap.
    async fn converge(&self) {
        let report = self.engine(0, None).run(RunKind::Scheduled, &[], false).await.expect("first run");
        assert_eq!(report.status, RunStatus::Ok, "{report:?}");
        assert_eq!(report.totals().run.linked, PEOPLE as u64, "every person linked by back-link: {report:?}");
        self.clock.advance(Duration::from_secs(600));
    }

    /// `CHANGED` clients cancelled, one a second; the next run starts when the last change is
    /// just inside its horizon (run start minus the 5 s safety margin).
    fn cancel(&self) {
        for id in &self.clients[..CHANGED] {
            self.world.sims.wlcro.ui_status(*id, "Cancelled", None).expect("status change");
            self.clock.advance(Duration::from_secs(1));
        }
        self.clock.advance(Duration::from_secs(5));
    }

    /// The HubSpot contacts whose `lifecyclestage` the simulator holds as `other`.
    fn cancelled_contacts(&self) -> BTreeSet<u64> {
        let truth = self.world.sims.hubspot.records(ObjectType::Contacts);
        truth
            .iter()
            .filter(|r| {
                self.contacts.contains(&r.id) && r.value("lifecyclestage").as_deref() == Some("other")
            })
            .map(|r| r.id)
            .collect()
    }

    fn wlcro_log(&self) -> Vec<LoggedRequest> {
        self.world.sims.wlcro.requests()
    }

    fn hubspot_log(&self) -> Vec<LoggedRequest> {
        self.world.sims.hubspot.requests()
    }
}

/// The client ids read by id (one search each) in `log`.
fn reads_by_id(log: &[LoggedRequest]) -> Vec<String> {
    log.iter()
        .filter(|r| r.path.ends_with("/search"))
        .filter_map(|r| r.query.as_deref())
        .filter_map(|q| q.split('&').find_map(|kv| kv.strip_prefix("client_id=")).map(str::to_string))
        .collect()
}

async fn boxed_run(engine: &Engine, clock: &LinkedClock) -> (RunReport, Duration) {
    let started = clock.now();
    let report = engine.run(RunKind::Scheduled, &[], false).await.expect("run");
    let took = (clock.now() - started).to_std().unwrap_or_default();
    (report, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boxed_run_stops_after_a_committed_page_and_the_next_continues_with_nothing_lost_or_read_twice() {
    let w = World::start().await;
    w.converge().await;
    w.cancel();
    let boxed = w.engine(0, Some(TimeBox { budget: Duration::from_secs(120), every: EVERY }));
    let mark = w.wlcro_log().len();
    let mut runs = Vec::new();
    loop {
        let (report, took) = boxed_run(&boxed, &w.clock).await;
        assert_eq!(report.status, RunStatus::Ok, "a boxed run is a success: {report:?}");
        let status = report.pairs[0].status.clone();
        runs.push((took, status.clone()));
        match status {
            PairStatus::Done => break,
            PairStatus::Carried { reason } => {
                assert!(reason.contains("time box reached, backlog carried"), "{reason}");
                assert!(reason.contains("wlcro/people"), "names the stream: {reason}");
                let backlog = &report.pairs[0].backlogs;
                assert!(backlog.iter().any(|b| b.carried && b.stream.system == "wlcro"), "{backlog:?}");
            }
            other => panic!("run {} ended {other:?}", runs.len()),
        }
        assert!(runs.len() < 20, "the backlog never drained: {runs:?}");
        // The next tick.
        w.clock.advance(EVERY.saturating_sub(took));
    }
    assert!(runs.len() >= 2, "the backlog took several boxed runs: {runs:?}");
    assert!(matches!(runs[0].1, PairStatus::Carried { .. }), "the first run was boxed: {runs:?}");
    for (i, (took, status)) in runs.iter().enumerate() {
        assert!(*took < EVERY, "run {i} ({status:?}) took {took:?}, longer than its interval");
    }
    // Every change arrived.
    let want: BTreeSet<u64> = w.contacts[..CHANGED].iter().copied().collect();
    assert_eq!(w.cancelled_contacts(), want, "every cancelled client's contact is `other` in HubSpot");
    // Each changed client was read (to complete its partial event) exactly once over all runs:
    // the next run continued after the committed page, and the overlap's events are skipped
    // by id.
    let reads = reads_by_id(&w.wlcro_log()[mark..]);
    let mut per_client: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &reads {
        *per_client.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = per_client.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "read more than once: {twice:?}");
    assert_eq!(per_client.len(), CHANGED, "one read per changed client");
    w.world.stop().await;
    w.store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_carried_backlog_its_eta_and_the_sweep_promise() {
    let w = World::start().await;
    w.converge().await;
    w.cancel();
    let boxed = w.engine(5, Some(TimeBox { budget: Duration::from_secs(120), every: EVERY }));
    let (report, took) = boxed_run(&boxed, &w.clock).await;
    assert!(matches!(report.pairs[0].status, PairStatus::Carried { .. }), "{report:?}");
    assert!(took < EVERY, "the run with its sweep took {took:?}");
    assert_eq!(report.pairs[0].stats.swept, 5, "the sweep had its turn on the swept side: {report:?}");
    let drained =
        report.pairs[0].backlogs.iter().find(|b| b.stream.system == "wlcro").expect("wlcro row").drained;
    let status = crosswalk::status::gather(&w.store.store, &w.clock.shared(), 5).await.expect("status");
    let row = status.backlogs.iter().find(|b| b.backlog.stream.system == "wlcro").expect("wlcro backlog");
    let b = &row.backlog;
    assert!(b.carried && !b.counted, "carried, extrapolated (the feed has no total): {b:?}");
    // The changes were one a second, so the density of those read extrapolates to the changes
    // left, give or take the second between the last change and the horizon.
    let left = CHANGED as u64 - drained;
    let records = b.records.expect("extrapolated count");
    assert!(records.abs_diff(left) <= left / 10 + 1, "{records} left by the estimate, {left} in truth");
    let eta = row.eta_seconds.expect("an ETA");
    let want = records as f64 / drained as f64 * EVERY.as_secs_f64();
    assert!((eta - want).abs() < 1.0, "ETA {eta} s, want {want} s");
    assert_eq!(row.sweep_found_within_runs, Some((PEOPLE as u64).div_ceil(5)));
    let hubspot = status.backlogs.iter().find(|b| b.backlog.stream.system == "hubspot").expect("hubspot row");
    assert!(!hubspot.backlog.carried && hubspot.backlog.records == Some(0), "{hubspot:?}");
    assert_eq!(hubspot.sweep_found_within_runs, None, "HubSpot's pulls see every edit");
    let text = crosswalk::status::render::text(&status);
    assert!(text.contains("time box reached, backlog carried"), "{text}");
    assert!(text.contains("extrapolated"), "{text}");
    assert!(text.contains(&format!("a silent edit is found within {} run(s)", PEOPLE.div_ceil(5))), "{text}");
    w.world.stop().await;
    w.store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_report_counts_the_requests_the_simulators_logged() {
    let w = World::start().await;
    w.converge().await;
    w.cancel();
    let engine = w.engine(5, None);
    let ops = w.ops();
    let marks = (w.wlcro_log().len(), w.hubspot_log().len());
    let report = ops.cycle(&engine, RunKind::Scheduled, &[], false).await.expect("cycle");
    assert_eq!(report.status, RunStatus::Ok, "{report:?}");
    let wl_sent = w.wlcro_log().len() - marks.0;
    let hs_sent = w.hubspot_log().len() - marks.1;
    let costs = w.store.store.run_costs(1).await.expect("costs");
    let row = |system: &str| costs.iter().find(|c| c.system == system).cloned().expect("a row");
    let (wl, hs) = (row("wlcro"), row("hubspot"));
    assert_eq!((wl.run_id.as_str(), hs.run_id.as_str()), (report.run_id.as_str(), report.run_id.as_str()));
    assert_eq!(wl.requests, wl_sent as u64, "WhiteLabelCRO requests as its simulator logged them");
    assert_eq!(hs.requests, hs_sent as u64, "HubSpot requests as its simulator logged them");
    // WhiteLabelCRO: every change pulled is a partial status event, whose completion is one
    // read forced by the API, plus the pages; HubSpot: the updates in batches of 100.
    let reads = reads_by_id(&w.wlcro_log()[marks.0..]).len() as u64;
    assert_eq!(wl.records, CHANGED as u64, "the run's updates: {wl:?} {:?}", report.totals());
    assert!(wl.minimum > CHANGED as u64 && wl.minimum <= wl.requests, "{wl:?}");
    assert!(reads >= CHANGED as u64, "{reads}");
    assert_eq!(hs.records, CHANGED as u64, "{hs:?}");
    assert!(hs.minimum <= hs.requests, "{hs:?}");
    let status = crosswalk::status::gather(&w.store.store, &w.clock.shared(), 5).await.expect("status");
    let wl_cost = status.api_costs.iter().find(|c| c.system == "wlcro").expect("wlcro cost");
    assert_eq!(wl_cost.per_record, Some(wl_sent as f64 / CHANGED as f64));
    let text = crosswalk::status::render::text(&status);
    assert!(text.contains(&format!("{wl_sent} request(s) for {CHANGED} record(s)")), "{text}");
    // The metrics serve the same ratio.
    w.metrics.refresh(&w.store.store, &w.clock.shared()).await.expect("refresh");
    let exposition = w.metrics.encode();
    assert!(exposition.contains("crosswalk_api_requests_per_record{system=\"wlcro\"}"), "{exposition}");
    w.world.stop().await;
    w.store.finish().await;
}
