//! The scenario lifecycle (scenarios §H.4): a seeded population, a chaos phase of scheduled runs
//! with people editing all three systems and faults on, quiesce, settle (R = 3 runs) and a
//! witness run, then the oracle. Crashes drop the engine and start a new one on a reopened
//! store. Seeds come from `CROSSWALK_SEEDS` (how many) or `SIM_SEED` (replay one); every seed
//! runs on SQLite, and on PostgreSQL too when `CROSSWALK_TEST_PG_URL` is set.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crosswalk::demo::seed::Person;
use crosswalk::store::{self, Backend, RunKind, Store};
use crosswalk::sync::{Engine, PairStatus, RunReport, SyncOptions};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;

use crate::crash_store::CrashStore;
use crate::net::{FaultPlan, WireEntry};
use crate::oracle::{self, Expect, Truth};
use crate::support::TestStore;
use crate::world::World;

/// The scheduler's period.
pub const INTERVAL: Duration = Duration::from_secs(300);
/// Settle runs after quiescence (R).
pub const SETTLE_RUNS: usize = 3;

/// One process of crosswalk (engine + store handle) in a simulated world.
pub struct Sim {
    /// The world.
    pub world: World,
    /// The store under test (the raw one; the engine goes through a crash wrapper).
    pub ts: TestStore,
    /// The running engine.
    pub engine: Engine,
    /// Engine options (kept for restarts).
    pub opts: SyncOptions,
    /// Scenario randomness (people, crash points).
    pub rng: ChaCha8Rng,
    /// What the scenario expects beyond ground truth.
    pub expect: Expect,
    /// Every run report, in order.
    pub reports: Vec<(String, RunReport)>,
    /// Run errors (a crash ends a run with one; anything else is a finding).
    pub errors: Vec<String>,
    incarnation: u64,
}

/// The engine options the harness runs with.
pub fn sync_options() -> SyncOptions {
    SyncOptions {
        owner: "crosswalk-sim".into(),
        page_size: 50,
        ..SyncOptions::default().creating_on_first_sync()
    }
}

impl Sim {
    /// A world for `seed` on `backend` (`None`: PostgreSQL not configured).
    pub async fn new(
        seed: u64,
        backend: Backend,
        tweak: impl FnOnce(&mut crosswalk::demo::WorldConfig),
        opts: SyncOptions,
    ) -> Option<Sim> {
        let ts = TestStore::new(backend).await?;
        let world = World::new(seed, tweak);
        let raw = ts.store.clone();
        let wrapped: Arc<dyn Store> = Arc::new(CrashStore::new(raw, world.crash.clone(), world.net.clone()));
        let engine = world.engine(wrapped, opts.clone(), 0);
        Some(Sim {
            world,
            ts,
            engine,
            opts,
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            expect: Expect::default(),
            reports: Vec::new(),
            errors: Vec::new(),
            incarnation: 0,
        })
    }

    /// The store, for the oracle.
    pub fn store(&self) -> &dyn Store {
        self.ts.store.as_ref()
    }

    /// Starts a new engine process on a reopened store.
    pub async fn restart(&mut self) {
        self.world.crash.restart();
        self.incarnation += 1;
        let reopened = store::open(&self.ts.url).await.expect("reopen the store");
        let wrapped: Arc<dyn Store> =
            Arc::new(CrashStore::new(reopened, self.world.crash.clone(), self.world.net.clone()));
        self.engine = self.world.engine(wrapped, self.opts.clone(), self.incarnation);
    }

    /// One run of every pair, labelled `phase` in the wire log. A crash restarts the process.
    pub async fn run(&mut self, phase: &str) -> Option<RunReport> {
        self.world.net.set_phase(phase);
        let result = self.engine.run(RunKind::Scheduled, &[], false).await;
        let crashed = self.world.crash.is_down();
        let out = match result {
            Ok(r) => {
                for p in &r.pairs {
                    if let PairStatus::Failed { reason } = &p.status
                        && !crashed
                    {
                        self.errors.push(format!("{phase}: pair {} failed: {reason}", p.pair));
                    }
                }
                self.reports.push((phase.to_string(), r.clone()));
                Some(r)
            }
            Err(e) => {
                if !crashed {
                    self.errors.push(format!("{phase}: run failed: {e}"));
                }
                None
            }
        };
        if crashed {
            self.restart().await;
        }
        out
    }

    /// Advances one interval and runs.
    pub async fn tick(&mut self, phase: &str) -> Option<RunReport> {
        self.world.clock.advance(INTERVAL);
        self.run(phase).await
    }

    /// The chaos phase: `runs` scheduled runs; before each, people make up to `edits` changes
    /// spread over the interval; each run may crash at a random crash point.
    pub async fn chaos(&mut self, runs: usize, edits: usize, plan: FaultPlan, crash_rate: f64) {
        self.world.net.set_plan(plan);
        for i in 0..runs {
            let n = self.rng.random_range(0..=edits);
            let step = INTERVAL / (n as u32 + 1);
            for _ in 0..n {
                self.world.clock.advance(step);
                self.human_edit();
            }
            self.world.clock.advance(step);
            if self.rng.random_bool(crash_rate) {
                let k = self.rng.random_range(1..=60);
                self.world.crash.arm(Some(k));
            }
            self.run(&format!("chaos-{i}")).await;
        }
        self.world.crash.arm(None);
    }

    /// Quiesce (faults and people stop), settle R runs and a witness run, then the oracle.
    /// Returns every violation.
    pub async fn settle_and_check(&mut self) -> Vec<String> {
        self.world.net.set_plan(FaultPlan::none());
        self.world.crash.arm(None);
        if self.world.crash.is_down() {
            self.restart().await;
        }
        // A crashed process may still hold a lease: wait it out, as a restarted one would.
        self.world.clock.advance(self.opts.lease_ttl);
        let settle_errors = self.errors.len();
        for r in 1..=SETTLE_RUNS {
            self.tick(&format!("settle-{r}")).await;
        }
        let before = Truth::read(&self.world.sims);
        self.tick("witness").await;
        let truth = Truth::read(&self.world.sims);
        let mut v = oracle::check_state(&truth, self.store(), &self.expect).await;
        let wire = self.world.net.wire();
        v.extend(oracle::check_wire(&wire, &self.expect));
        v.extend(oracle::check_no_writes(&wire, &["witness"]));
        if before.digest() != truth.digest() {
            v.push("termination: the witness run changed ground truth".into());
        }
        for e in &self.errors[settle_errors..] {
            v.push(format!("settle: {e}"));
        }
        if std::env::var("SIM_DEBUG").is_ok() {
            self.debug_dump().await;
        }
        v
    }

    /// Prints every run's pair statuses and counters, the open review queue and dead letters
    /// (`SIM_DEBUG=1`).
    pub async fn debug_dump(&self) {
        for (phase, r) in &self.reports {
            for p in &r.pairs {
                eprintln!("[{phase}] {} {:?} {:?}", p.pair, p.status, p.stats.run);
            }
        }
        for e in &self.errors {
            eprintln!("[error] {e}");
        }
        for w in
            self.wire().iter().filter(|w| w.write && (w.phase.starts_with("settle") || w.phase == "witness"))
        {
            let cut = |b: &str| b.chars().take(600).collect::<String>();
            eprintln!(
                "[wire {}] {} {} {} {:?}\n   > {}\n   < {}",
                w.phase,
                w.system,
                w.method,
                w.path,
                w.status,
                cut(&w.bodies.0),
                cut(&w.bodies.1)
            );
        }
        let open =
            self.store().list_review(&crosswalk::store::ReviewFilter::default()).await.unwrap_or_default();
        for i in open {
            eprintln!(
                "[review {}] {} {:?} {:?} link={:?} left={:?} right={:?} field={:?} reason={}",
                i.id, i.pair, i.state, i.kind, i.link_id, i.left_id, i.right_id, i.field, i.reason
            );
        }
        for d in self.store().list_dead_letters(1000).await.unwrap_or_default() {
            eprintln!("[dead] {:?} {} {:?} {}", d.pair, d.system, d.record_id, d.reason);
        }
    }

    /// A digest of the run: the wire trace plus the final ground truth.
    pub fn trace_hash(&self) -> String {
        format!("{}:{}", self.world.net.trace_hash(), Truth::read(&self.world.sims).digest())
    }

    /// The wire log.
    pub fn wire(&self) -> Vec<WireEntry> {
        self.world.net.wire()
    }

    // --- people ------------------------------------------------------------------------------

    /// Seeds `n` WhiteLabelCRO clients; about a third pre-linked to HubSpot, a fifth matchable
    /// there by email only (case differs), the same again on Salesforce; plus a few records that
    /// exist only in HubSpot or Salesforce. Returns the client ids.
    pub fn populate(&mut self, n: usize) -> Vec<i64> {
        let sims = &self.world.sims;
        let base = self.rng.random_range(0..10_000usize);
        let mut ids = Vec::new();
        for i in 0..n {
            let p = person(base + i);
            let hs_role = self.rng.random_range(0..10);
            let sf_role = self.rng.random_range(0..10);
            let email_upper = (3..5).contains(&hs_role) || (3..5).contains(&sf_role);
            let mut hs_id = None;
            if hs_role < 3 {
                let props = hs_props(&p, &p.email);
                let id = sims.hubspot.seed(ObjectType::Contacts, &[props]).expect("seed hubspot")[0];
                hs_id = Some(id);
            }
            let r = sim_whitelabelcro::SeedRecord {
                first_name: p.first.clone(),
                last_name: p.last.clone(),
                email: if email_upper { p.email.to_uppercase() } else { p.email.clone() },
                phone: Some(p.phone.clone()),
                city: Some(p.place.0.into()),
                state: Some(p.place.1.into()),
                zip: Some(p.place.2.into()),
                status: Some(p.status.0.into()),
                external_id: hs_id.map(|h| format!("hubspot_{h}")),
                ..Default::default()
            };
            let id = sims.wlcro.seed_at(r, false, true, None).expect("seed wlcro");
            ids.push(id);
            if let Some(h) = hs_id {
                let back: Map<String, Value> =
                    [("wlcro_client_id".to_string(), json!(id.to_string()))].into_iter().collect();
                sims.hubspot.external_edit(ObjectType::Contacts, h, &back).expect("back-link");
            } else if (3..5).contains(&hs_role) {
                sims.hubspot.seed(ObjectType::Contacts, &[hs_props(&p, &p.email)]).expect("seed hubspot");
            }
            if sf_role < 3 {
                self.seed_sf(&p, Some(id));
            } else if (3..5).contains(&sf_role) {
                self.seed_sf(&p, None);
            }
        }
        for k in 0..self.rng.random_range(1..4usize) {
            let p = person(50_000 + base + k);
            let email = format!("hs-only{base}-{k}@example.test");
            let id = sims.hubspot.seed(ObjectType::Contacts, &[hs_props(&p, &email)]).expect("seed")[0];
            self.expect.must_live.insert(("hubspot".into(), id.to_string()));
        }
        for k in 0..self.rng.random_range(1..4usize) {
            let p = person(60_000 + base + k);
            let email = format!("sf-only{base}-{k}@example.test");
            let id = self.seed_sf_email(&p, &email, None);
            self.expect.must_live.insert(("salesforce".into(), id));
        }
        ids
    }

    fn seed_sf(&self, p: &Person, link: Option<i64>) -> String {
        self.seed_sf_email(p, &p.email, link)
    }

    fn seed_sf_email(&self, p: &Person, email: &str, link: Option<i64>) -> String {
        let mut f: Map<String, Value> = [
            ("FirstName", p.first.as_str()),
            ("LastName", p.last.as_str()),
            ("Email", email),
            ("Phone", p.phone_e164.as_str()),
            ("MailingCity", p.place.0),
            ("MailingState", p.place.1),
            ("MailingPostalCode", p.place.2),
            ("WLCRO_Status__c", p.status.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
        if let Some(id) = link {
            f.insert("WLCRO_Id__c".into(), json!(id.to_string()));
        }
        let rec = sim_salesforce::SeedRecord {
            object: Some(sim_salesforce::ObjectKind::Contact),
            fields: f,
            ..Default::default()
        };
        self.world.sims.salesforce.seed(vec![rec]).expect("seed salesforce").remove(0)
    }

    /// One random human action on one of the three systems.
    pub fn human_edit(&mut self) {
        let truth = Truth::read(&self.world.sims);
        let sims = &self.world.sims;
        let rng = &mut self.rng;
        let pick =
            |rng: &mut ChaCha8Rng, pool: &[&str]| pool.choose(rng).copied().unwrap_or_default().to_string();
        match rng.random_range(0..10) {
            0..=2 => {
                let Some(id) = truth.clients.keys().copied().collect::<Vec<_>>().choose(rng).copied() else {
                    return;
                };
                let mut f = Map::new();
                match rng.random_range(0..4) {
                    0 => f.insert("first_name".into(), json!(pick(rng, &NAMES))),
                    1 => f.insert("city".into(), json!(pick(rng, &CITIES))),
                    2 => f.insert(
                        "phone".into(),
                        json!(format!("(415) 555-{:04}", rng.random_range(0..10_000))),
                    ),
                    _ => f.insert("last_name".into(), json!(pick(rng, &LASTS))),
                };
                let _ = sims.wlcro.ui_edit(id, &f);
            }
            3 => {
                // Never from Cancelled: HubSpot's lifecycle stage only moves forward, so that edit
                // is the one `termination_rejected_write_is_not_resent` covers on its own.
                let movable: Vec<i64> = truth
                    .clients
                    .iter()
                    .filter(|(_, c)| c.get("status_name").is_some_and(|s| s != "Cancelled"))
                    .map(|(id, _)| *id)
                    .collect();
                let Some(id) = movable.choose(rng).copied() else { return };
                let _ = sims.wlcro.ui_status(id, &pick(rng, &STATUSES), None);
            }
            4 => {
                let p = person(rng.random_range(100_000..900_000));
                let r = sim_whitelabelcro::SeedRecord {
                    first_name: p.first.clone(),
                    last_name: p.last.clone(),
                    email: p.email.clone(),
                    phone: Some(p.phone.clone()),
                    city: Some(p.place.0.into()),
                    state: Some(p.place.1.into()),
                    zip: Some(p.place.2.into()),
                    status: Some("Active Client".into()),
                    ..Default::default()
                };
                let _ = sims.wlcro.seed_at(r, false, true, None);
            }
            5..=7 => {
                let live: Vec<_> = truth.hubspot.iter().filter(|r| r.live).collect();
                let Some(r) = live.choose(rng) else { return };
                let mut f = Map::new();
                match rng.random_range(0..3) {
                    0 => f.insert("firstname".into(), json!(pick(rng, &NAMES))),
                    1 => f.insert("city".into(), json!(pick(rng, &CITIES))),
                    _ => f.insert("lastname".into(), json!(pick(rng, &LASTS))),
                };
                let id: u64 = r.id.parse().unwrap_or_default();
                let _ = sims.hubspot.external_edit(ObjectType::Contacts, id, &f);
            }
            _ => {
                let live: Vec<_> = truth.salesforce.iter().filter(|r| r.live).collect();
                let Some(r) = live.choose(rng) else { return };
                let mut f = Map::new();
                match rng.random_range(0..3) {
                    0 => f.insert("FirstName".into(), json!(pick(rng, &NAMES))),
                    1 => f.insert("MailingCity".into(), json!(pick(rng, &CITIES))),
                    _ => f.insert("LastName".into(), json!(pick(rng, &LASTS))),
                };
                let _ = sims.salesforce.edit(sim_salesforce::ExternalEdit {
                    id: r.id.clone(),
                    fields: f,
                    system_only: false,
                    visible_after_secs: 0,
                    txn: None,
                });
            }
        }
    }
}

/// The demo's person `i`, with a phone number that stays valid for any `i` (the demo's own
/// numbering only covers its 200 clients).
pub fn person(i: usize) -> Person {
    let mut p = crosswalk::demo::seed::person(i);
    let (exchange, line) = (200 + i % 700, 1000 + i % 9000);
    p.phone = format!("(415) {exchange}-{line}");
    p.phone_e164 = format!("+1415{exchange}{line}");
    p
}

const NAMES: [&str; 6] = ["Ada", "Bea", "Cyd", "Dot", "Eve", "Fay"];
const LASTS: [&str; 5] = ["North", "South", "East", "West", "Middle"];
const CITIES: [&str; 5] = ["Boise", "Reno", "Omaha", "Tulsa", "Fargo"];
const STATUSES: [&str; 3] = ["Active Client", "On Hold", "Completed"];

fn hs_props(p: &Person, email: &str) -> Map<String, Value> {
    [
        ("email", email),
        ("firstname", p.first.as_str()),
        ("lastname", p.last.as_str()),
        ("phone", p.phone_e164.as_str()),
        ("city", p.place.0),
        ("state", p.place.1),
        ("zip", p.place.2),
        ("lifecyclestage", p.status.1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect()
}

// --- seeds, backends, reporting ---------------------------------------------------------------

/// The seeds to run: `SIM_SEED=n` replays one; otherwise `CROSSWALK_SEEDS` (default `default`)
/// seeds starting at `base`.
pub fn seeds(default: u64, base: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("SIM_SEED").ok().and_then(|s| s.trim().parse().ok()) {
        return vec![s];
    }
    let n = std::env::var("CROSSWALK_SEEDS").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default);
    (0..n).map(|i| base + i).collect()
}

/// SQLite always; PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if std::env::var(crate::support::PG_URL_VAR).is_ok_and(|v| !v.is_empty()) {
        out.push(Backend::Postgres);
    }
    out
}

/// Which seeds also run on PostgreSQL: every `CROSSWALK_PG_STRIDE`-th (default 3; the first
/// always). A PostgreSQL seed costs about 3.5× a SQLite one here (round trips per commit), and
/// F10 proves the two stores give identical traces on the same seeds; `CROSSWALK_PG_STRIDE=1`
/// runs every seed on both.
pub fn pg_stride() -> usize {
    std::env::var("CROSSWALK_PG_STRIDE")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

/// What one scenario run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Broken invariants.
    pub violations: Vec<String>,
    /// The trace hash (determinism).
    pub trace: String,
    /// Injected faults, for the figures.
    pub faults: u64,
    /// The same by kind.
    pub kinds: std::collections::BTreeMap<String, u64>,
}

/// Runs `scenario` for every seed and backend on a current-thread runtime; the first
/// `determinism` seeds run twice and must produce the same trace hash. Panics with every
/// broken invariant, the seed and the replay command.
pub fn run_scenario<F, Fut>(name: &str, default_seeds: u64, determinism: usize, scenario: F)
where
    F: Fn(u64, Backend) -> Fut,
    Fut: Future<Output = Option<Outcome>>,
{
    let base = name.bytes().fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(b as u64)) % 1_000_000;
    let mut failures = Vec::new();
    let (mut ran, mut faults) = (0, 0);
    let mut kinds: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let stride = pg_stride();
    for (i, seed) in seeds(default_seeds, base).into_iter().enumerate() {
        for backend in backends() {
            if backend == Backend::Postgres && i % stride != 0 {
                continue;
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let Some(first) = rt.block_on(scenario(seed, backend)) else { continue };
            ran += 1;
            faults += first.faults;
            for (k, n) in &first.kinds {
                *kinds.entry(k.clone()).or_default() += n;
            }
            let mut v = first.violations.clone();
            let replay_twice = ran <= determinism || std::env::var("SIM_SEED").is_ok();
            if replay_twice && backend == Backend::Sqlite {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                if let Some(second) = rt.block_on(scenario(seed, backend))
                    && second.trace != first.trace
                {
                    v.push(format!(
                        "determinism: same seed, different trace ({} vs {})",
                        first.trace, second.trace
                    ));
                }
            }
            if !v.is_empty() {
                failures.push(format!(
                    "scenario {name}, seed {seed}, store {backend}: {} broken invariant(s)\n  - {}\n  replay: SIM_SEED={seed} cargo test --test reliability {name}",
                    v.len(),
                    v.join("\n  - ")
                ));
            }
        }
    }
    eprintln!("{name}: {ran} seed run(s), {faults} fault(s) injected {kinds:?}, {} failing", failures.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The records each applied write touched, counted, for the wire entries whose phase starts
/// with one of `phases`: `(system, record id)`; creates count under `(system, "new:<key>")`.
/// Judged from the request bodies the simulators accepted (2xx, or a 207 partly).
pub fn written_records(
    wire: &[WireEntry],
    phases: &[&str],
) -> std::collections::BTreeMap<(&'static str, String), usize> {
    let mut out = std::collections::BTreeMap::new();
    for e in wire.iter().filter(|e| e.write && e.forwarded && phases.iter().any(|p| e.phase.starts_with(p))) {
        let body: Value = serde_json::from_str(&e.bodies.0).unwrap_or(Value::Null);
        let mut ids: Vec<String> = Vec::new();
        let last = e.path.rsplit('/').next().unwrap_or_default().to_string();
        match (e.system, e.method.as_str()) {
            ("wlcro", "PATCH") => ids
                .push(e.path.trim_end_matches("/status").rsplit('/').next().unwrap_or_default().to_string()),
            ("wlcro", _) => ids.push(format!(
                "new:{}",
                body["external_id"].as_str().unwrap_or_else(|| body["email"].as_str().unwrap_or("?"))
            )),
            ("hubspot", _) if last == "update" => ids.extend(
                body["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["id"].as_str().map(String::from)),
            ),
            ("hubspot", _) if last == "create" || last == "upsert" => ids.extend(
                body["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| format!("new:{}", i["id"].as_str().unwrap_or("?"))),
            ),
            ("hubspot", "PATCH") => ids.push(last),
            ("hubspot", _) => ids.push("new:?".into()),
            ("salesforce", "PATCH") if e.path.ends_with("/composite/sobjects") => ids.extend(
                body["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_str().map(String::from)),
            ),
            ("salesforce", _) if e.path.contains("/composite/sobjects") => ids.extend(
                body["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| format!("new:{}", r["WLCRO_Id__c"].as_str().unwrap_or("?"))),
            ),
            ("salesforce", "PATCH") => ids.push(last),
            ("salesforce", _) => ids.push("new:?".into()),
            _ => {}
        }
        for id in ids {
            *out.entry((e.system, id)).or_default() += 1;
        }
    }
    out
}

impl Sim {
    /// Seeds `n` clients linked on both sides (back-links everywhere). Returns
    /// `(client id, hubspot id, salesforce id)` per client.
    pub fn populate_linked(&mut self, n: usize) -> Vec<(i64, u64, String)> {
        let base = self.rng.random_range(0..5_000usize);
        let mut out = Vec::new();
        for i in 0..n {
            let p = person(base + i);
            let hs =
                self.world.sims.hubspot.seed(ObjectType::Contacts, &[hs_props(&p, &p.email)]).expect("seed")
                    [0];
            let r = sim_whitelabelcro::SeedRecord {
                first_name: p.first.clone(),
                last_name: p.last.clone(),
                email: p.email.clone(),
                phone: Some(p.phone.clone()),
                city: Some(p.place.0.into()),
                state: Some(p.place.1.into()),
                zip: Some(p.place.2.into()),
                status: Some(p.status.0.into()),
                external_id: Some(format!("hubspot_{hs}")),
                ..Default::default()
            };
            let id = self.world.sims.wlcro.seed_at(r, false, true, None).expect("seed wlcro");
            let back: Map<String, Value> =
                [("wlcro_client_id".to_string(), json!(id.to_string()))].into_iter().collect();
            self.world.sims.hubspot.external_edit(ObjectType::Contacts, hs, &back).expect("back-link");
            let sf = self.seed_sf(&p, Some(id));
            out.push((id, hs, sf));
        }
        out
    }

    /// Runs until a run writes nothing (at most `max` runs). Returns whether it got there.
    pub async fn steady(&mut self, label: &str, max: usize) -> bool {
        for i in 0..max {
            let phase = format!("{label}-{i}");
            self.tick(&phase).await;
            if self.wire().iter().all(|e| !(e.write && e.phase == phase)) {
                return true;
            }
        }
        false
    }

    /// A HubSpot contact's properties edited as a person would.
    pub fn hs_edit(&self, id: u64, props: &[(&str, &str)]) {
        let f: Map<String, Value> = props.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.world.sims.hubspot.external_edit(ObjectType::Contacts, id, &f).expect("hubspot edit");
    }

    /// A Salesforce record edited as a person would.
    pub fn sf_edit(&self, id: &str, fields: &[(&str, &str)]) {
        let f: Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.world
            .sims
            .salesforce
            .edit(sim_salesforce::ExternalEdit {
                id: id.into(),
                fields: f,
                system_only: false,
                visible_after_secs: 0,
                txn: None,
            })
            .expect("salesforce edit");
    }

    /// A WhiteLabelCRO client edited in the web UI (no event).
    pub fn wl_edit(&self, id: i64, fields: &[(&str, &str)]) {
        let f: Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.world.sims.wlcro.ui_edit(id, &f).expect("wlcro edit");
    }

    /// Creates a WhiteLabelCRO client the way the platform does (with its `client.created` event).
    pub fn wl_create(&self, p: &Person, email: &str, external_id: Option<String>) -> i64 {
        let r = sim_whitelabelcro::SeedRecord {
            first_name: p.first.clone(),
            last_name: p.last.clone(),
            email: email.into(),
            phone: Some(p.phone.clone()),
            status: Some("Active Client".into()),
            external_id,
            ..Default::default()
        };
        self.world.sims.wlcro.seed_at(r, false, true, None).expect("create client")
    }

    /// Creates a HubSpot contact.
    pub fn hs_create(&self, p: &Person, email: &str, back_link: Option<i64>) -> u64 {
        let mut props = hs_props(p, email);
        if let Some(b) = back_link {
            props.insert("wlcro_client_id".into(), json!(b.to_string()));
        }
        self.world.sims.hubspot.seed(ObjectType::Contacts, &[props]).expect("seed hubspot")[0]
    }

    /// Creates a Salesforce Contact.
    pub fn sf_create(&self, p: &Person, email: &str, link: Option<i64>) -> String {
        self.seed_sf_email(p, email, link)
    }

    /// Ends the scenario: the trace hash and fault count for the outcome, and the store's
    /// PostgreSQL schema dropped.
    pub async fn done(self, violations: Vec<String>) -> Option<Outcome> {
        let kinds: std::collections::BTreeMap<String, u64> =
            self.world.net.faults().into_iter().map(|(k, n)| (format!("{k:?}"), n)).collect();
        let faults = kinds.values().sum();
        let trace = self.trace_hash();
        self.ts.finish().await;
        Some(Outcome { violations, trace, faults, kinds })
    }
}

impl Sim {
    /// The oracle's verdict on the state now, without settling (for the oracle's own tests).
    pub async fn verdict_now(&self) -> Vec<String> {
        let truth = Truth::read(&self.world.sims);
        let mut v = oracle::check_state(&truth, self.store(), &self.expect).await;
        v.extend(oracle::check_wire(&self.wire(), &self.expect));
        v
    }
}
