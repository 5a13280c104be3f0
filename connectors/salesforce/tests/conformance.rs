//! The shared conformance suite against the in-process Salesforce simulator (Contact), over
//! real loopback HTTP, with a linked clock so the connector's backoff moves the org's clock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::FieldMap;
use connector_api::http::{ClientPolicy, ReqwestTransport};
use connector_conformance::{
    self as suite, ConformanceDriver, DriverError, DriverResult, Fault, LinkedClock, LoggedCall, failed,
    fields_json, logged_calls, sim_faults,
};
use connector_salesforce::{SalesforceConfig, SalesforceConnector};
use secrecy::SecretString;
use serde_json::Value;
use sim_core::SimHandle;
use sim_salesforce::{ExternalEdit, ObjectKind, SeedRecord, SimState};

#[path = "support/mod.rs"]
mod support;

use support::{EXT, sim_config, t0};

struct SfDriver {
    sim: SimState,
    clock: LinkedClock,
    _handle: SimHandle,
}

struct World {
    driver: SfDriver,
    connector: SalesforceConnector,
}

async fn world() -> World {
    let (handle, sim) = sim_salesforce::start(sim_config()).await.unwrap();
    let org = sim.clone();
    let clock = suite::linked_clock(t0(), move |d| org.advance(d));
    let mut cfg = SalesforceConfig::new(
        handle.base_url(),
        "sim-consumer-key",
        SecretString::from("sim-consumer-secret"),
    );
    cfg.external_id_field = EXT.into();
    cfg.allowed_instance_hosts = vec!["http://localhost".to_string()];
    cfg.policy = ClientPolicy { max_attempts: 3, ..ClientPolicy::default() };
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
    let connector = SalesforceConnector::new(cfg, transport, Arc::new(clock.clone()), 9);
    World { driver: SfDriver { sim, clock, _handle: handle }, connector }
}

#[async_trait]
impl ConformanceDriver for SfDriver {
    fn object(&self) -> &str {
        "Contact"
    }

    fn now(&self) -> DateTime<Utc> {
        self.sim.now()
    }

    async fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    fn sample(&self, n: u32) -> FieldMap {
        let mut m = FieldMap::new();
        m.insert("LastName".into(), Value::String(format!("Conformance{n}")));
        m.insert("Email".into(), Value::String(format!("conformance{n}@example.com")));
        m
    }

    fn edit_field(&self) -> String {
        "Title".into()
    }

    async fn seed(&self, fields: FieldMap) -> DriverResult<String> {
        let rec = SeedRecord {
            object: Some(ObjectKind::Contact),
            fields: fields_json(fields),
            ..SeedRecord::default()
        };
        self.sim.seed(vec![rec]).map_err(failed).map(|mut v| v.remove(0))
    }

    async fn external_edit(&self, id: &str, fields: FieldMap) -> DriverResult<()> {
        let edit = ExternalEdit { id: id.into(), fields: fields_json(fields), ..ExternalEdit::default() };
        self.sim.edit(edit).map_err(failed)
    }

    async fn same_timestamp_burst(&self, n: usize) -> DriverResult<Vec<String>> {
        let recs = (0..n)
            .map(|i| SeedRecord {
                object: Some(ObjectKind::Contact),
                fields: fields_json(self.sample(10_000 + i as u32)),
                ..SeedRecord::default()
            })
            .collect();
        self.sim.seed(recs).map_err(failed)
    }

    async fn delete(&self, id: &str) -> DriverResult<()> {
        self.sim.delete(id).map_err(failed)
    }

    async fn merge(&self, loser: &str, survivor: &str) -> DriverResult<()> {
        self.sim.merge(survivor, &[loser.to_string()]).map_err(failed)
    }

    async fn record(&self, id: &str) -> DriverResult<Option<FieldMap>> {
        let rec = self.sim.record(id).filter(|r| r.deleted_at.is_none());
        Ok(rec.map(|r| r.fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
    }

    async fn records_with(&self, field: &str, value: &str) -> DriverResult<Vec<String>> {
        let field = if field == "external_id" { EXT } else { field };
        Ok(self
            .sim
            .records()
            .into_iter()
            .filter(|r| r.deleted_at.is_none() && r.fields.get(field).map(String::as_str) == Some(value))
            .map(|r| r.id)
            .collect())
    }

    async fn request_log(&self) -> Vec<LoggedCall> {
        logged_calls(self.sim.log.entries())
    }

    async fn clear_log(&self) {
        self.sim.log.clear();
    }

    async fn set_fault(&self, fault: Fault) -> DriverResult<()> {
        self.sim.faults.set(sim_faults(fault));
        Ok(())
    }

    async fn duplicate_and_reorder(&self, _on: bool) -> DriverResult<()> {
        Err(DriverError::Unsupported("SOQL pulls have no event delivery to duplicate or reorder".into()))
    }
}

connector_conformance::conformance_checks!(world());
