//! The one place that knows every connector kind: builds each configured system's connector
//! from its settings. An unknown kind never gets this far (settings reject it, listing the known
//! ones); a secret that cannot be read is reported with the system and key.
//!
//! The fields a connector reads are derived from the mapping files, so adding a mapped field
//! never needs a connector setting changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use connector_api::http::{HttpTransport, ReqwestTransport, SharedQuota};
use connector_api::{Connector, ConnectorError, SharedClock};

use crate::mapping::{ObjectProfile, PairMapping, Side};
use crate::settings::{Settings, SystemSettings};

/// Why a system's connector could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A secret could not be read.
    #[error("`systems.{system}.{key}`: {message}")]
    Secret {
        /// The system.
        system: String,
        /// The key holding the secret reference.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The connector rejected its configuration.
    #[error("system `{system}`: {source}")]
    Connector {
        /// The system.
        system: String,
        /// What the connector said.
        source: ConnectorError,
    },
}

/// The connectors of every configured system, by name, over the real network.
pub fn build_all(
    settings: &Settings,
    pairs: &[PairMapping],
    clock: SharedClock,
    seed: u64,
) -> Result<BTreeMap<String, Arc<dyn Connector>>, RegistryError> {
    build_all_with(settings, pairs, clock, seed, &|_, t| t, None)
}

/// Wraps one system's transport (given the system's name).
pub type WrapTransport<'a> = dyn Fn(&str, Arc<dyn HttpTransport>) -> Arc<dyn HttpTransport> + 'a;

/// Like [`build_all`], each system's transport passed through `wrap` first (the metrics count
/// each system's requests there), and each connector that can share its account's quota with
/// other workers counting its sends in `quota` too (the store's on PostgreSQL:
/// [`StoreQuota::for_store`](crate::shared_quota::StoreQuota::for_store)).
pub fn build_all_with(
    settings: &Settings,
    pairs: &[PairMapping],
    clock: SharedClock,
    seed: u64,
    wrap: &WrapTransport<'_>,
    quota: Option<Arc<dyn SharedQuota>>,
) -> Result<BTreeMap<String, Arc<dyn Connector>>, RegistryError> {
    let transport: Arc<dyn HttpTransport> = Arc::new(
        ReqwestTransport::new(std::time::Duration::from_secs(30))
            .map_err(|source| RegistryError::Connector { system: "*".into(), source })?,
    );
    let mut out = BTreeMap::new();
    for (i, (name, system)) in settings.systems.iter().enumerate() {
        let transport = wrap(name, transport.clone());
        let seed = seed.wrapping_add(i as u64);
        let connector = build_sharing(name, system, pairs, transport, clock.clone(), seed, quota.clone())?;
        out.insert(name.clone(), connector);
    }
    Ok(out)
}

/// Builds one system's connector.
pub fn build(
    name: &str,
    system: &SystemSettings,
    pairs: &[PairMapping],
    transport: Arc<dyn HttpTransport>,
    clock: SharedClock,
    seed: u64,
) -> Result<Arc<dyn Connector>, RegistryError> {
    build_sharing(name, system, pairs, transport, clock, seed, None)
}

/// Like [`build`], counting the sends also in `quota` where the connector can share its
/// account's quota (WhiteLabelCRO; HubSpot and Salesforce keep their own limiters for now).
pub fn build_sharing(
    name: &str,
    system: &SystemSettings,
    pairs: &[PairMapping],
    transport: Arc<dyn HttpTransport>,
    clock: SharedClock,
    seed: u64,
    quota: Option<Arc<dyn SharedQuota>>,
) -> Result<Arc<dyn Connector>, RegistryError> {
    let secret = |key: &str, r: &crate::settings::SecretRef| {
        r.resolve().map_err(|e| RegistryError::Secret {
            system: name.into(),
            key: key.into(),
            message: e.to_string(),
        })
    };
    let wrap = |source| RegistryError::Connector { system: name.into(), source };
    let connector: Arc<dyn Connector> = match system {
        SystemSettings::Whitelabelcro(s) => {
            let mut cfg =
                connector_whitelabelcro::WlcroConfig::new(&s.base_url, secret("api_key", &s.api_key)?);
            cfg.read_per_minute = s.read_per_minute;
            cfg.write_per_minute = s.write_per_minute;
            cfg.shared_quota = quota;
            Arc::new(connector_whitelabelcro::WlcroConnector::new(cfg, transport, clock, seed).map_err(wrap)?)
        }
        SystemSettings::Hubspot(s) => {
            let mut cfg = connector_hubspot::HubspotConfig::new(
                &s.base_url,
                secret("token", &s.token)?,
                &s.unique_property,
            );
            // Checked with the settings; a problem here is reported like a connector's.
            let (limits, user) = crate::settings_hubspot::rate_limits(s).map_err(|(key, message)| {
                wrap(ConnectorError::Misconfigured { message: format!("`systems.{name}.{key}`: {message}") })
            })?;
            (cfg.rate_limits, cfg.user_limits) = (limits, user);
            for (object, fields) in fields_read(name, pairs) {
                cfg.properties.entry(object).or_default().extend(fields);
            }
            for props in cfg.properties.values_mut() {
                props.sort();
                props.dedup();
            }
            Arc::new(connector_hubspot::HubspotConnector::new(cfg, transport, clock, seed).map_err(wrap)?)
        }
        SystemSettings::Salesforce(s) => {
            let mut cfg = connector_salesforce::SalesforceConfig::new(
                &s.login_url,
                &s.client_id,
                secret("client_secret", &s.client_secret)?,
            );
            cfg.api_version = s.api_version.clone();
            cfg.external_id_field = s.external_id_field.clone();
            cfg.reserve_share = s.reserve_share;
            cfg.allowed_instance_hosts = s.allowed_instance_hosts.clone();
            let fields = fields_read(name, pairs);
            // Field names are spliced into SOQL, which has no identifier quoting: allow-list them.
            let names = fields.iter().flat_map(|(object, f)| std::iter::once(object).chain(f));
            if let Some(bad) =
                std::iter::once(&s.external_id_field).chain(names).find(|f| !soql_identifier(f))
            {
                let message = format!(
                    "`{bad}` is not a Salesforce object or field name (letters, digits and `_`, \
                     starting with a letter; dots between relationship names); fix the mapping or \
                     `external_id_field`"
                );
                let source = ConnectorError::Invalid { message, code: None, field: Some(bad.clone()) };
                return Err(RegistryError::Connector { system: name.to_string(), source });
            }
            for (object, fields) in fields {
                cfg.fields.entry(object).or_default().extend(fields);
            }
            Arc::new(connector_salesforce::SalesforceConnector::new(cfg, transport, clock, seed))
        }
        SystemSettings::Memory(s) => {
            let objects = fields_read(name, pairs)
                .into_keys()
                .map(|object| {
                    let mut cfg = connector_memory::ObjectConfig::new(object);
                    cfg.max_batch = s.max_batch;
                    cfg
                })
                .collect();
            Arc::new(connector_memory::MemoryConnector::new(clock, objects))
        }
    };
    Ok(connector)
}

/// What `check` needs to know of `object` on a system configured as `system`, without building
/// or contacting anything: the same facts the built connector's capabilities report.
pub fn object_profile(system: &SystemSettings, object: &str) -> ObjectProfile {
    match system {
        SystemSettings::Whitelabelcro(_) => ObjectProfile {
            record_space: connector_whitelabelcro::RECORD_SPACE.into(),
            unreadable: connector_whitelabelcro::UNREADABLE_FIELDS.iter().map(|f| f.to_string()).collect(),
        },
        _ => ObjectProfile { record_space: object.into(), unreadable: BTreeSet::new() },
    }
}

/// The same facts from a built connector.
pub fn connector_profile(connector: &dyn Connector, object: &str) -> ObjectProfile {
    let caps = connector.capabilities();
    let o = caps.object(object);
    ObjectProfile {
        record_space: o
            .map(|o| o.record_space.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| object.into()),
        unreadable: o.map(|o| o.unreadable_fields.iter().cloned().collect()).unwrap_or_default(),
    }
}

/// Whether `name` is a SOQL identifier path: `Email`, `WLCRO_Id__c`, `Account.Name`.
fn soql_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Every remote field the pairs read or write on `system`, per object: mapped fields plus the
/// identity fields (back-links, email, company keys).
pub fn fields_read(system: &str, pairs: &[PairMapping]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pair in pairs {
        for side in [Side::Left, Side::Right] {
            let ep = pair.endpoint(side);
            if ep.system != system {
                continue;
            }
            let fields = out.entry(ep.object.clone()).or_default();
            for f in &pair.fields {
                fields.extend(f.remote(side).iter().cloned());
            }
            let id = &pair.identity;
            fields.extend(id.external_id(side).map(|e| e.field.clone()));
            let pick = |p: &(String, String)| if side == Side::Left { p.0.clone() } else { p.1.clone() };
            fields.extend(id.email.as_ref().map(pick));
            fields.extend(id.company_keys.iter().map(pick));
        }
    }
    out
}
