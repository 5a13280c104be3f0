//! `crosswalk demo`: the README's first command. Starts the three bundled API simulators on
//! loopback with seeded data, runs two sync cycles of the shipped WhiteLabelCRO ↔ HubSpot and
//! WhiteLabelCRO ↔ Salesforce pairs through the real engine and connectors over real HTTP against
//! a temporary SQLite store, and prints what happened (judged from the simulators' own records),
//! the open review queue and a short status.
//!
//! The mapping files are embedded so the demo works from any directory: they are the shipped
//! ones, one pair per CRM object over WhiteLabelCRO `people` (leads and clients are one record
//! space).

pub mod report;
pub mod seed;
pub mod world;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{SharedClock, SystemClock};

use crate::ids::IdGen;
use crate::mapping::{self, PairMapping};
use crate::registry;
use crate::status;
use crate::status::run_summary;
use crate::store::{self, ReviewFilter, ReviewItem, ReviewState, RunKind};
use crate::sync::{Engine, PairStatus, RunReport, SyncOptions};

pub use report::{Sims, Snapshot};
pub use seed::Seeded;
pub use world::{SimWorld, WorldConfig};

const HUBSPOT_PAIR: (&str, &str) = (
    "wlcro-people__hubspot-contacts.toml",
    include_str!("../../mappings/wlcro-people__hubspot-contacts.toml"),
);
const SALESFORCE_PAIR: (&str, &str) = (
    "wlcro-people__salesforce-contacts.toml",
    include_str!("../../mappings/wlcro-people__salesforce-contacts.toml"),
);
/// Requests per minute the demo tenant may make to the WhiteLabelCRO simulator (and the
/// connector's own pacing): generous, so two cycles finish in seconds.
const WLCRO_PER_MINUTE: u32 = 6000;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seeds the id generator and the simulators.
    pub seed: u64,
    /// Keep the temporary store directory instead of removing it at the end.
    pub keep_store: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { seed: 7, keep_store: false }
    }
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A local file or the output could not be written, or a simulator could not listen.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A simulator rejected the seed data.
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    /// An embedded mapping does not load (a build defect).
    #[error("embedded mapping {file}: {message}")]
    Mapping {
        /// The file.
        file: &'static str,
        /// The problems.
        message: String,
    },
    /// The temporary store failed.
    #[error("state store: {0}")]
    Store(#[from] store::StoreError),
    /// A connector could not be built.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// The engine stopped.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// A pair failed in a cycle.
    #[error("cycle {cycle}: pair {pair} failed: {reason}")]
    PairFailed {
        /// 0 for the backfill, then 1 or 2.
        cycle: usize,
        /// The pair.
        pair: String,
        /// Why.
        reason: String,
    },
}

/// Everything the demo did, for tests to judge.
#[derive(Debug)]
pub struct DemoReport {
    /// The simulators (stopped, but their state stays readable).
    pub sims: Sims,
    /// What was seeded.
    pub seeded: Seeded,
    /// Ground truth at the start of the backfill and of each cycle.
    pub marks: Vec<Snapshot>,
    /// Ground truth after the last cycle.
    pub after: Snapshot,
    /// The backfill runs (one per pair), then the two cycles.
    pub runs: Vec<RunReport>,
    /// Open review items at the end.
    pub review: Vec<ReviewItem>,
    /// The temporary store's path.
    pub store_path: PathBuf,
}

/// The embedded pairs, exactly as shipped.
pub fn pairs() -> Result<Vec<PairMapping>, DemoError> {
    [HUBSPOT_PAIR, SALESFORCE_PAIR]
        .into_iter()
        .map(|(file, text)| {
            mapping::load_str(text, Path::new(file)).map_err(|errors| DemoError::Mapping {
                file,
                message: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            })
        })
        .collect()
}

/// The first failed pair of a run, as the demo's error.
fn check_failed(report: &RunReport, cycle: usize) -> Result<(), DemoError> {
    match report.pairs.iter().find_map(|p| match &p.status {
        PairStatus::Failed { reason } => Some((p.pair.clone(), reason.clone())),
        _ => None,
    }) {
        Some((pair, reason)) => Err(DemoError::PairFailed { cycle, pair, reason }),
        None => Ok(()),
    }
}

fn temp_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000 {
        let dir = base.join(format!("crosswalk-demo-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary directory name"))
}

/// Runs the demo, writing the readable account to `out`. The store directory is removed at the
/// end unless `opts.keep_store`.
pub async fn run(opts: &DemoOptions, out: &mut impl Write) -> Result<DemoReport, DemoError> {
    let dir = temp_dir()?;
    let result = run_in(opts, &dir, out).await;
    if !opts.keep_store {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(opts: &DemoOptions, dir: &Path, out: &mut impl Write) -> Result<DemoReport, DemoError> {
    let world = SimWorld::start(WorldConfig::demo(opts.seed, WLCRO_PER_MINUTE), dir).await?;
    let result = cycles(opts, dir, &world, out).await;
    world.stop().await;
    result
}

async fn cycles(
    opts: &DemoOptions,
    dir: &Path,
    world: &SimWorld,
    out: &mut impl Write,
) -> Result<DemoReport, DemoError> {
    let (sims, urls) = (&world.sims, &world.urls);
    // Back-date the seed: data that existed before crosswalk, behind the engine's horizon.
    let back = chrono::Duration::minutes(-5);
    for clock in [&sims.wlcro.clock, &sims.hubspot.clock, &sims.salesforce.clock] {
        clock.set_offset(back);
    }
    let seeded = seed::seed_all(&sims.wlcro, &sims.hubspot, &sims.salesforce);
    for clock in [&sims.wlcro.clock, &sims.hubspot.clock, &sims.salesforce.clock] {
        clock.set_offset(chrono::Duration::zero());
    }
    let seeded = seeded?;

    let pairs = pairs()?;
    let store_path = dir.join("state.db");
    let store = store::open(&format!("sqlite://{}", store_path.display())).await?;
    store.migrate().await?;
    let clock: SharedClock = SystemClock::shared();
    let connectors = world.connectors(&pairs, clock.clone(), opts.seed)?;
    let ids = Arc::new(IdGen::new(clock.clone(), opts.seed));
    let sync_opts = SyncOptions { owner: "crosswalk-demo".into(), ..SyncOptions::default() };
    let engine = Engine::new(store.clone(), connectors, pairs.clone(), clock.clone(), ids, sync_opts);

    writeln!(out, "crosswalk demo: three API simulators on loopback, seeded, and a throw-away state store")?;
    writeln!(
        out,
        "  WhiteLabelCRO simulator  {}  (demo tenant limit: {WLCRO_PER_MINUTE} requests/min per bucket)",
        urls[0]
    )?;
    writeln!(
        out,
        "  HubSpot simulator        {}  (the connector still paces itself to HubSpot's 100 requests / 10 s)",
        urls[1]
    )?;
    writeln!(out, "  Salesforce simulator     {}", urls[2])?;
    writeln!(
        out,
        "  state store              sqlite://{}{}",
        store_path.display(),
        if opts.keep_store { "" } else { "  (removed on exit)" }
    )?;
    writeln!(
        out,
        "  seeded: {} clients, {} HubSpot contacts, {} Salesforce Contacts; pairs: {}, {}",
        seeded.client_ids.len(),
        seeded.hubspot_contacts,
        seeded.salesforce_contacts,
        HUBSPOT_PAIR.0.trim_end_matches(".toml"),
        SALESFORCE_PAIR.0.trim_end_matches(".toml"),
    )?;
    writeln!(
        out,
        "  onboarding as the README says: a backfill of each pair (a scheduled run of a pair that never \
         synced in this store links but creates nothing), then two scheduled cycles\n"
    )?;

    let before = sims.snapshot();
    let mut marks = Vec::new();
    let mut runs = Vec::new();
    marks.push(sims.snapshot());
    writeln!(out, "Backfill (`crosswalk backfill --pair P` for each pair)")?;
    for pair in &pairs {
        let spec = crate::sync::BackfillSpec {
            pair: pair.name.clone(),
            since: None,
            until: None,
            max_creates: None,
            restart: false,
            slices: None,
        };
        let backfill = engine.backfill(&spec, false).await?;
        if let Some(report) = backfill.run {
            write!(out, "{}", run_summary(&report, false))?;
            check_failed(&report, 0)?;
            runs.push(report);
        }
    }
    writeln!(out)?;
    for cycle in 1..=2 {
        marks.push(sims.snapshot());
        let report = engine.run(RunKind::Manual, &[], false).await?;
        writeln!(out, "Cycle {cycle} (a scheduled run)")?;
        write!(out, "{}", run_summary(&report, false))?;
        writeln!(out)?;
        check_failed(&report, cycle)?;
        runs.push(report);
    }
    let after = sims.snapshot();
    write!(out, "{}", report::what_changed(sims, &before, &after, &marks))?;
    writeln!(out)?;
    let filter = ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() };
    let review = store.list_review(&filter).await?;
    write!(out, "{}", report::review_table(&review))?;
    writeln!(out)?;
    // The same status `crosswalk status` prints, with the simulators probed.
    let mut state = status::gather(&store, &clock, 5).await?;
    let transport: Arc<dyn HttpTransport> = Arc::new(
        ReqwestTransport::new(status::PROBE_LIMIT)
            .map_err(|source| registry::RegistryError::Connector { system: "*".into(), source })?,
    );
    let probed =
        status::probe::probe_all(&world.systems, &pairs, clock, opts.seed, transport, status::PROBE_LIMIT);
    state.systems = Some(probed.await);
    write!(out, "{}", status::render::text(&state))?;
    out.flush()?;
    Ok(DemoReport { sims: sims.clone(), seeded, marks, after, runs, review, store_path })
}
