//! Freshness: the time from a change on one system to its write on the other, with the webhook
//! micro-sync worker and without it, against the bundled simulators over loopback HTTP.
//!
//! The simulators send their REAL signed deliveries — WhiteLabelCRO `client.status_changed`
//! webhooks from a subscription made through its API (`deliver_due` every 200 ms), HubSpot v3
//! batches of contact events (`deliver_webhooks` every 200 ms) — to crosswalk's real receivers
//! (`serve::webhooks::WlcroReceiver`, `serve::hubspot_webhooks::HubspotReceiver`) on
//! `crosswalk serve`'s router (`serve::router`), served in process on loopback. A layer in front of them notifies the worker's `Notify` after each
//! delivery (what `crosswalk run --serve` does) and, in the second scenario, acknowledges every
//! 4th delivery without storing it (a lost delivery). The scheduled cycle runs beside it every
//! `CROSSWALK_BENCH_EVERY` seconds (default 60: the shipped 5 minutes scaled 1:5).
//!
//! Each scenario makes `CROSSWALK_BENCH_CHANGES` changes (default 1,000) spread evenly over
//! `CROSSWALK_BENCH_SPREAD` seconds (default 60), half WhiteLabelCRO status changes (→ HubSpot
//! `lifecyclestage`), half HubSpot contact edits (`lastname` → WhiteLabelCRO), each on a record
//! of its own. Latency is wall time: from the simulator's clock at the change (the record's
//! modified time; the simulators follow the system clock here) to the moment the other
//! simulator's ground truth holds the value (polled every 100 ms, so up to 0.1 s late). Limits
//! are real-sized, not lifted: HubSpot 100 requests / 10 s (simulator and connector), WhiteLabelCRO
//! `CROSSWALK_BENCH_WLCRO_PER_MINUTE` (default 6,000, the demo's; the spec's real 60 reads a
//! minute could not even read 500 changed clients in a minute) requests per minute per bucket;
//! 429s are counted from both simulators' request logs.
//!
//! `cargo bench --bench freshness`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{Clock, Connector, SharedClock, SystemClock};
use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
use crosswalk::demo::{self, SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::{Cap, PairMapping};
use crosswalk::registry;
use crosswalk::serve::AdminAuth;
use crosswalk::serve::hubspot_webhooks::HubspotReceiver;
use crosswalk::serve::webhooks::WlcroReceiver;
use crosswalk::settings::SystemSettings;
use crosswalk::store::{self, RunKind, Store};
use crosswalk::sync::micro::{self, MicroOptions};
use crosswalk::sync::{Engine, StopSignal, SyncOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;
use tokio::sync::Notify;

const PAIR: &str = "wlcro-people__hubspot-contacts";
const SEED: u64 = 19;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// In front of the receivers: drops every `drop_every`-th delivery (0: none) with a 200, and
/// wakes the worker after each stored one.
struct Gate {
    wake: Arc<Notify>,
    drop_every: AtomicU64,
    seen: AtomicU64,
    dropped: AtomicU64,
}

async fn gate(State(g): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    let n = g.seen.fetch_add(1, Ordering::SeqCst) + 1;
    let every = g.drop_every.load(Ordering::SeqCst);
    if every > 0 && n.is_multiple_of(every) {
        g.dropped.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::OK, "{\"status\":\"accepted\"}").into_response();
    }
    let res = next.run(req).await;
    g.wake.notify_one();
    res
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

/// `n` clients and contacts linked both ways with equal values, an hour ago.
fn seed(world: &SimWorld, n: usize) -> (Vec<i64>, Vec<u64>) {
    let sims = &world.sims;
    sims.wlcro.clock.set_offset(chrono::Duration::minutes(-60));
    sims.hubspot.clock.set_offset(chrono::Duration::minutes(-60));
    let people: Vec<_> = (0..n).map(demo::seed::person).collect();
    let contacts: Vec<Map<String, Value>> = people
        .iter()
        .map(|p| {
            props(&[
                ("email", &p.email),
                ("firstname", &p.first),
                ("lastname", &p.last),
                ("phone", &p.phone_e164),
                ("city", p.place.0),
                ("state", p.place.1),
                ("zip", p.place.2),
                ("lifecyclestage", "customer"),
            ])
        })
        .collect();
    let contact_ids = sims.hubspot.seed(ObjectType::Contacts, &contacts).expect("seed contacts");
    let mut client_ids = Vec::with_capacity(n);
    for (p, contact) in people.iter().zip(&contact_ids) {
        let r = sim_whitelabelcro::SeedRecord {
            first_name: p.first.clone(),
            last_name: p.last.clone(),
            email: p.email.clone(),
            phone: Some(p.phone.clone()),
            city: Some(p.place.0.into()),
            state: Some(p.place.1.into()),
            zip: Some(p.place.2.into()),
            status: Some("Active Client".into()),
            external_id: Some(format!("hubspot_{contact}")),
            ..Default::default()
        };
        let id = sims.wlcro.seed_at(r, false, true, None).expect("seed client");
        let back = props(&[("wlcro_client_id", &id.to_string())]);
        sims.hubspot.external_edit(ObjectType::Contacts, *contact, &back).expect("back-link");
        client_ids.push(id);
    }
    sims.wlcro.clock.set_offset(chrono::Duration::zero());
    sims.hubspot.clock.set_offset(chrono::Duration::zero());
    // The seed's own events (back-links) are not part of any scenario.
    let _ = sims.hubspot.take_webhook_batches("http://127.0.0.1/discarded");
    (client_ids, contact_ids)
}

fn pairs() -> Vec<PairMapping> {
    let mut pairs: Vec<PairMapping> =
        demo::pairs().expect("embedded pairs").into_iter().filter(|p| p.name == PAIR).collect();
    for pair in &mut pairs {
        let none = Cap { max: None, max_pct: None };
        pair.caps.creates = none;
        pair.caps.overwrites = none;
    }
    pairs
}

/// WhiteLabelCRO through the registry (paced to the world's per-minute setting); HubSpot with its
/// connector's default pacing (HubSpot's real 100 / 10 s).
fn connectors(
    world: &SimWorld,
    pairs: &[PairMapping],
    clock: SharedClock,
) -> BTreeMap<String, Arc<dyn Connector>> {
    let transport: Arc<dyn HttpTransport> =
        Arc::new(ReqwestTransport::new(Duration::from_secs(60)).expect("http"));
    let wlcro =
        registry::build("wlcro", &world.systems["wlcro"], pairs, transport.clone(), clock.clone(), SEED)
            .expect("wlcro connector");
    let SystemSettings::Hubspot(hs) = &world.systems["hubspot"] else { panic!("hubspot settings") };
    let token = hs.token.resolve().expect("token");
    let mut cfg = connector_hubspot::HubspotConfig::new(&hs.base_url, token, &hs.unique_property);
    for (object, fields) in registry::fields_read("hubspot", pairs) {
        let props = cfg.properties.entry(object).or_default();
        props.extend(fields);
        props.sort();
        props.dedup();
    }
    let hubspot =
        connector_hubspot::HubspotConnector::new(cfg, transport, clock, SEED + 1).expect("hubspot connector");
    BTreeMap::from([
        ("wlcro".to_string(), wlcro),
        ("hubspot".to_string(), Arc::new(hubspot) as Arc<dyn Connector>),
    ])
}

/// The receivers on `listener` (at `base`) behind the gate.
fn receivers(
    listener: tokio::net::TcpListener,
    base: &str,
    store: Arc<dyn Store>,
    gate_state: Arc<Gate>,
    secrets: (&str, &str),
) {
    let clock = SystemClock::shared();
    let wl_secrets = vec![SecretString::from(secrets.0.to_string())];
    let verifier = WebhookVerifier::new(SignatureScheme::default(), wl_secrets);
    let wl = WlcroReceiver::new("wlcro", verifier, 1 << 20, store.clone(), clock.clone());
    let hs_secrets = vec![SecretString::from(secrets.1.to_string())];
    let hs = HubspotReceiver::new("hubspot", hs_secrets, base, 1 << 20, store.clone(), clock.clone());
    // `crosswalk serve`'s router (admin pages, API, the webhook routes) with both receivers.
    let auth =
        AdminAuth::new(&SecretString::from("bench-admin-token-0123456789"), ChaCha20Rng::seed_from_u64(7));
    let router = crosswalk::serve::router(store.clone(), auth, clock.clone());
    let app = hs.attach(wl.attach(router)).layer(middleware::from_fn_with_state(gate_state, gate));
    tokio::spawn(async move { axum::serve(listener, app).await });
}

async fn subscribe(world: &SimWorld, target: &str) -> String {
    let sub: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/subscriptions", world.urls[0]))
        .header("X-Api-Key", &world.credentials.wlcro_key)
        .json(&json!({"targetUrl": target, "eventTypes": ["client.status_changed"]}))
        .send()
        .await
        .expect("subscribe")
        .json()
        .await
        .expect("subscription");
    sub["secret"].as_str().expect("the secret, shown once").to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn refused(world: &SimWorld, from: [usize; 2]) -> usize {
    let wl = world.sims.wlcro.requests().into_iter().skip(from[0]).filter(|r| r.status == 429).count();
    let hs = world.sims.hubspot.requests().into_iter().skip(from[1]).filter(|r| r.status == 429).count();
    wl + hs
}

struct Scenario {
    name: &'static str,
    worker: bool,
    drop_every: u64,
}

/// One scenario over its own records: changes spread over `spread`, then waits until every
/// change arrived (or `deadline` passed).
#[allow(clippy::too_many_arguments)]
async fn scenario(
    s: &Scenario,
    world: &SimWorld,
    engine: &Arc<Engine>,
    gate_state: &Arc<Gate>,
    clients: &[i64],
    contacts: &[u64],
    spread: Duration,
    deadline: Duration,
) {
    gate_state.drop_every.store(s.drop_every, Ordering::SeqCst);
    gate_state.dropped.store(0, Ordering::SeqCst);
    let marks = [world.sims.wlcro.requests().len(), world.sims.hubspot.requests().len()];
    let stop = StopSignal::new();
    let worker = s.worker.then(|| {
        tokio::spawn(micro::run(
            engine.clone(),
            gate_state.wake.clone(),
            stop.clone(),
            MicroOptions::default(),
        ))
    });
    let n = clients.len() + contacts.len();
    let gap = spread / n as u32;
    // (kind, index) → change time
    let mut changed: Vec<(bool, usize, DateTime<Utc>)> = Vec::with_capacity(n);
    let mut arrived: BTreeMap<(bool, usize), f64> = BTreeMap::new();
    let start = Instant::now();
    let mut next_poll = Instant::now();
    let (mut wi, mut hi) = (0, 0);
    let tag = s.name.split_whitespace().next().unwrap_or("x");
    for k in 0..n {
        let due = start + gap * k as u32;
        while Instant::now() < due {
            if Instant::now() >= next_poll {
                observe(world, clients, contacts, &changed, &mut arrived, tag);
                next_poll = Instant::now() + Duration::from_millis(100);
            }
            tokio::time::sleep(Duration::from_millis(5).min(due.saturating_duration_since(Instant::now())))
                .await;
        }
        if k % 2 == 0 && wi < clients.len() {
            let at = world.sims.wlcro.now();
            world.sims.wlcro.ui_status(clients[wi], "Cancelled", None).expect("status change");
            changed.push((true, wi, at));
            wi += 1;
        } else if hi < contacts.len() {
            let at = world.sims.hubspot.clock.now();
            let name = format!("{tag}-{hi}");
            world
                .sims
                .hubspot
                .external_edit(ObjectType::Contacts, contacts[hi], &props(&[("lastname", &name)]))
                .expect("edit");
            changed.push((false, hi, at));
            hi += 1;
        }
    }
    let (_, attempts) = world.sims.wlcro.deliveries();
    let mut codes: BTreeMap<Option<u16>, usize> = BTreeMap::new();
    for a in &attempts {
        *codes.entry(a.status).or_default() += 1;
    }
    let stored = engine.store().count_pending_events("wlcro", 100_000).await.unwrap_or(0)
        + engine.store().count_pending_events("hubspot", 100_000).await.unwrap_or(0);
    println!("{}: WhiteLabelCRO delivery answers so far {codes:?}; events pending now {stored}", s.name);
    let end = Instant::now() + deadline;
    while arrived.len() < changed.len() && Instant::now() < end {
        observe(world, clients, contacts, &changed, &mut arrived, tag);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.request();
    let worked = match worker {
        Some(w) => format!("{:?}", w.await.expect("worker")),
        None => "no worker".into(),
    };
    let mut all: Vec<f64> = arrived.values().copied().collect();
    all.sort_by(f64::total_cmp);
    let side = |wl: bool| {
        let mut v: Vec<f64> = arrived.iter().filter(|((k, _), _)| *k == wl).map(|(_, l)| *l).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (to_hs, to_wl) = (side(true), side(false));
    println!(
        "{}: {} changes over {:.0?}: arrived {}/{} (lost {}), p50 {:.2} s, p99 {:.2} s, max {:.2} s; \
         WhiteLabelCRO→HubSpot p50 {:.2} s p99 {:.2} s; HubSpot→WhiteLabelCRO p50 {:.2} s p99 {:.2} s; \
         429s {}; deliveries dropped {} of {}; worker {}",
        s.name,
        changed.len(),
        spread,
        arrived.len(),
        changed.len(),
        changed.len() - arrived.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN),
        percentile(&to_hs, 0.5),
        percentile(&to_hs, 0.99),
        percentile(&to_wl, 0.5),
        percentile(&to_wl, 0.99),
        refused(world, marks),
        gate_state.dropped.load(Ordering::SeqCst),
        gate_state.seen.load(Ordering::SeqCst),
        worked,
    );
}

/// Records the latency of every change whose value the other side now holds.
fn observe(
    world: &SimWorld,
    clients: &[i64],
    contacts: &[u64],
    changed: &[(bool, usize, DateTime<Utc>)],
    arrived: &mut BTreeMap<(bool, usize), f64>,
    tag: &str,
) {
    if changed.iter().all(|(k, i, _)| arrived.contains_key(&(*k, *i))) {
        return;
    }
    let now = SystemClock.now();
    let hs: BTreeMap<u64, Option<String>> = world
        .sims
        .hubspot
        .records(ObjectType::Contacts)
        .into_iter()
        .map(|r| (r.id, r.properties.get("lifecyclestage").cloned()))
        .collect();
    let truth = world.sims.wlcro.records();
    let wl: BTreeMap<i64, String> = truth["clients"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| Some((c["client_id"].as_i64()?, c["last_name"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    // Client i and contact i are linked (seeded in the same order).
    for (to_hubspot, i, at) in changed {
        if arrived.contains_key(&(*to_hubspot, *i)) {
            continue;
        }
        let done = if *to_hubspot {
            hs.get(&contacts[*i]).and_then(|v| v.as_deref()) == Some("other")
        } else {
            wl.get(&clients[*i]).map(String::as_str) == Some(format!("{tag}-{i}").as_str())
        };
        if done {
            arrived.insert((*to_hubspot, *i), (now - *at).num_milliseconds() as f64 / 1000.0);
        }
    }
}

fn main() {
    let changes: usize = env_or("CROSSWALK_BENCH_CHANGES", 1000);
    let spread = Duration::from_secs(env_or("CROSSWALK_BENCH_SPREAD", 60));
    let every = Duration::from_secs(env_or("CROSSWALK_BENCH_EVERY", 60));
    let per_minute: u32 = env_or("CROSSWALK_BENCH_WLCRO_PER_MINUTE", 6000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run(changes, spread, every, per_minute));
}

async fn run(changes: usize, spread: Duration, every: Duration, per_minute: u32) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = WorldConfig::demo(SEED, per_minute);
    config.hubspot.rate_limits = sim_hubspot::RateLimitConfig::default();
    let hs_secret = config.hubspot.client_secret.clone();
    let world = SimWorld::start(config, dir.path()).await.expect("simulators");
    let half = changes / 2;
    let scenarios = [
        Scenario { name: "webhooks + micro-sync", worker: true, drop_every: 0 },
        Scenario { name: "dropped (1 in 4 deliveries lost) + micro-sync", worker: true, drop_every: 4 },
        Scenario { name: "polling-only (no worker)", worker: false, drop_every: 0 },
    ];
    let n = half * scenarios.len();
    let t = Instant::now();
    let (clients, contacts) = seed(&world, n);
    println!("seeded {n} linked pairs in {:.1?}", t.elapsed());

    let store: Arc<dyn Store> = store::open(&format!("sqlite://{}", dir.path().join("bench.db").display()))
        .await
        .expect("open store");
    store.migrate().await.expect("migrate");
    let pairs = pairs();
    let clock: SharedClock = SystemClock::shared();
    let ids = Arc::new(IdGen::new(clock.clone(), SEED));
    let opts =
        SyncOptions { owner: "bench-freshness".into(), ..SyncOptions::default().creating_on_first_sync() };
    let engine = Arc::new(Engine::new(
        store.clone(),
        connectors(&world, &pairs, clock.clone()),
        pairs,
        clock,
        ids,
        opts,
    ));
    let t = Instant::now();
    let first = engine.run(RunKind::Scheduled, &[], false).await.expect("initial cycle");
    println!("initial cycle: {} in {:.1?}", first.status, t.elapsed());

    let gate_state = Arc::new(Gate {
        wake: Arc::new(Notify::new()),
        drop_every: AtomicU64::new(0),
        seen: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let wl_secret = subscribe(&world, &format!("{base}/webhooks/wlcro")).await;
    receivers(listener, &base, store.clone(), gate_state.clone(), (&wl_secret, &hs_secret));

    // The simulators' senders and the scheduler.
    let sims = world.sims.clone();
    let hook = format!("{base}/webhooks/hubspot");
    tokio::spawn(async move {
        loop {
            sims.wlcro.deliver_due(sims.wlcro.now()).await;
            sims.hubspot.deliver_webhooks(&hook).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let sched = engine.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = sched.run(RunKind::Scheduled, &[], false).await {
                eprintln!("scheduled run failed: {e}");
            }
        }
    });
    let deadline = every * 2 + Duration::from_secs(30);
    for (k, s) in scenarios.iter().enumerate() {
        let range = k * half..(k + 1) * half;
        scenario(
            s,
            &world,
            &engine,
            &gate_state,
            &clients[range.clone()],
            &contacts[range],
            spread,
            deadline,
        )
        .await;
    }
    world.stop().await;
}
