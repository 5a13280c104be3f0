//! The three bundled simulators started together on loopback, with the settings that point
//! crosswalk's connectors at them. Used by the demo, by integration tests that drive the real
//! engine against the simulators, and by benchmarks.
//!
//! Secrets (API key, token, client secret) are handed to the connectors as files in the world's
//! directory, exactly as an operator would configure them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{Connector, SharedClock};

use crate::mapping::PairMapping;
use crate::registry::{self, RegistryError};
use crate::settings::{HubspotSettings, SalesforceSettings, SecretRef, SystemSettings, WlcroSettings};

use super::report::Sims;

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
}

/// Three running simulators and the system settings that reach them.
pub struct SimWorld {
    /// Handles on the simulators' state (ground truth, control, request logs).
    pub sims: Sims,
    /// Base URLs: WhiteLabelCRO, HubSpot, Salesforce.
    pub urls: [String; 3],
    /// `wlcro`, `hubspot` and `salesforce` system settings, as a config file would give them.
    pub systems: BTreeMap<String, SystemSettings>,
    handles: (sim_core::SimHandle, sim_core::SimHandle, sim_core::SimHandle),
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld").field("urls", &self.urls).finish_non_exhaustive()
    }
}

impl SimWorld {
    /// Starts the simulators on free loopback ports; secret files are written into `dir`.
    pub async fn start(config: WorldConfig, dir: &Path) -> std::io::Result<SimWorld> {
        let hs_token = config.hubspot.tokens.first().cloned().unwrap_or_default();
        let (sf_id, sf_secret) =
            (config.salesforce.client_id.clone(), config.salesforce.client_secret.clone());
        let (wl_handle, wlcro) = sim_whitelabelcro::start(config.wlcro).await?;
        let (hs_handle, hubspot) = sim_hubspot::start(config.hubspot).await?;
        let (sf_handle, salesforce) = sim_salesforce::start(config.salesforce).await?;
        let urls = [wl_handle.base_url(), hs_handle.base_url(), sf_handle.base_url()];
        let wl_key = sim_whitelabelcro::SimConfig::default_key();
        let systems: BTreeMap<String, SystemSettings> = [
            (
                "wlcro",
                SystemSettings::Whitelabelcro(WlcroSettings {
                    base_url: urls[0].clone(),
                    api_key: secret_file(dir, "wlcro.key", &wl_key)?,
                    webhook_secrets: Vec::new(),
                    overlap: None,
                    read_per_minute: config.wlcro_per_minute,
                    write_per_minute: config.wlcro_per_minute,
                    webhook: Default::default(),
                }),
            ),
            (
                "hubspot",
                SystemSettings::Hubspot(HubspotSettings {
                    base_url: urls[1].clone(),
                    token: secret_file(dir, "hubspot.token", &hs_token)?,
                    webhook_secret: None,
                    unique_property: "wlcro_client_id".into(),
                    overlap: None,
                }),
            ),
            (
                "salesforce",
                SystemSettings::Salesforce(SalesforceSettings {
                    login_url: urls[2].clone(),
                    client_id: sf_id,
                    client_secret: secret_file(dir, "salesforce.secret", &sf_secret)?,
                    api_version: "62.0".into(),
                    external_id_field: "WLCRO_Id__c".into(),
                    reserve_share: 0.2,
                    overlap: None,
                }),
            ),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        Ok(SimWorld {
            sims: Sims { wlcro, hubspot, salesforce },
            urls,
            systems,
            handles: (wl_handle, hs_handle, sf_handle),
        })
    }

    /// Builds the connectors of every system over real loopback HTTP.
    pub fn connectors(
        &self,
        pairs: &[PairMapping],
        clock: SharedClock,
        seed: u64,
    ) -> Result<BTreeMap<String, Arc<dyn Connector>>, RegistryError> {
        let transport: Arc<dyn HttpTransport> = Arc::new(
            ReqwestTransport::new(Duration::from_secs(30))
                .map_err(|source| RegistryError::Connector { system: "*".into(), source })?,
        );
        self.connectors_over(pairs, clock, seed, transport)
    }

    /// Builds the connectors of every system over the given transport.
    pub fn connectors_over(
        &self,
        pairs: &[PairMapping],
        clock: SharedClock,
        seed: u64,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<BTreeMap<String, Arc<dyn Connector>>, RegistryError> {
        let mut connectors: BTreeMap<String, Arc<dyn Connector>> = BTreeMap::new();
        for (i, (name, system)) in self.systems.iter().enumerate() {
            let c = registry::build(name, system, pairs, transport.clone(), clock.clone(), seed + i as u64)?;
            connectors.insert(name.clone(), c);
        }
        Ok(connectors)
    }

    /// Stops the simulators; their state stays readable through [`SimWorld::sims`].
    pub async fn stop(self) -> Sims {
        let (a, b, c) = self.handles;
        a.stop().await;
        b.stop().await;
        c.stop().await;
        self.sims
    }
}

/// Writes a secret to a file in `dir` and returns the reference a config file would hold.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> std::io::Result<SecretRef> {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, value)?;
    Ok(SecretRef { env: None, file: Some(path) })
}
