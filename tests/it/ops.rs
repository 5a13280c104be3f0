//! Operations around the engine, end to end over the simulators (loopback HTTP, the shipped
//! `wlcro-people__hubspot-contacts` pair, a SQLite store, a `ManualClock` that every
//! simulator's clock follows): the circuit breaker opens after N runs against a HubSpot that
//! answers 500, the pair is then skipped and says so, a signed alert reaches a loopback
//! receiver once, the breaker closes when HubSpot recovers and a second alert says so; the queue
//! and lag alerts fire once each; `/metrics` parses and its counters move with the work done,
//! judged from the simulators' records and request logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use connector_api::http::{HttpTransport, Request, ReqwestTransport, Response, TransportFailure};
use connector_api::{Clock, ConnectorError, ManualClock};
use crosswalk::demo::report::is_write;
use crosswalk::demo::world::secret_file;
use crosswalk::demo::{SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::ops::metrics::Metrics;
use crosswalk::ops::{Ops, OpsConfig};
use crosswalk::settings::{AlertSettings, AlertTarget, AlertTargetKind, BreakerSettings, HumanDuration};
use crosswalk::store::RunKind;
use crosswalk::sync::{Engine, PairStatus, RunReport, SyncOptions};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sim_core::FaultConfig;
use sim_hubspot::ObjectType;

use crate::support::TestStore;

const SEED: u64 = 18;
const SECRET: &str = "alert-signing-secret-0123456789";
const FAILURES: u32 = 3;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-01T09:00:00Z").expect("fixed time").to_utc()
}

/// Moves each simulator's frozen clock up to the engine's clock before every request.
struct Synced {
    inner: ReqwestTransport,
    clock: ManualClock,
    clocks: Vec<sim_core::SimClock>,
}

impl Synced {
    fn sync(&self) {
        let now = self.clock.now();
        for c in self.clocks.iter().filter(|c| now > c.now()) {
            c.set(now);
        }
    }
}

#[async_trait]
impl HttpTransport for Synced {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        self.sync();
        self.inner.send(req).await
    }

    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        self.sync();
        self.inner.send_checked(req).await
    }
}

/// A loopback webhook receiver that keeps every delivery.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let got = got.clone();
                async move {
                    got.lock().unwrap().push((headers, body));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        format!("http://{addr}/hook")
    }

    /// Every delivery's JSON, after checking its signature as a receiver would.
    fn alerts(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(headers, body)| {
                let ts = headers["x-crosswalk-timestamp"].to_str().unwrap();
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(format!("{ts}.").as_bytes());
                mac.update(body);
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                assert_eq!(
                    headers["x-crosswalk-signature"].to_str().unwrap(),
                    expected,
                    "signature verifies"
                );
                serde_json::from_slice(body).expect("JSON body")
            })
            .collect()
    }

    fn events(&self, event: &str) -> Vec<Value> {
        self.alerts().into_iter().filter(|a| a["event"] == event).collect()
    }
}

struct Env {
    world: SimWorld,
    clock: ManualClock,
    engine: Engine,
    ops: Ops,
    metrics: Arc<Metrics>,
    receiver: Receiver,
    targets: Vec<AlertTarget>,
    store: TestStore,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start(alerts: AlertSettings) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = WorldConfig::demo(SEED, 6000);
        cfg.wlcro.start_time = Some(t0());
        cfg.hubspot.start_time = Some(t0());
        cfg.salesforce.start_time = Some(t0());
        let world = SimWorld::start(cfg, dir.path()).await.expect("simulators start");
        let clock = ManualClock::new(t0());
        let synced: Arc<dyn HttpTransport> = Arc::new(Synced {
            inner: ReqwestTransport::new(Duration::from_secs(30)).expect("transport"),
            clock: clock.clone(),
            clocks: vec![
                world.sims.wlcro.clock.clone(),
                world.sims.hubspot.clock.clone(),
                world.sims.salesforce.clock.clone(),
            ],
        });
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/wlcro-people__hubspot-contacts.toml");
        let pairs = vec![crosswalk::mapping::load_file(&path).expect("shipped mapping loads")];
        let metrics = Arc::new(Metrics::new());
        let mut connectors = BTreeMap::new();
        for (i, (name, system)) in world.systems.iter().enumerate() {
            let transport = metrics.transport(name, synced.clone());
            let c =
                crosswalk::registry::build(name, system, &pairs, transport, clock.shared(), SEED + i as u64)
                    .expect("connector");
            connectors.insert(name.clone(), c);
        }
        let receiver = Receiver::default();
        let url = receiver.start().await;
        let secret = secret_file(dir.path(), "alert.secret", SECRET).expect("secret file");
        let targets = vec![AlertTarget { kind: AlertTargetKind::Webhook, url, secret: Some(secret) }];
        let alerts = AlertSettings { targets: targets.clone(), ..alerts };
        let store = TestStore::sqlite().await;
        let ops = ops(&world, &store, &clock, &metrics, alerts, &pairs, synced.clone());
        let ids = Arc::new(IdGen::new(clock.shared(), SEED));
        let opts =
            SyncOptions { owner: "ops-test".into(), ..SyncOptions::default().creating_on_first_sync() };
        let engine = Engine::new(store.store.clone(), connectors, pairs, clock.shared(), ids, opts)
            .with_gate(ops.gate());
        Env { world, clock, engine, ops, metrics, receiver, targets, store, _dir: dir }
    }

    /// One cycle as `sync` does it, its alerts delivered before returning.
    async fn cycle(&self) -> RunReport {
        self.clock.advance(Duration::from_secs(60));
        let report = self.ops.cycle(&self.engine, RunKind::Scheduled, &[], false).await.expect("run");
        self.ops.notifier().flush().await;
        report
    }

    fn seed_client(&self, i: usize) {
        let r = sim_whitelabelcro::SeedRecord {
            first_name: "Ann".into(),
            last_name: format!("Lee{i}"),
            email: format!("ann.lee{i}@example.test"),
            status: Some("Active Client".into()),
            ..Default::default()
        };
        self.world.sims.wlcro.seed_at(r, false, true, None).expect("seed client");
    }

    async fn finish(self) {
        self.world.stop().await;
        self.store.finish().await;
    }
}

/// An `Ops` over the env's store (a second one is another worker, or the process restarted).
fn ops(
    world: &SimWorld,
    store: &TestStore,
    clock: &ManualClock,
    metrics: &Arc<Metrics>,
    alerts: AlertSettings,
    pairs: &[crosswalk::mapping::PairMapping],
    transport: Arc<dyn HttpTransport>,
) -> Ops {
    let config = OpsConfig {
        breaker: BreakerSettings { failures: FAILURES, failure_share: 0.5 },
        alerts,
        systems: world.systems.clone(),
        pairs: pairs.to_vec(),
        transport,
        seed: SEED,
    };
    Ops::new(store.store.clone(), clock.shared(), metrics.clone(), config).expect("ops")
}

fn quiet_alerts() -> AlertSettings {
    // Thresholds far away, so a test sees only the alerts it is about.
    AlertSettings {
        pair_failures: 1000,
        review_queue_above: 1000,
        lag_above: HumanDuration(Duration::from_secs(365 * 86_400)),
        attempts: 2,
        targets: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_n_failing_runs_pauses_the_pair_and_closes_when_hubspot_recovers() {
    let env = Env::start(quiet_alerts()).await;
    env.seed_client(0);
    let first = env.cycle().await;
    assert_eq!(first.pairs[0].status, PairStatus::Done, "{:?}", first.pairs[0].status);
    assert!(env.receiver.alerts().is_empty(), "nothing to say while all is well");

    env.world.sims.hubspot.set_faults(FaultConfig { rate_500: 1.0, ..FaultConfig::default() });
    for run in 1..=FAILURES {
        let report = env.cycle().await;
        assert!(
            matches!(report.pairs[0].status, PairStatus::Incomplete { .. }),
            "run {run} against a HubSpot answering 500: {:?}",
            report.pairs[0].status
        );
        let opened = env.receiver.events("breaker_opened");
        assert_eq!(opened.len(), usize::from(run == FAILURES), "opened after exactly {FAILURES} runs");
    }
    let opened = env.receiver.events("breaker_opened");
    assert_eq!(
        (opened[0]["subject"]["system"].as_str(), opened[0]["state"].as_str()),
        (Some("hubspot"), Some("open"))
    );
    let breakers = env.store.store.breakers().await.unwrap();
    assert!(breakers.iter().any(|b| b.system == "hubspot" && b.open), "{breakers:?}");
    assert!(breakers.iter().all(|b| b.system != "wlcro" || !b.open), "WhiteLabelCRO answered: {breakers:?}");

    // Paused: the pair is skipped and says so; HubSpot sees the probe, no pull and no write.
    let mark = env.world.sims.hubspot.requests().len();
    let paused = env.cycle().await;
    let PairStatus::Paused { reason } = &paused.pairs[0].status else {
        panic!("the pair is paused: {:?}", paused.pairs[0].status)
    };
    assert!(reason.contains("`hubspot`") && reason.contains("crosswalk resume hubspot"), "{reason}");
    let summary = crosswalk::status::run_summary(&paused, false);
    assert!(summary.contains("skipped, paused: system `hubspot`"), "{summary}");
    let seen: Vec<_> = env.world.sims.hubspot.requests().into_iter().skip(mark).collect();
    assert!(!seen.is_empty(), "the probe asked HubSpot");
    assert!(seen.iter().all(|r| r.method == "GET" && !r.path.contains("search") && !is_write(r)), "{seen:?}");
    let status = crosswalk::status::gather(&env.store.store, &env.clock.shared(), 5).await.unwrap();
    let text = crosswalk::status::render::text(&status);
    assert!(text.contains("Circuit breaker OPEN for `hubspot`"), "{text}");
    // Neither this process nor another worker (or a restart) repeats the alert.
    let other = ops(
        &env.world,
        &env.store,
        &env.clock,
        &Arc::new(Metrics::new()),
        AlertSettings { targets: env.targets.clone(), ..quiet_alerts() },
        &[],
        Arc::new(ReqwestTransport::new(Duration::from_secs(5)).unwrap()),
    );
    other.alert(&[], &[]).await.unwrap();
    other.notifier().flush().await;
    assert_eq!(env.receiver.events("breaker_opened").len(), 1, "one message per state change");

    // HubSpot recovers: the next run's probe closes the breaker and the pair runs again.
    env.world.sims.hubspot.set_faults(FaultConfig::default());
    env.seed_client(1);
    let recovered = env.cycle().await;
    assert_eq!(recovered.pairs[0].status, PairStatus::Done, "{:?}", recovered.pairs[0].status);
    let closed = env.receiver.events("breaker_closed");
    assert_eq!(closed.len(), 1, "{:?}", env.receiver.alerts());
    assert_eq!(closed[0]["subject"]["system"], "hubspot");
    let contacts = env.world.sims.hubspot.records(ObjectType::Contacts);
    assert_eq!(contacts.len(), 2, "both clients reached HubSpot once the pair ran again");
    assert_eq!(env.receiver.alerts().len(), 2, "opened and closed, nothing else");
    env.finish().await;
}

/// `n` open review items of the shipped pair, committed as a run would.
async fn open_review_items(store: &TestStore, n: usize, at: DateTime<Utc>) {
    let lease =
        store.store.claim_lease("test", "ops-test", Duration::from_secs(600), at).await.unwrap().unwrap();
    let mut page = crosswalk::store::PageCommit::new(lease, "run-test", at);
    for i in 0..n {
        page.review_items.push(crosswalk::store::NewReviewItem {
            pair: "wlcro-people__hubspot-contacts".into(),
            kind: crosswalk::store::ReviewKind::FieldConflict,
            field: Some(format!("field_{i}")),
            reason: "both sides changed".into(),
            candidates: Value::Null,
            detected_at: at,
            run_id: "run-test".into(),
            ..Default::default()
        });
    }
    page.dead_letters.push(crosswalk::store::NewDeadLetter {
        pair: None,
        system: "wlcro".into(),
        object: "clients".into(),
        record_id: None,
        reason: "unparseable".into(),
        payload: "{}".into(),
        run_id: "run-test".into(),
        ..Default::default()
    });
    store.store.commit_page(page).await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_dead_letter_and_lagging_stream_alerts_fire_once_each() {
    let alerts = AlertSettings {
        review_queue_above: 2,
        lag_above: HumanDuration(Duration::from_secs(600)),
        ..quiet_alerts()
    };
    let env = Env::start(alerts).await;
    env.seed_client(0);
    assert_eq!(env.cycle().await.pairs[0].status, PairStatus::Done);
    assert!(env.receiver.alerts().is_empty(), "{:?}", env.receiver.alerts());

    open_review_items(&env.store, 3, env.clock.now()).await;
    for _ in 0..2 {
        env.ops.alert(&[], &[]).await.unwrap();
        env.ops.notifier().flush().await;
    }
    let above = env.receiver.events("review_queue_above");
    assert_eq!(above.len(), 1, "{:?}", env.receiver.alerts());
    assert!(above[0]["message"].as_str().unwrap().starts_with("3 review items are open"), "{}", above[0]);
    assert_eq!(env.receiver.events("dead_letters_new").len(), 1);

    // No run for 30 minutes: both streams of the pair fall behind, each alerted once.
    env.clock.advance(Duration::from_secs(1800));
    for _ in 0..2 {
        env.ops.alert(&[], &[]).await.unwrap();
        env.ops.notifier().flush().await;
    }
    let lagging = env.receiver.events("stream_lagging");
    let mut keys: Vec<&str> = lagging.iter().map(|a| a["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "lag:wlcro-people__hubspot-contacts:hubspot:contacts",
            "lag:wlcro-people__hubspot-contacts:wlcro:people"
        ],
        "{lagging:?}"
    );
    assert!(lagging.iter().all(|a| a["subject"]["pair"] == "wlcro-people__hubspot-contacts"));
    // The next run reads both streams to their end: caught up, said once per stream.
    env.cycle().await;
    env.cycle().await;
    assert_eq!(env.receiver.events("stream_lagging").len(), 2, "not repeated");
    assert_eq!(env.receiver.events("stream_caught_up").len(), 2, "{:?}", env.receiver.alerts());
    assert_eq!(env.receiver.events("review_queue_above").len(), 1, "still above, not repeated");
    env.finish().await;
}

/// The samples of one scrape: metric name and labels → value.
struct Scraped(Vec<prometheus_parse::Sample>);

impl Scraped {
    async fn get(url: &str, at: DateTime<Utc>) -> Scraped {
        let resp = reqwest::get(url).await.expect("scrape");
        assert!(resp.status().is_success());
        let text = resp.text().await.unwrap();
        // Every counter's samples end in `_total`.
        for line in text.lines().filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter")) {
            let name = line.split_whitespace().nth(2).unwrap();
            assert!(text.contains(&format!("\n{name}_total")), "{name}: {text}");
        }
        let lines = text.lines().map(|l| Ok(l.to_string()));
        Scraped(prometheus_parse::Scrape::parse_at(lines, at).expect("Prometheus text parses").samples)
    }

    /// The sum over the samples of `metric` whose labels include `labels`.
    fn sum(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{metric}: {other:?}"),
            })
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_the_counters_move_with_the_work_of_two_runs() {
    let env = Env::start(quiet_alerts()).await;
    let (addr, _task) = crosswalk::ops::metrics::listen(
        "127.0.0.1:0",
        env.metrics.clone(),
        env.store.store.clone(),
        env.clock.shared(),
    )
    .await
    .expect("listen");
    let url = format!("http://{addr}/metrics");
    let pair = ("pair", "wlcro-people__hubspot-contacts");
    let requests = |system: &str| match system {
        "hubspot" => env.world.sims.hubspot.requests().len() as f64,
        _ => env.world.sims.wlcro.requests().len() as f64,
    };

    for (run, clients) in [(1.0, 3), (2.0, 2)] {
        let before = env.world.sims.hubspot.records(ObjectType::Contacts).len();
        for i in 0..clients {
            env.seed_client(run as usize * 10 + i);
        }
        let report = env.cycle().await;
        assert_eq!(report.pairs[0].status, PairStatus::Done, "{:?}", report.pairs[0].status);
        let m = Scraped::get(&url, env.clock.now()).await;
        let contacts = env.world.sims.hubspot.records(ObjectType::Contacts).len();
        assert_eq!(contacts, before + clients, "each new client reached HubSpot");
        assert_eq!(m.sum("crosswalk_runs_total", &[("status", "ok")]), run);
        assert_eq!(
            m.sum("crosswalk_records_created_total", &[pair]),
            contacts as f64,
            "created = contacts on HubSpot"
        );
        assert!(m.sum("crosswalk_records_pulled_total", &[pair]) >= contacts as f64);
        for system in ["hubspot", "wlcro"] {
            assert_eq!(
                m.sum("crosswalk_api_requests_total", &[("system", system)]),
                requests(system),
                "{system}: every request the simulator logged, counted once"
            );
        }
        assert_eq!(m.sum("crosswalk_api_throttled_total", &[]), 0.0);
        assert_eq!(m.sum("crosswalk_run_duration_seconds_count", &[]), run);
        assert_eq!(m.sum("crosswalk_breaker_open", &[("system", "hubspot")]), 0.0);
        assert_eq!(m.sum("crosswalk_review_queue_depth", &[pair]), 0.0);
        assert!(m.sum("crosswalk_last_success_timestamp_seconds", &[pair]) >= t0().timestamp() as f64);
        assert!(
            m.0.iter()
                .any(|s| s.metric == "crosswalk_stream_lag_seconds"
                    && s.labels.get("stream") == Some("people"))
        );
    }
    // Open dead letters, in total and by reason, as the store holds them.
    open_review_items(&env.store, 0, env.clock.now()).await;
    let m = Scraped::get(&url, env.clock.now()).await;
    assert_eq!(m.sum("crosswalk_dead_letters", &[]), 1.0);
    assert_eq!(m.sum("crosswalk_dead_letters_by_reason", &[("reason", "unparseable")]), 1.0);
    env.finish().await;
}
