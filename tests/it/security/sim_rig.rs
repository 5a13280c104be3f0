//! The real engine and connectors against the three simulators on loopback, on one virtual
//! clock: the engine's sleeps (pacing, backoff, `Retry-After`) move every simulator's clock by
//! the same amount, so no test waits on the wall clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::Connector;
use connector_api::testsuite::LinkedClock;
use crosswalk::demo::world::SimWorld;
use crosswalk::ids::IdGen;
use crosswalk::store::{self, RunKind, Store};
use crosswalk::sync::{Engine, RunReport, SyncOptions};

/// The simulated present.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-02-03T12:00:00Z").expect("valid").to_utc()
}

/// A store, the linked clock and the demo pairs over a started [`SimWorld`].
pub struct Rig {
    pub store: Arc<dyn Store>,
    /// The engine's clock: its sleeps (pacing, backoff, `Retry-After`) move the simulators'
    /// clocks by the same amount, so nothing waits on the wall clock.
    pub clock: LinkedClock,
    pub pairs: Vec<crosswalk::mapping::PairMapping>,
    pub ids: Arc<IdGen>,
}

impl Rig {
    /// Sets every simulator clock to [`t0`] and opens a fresh SQLite store in `dir`.
    pub async fn new(world: &SimWorld, dir: &Path) -> Rig {
        let clock = world.linked_clock(t0());
        let shared = clock.shared();
        let db = dir.join("state.db");
        let store = store::open(&format!("sqlite://{}", db.display())).await.expect("store");
        store.migrate().await.expect("migrate");
        let ids = Arc::new(IdGen::new(shared, 11));
        Rig { store, clock, pairs: crosswalk::demo::pairs().expect("pairs"), ids }
    }

    /// An engine over freshly built connectors (credentials as `world.systems` names them now).
    pub fn engine(&self, world: &SimWorld) -> Engine {
        let shared = self.clock.shared();
        let connectors: std::collections::BTreeMap<String, Arc<dyn Connector>> =
            world.connectors(&self.pairs, shared.clone(), 11).expect("connectors");
        let opts =
            SyncOptions { owner: "sentinel-sweep".into(), ..SyncOptions::default().creating_on_first_sync() };
        Engine::new(self.store.clone(), connectors, self.pairs.clone(), shared, self.ids.clone(), opts)
    }

    /// One run; its report (or error) is added to `outputs`; then 90 s pass.
    pub async fn run(
        &self,
        engine: &Engine,
        outputs: &mut Vec<(String, String)>,
        label: &str,
    ) -> Option<RunReport> {
        let result = engine.run(RunKind::Manual, &[], false).await;
        self.clock.advance(Duration::from_secs(90));
        match result {
            Ok(report) => {
                outputs.push((format!("{label}: report"), format!("{report:?}")));
                outputs.push((format!("{label}: summary"), crosswalk::status::run_summary(&report, false)));
                Some(report)
            }
            Err(e) => {
                outputs.push((format!("{label}: error"), format!("{e} / {e:?}")));
                None
            }
        }
    }
}
