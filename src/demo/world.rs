//! The three bundled simulators ([`crosswalk_testkit::SimWorld`]) with the settings that point
//! crosswalk's connectors at them, and the connectors built from those settings. Used by the
//! demo, by integration tests that drive the real engine against the simulators, and by
//! benchmarks.
//!
//! Secrets (API key, token, client secret) are handed to the connectors as files in the world's
//! directory, exactly as an operator would configure them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{Connector, SharedClock};
pub use crosswalk_testkit::WorldConfig;

use crate::mapping::PairMapping;
use crate::registry::{self, RegistryError};
use crate::settings::{HubspotSettings, SalesforceSettings, SecretRef, SystemSettings, WlcroSettings};

/// The simulators (served on loopback, or in-process) and the system settings that reach them.
/// Derefs to the test kit's world: `sims`, `urls`, `credentials`, `linked_clock`, `apps`.
pub struct SimWorld {
    kit: crosswalk_testkit::SimWorld,
    /// `wlcro`, `hubspot` and `salesforce` system settings, as a config file would give them.
    pub systems: BTreeMap<String, SystemSettings>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld").field("urls", &self.kit.urls).finish_non_exhaustive()
    }
}

impl std::ops::Deref for SimWorld {
    type Target = crosswalk_testkit::SimWorld;

    fn deref(&self) -> &Self::Target {
        &self.kit
    }
}

impl SimWorld {
    /// Starts the simulators on free loopback ports; secret files are written into `dir`.
    pub async fn start(config: WorldConfig, dir: &Path) -> std::io::Result<SimWorld> {
        let per_minute = config.wlcro_per_minute;
        let kit = crosswalk_testkit::SimWorld::start(config).await?;
        // The simulator names itself `localhost` as the token's instance_url.
        let systems = settings(&kit, per_minute, dir, "http://localhost")?;
        Ok(SimWorld { kit, systems })
    }

    /// The simulators without sockets, reached at `urls` through an in-process network; the
    /// Salesforce instance is its login host.
    pub fn in_process(config: &WorldConfig, urls: [&str; 3], dir: &Path) -> std::io::Result<SimWorld> {
        let kit = crosswalk_testkit::SimWorld::in_process(config, urls);
        let systems = settings(&kit, config.wlcro_per_minute, dir, urls[2])?;
        Ok(SimWorld { kit, systems })
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

    /// Builds the connectors of every system over the given transport; the `i`-th system's
    /// connector is seeded `seed + i`.
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

    /// Stops the simulators; their state stays readable through the answer.
    pub async fn stop(self) -> crosswalk_testkit::Sims {
        self.kit.stop().await
    }
}

/// The settings an operator would write for the simulators of `kit` (secrets as files in
/// `dir`); `sf_instance_host` is the instance host the Salesforce connector may send its token to.
fn settings(
    kit: &crosswalk_testkit::SimWorld,
    wlcro_per_minute: u32,
    dir: &Path,
    sf_instance_host: &str,
) -> std::io::Result<BTreeMap<String, SystemSettings>> {
    let creds = &kit.credentials;
    let [wl_url, hs_url, sf_url] = kit.urls.clone();
    Ok([
        (
            "wlcro",
            SystemSettings::Whitelabelcro(WlcroSettings {
                base_url: wl_url,
                api_key: secret_file(dir, "wlcro.key", &creds.wlcro_key)?,
                webhook_secrets: Vec::new(),
                overlap: None,
                read_per_minute: wlcro_per_minute,
                write_per_minute: wlcro_per_minute,
                webhook: Default::default(),
            }),
        ),
        (
            "hubspot",
            SystemSettings::Hubspot(HubspotSettings {
                base_url: hs_url,
                token: secret_file(dir, "hubspot.token", &creds.hubspot_token)?,
                webhook_secret: None,
                unique_property: "wlcro_client_id".into(),
                overlap: None,
                tier: None,
                burst_per_10s: None,
                daily: None,
                search_per_second: None,
            }),
        ),
        (
            "salesforce",
            SystemSettings::Salesforce(SalesforceSettings {
                login_url: sf_url,
                client_id: creds.salesforce_client_id.clone(),
                client_secret: secret_file(dir, "salesforce.secret", &creds.salesforce_client_secret)?,
                api_version: "62.0".into(),
                external_id_field: "WLCRO_Id__c".into(),
                reserve_share: 0.2,
                overlap: None,
                allowed_instance_hosts: vec![sf_instance_host.into()],
            }),
        ),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect())
}

/// Writes a secret to a file in `dir` and returns the reference a config file would hold.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> std::io::Result<SecretRef> {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, value)?;
    Ok(SecretRef { env: None, file: Some(path) })
}
