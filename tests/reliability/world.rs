//! The simulated world: the three simulators held in-process (no sockets), one virtual clock
//! that the engine, the connectors and every simulator share, the in-process network, and the
//! system settings an operator would write for them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::http::HttpTransport;
use connector_api::{Clock, Connector, SharedClock};
use crosswalk::demo::world::secret_file;
use crosswalk::demo::{Sims, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::PairMapping;
use crosswalk::registry;
use crosswalk::settings::{HubspotSettings, SalesforceSettings, SystemSettings, WlcroSettings};
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

#[derive(Debug)]
struct ClockState {
    master: DateTime<Utc>,
    app_offset: chrono::Duration,
    sims: Vec<(&'static str, SimClock, chrono::Duration)>,
}

/// The one virtual clock: the engine reads `master + app offset`; every simulator's frozen clock
/// moves with it (plus its own offset). Sleeps advance it instantly.
#[derive(Debug, Clone)]
pub struct WorldClock {
    inner: Arc<Mutex<ClockState>>,
}

impl WorldClock {
    fn new(start: DateTime<Utc>, sims: Vec<(&'static str, SimClock)>) -> Self {
        let sims = sims.into_iter().map(|(n, c)| (n, c, chrono::Duration::zero())).collect();
        Self {
            inner: Arc::new(Mutex::new(ClockState {
                master: start,
                app_offset: chrono::Duration::zero(),
                sims,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.inner.lock().expect("world clock lock")
    }

    /// True time.
    pub fn master(&self) -> DateTime<Utc> {
        self.lock().master
    }

    /// Moves true time (and every simulator) forward.
    pub fn advance(&self, d: Duration) {
        let d = chrono::Duration::from_std(d).expect("duration in range");
        let mut s = self.lock();
        s.master += d;
        for (_, c, _) in &s.sims {
            c.advance(d);
        }
    }

    /// The skew of crosswalk's own clock.
    pub fn set_app_offset(&self, d: chrono::Duration) {
        self.lock().app_offset = d;
    }

    /// The skew of one simulator's clock.
    pub fn set_sim_offset(&self, system: &str, d: chrono::Duration) {
        let mut s = self.lock();
        for (n, c, off) in &mut s.sims {
            if *n == system {
                c.set_offset(d);
                *off = d;
            }
        }
    }

    /// One simulator's skew.
    pub fn sim_offset(&self, system: &str) -> chrono::Duration {
        self.lock().sims.iter().find(|(n, _, _)| *n == system).map_or(chrono::Duration::zero(), |s| s.2)
    }

    /// One simulator's time now.
    pub fn sim_now(&self, system: &str) -> DateTime<Utc> {
        let s = self.lock();
        s.sims.iter().find(|(n, _, _)| *n == system).map_or(s.master, |(_, c, _)| c.now())
    }
}

#[async_trait]
impl Clock for WorldClock {
    fn now(&self) -> DateTime<Utc> {
        let s = self.lock();
        s.master + s.app_offset
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
        let wlcro = sim_whitelabelcro::SimState::new(&cfg.wlcro);
        let hubspot = sim_hubspot::SimState::new(cfg.hubspot.clone());
        let salesforce = sim_salesforce::SimState::new(cfg.salesforce.clone());
        // The connector only sends its token to the login host or an https Salesforce domain, so
        // the in-process instance lives on the login host.
        salesforce.set_instance_url(SF_LOGIN_URL.to_string());
        let clock = WorldClock::new(
            t0(),
            vec![
                ("wlcro", wlcro.clock.clone()),
                ("hubspot", hubspot.clock.clone()),
                ("salesforce", salesforce.clock.clone()),
            ],
        );
        let crash = Arc::new(CrashPoints::default());
        let routes = vec![
            (WLCRO_URL.to_string(), "wlcro", sim_whitelabelcro::app(wlcro.clone())),
            (HUBSPOT_URL.to_string(), "hubspot", sim_hubspot::app(hubspot.clone())),
            (SF_LOGIN_URL.to_string(), "salesforce", sim_salesforce::app(salesforce.clone())),
        ];
        let net = Arc::new(SimNet::new(routes, clock.clone(), crash.clone(), seed));
        let dir = tempfile::tempdir().expect("temp dir");
        let systems = settings(&cfg, dir.path());
        let pairs = crosswalk::demo::pairs().expect("the shipped pairs load");
        World {
            sims: Sims { wlcro, hubspot, salesforce },
            clock,
            net,
            crash,
            systems,
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

fn settings(cfg: &WorldConfig, dir: &std::path::Path) -> BTreeMap<String, SystemSettings> {
    let hs_token = cfg.hubspot.tokens.first().cloned().unwrap_or_default();
    let secret = |name: &str, value: &str| secret_file(dir, name, value).expect("secret file");
    [
        (
            "wlcro",
            SystemSettings::Whitelabelcro(WlcroSettings {
                base_url: WLCRO_URL.into(),
                api_key: secret("wlcro.key", &sim_whitelabelcro::SimConfig::default_key()),
                webhook_secrets: Vec::new(),
                overlap: None,
                read_per_minute: cfg.wlcro_per_minute,
                write_per_minute: cfg.wlcro_per_minute,
                webhook: Default::default(),
            }),
        ),
        (
            "hubspot",
            SystemSettings::Hubspot(HubspotSettings {
                base_url: HUBSPOT_URL.into(),
                token: secret("hubspot.token", &hs_token),
                webhook_secret: None,
                unique_property: "wlcro_client_id".into(),
                overlap: None,
            }),
        ),
        (
            "salesforce",
            SystemSettings::Salesforce(SalesforceSettings {
                login_url: SF_LOGIN_URL.into(),
                client_id: cfg.salesforce.client_id.clone(),
                client_secret: secret("salesforce.secret", &cfg.salesforce.client_secret),
                api_version: "62.0".into(),
                external_id_field: "WLCRO_Id__c".into(),
                reserve_share: 0.2,
                overlap: None,
                allowed_instance_hosts: vec![SF_LOGIN_URL.into()],
            }),
        ),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect()
}
