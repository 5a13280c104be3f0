//! The shared conformance suite against the in-process HubSpot simulator, for contacts and
//! companies, over real loopback HTTP. The simulator keeps HubSpot's own rate limits (burst
//! 100 / 10 s, search 5 / s) and its default 2 s search-index lag; a linked clock lets the
//! connector's pacing and backoff move the simulator's frozen clock, so nothing waits on the wall.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::FieldMap;
use connector_api::http::ReqwestTransport;
use connector_conformance::{
    self as suite, ConformanceDriver, DriverError, DriverResult, Fault, LinkedClock, LoggedCall, failed,
    fields_json, logged_calls, sim_faults,
};
use connector_hubspot::{HubspotConfig, HubspotConnector};
use serde_json::Value;
use sim_core::SimHandle;
use sim_hubspot::{ObjectType, Schema, SimConfig, SimState};

const TOKEN: &str = "pat-na1-conformance";
/// The unique custom property creates upsert on; the suite's `external_id` maps to it.
const UNIQUE: &str = "wlcro_client_id";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00.000Z").expect("fixed time").to_utc()
}

struct HsDriver {
    sim: SimState,
    clock: LinkedClock,
    object: ObjectType,
    name: &'static str,
    _handle: SimHandle,
}

struct World {
    driver: HsDriver,
    connector: HubspotConnector,
}

async fn world(object: ObjectType) -> World {
    let cfg = SimConfig {
        seed: 11,
        start_time: Some(t0()),
        tokens: vec![TOKEN.to_string()],
        schema: Schema { unique_properties: vec![UNIQUE.to_string()], ..Schema::default() },
        ..SimConfig::default()
    };
    let (handle, sim) = sim_hubspot::start(cfg).await.expect("sim starts");
    let linked = sim.clock.clone();
    let clock = suite::linked_clock(t0(), move |d| linked.advance(d));
    let config = HubspotConfig::new(handle.base_url(), TOKEN.to_string().into(), UNIQUE);
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).expect("transport"));
    let connector =
        HubspotConnector::new(config, transport, Arc::new(clock.clone()), 5).expect("connector builds");
    let name = match object {
        ObjectType::Contacts => "contacts",
        ObjectType::Companies => "companies",
    };
    World { driver: HsDriver { sim, clock, object, name, _handle: handle }, connector }
}

#[async_trait]
impl ConformanceDriver for HsDriver {
    fn object(&self) -> &str {
        self.name
    }

    fn now(&self) -> DateTime<Utc> {
        self.sim.clock.now()
    }

    async fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    fn sample(&self, n: u32) -> FieldMap {
        let s = |v: String| Value::String(v);
        match self.object {
            ObjectType::Contacts => FieldMap::from([
                ("email".to_string(), s(format!("conformance{n}@example.test"))),
                ("firstname".to_string(), s(format!("Conf{n}"))),
                ("lastname".to_string(), s("Ormance".into())),
            ]),
            ObjectType::Companies => FieldMap::from([
                ("name".to_string(), s(format!("Conformance {n} LLC"))),
                ("domain".to_string(), s(format!("conformance{n}.example.test"))),
            ]),
        }
    }

    fn edit_field(&self) -> String {
        match self.object {
            ObjectType::Contacts => "firstname".into(),
            ObjectType::Companies => "name".into(),
        }
    }

    async fn seed(&self, fields: FieldMap) -> DriverResult<String> {
        let ids = self.sim.seed(self.object, &[fields_json(fields)]).map_err(failed)?;
        Ok(ids[0].to_string())
    }

    async fn external_edit(&self, id: &str, fields: FieldMap) -> DriverResult<()> {
        let id = id.parse::<u64>().map_err(failed)?;
        self.sim.external_edit(self.object, id, &fields_json(fields)).map(|_| ()).map_err(failed)
    }

    /// Seeded in one call on the frozen clock: every record carries the same millisecond.
    async fn same_timestamp_burst(&self, n: usize) -> DriverResult<Vec<String>> {
        let recs: Vec<_> = (0..n).map(|i| fields_json(self.sample(10_000 + i as u32))).collect();
        let ids = self.sim.seed(self.object, &recs).map_err(failed)?;
        Ok(ids.iter().map(u64::to_string).collect())
    }

    async fn delete(&self, id: &str) -> DriverResult<()> {
        self.sim.archive(self.object, id.parse().map_err(failed)?).map_err(failed)
    }

    async fn merge(&self, loser: &str, survivor: &str) -> DriverResult<()> {
        let (loser, survivor) = (loser.parse().map_err(failed)?, survivor.parse().map_err(failed)?);
        self.sim.merge(self.object, survivor, loser).map(|_| ()).map_err(failed)
    }

    async fn record(&self, id: &str) -> DriverResult<Option<FieldMap>> {
        let id = id.parse::<u64>().map_err(failed)?;
        let rec = self.sim.records(self.object).into_iter().find(|r| r.id == id && !r.archived());
        Ok(rec.map(|r| r.properties.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
    }

    async fn records_with(&self, field: &str, value: &str) -> DriverResult<Vec<String>> {
        let field = if field == "external_id" { UNIQUE } else { field };
        Ok(self
            .sim
            .records(self.object)
            .into_iter()
            .filter(|r| !r.archived() && r.properties.get(field).map(String::as_str) == Some(value))
            .map(|r| r.id.to_string())
            .collect())
    }

    async fn request_log(&self) -> Vec<LoggedCall> {
        logged_calls(self.sim.requests())
    }

    async fn clear_log(&self) {
        self.sim.log.clear();
    }

    /// HubSpot documents no `Retry-After` on REST 429s (spec §10); the storm sends one anyway, so
    /// the check can hold the connector to it.
    async fn set_fault(&self, fault: Fault) -> DriverResult<()> {
        self.sim.set_faults(sim_faults(fault));
        Ok(())
    }

    /// The connector pulls through the search API, a query over current state: there is no
    /// event stream whose deliveries could be duplicated or reordered. (HubSpot's webhooks are
    /// at-least-once and unordered, but pulls do not read them; the webhook verifier is tested
    /// in tests/it/webhook.rs.)
    async fn duplicate_and_reorder(&self, _on: bool) -> DriverResult<()> {
        Err(DriverError::Unsupported("search pulls read current state, not an event stream".into()))
    }
}

mod contacts {
    use super::*;
    connector_conformance::conformance_checks!(world(ObjectType::Contacts));
}

mod companies {
    use super::*;
    connector_conformance::conformance_checks!(world(ObjectType::Companies));
}
