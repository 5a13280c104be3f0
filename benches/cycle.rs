//! One scheduled cycle with N (default 10,000) changed records on each side of the
//! WhiteLabelCRO ⇄ HubSpot pair, against the bundled simulators over loopback HTTP (no
//! artificial latency), on SQLite and on PostgreSQL. Prints wall time, records/s, the requests
//! each simulator answered, the peak RSS (VmHWM) of the cycle and the CPU time the process spent
//! on it (less sensitive than the wall time to other work on the machine).
//!
//! Set-up (not measured): N WhiteLabelCRO clients and N HubSpot contacts, pre-linked both ways
//! with equal values, stamped 30 minutes ago; one initial cycle links them (its figures are
//! printed too); a spacer change ten minutes ago and one more cycle put the checkpoints past the
//! seed, as in steady operation. Then, stamped one minute ago, every client changes status (a
//! `client.status_changed` event; the mapping writes HubSpot's `lifecyclestage`) and every
//! contact changes city (a HubSpot edit; written back to WhiteLabelCRO): N changes per side,
//! 2·N remote updates to make. The measured cycle is one `Engine::run` of kind `scheduled`.
//!
//! Not quota-bound on purpose: the simulators' limits and the connectors' own pacing (HubSpot's
//! 100 / 10 s burst and 5 searches / s, WhiteLabelCRO's per-minute buckets) are raised far
//! above what the cycle uses, and the pair's safety caps are lifted, so the figure is the
//! engine's own cost plus loopback HTTP. The simulators run in this process and share its
//! cores and its RSS.
//!
//! `cargo bench --bench cycle [-- sqlite|postgres]`; `CROSSWALK_BENCH_N` changes N;
//! `CROSSWALK_BENCH_PG_URL` names the PostgreSQL database (default
//! `postgres://postgres@127.0.0.1:5432/test`), in which a fresh schema is created and dropped.
//! `CROSSWALK_BENCH_COUNT_SQL=1` also counts the SQL statements the store sent during the
//! measured cycle (sqlx's statement events; the logging this turns on costs time, so the wall
//! time of such a run is not the figure).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{Connector, SharedClock, SystemClock};
use crosswalk::demo::{self, SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::{Cap, PairMapping};
use crosswalk::registry;
use crosswalk::settings::SystemSettings;
use crosswalk::store::{self, RunKind, Store};
use crosswalk::sync::{Engine, RunReport, SyncOptions};
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;
use sqlx::Connection;

const PAIR: &str = "wlcro-people__hubspot-contacts";
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const SEED: u64 = 42;
/// Far above anything the cycle uses: requests per minute / per window.
const UNLIMITED: u32 = 100_000_000;

/// SQL statements sqlx has run (its `sqlx::query` events), when counting is on.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Counts sqlx's statement events and drops every other event.
struct CountStatements;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn count_sql() -> bool {
    std::env::var("CROSSWALK_BENCH_COUNT_SQL").is_ok_and(|v| v == "1")
}

fn main() {
    if count_sql() {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let filter =
            tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::DEBUG);
        let subscriber = tracing_subscriber::registry().with(CountStatements.with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    }
    let n: usize = std::env::var("CROSSWALK_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |b: &str| only.is_empty() || only.iter().any(|o| o == b);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        if wanted("sqlite") {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            bench("sqlite", &url, n).await;
        }
        if wanted("postgres") {
            let admin = std::env::var("CROSSWALK_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG.into());
            match PgSchema::create(&admin).await {
                Ok(schema) => {
                    bench("postgres", &schema.url, n).await;
                    schema.drop().await;
                }
                Err(e) => eprintln!("postgres: skipped ({e}); set CROSSWALK_BENCH_PG_URL"),
            }
        }
    });
}

/// A throw-away schema in the benchmark database.
struct PgSchema {
    admin: String,
    name: String,
    url: String,
}

impl PgSchema {
    async fn create(admin: &str) -> Result<PgSchema, sqlx::Error> {
        let name = format!("bench_cycle_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
            .execute(&mut conn)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&mut conn).await?;
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options[search_path]={name}");
        Ok(PgSchema { admin: admin.to_string(), name, url })
    }

    async fn drop(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
        }
    }
}

fn world_config() -> WorldConfig {
    let mut config = WorldConfig::demo(SEED, UNLIMITED);
    config.hubspot.rate_limits = sim_hubspot::RateLimitConfig {
        burst_max: UNLIMITED,
        daily_max: u64::from(UNLIMITED),
        search_max: UNLIMITED,
        ..Default::default()
    };
    config
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

/// Seeds `n` clients and `n` contacts, linked both ways with equal values, 30 minutes ago.
fn seed(world: &SimWorld, n: usize) -> (Vec<i64>, Vec<u64>) {
    let sims = &world.sims;
    sims.wlcro.clock.set_offset(chrono::Duration::minutes(-30));
    sims.hubspot.clock.set_offset(chrono::Duration::minutes(-30));
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
    (client_ids, contact_ids)
}

/// The HubSpot pair with its safety caps lifted.
fn pairs() -> Vec<PairMapping> {
    let mut pairs: Vec<PairMapping> =
        demo::pairs().expect("embedded pairs").into_iter().filter(|p| p.name == PAIR).collect();
    for pair in &mut pairs {
        let none = Cap { max: None, max_pct: None };
        pair.caps.creates = none;
        pair.caps.overwrites = none;
        pair.caps.deletes = none;
    }
    pairs
}

/// WhiteLabelCRO through the registry (its pacing comes from the world's settings); HubSpot built
/// here, because its connector paces itself to HubSpot's real limits unless told otherwise.
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
    cfg.rate_limits = connector_hubspot::RateLimits {
        burst_per_10s: UNLIMITED,
        daily: UNLIMITED,
        search_per_second: UNLIMITED,
    };
    let hubspot =
        connector_hubspot::HubspotConnector::new(cfg, transport, clock, SEED + 1).expect("hubspot connector");
    BTreeMap::from([
        ("wlcro".to_string(), wlcro),
        ("hubspot".to_string(), Arc::new(hubspot) as Arc<dyn Connector>),
    ])
}

/// N changes per side, stamped one minute ago: a status change on every client, a city change
/// on every contact.
fn change(world: &SimWorld, clients: &[i64], contacts: &[u64]) {
    let sims = &world.sims;
    sims.wlcro.clock.set_offset(chrono::Duration::minutes(-1));
    sims.hubspot.clock.set_offset(chrono::Duration::minutes(-1));
    for id in clients {
        sims.wlcro.ui_status(*id, "Cancelled", None).expect("status change");
    }
    for (i, id) in contacts.iter().enumerate() {
        let city = props(&[("city", &format!("Benchville {i}"))]);
        sims.hubspot.external_edit(ObjectType::Contacts, *id, &city).expect("city edit");
    }
    sims.wlcro.clock.set_offset(chrono::Duration::zero());
    sims.hubspot.clock.set_offset(chrono::Duration::zero());
}

/// One new client and one contact edit, stamped ten minutes ago, synced by an unmeasured cycle:
/// the checkpoints then sit minutes after the seed, as in steady operation, so the measured
/// cycle's overlap re-reads the spacer and not the whole seed.
fn spacer(world: &SimWorld, contact: u64) {
    let sims = &world.sims;
    sims.wlcro.clock.set_offset(chrono::Duration::minutes(-10));
    sims.hubspot.clock.set_offset(chrono::Duration::minutes(-10));
    let r = sim_whitelabelcro::SeedRecord {
        first_name: "Spacer".into(),
        last_name: "Client".into(),
        email: "spacer@example.test".into(),
        status: Some("Active Client".into()),
        ..Default::default()
    };
    sims.wlcro.seed_at(r, false, true, None).expect("spacer client");
    sims.hubspot
        .external_edit(ObjectType::Contacts, contact, &props(&[("state", "WA")]))
        .expect("spacer edit");
    sims.wlcro.clock.set_offset(chrono::Duration::zero());
    sims.hubspot.clock.set_offset(chrono::Duration::zero());
}

fn request_counts(world: &SimWorld) -> [usize; 2] {
    [world.sims.wlcro.requests().len(), world.sims.hubspot.requests().len()]
}

/// Peak RSS of this process in KiB (`VmHWM`), and a reset of it (Linux ≥ 4.0).
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this process has used so far (user + system, every thread, the in-process
/// simulators included), from `/proc/self/stat`; `None` where it is not readable. Unlike the
/// wall time it barely moves when other processes share the cores.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) / CLOCK_TICKS)
}

/// `sysconf(_SC_CLK_TCK)` on Linux.
const CLOCK_TICKS: f64 = 100.0;

fn cpu_since(start: Option<f64>) -> String {
    match (start, cpu_secs()) {
        (Some(a), Some(b)) => format!("{:.2} s CPU", b - a),
        _ => "CPU time not readable".into(),
    }
}

fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn describe(report: &RunReport) -> String {
    let p = &report.pairs[0];
    let c = &p.stats.run;
    format!(
        "{}: pulled {}, re-read {}, linked {}, created {}, updated {}, conflicts {}, rejected {}, echoes {}",
        report.status,
        c.pulled,
        c.reread,
        c.linked,
        c.created,
        c.updated,
        c.conflicts,
        c.rejected,
        c.skipped_echo
    )
}

async fn bench(backend: &str, url: &str, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = SimWorld::start(world_config(), dir.path()).await.expect("simulators");
    let t = Instant::now();
    let (clients, contacts) = seed(&world, n);
    println!("{backend}: seeded {n} clients and {n} contacts in {:.1?}", t.elapsed());

    let store: Arc<dyn Store> = store::open(url).await.expect("open store");
    store.migrate().await.expect("migrate");
    let pairs = pairs();
    let clock: SharedClock = SystemClock::shared();
    let ids = Arc::new(IdGen::new(clock.clone(), SEED));
    let opts = SyncOptions { owner: "bench-cycle".into(), ..SyncOptions::default().creating_on_first_sync() };
    let engine =
        Engine::new(store.clone(), connectors(&world, &pairs, clock.clone()), pairs, clock, ids, opts);

    let (t, cpu) = (Instant::now(), cpu_secs());
    let first = engine.run(RunKind::Scheduled, &[], false).await.expect("initial cycle");
    println!(
        "{backend}: initial cycle (links {n} pre-linked pairs) {:.2?} ({}); {}",
        t.elapsed(),
        cpu_since(cpu),
        describe(&first)
    );
    spacer(&world, contacts[0]);
    let second = engine.run(RunKind::Scheduled, &[], false).await.expect("spacer cycle");
    println!("{backend}: spacer cycle: {}", describe(&second));

    change(&world, &clients, &contacts);
    let before = request_counts(&world);
    let reset = reset_peak_rss();
    let statements = STATEMENTS.load(Ordering::Relaxed);
    let (t, cpu) = (Instant::now(), cpu_secs());
    let cycle = engine.run(RunKind::Scheduled, &[], false).await.expect("measured cycle");
    let wall = t.elapsed();
    let cpu = cpu_since(cpu);
    let peak = vm_hwm_kib();
    let after = request_counts(&world);
    let statements = STATEMENTS.load(Ordering::Relaxed) - statements;

    // Ground truth: every change reached the other side.
    let cancelled = world
        .sims
        .hubspot
        .records(ObjectType::Contacts)
        .iter()
        .filter(|c| c.properties.get("lifecyclestage").map(String::as_str) == Some("other"))
        .count();
    let truth = world.sims.wlcro.records();
    let moved = truth["clients"].as_array().map_or(0, |cs| {
        cs.iter().filter(|c| c["city"].as_str().is_some_and(|s| s.starts_with("Benchville"))).count()
    });

    let changed = 2 * n;
    println!(
        "{backend}: scheduled cycle with {n} changes per side: {:.2?} wall ({cpu}), {:.0} changed records/s ({} pulled records/s)",
        wall,
        changed as f64 / wall.as_secs_f64(),
        (cycle.pairs[0].stats.run.pulled as f64 / wall.as_secs_f64()).round()
    );
    println!("{backend}:   {}", describe(&cycle));
    println!(
        "{backend}:   requests answered: WhiteLabelCRO {}, HubSpot {}",
        after[0] - before[0],
        after[1] - before[1]
    );
    match peak {
        Some(kib) if reset => println!(
            "{backend}:   peak RSS during the cycle (VmHWM, simulators included): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        Some(kib) => println!(
            "{backend}:   peak RSS of the process (VmHWM; could not reset it before the cycle): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("{backend}:   peak RSS: /proc/self/status not readable"),
    }
    if count_sql() {
        println!(
            "{backend}:   SQL statements during the cycle: {statements} (counting on: the wall time is not the figure)"
        );
    }
    println!(
        "{backend}:   ground truth: {cancelled}/{n} contacts now `other`, {moved}/{n} clients moved city"
    );
    // The simulators' own view, value before against value after every write request: records
    // written without a change, over the whole run (set-up cycles included) and in the measured
    // cycle.
    let logs = world.sims.logs();
    let unchanged =
        |log: &[sim_core::LoggedRequest], from: usize| demo::report::unchanged_writes(&log[from..]);
    println!(
        "{backend}:   records written without a change: WhiteLabelCRO {} ({} in the measured cycle), HubSpot {} ({})",
        unchanged(&logs[0].1, 0),
        unchanged(&logs[0].1, before[0]),
        unchanged(&logs[1].1, 0),
        unchanged(&logs[1].1, before[1]),
    );
    world.stop().await;
}
