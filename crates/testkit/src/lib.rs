//! The simulated world shared by crosswalk's integration tests, reliability harness, benches and
//! demo: the three bundled simulators (WhiteLabelCRO, HubSpot, Salesforce) served on loopback
//! ([`SimWorld::start`]) or held in-process for an in-memory network ([`SimWorld::in_process`]),
//! their ground truth ([`Sims`], [`Snapshot`]), and one [`LinkedClock`] that moves every
//! simulator's frozen clock with the engine's ([`SimWorld::linked_clock`]).
//!
//! Depends on the connector contract and the simulators only, never on the crosswalk crate: the
//! settings and connectors that point crosswalk at these simulators are built by the caller
//! (`crosswalk::demo::world`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
pub use connector_api::testsuite::LinkedClock;
use sim_core::{LoggedRequest, SimClock, SimHandle};
use sim_hubspot::ObjectType;

/// How to start the three simulators.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// The WhiteLabelCRO simulator.
    pub wlcro: sim_whitelabelcro::SimConfig,
    /// The HubSpot simulator.
    pub hubspot: sim_hubspot::SimConfig,
    /// The Salesforce simulator.
    pub salesforce: sim_salesforce::SimConfig,
    /// Requests per minute the WhiteLabelCRO connector paces itself to (read and write).
    pub wlcro_per_minute: u32,
}

impl WorldConfig {
    /// The demo's settings: generous WhiteLabelCRO and HubSpot limits. The CRM set-up the shipped
    /// mappings need (HubSpot's `wlcro_client_id` unique property, Salesforce's `WLCRO_Id__c`
    /// External ID and `WLCRO_Status__c` picklist) is the simulators' default schema.
    pub fn demo(seed: u64, wlcro_per_minute: u32) -> Self {
        let rates = sim_whitelabelcro::RateLimitConfig {
            read: wlcro_per_minute,
            write: wlcro_per_minute,
            admin: wlcro_per_minute,
            window_scale: 1.0,
        };
        Self {
            wlcro: sim_whitelabelcro::SimConfig { seed, rate_limits: rates, ..Default::default() },
            hubspot: sim_hubspot::SimConfig {
                seed,
                rate_limits: sim_hubspot::RateLimitConfig {
                    burst_max: 10_000,
                    search_max: 100,
                    ..Default::default()
                },
                ..Default::default()
            },
            salesforce: sim_salesforce::SimConfig { seed, ..Default::default() },
            wlcro_per_minute,
        }
    }

    /// Every simulator's clock starts frozen at `t`.
    pub fn starting_at(mut self, t: DateTime<Utc>) -> Self {
        self.wlcro.start_time = Some(t);
        self.hubspot.start_time = Some(t);
        self.salesforce.start_time = Some(t);
        self
    }
}

/// Handles on the three simulators' state (ground truth, control, request logs).
#[derive(Debug, Clone)]
pub struct Sims {
    /// WhiteLabelCRO.
    pub wlcro: sim_whitelabelcro::SimState,
    /// HubSpot.
    pub hubspot: sim_hubspot::SimState,
    /// Salesforce.
    pub salesforce: sim_salesforce::SimState,
}

impl Sims {
    /// Each system's request log.
    pub fn logs(&self) -> [(&'static str, Vec<LoggedRequest>); 3] {
        [
            ("wlcro", self.wlcro.requests()),
            ("hubspot", self.hubspot.requests()),
            ("salesforce", self.salesforce.log.entries()),
        ]
    }

    /// The three simulators' clocks.
    pub fn clocks(&self) -> [SimClock; 3] {
        [self.wlcro.clock.clone(), self.hubspot.clock.clone(), self.salesforce.clock.clone()]
    }

    /// The ground truth now.
    pub fn snapshot(&self) -> Snapshot {
        let hubspot_contacts =
            self.hubspot.records(ObjectType::Contacts).iter().filter(|r| !r.archived()).count();
        let salesforce_contacts = self
            .salesforce
            .records()
            .iter()
            .filter(|r| r.object == sim_salesforce::ObjectKind::Contact && r.deleted_at.is_none())
            .count();
        let truth = self.wlcro.records();
        let clients = truth["clients"].as_array().cloned().unwrap_or_default();
        let wlcro_updated = clients
            .iter()
            .filter_map(|c| Some((c["client_id"].as_i64()?, c["updated_utc"].to_string())))
            .collect();
        let wlcro_values = clients
            .iter()
            .filter_map(|c| {
                let mut v = c.clone();
                v.as_object_mut()?.remove("updated_utc");
                Some((c["client_id"].as_i64()?, v.to_string()))
            })
            .collect();
        let requests = self.logs().into_iter().map(|(name, log)| (name, log.len())).collect();
        Snapshot {
            hubspot_contacts,
            salesforce_contacts,
            wlcro_clients: clients.len(),
            wlcro_updated,
            wlcro_values,
            requests,
        }
    }
}

/// The simulators' ground truth at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Live HubSpot contacts.
    pub hubspot_contacts: usize,
    /// Live Salesforce Contacts.
    pub salesforce_contacts: usize,
    /// WhiteLabelCRO clients.
    pub wlcro_clients: usize,
    /// `updated_utc` of every WhiteLabelCRO client, by id.
    pub wlcro_updated: BTreeMap<i64, String>,
    /// Every WhiteLabelCRO client's values (without `updated_utc`), by id.
    pub wlcro_values: BTreeMap<i64, String>,
    /// Requests logged so far, per system (`wlcro`, `hubspot`, `salesforce`).
    pub requests: BTreeMap<&'static str, usize>,
}

/// The credentials the simulators accept, as an operator would configure them.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// WhiteLabelCRO's API key.
    pub wlcro_key: String,
    /// HubSpot's private-app token.
    pub hubspot_token: String,
    /// Salesforce's OAuth client id.
    pub salesforce_client_id: String,
    /// Salesforce's OAuth client secret.
    pub salesforce_client_secret: String,
}

/// The three simulators, served on loopback or held in-process.
pub struct SimWorld {
    /// Handles on the simulators' state (ground truth, control, request logs).
    pub sims: Sims,
    /// Base URLs: WhiteLabelCRO, HubSpot, Salesforce.
    pub urls: [String; 3],
    /// What the simulators accept.
    pub credentials: Credentials,
    handles: Option<[SimHandle; 3]>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld").field("urls", &self.urls).finish_non_exhaustive()
    }
}

impl SimWorld {
    /// Starts the simulators on free loopback ports.
    pub async fn start(config: WorldConfig) -> std::io::Result<SimWorld> {
        let credentials = credentials(&config);
        let (wl_handle, wlcro) = sim_whitelabelcro::start(config.wlcro).await?;
        let (hs_handle, hubspot) = sim_hubspot::start(config.hubspot).await?;
        let (sf_handle, salesforce) = sim_salesforce::start(config.salesforce).await?;
        let urls = [wl_handle.base_url(), hs_handle.base_url(), sf_handle.base_url()];
        Ok(SimWorld {
            sims: Sims { wlcro, hubspot, salesforce },
            urls,
            credentials,
            handles: Some([wl_handle, hs_handle, sf_handle]),
        })
    }

    /// The simulators' state without sockets, to be reached at `urls` (WhiteLabelCRO, HubSpot,
    /// Salesforce) through an in-process network that serves [`apps`](Self::apps). Salesforce's
    /// instance URL is its login URL.
    pub fn in_process(config: &WorldConfig, urls: [&str; 3]) -> SimWorld {
        let wlcro = sim_whitelabelcro::SimState::new(&config.wlcro);
        let hubspot = sim_hubspot::SimState::new(config.hubspot.clone());
        let salesforce = sim_salesforce::SimState::new(config.salesforce.clone());
        salesforce.set_instance_url(urls[2].to_string());
        SimWorld {
            sims: Sims { wlcro, hubspot, salesforce },
            urls: urls.map(str::to_string),
            credentials: credentials(config),
            handles: None,
        }
    }

    /// Each simulator's URL, system name and HTTP app (for an in-process network).
    pub fn apps(&self) -> [(String, &'static str, axum::Router); 3] {
        let [wl, hs, sf] = self.urls.clone();
        [
            (wl, "wlcro", sim_whitelabelcro::app(self.sims.wlcro.clone())),
            (hs, "hubspot", sim_hubspot::app(self.sims.hubspot.clone())),
            (sf, "salesforce", sim_salesforce::app(self.sims.salesforce.clone())),
        ]
    }

    /// Sets every simulator's clock to `start` and answers one clock for the engine and the
    /// connectors whose advances (and sleeps) move the simulators' clocks by as much.
    pub fn linked_clock(&self, start: DateTime<Utc>) -> LinkedClock {
        let clock = LinkedClock::at(start);
        for sim in self.sims.clocks() {
            sim.set(start);
            link(&clock, sim);
        }
        clock
    }

    /// Stops the simulators (if served); their state stays readable through the answer.
    pub async fn stop(self) -> Sims {
        for handle in self.handles.into_iter().flatten() {
            handle.stop().await;
        }
        self.sims
    }
}

/// Makes every advance of `clock` move the simulator clock `sim` by as much.
pub fn link(clock: &LinkedClock, sim: SimClock) {
    clock.link(move |d| sim.advance(chrono::Duration::from_std(d).expect("duration in range")));
}

fn credentials(config: &WorldConfig) -> Credentials {
    Credentials {
        wlcro_key: sim_whitelabelcro::SimConfig::default_key(),
        hubspot_token: config.hubspot.tokens.first().cloned().unwrap_or_default(),
        salesforce_client_id: config.salesforce.client_id.clone(),
        salesforce_client_secret: config.salesforce.client_secret.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::Clock;
    use std::time::Duration;

    #[tokio::test]
    async fn the_linked_clock_moves_every_simulator_clock() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().to_utc();
        let world = SimWorld::in_process(&WorldConfig::demo(1, 600), ["http://a", "http://b", "http://c"]);
        let clock = world.linked_clock(t0);
        clock.sleep(Duration::from_secs(90)).await;
        for sim in world.sims.clocks() {
            assert_eq!(sim.now(), t0 + chrono::Duration::seconds(90));
        }
        assert_eq!(world.apps()[2].0, "http://c");
    }
}
