//! The drain: `CROSSWALK_DRAIN_N` (default 10,000) queued WhiteLabelCRO status changes at the
//! REAL quota (60 reads and 100 writes a minute, simulator and connector alike) drained by
//! scheduled runs every `CROSSWALK_DRAIN_EVERY` seconds (default 300, the shipped interval),
//! each time-boxed to `sync.time_box` (0.8) of it, behind the shipped WhiteLabelCRO ⇄ HubSpot
//! mapping over loopback HTTP.
//!
//! The clock is virtual (a `LinkedClock`): every rate-limit wait of the connectors advances the
//! engine's and both simulators' clocks at once, so the 2.8+ hours of quota run in seconds of
//! wall time while every figure is in the clock the quota is counted in. Processing time does
//! not move a virtual clock; each run's wall time is printed beside it (at the real quota it is
//! a rounding error of the interval). Each changed client needs one read (its status event is
//! partial), so the read bucket binds; the verification sweep (`sweep_share` 0.25 of a page,
//! 50 reads) runs in every run.
//!
//! Measured: each run's duration against its interval, the drain time against the ETA that
//! `crosswalk status` showed after the first run, and from the HubSpot simulator's records that
//! every change arrived. `cargo bench --bench drain`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{Clock, Connector};
use crosswalk::demo::{SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::{self, Cap, PairMapping};
use crosswalk::store::{self, RunKind, RunStatus, Store};
use crosswalk::sync::{Engine, PairStatus, SyncOptions, TimeBox};
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;

const SEED: u64 = 21;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-04T08:00:00Z").expect("valid time").to_utc()
}

fn pair() -> PairMapping {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/wlcro-people__hubspot-contacts.toml");
    let mut pair = mapping::load_file(&path).expect("the shipped mapping loads");
    let none = Cap { max: None, max_pct: None };
    pair.caps.creates = none;
    pair.caps.overwrites = none;
    pair
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

/// `n` clients and contacts linked both ways with equal values.
fn seed(world: &SimWorld, n: usize) -> (Vec<i64>, Vec<u64>) {
    let sims = &world.sims;
    let contacts: Vec<Map<String, Value>> = (0..n)
        .map(|i| {
            let (email, last) = (format!("drain{i}@example.test"), format!("Drain{i}"));
            props(&[
                ("email", &email),
                ("firstname", "Ann"),
                ("lastname", &last),
                ("lifecyclestage", "customer"),
            ])
        })
        .collect();
    let contact_ids = sims.hubspot.seed(ObjectType::Contacts, &contacts).expect("seed contacts");
    let mut client_ids = Vec::with_capacity(n);
    for (i, contact) in contact_ids.iter().enumerate() {
        let r = sim_whitelabelcro::SeedRecord {
            first_name: "Ann".into(),
            last_name: format!("Drain{i}"),
            email: format!("drain{i}@example.test"),
            status: Some("Active Client".into()),
            external_id: Some(format!("hubspot_{contact}")),
            ..Default::default()
        };
        let id = sims.wlcro.seed_at(r, false, true, None).expect("seed client");
        let back = props(&[("wlcro_client_id", &id.to_string())]);
        sims.hubspot.external_edit(ObjectType::Contacts, *contact, &back).expect("back-link");
        client_ids.push(id);
    }
    (client_ids, contact_ids)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = env_or("CROSSWALK_DRAIN_N", 10_000);
    let every = Duration::from_secs(env_or("CROSSWALK_DRAIN_EVERY", 300));
    let share: f64 = env_or("CROSSWALK_DRAIN_BOX", 0.8);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = WorldConfig::demo(SEED, 60).starting_at(t0());
    config.wlcro.rate_limits = sim_whitelabelcro::RateLimitConfig::default();
    config.wlcro.webhook_jitter = false;
    let world = SimWorld::start(config, dir.path()).await.expect("simulators start");
    let clock = world.linked_clock(t0());
    let pair = pair();
    let transport: Arc<dyn HttpTransport> =
        Arc::new(ReqwestTransport::new(Duration::from_secs(60)).expect("http"));
    let mut connectors: BTreeMap<String, Arc<dyn Connector>> = BTreeMap::new();
    for (i, (name, system)) in world.systems.iter().enumerate() {
        let mut system = system.clone();
        if let crosswalk::settings::SystemSettings::Whitelabelcro(w) = &mut system {
            (w.read_per_minute, w.write_per_minute) = (60, 100);
        }
        let c = crosswalk::registry::build(
            name,
            &system,
            std::slice::from_ref(&pair),
            transport.clone(),
            clock.shared(),
            SEED + i as u64,
        )
        .expect("connector");
        connectors.insert(name.clone(), c);
    }
    let db = dir.path().join("drain.db");
    let store: Arc<dyn Store> = store::open(&format!("sqlite://{}", db.display())).await.expect("store");
    store.migrate().await.expect("migrate");
    let (clients, contacts) = seed(&world, n);
    // The seed's events are a minute old when the linking run reads them.
    clock.advance(Duration::from_secs(60));
    let engine = |time_box| {
        let shared = clock.shared();
        // The shipped settings: pages of 200, a sweep of 200 × sync.sweep_share 0.25.
        let opts = SyncOptions {
            owner: "drain-bench".into(),
            sweep_budget: 50,
            ..SyncOptions::default().creating_on_first_sync()
        };
        let ids = Arc::new(IdGen::new(shared.clone(), SEED));
        Engine::new(store.clone(), connectors.clone(), vec![pair.clone()], shared, ids, opts)
            .with_time_box(time_box)
    };
    let wall = Instant::now();
    let first = engine(None).run(RunKind::Scheduled, &[], false).await.expect("linking run");
    assert_eq!(first.totals().run.linked, n as u64, "every person linked: {first:?}");
    println!(
        "set-up: {n} people linked in {:.1?} wall ({} virtual)",
        wall.elapsed(),
        secs(clock.now() - t0())
    );
    clock.advance(Duration::from_secs(3600));
    // The queue: n status changes spread over the hour before the drain starts.
    let spacing = Duration::from_secs(3600).div_f64(n as f64);
    for id in &clients {
        world.sims.wlcro.ui_status(*id, "Cancelled", None).expect("status change");
        clock.advance(spacing);
    }
    let mark = world.sims.wlcro.requests().len();
    let boxed = engine(Some(TimeBox::share_of(every, share)));
    let drain_start = clock.now();
    let mut first_eta: Option<(f64, DateTime<Utc>, Option<u64>)> = None;
    let mut rows = Vec::new();
    loop {
        let (start, wall) = (clock.now(), Instant::now());
        let report = boxed.run(RunKind::Scheduled, &[], false).await.expect("run");
        let took = (clock.now() - start).to_std().unwrap_or_default();
        assert_eq!(report.status, RunStatus::Ok, "{report:?}");
        let p = &report.pairs[0];
        let drained = p.backlogs.iter().find(|b| b.stream.system == "wlcro").map_or(0, |b| b.drained);
        rows.push((took, wall.elapsed(), drained, p.stats.swept));
        if first_eta.is_none() {
            let status = crosswalk::status::gather(&store, &clock.shared(), 1).await.expect("status");
            let row =
                status.backlogs.iter().find(|b| b.backlog.stream.system == "wlcro").expect("wlcro backlog");
            let eta = row.eta_seconds.expect("the first run printed an ETA");
            first_eta = Some((eta, clock.now(), row.backlog.records));
            let text = crosswalk::status::render::text(&status);
            for line in
                text.lines().filter(|l| l.contains("wlcro") && (l.contains("backlog") || l.contains("sweep")))
            {
                println!("status after run 1: {}", line.trim());
            }
        }
        if p.status == PairStatus::Done {
            break;
        }
        assert!(rows.len() < 10_000, "never drained");
        clock.advance(every.saturating_sub(took));
    }
    let end = clock.now();
    let durations: Vec<String> = rows.iter().map(|r| format!("{:.0}", r.0.as_secs_f64())).collect();
    println!("run durations (s): {}", durations.join(" "));
    let (eta, eta_at, eta_records) = first_eta.expect("an ETA");
    let measured = (end - eta_at).num_milliseconds() as f64 / 1000.0;
    let longest = rows.iter().map(|r| r.0).max().unwrap_or_default();
    let over = rows.iter().filter(|r| r.0 > every).count();
    let wall_max = rows.iter().map(|r| r.1).max().unwrap_or_default();
    let reads = world.sims.wlcro.requests().len() - mark;
    println!(
        "runs: {} every {}, box {:.0} s; longest run {:.1} s ({:.0} % of the interval), {over} over it; slowest run's wall time {:.2?}",
        rows.len(),
        secs_std(every),
        every.as_secs_f64() * share,
        longest.as_secs_f64(),
        longest.as_secs_f64() / every.as_secs_f64() * 100.0,
        wall_max
    );
    let drained_first = rows.first().map_or(0, |r| r.2);
    println!(
        "first run drained {drained_first}; ETA after it {:.0} s for {:?} left; measured {measured:.0} s ({:+.1} %)",
        eta,
        eta_records,
        (eta - measured) / measured * 100.0
    );
    let total = (end - drain_start).num_milliseconds() as f64 / 1000.0;
    println!(
        "drain: {n} changes in {total:.0} s = {:.2} changes/s; WhiteLabelCRO requests {reads} = {:.2}/s (quota 1.00 read/s + writes)",
        n as f64 / total,
        reads as f64 / total
    );
    let truth = world.sims.hubspot.records(ObjectType::Contacts);
    let arrived = truth
        .iter()
        .filter(|r| contacts.contains(&r.id) && r.value("lifecyclestage").as_deref() == Some("other"))
        .count();
    println!("arrived: {arrived} of {n} contacts hold the new stage in HubSpot ({} lost)", n - arrived);
    world.stop().await;
}

fn secs(d: chrono::Duration) -> String {
    format!("{:.0} s", d.num_milliseconds() as f64 / 1000.0)
}

fn secs_std(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}
