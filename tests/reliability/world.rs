//! The simulated world: the three simulators held in-process (no sockets), one virtual clock
//! that the engine, the connectors and every simulator share, the in-process network, and the
//! system settings an operator would write for them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::http::HttpTransport;
use connector_api::testsuite::LinkedClock;
use connector_api::{Clock, Connector, SharedClock};
use crosswalk::demo::{SimWorld, Sims, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::PairMapping;
use crosswalk::registry;
use crosswalk::settings::SystemSettings;
use crosswalk::store::Store;
use crosswalk::sync::{Engine, SyncOptions};
use sim_core::SimClock;

use crate::net::{CrashPoints, SimNet};

/// Where each simulator "lives" on the in-process network.
pub const WLCRO_URL: &str = "http://wlcro.sim";
/// HubSpot.
pub const HUBSPOT_URL: &str = "http://hubspot.sim";
/// Salesforce's login host.
pub const SF_LOGIN_URL: &str = "http://login.salesforce.sim";

/// The world's epoch.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid").to_utc()
}

/// The one virtual clock: the engine reads true time plus its own skew; every simulator's frozen
/// clock moves with true time (a [`LinkedClock`]), plus its own skew. Sleeps advance it instantly.
#[derive(Debug, Clone)]
pub struct WorldClock {
    master: LinkedClock,
    sims: Sims,
    /// The skew of crosswalk's own clock, and of each simulator's.
    offsets: Arc<Mutex<(chrono::Duration, BTreeMap<String, chrono::Duration>)>>,
}

impl WorldClock {
    fn sim(&self, system: &str) -> Option<SimClock> {
        let [wlcro, hubspot, salesforce] = self.sims.clocks();
        match system {
            "wlcro" => Some(wlcro),
            "hubspot" => Some(hubspot),
            "salesforce" => Some(salesforce),
            _ => None,
        }
    }

    /// True time.
    pub fn master(&self) -> DateTime<Utc> {
        self.master.now()
    }

    /// Moves true time (and every simulator) forward.
    pub fn advance(&self, d: Duration) {
        self.master.advance(d);
    }

    /// The skew of crosswalk's own clock.
    pub fn set_app_offset(&self, d: chrono::Duration) {
        self.offsets.lock().expect("world clock lock").0 = d;
    }

    /// The skew of one simulator's clock.
    pub fn set_sim_offset(&self, system: &str, d: chrono::Duration) {
        if let Some(c) = self.sim(system) {
            c.set_offset(d);
            self.offsets.lock().expect("world clock lock").1.insert(system.to_string(), d);
        }
    }

    /// One simulator's skew.
    pub fn sim_offset(&self, system: &str) -> chrono::Duration {
        let offsets = self.offsets.lock().expect("world clock lock");
        offsets.1.get(system).copied().unwrap_or_else(chrono::Duration::zero)
    }

    /// One simulator's time now.
    pub fn sim_now(&self, system: &str) -> DateTime<Utc> {
        self.sim(system).map_or_else(|| self.master(), |c| c.now())
    }
}

#[async_trait]
impl Clock for WorldClock {
    fn now(&self) -> DateTime<Utc> {
        self.master.now() + self.offsets.lock().expect("world clock lock").0
    }

    async fn sleep(&self, d: Duration) {
        self.advance(d);
        tokio::task::yield_now().await;
    }
}

/// Three simulators, the clock, the network and the settings that reach them.
pub struct World {
    /// Ground truth and control of the simulators.
    pub sims: Sims,
    /// The shared virtual clock.
    pub clock: WorldClock,
    /// The in-process network.
    pub net: Arc<SimNet>,
    /// The crash-point hook (shared by the network and the store wrapper).
    pub crash: Arc<CrashPoints>,
    /// `wlcro`, `hubspot`, `salesforce` settings.
    pub systems: BTreeMap<String, SystemSettings>,
    /// The shipped client pairs (WhiteLabelCRO ⇄ HubSpot, WhiteLabelCRO ⇄ Salesforce).
    pub pairs: Vec<PairMapping>,
    /// The seed.
    pub seed: u64,
    _dir: tempfile::TempDir,
}

impl World {
    /// A fresh world at [`t0`], every random choice derived from `seed`.
    pub fn new(seed: u64, tweak: impl FnOnce(&mut WorldConfig)) -> World {
        let mut cfg = WorldConfig::demo(seed, 6000);
        cfg.wlcro.start_time = Some(t0());
        cfg.wlcro.webhook_jitter = false;
        cfg.hubspot.start_time = Some(t0());
        cfg.salesforce.start_time = Some(t0());
        tweak(&mut cfg);
        // The connector only sends its token to the login host or an https Salesforce domain, so
        // the in-process instance lives on the login host.
        let dir = tempfile::tempdir().expect("temp dir");
        let sims = SimWorld::in_process(&cfg, [WLCRO_URL, HUBSPOT_URL, SF_LOGIN_URL], dir.path())
            .expect("secret files");
        let clock =
            WorldClock { master: sims.linked_clock(t0()), sims: sims.sims.clone(), offsets: Arc::default() };
        let crash = Arc::new(CrashPoints::default());
        let net = Arc::new(SimNet::new(sims.apps().into(), clock.clone(), crash.clone(), seed));
        let pairs = crosswalk::demo::pairs().expect("the shipped pairs load");
        World {
            sims: sims.sims.clone(),
            clock,
            net,
            crash,
            systems: sims.systems.clone(),
            pairs,
            seed,
            _dir: dir,
        }
    }

    /// Builds every connector over the in-process network (a fresh set per process incarnation).
    pub fn connectors(&self, incarnation: u64) -> BTreeMap<String, Arc<dyn Connector>> {
        let transport: Arc<dyn HttpTransport> = self.net.clone();
        let clock: SharedClock = Arc::new(self.clock.clone());
        self.systems
            .iter()
            .enumerate()
            .map(|(i, (name, system))| {
                let seed = self.seed.wrapping_mul(31).wrapping_add(incarnation * 7 + i as u64);
                let c = registry::build(name, system, &self.pairs, transport.clone(), clock.clone(), seed)
                    .expect("connector builds");
                (name.clone(), c)
            })
            .collect()
    }

    /// A new engine process on `store`.
    pub fn engine(&self, store: Arc<dyn Store>, opts: SyncOptions, incarnation: u64) -> Engine {
        let clock: SharedClock = Arc::new(self.clock.clone());
        let ids = Arc::new(IdGen::new(clock.clone(), self.seed ^ (incarnation << 32)));
        Engine::new(store, self.connectors(incarnation), self.pairs.clone(), clock, ids, opts)
    }
}
