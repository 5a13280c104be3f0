//! The WhiteLabelCRO conformance driver: the in-process simulator on a frozen clock, driven
//! through its `SimState` control methods, and a connector over real loopback HTTP whose clock
//! moves the simulator's clock in step.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::FieldMap;
use connector_api::http::ReqwestTransport;
use connector_conformance::{
    ConformanceDriver, DriverError, DriverResult, Fault, LinkedClock, LoggedCall, failed, linked_clock,
    logged_calls, sim_faults,
};
use connector_whitelabelcro::{WlcroConfig, WlcroConnector};
use serde_json::{Map, Value};
use sim_core::SimHandle;
use sim_whitelabelcro::{SeedRecord, SimConfig, SimState, start};

/// The frozen start time of every test.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc()
}

/// A running simulator, its driver and a connector.
pub struct World {
    pub handle: SimHandle,
    pub driver: WlcroDriver,
    pub connector: WlcroConnector,
}

pub struct WlcroDriver {
    pub state: SimState,
    pub clock: LinkedClock,
    pub lead: bool,
}

pub async fn world(lead: bool) -> World {
    world_with(lead, |_| {}).await
}

pub async fn world_with(lead: bool, tweak: impl FnOnce(&mut WlcroConfig)) -> World {
    let (handle, state) = start(SimConfig::frozen(7, t0())).await.expect("sim starts");
    let sim_clock = state.clock.clone();
    let clock = linked_clock(t0(), move |d| sim_clock.advance(d));
    let mut cfg = WlcroConfig::new(handle.base_url(), SimConfig::default_key().into());
    tweak(&mut cfg);
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
    let connector = WlcroConnector::new(cfg, transport, Arc::new(clock.clone()), 42).expect("connector");
    World { handle, driver: WlcroDriver { state, clock, lead }, connector }
}

fn text(f: &FieldMap, k: &str) -> Option<String> {
    f.get(k).and_then(Value::as_str).map(str::to_string)
}

fn seed_record(f: &FieldMap) -> SeedRecord {
    SeedRecord {
        first_name: text(f, "first_name").unwrap_or_default(),
        last_name: text(f, "last_name").unwrap_or_default(),
        email: text(f, "email").unwrap_or_default(),
        phone: text(f, "phone"),
        external_id: text(f, "external_id"),
        ..SeedRecord::default()
    }
}

impl WlcroDriver {
    /// Ground truth: every client/lead as JSON objects.
    pub fn clients(&self) -> Vec<Map<String, Value>> {
        let all = self.state.records();
        all["clients"].as_array().into_iter().flatten().filter_map(|c| c.as_object().cloned()).collect()
    }
}

#[async_trait]
impl ConformanceDriver for WlcroDriver {
    fn object(&self) -> &str {
        if self.lead { "leads" } else { "clients" }
    }

    fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    async fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    fn sample(&self, n: u32) -> FieldMap {
        FieldMap::from([
            ("first_name".into(), Value::from("Conf")),
            ("last_name".into(), Value::from(format!("N{n}"))),
            ("email".into(), Value::from(format!("conf{n}@example.test"))),
        ])
    }

    fn edit_field(&self) -> String {
        "first_name".into()
    }

    async fn seed(&self, fields: FieldMap) -> DriverResult<String> {
        let id = self.state.seed_at(seed_record(&fields), self.lead, true, None).map_err(failed)?;
        Ok(id.to_string())
    }

    async fn external_edit(&self, id: &str, fields: FieldMap) -> DriverResult<()> {
        let id: i64 = id.parse().map_err(failed)?;
        self.state.ui_edit(id, &fields.into_iter().collect()).map_err(failed)
    }

    async fn same_timestamp_burst(&self, n: usize) -> DriverResult<Vec<String>> {
        let at = DateTime::from_timestamp(self.now().timestamp(), 0).expect("in range");
        let mut ids = Vec::new();
        for i in 0..n {
            let r = seed_record(&self.sample(10_000 + i as u32));
            ids.push(self.state.seed_at(r, self.lead, true, Some(at)).map_err(failed)?.to_string());
        }
        Ok(ids)
    }

    async fn delete(&self, _id: &str) -> DriverResult<()> {
        Err(DriverError::Unsupported("WhiteLabelCRO documents no delete".into()))
    }

    async fn merge(&self, _loser: &str, _survivor: &str) -> DriverResult<()> {
        Err(DriverError::Unsupported("WhiteLabelCRO documents no merge".into()))
    }

    async fn record(&self, id: &str) -> DriverResult<Option<FieldMap>> {
        let id: i64 = id.parse().map_err(failed)?;
        let found = self.clients().into_iter().find(|c| c.get("client_id") == Some(&Value::from(id)));
        Ok(found.map(|m| m.into_iter().collect()))
    }

    async fn records_with(&self, field: &str, value: &str) -> DriverResult<Vec<String>> {
        let ids = self.clients().into_iter().filter(|c| c.get(field).and_then(Value::as_str) == Some(value));
        Ok(ids.filter_map(|c| c.get("client_id").map(|v| v.to_string())).collect())
    }

    async fn request_log(&self) -> Vec<LoggedCall> {
        logged_calls(self.state.requests())
    }

    async fn clear_log(&self) {
        self.state.log.clear();
    }

    async fn set_fault(&self, fault: Fault) -> DriverResult<()> {
        match fault {
            Fault::None => self.state.set_faults(sim_faults(fault)),
            Fault::Maintenance => self.state.set_maintenance(true),
            storm @ Fault::ThrottleStorm { .. } => self.state.set_faults(sim_faults(storm)),
        }
        Ok(())
    }

    async fn duplicate_and_reorder(&self, _on: bool) -> DriverResult<()> {
        Err(DriverError::Unsupported(
            "the polled events feed is ordered by (createdUtc, id) and never duplicates; \
             duplicated/reordered deliveries are a webhook concern"
                .into(),
        ))
    }
}
