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
                assert_eq!(headers["x-crosswalk-signature"].to_str().unwrap(), expected, "signature verifies");
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
            let c = crosswalk::registry::build(name, system, &pairs, transport, clock.shared(), SEED + i as u64)
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
        let opts = SyncOptions { owner: "ops-test".into(), ..SyncOptions::default().creating_on_first_sync() };
        let engine = Engine::new(store.store.clone(), connectors, pairs, clock.shared(), ids, opts).with_gate(ops.gate());
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
    assert_eq!((opened[0]["subject"]["system"].as_str(), opened[0]["state"].as_str()), (Some("hubspot"), Some("open")));
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
    let summary = crosswalk::commands::sync::summary(&paused, false);
    assert!(summary.contains("skipped, paused: system `hubspot`"), "{summary}");
    let seen: Vec<_> = env.world.sims.hubspot.requests().into_iter().skip(mark).collect();
    assert!(!seen.is_empty(), "the probe asked HubSpot");
    assert!(seen.iter().all(|r| r.method == "GET" && !r.path.contains("search") && !is_write(r)), "{seen:?}");
    let status = crosswalk::commands::status::gather(&env.store.store, &env.clock.shared(), 5).await.unwrap();
    let text = crosswalk::commands::status::render::text(&status);
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

