//! Shared test setup: an in-process Salesforce simulator on a frozen clock and a connector
//! talking to it over loopback with the production `ReqwestTransport`.
#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::http::{ClientPolicy, ReqwestTransport};
use connector_api::{Checkpoint, Connector, ManualClock, PullPage, PullRequest};
use connector_salesforce::{SalesforceConfig, SalesforceConnector};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use sim_core::SimHandle;
use sim_salesforce::{ObjectKind, SeedRecord, SimConfig, SimState};

/// The external-id field both sides use.
pub const EXT: &str = "WLCRO_Id__c";

/// 2026-03-01T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc()
}

pub struct World {
    pub handle: SimHandle,
    pub sim: SimState,
    pub clock: ManualClock,
    pub sf: SalesforceConnector,
}

pub fn sim_config() -> SimConfig {
    SimConfig {
        seed: 11,
        start_time: Some(t0()),
        external_id_fields: vec![EXT.into()],
        ..SimConfig::default()
    }
}

pub async fn world() -> World {
    world_with(0.2, "sim-consumer-secret").await
}

pub async fn world_with(reserve: f64, secret: &str) -> World {
    let (handle, sim) = sim_salesforce::start(sim_config()).await.unwrap();
    let clock = ManualClock::new(t0());
    let sf = connector(&handle.base_url(), reserve, secret, &clock);
    World { handle, sim, clock, sf }
}

pub fn connector(base: &str, reserve: f64, secret: &str, clock: &ManualClock) -> SalesforceConnector {
    let mut cfg = SalesforceConfig::new(base, "sim-consumer-key", SecretString::from(secret.to_string()));
    cfg.external_id_field = EXT.into();
    cfg.reserve_share = reserve;
    // The simulator names itself `localhost` in its token responses.
    cfg.allowed_instance_hosts = vec!["http://localhost".to_string()];
    cfg.policy = ClientPolicy { max_attempts: 3, ..ClientPolicy::default() };
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).unwrap());
    SalesforceConnector::new(cfg, transport, clock.shared(), 5)
}

impl World {
    /// Moves the org's clock (and ours with it).
    pub fn advance(&self, secs: i64) {
        self.sim.advance(chrono::Duration::seconds(secs));
        self.clock.advance(Duration::from_secs(secs as u64));
    }

    pub fn seed(&self, object: ObjectKind, fields: Value) -> String {
        self.seed_many(object, vec![fields]).remove(0)
    }

    pub fn seed_many(&self, object: ObjectKind, rows: Vec<Value>) -> Vec<String> {
        let records = rows
            .into_iter()
            .map(|f| SeedRecord { object: Some(object), fields: obj(f), ..SeedRecord::default() })
            .collect();
        self.sim.seed(records).unwrap()
    }

    pub async fn pull(
        &self,
        object: &str,
        checkpoint: Option<&Checkpoint>,
        rewind: Option<Duration>,
        limit: usize,
    ) -> PullPage {
        let req = PullRequest {
            object,
            checkpoint,
            rewind,
            horizon: self.sim.now(),
            since: None,
            until: None,
            limit,
        };
        self.sf.pull(req).await.unwrap()
    }

    /// Pulls page after page (no rewind) until done; returns every change and the checkpoint.
    pub async fn drain(
        &self,
        object: &str,
        from: Option<Checkpoint>,
        rewind: Option<Duration>,
        limit: usize,
    ) -> (Vec<connector_api::Change>, Option<Checkpoint>) {
        let mut cp = from;
        let mut all = Vec::new();
        let mut rewind = rewind;
        for _ in 0..100 {
            let page = self.pull(object, cp.as_ref(), rewind.take(), limit).await;
            all.extend(page.changes);
            cp = Some(page.next);
            if page.done {
                return (all, cp);
            }
        }
        panic!("pull never finished");
    }

    /// API requests the org received on `path_part` (token calls included).
    pub fn requests_to(&self, path_part: &str) -> usize {
        self.sim.log.entries().iter().filter(|e| e.path.contains(path_part)).count()
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

pub fn contact(last: &str, email: &str) -> Value {
    json!({"LastName": last, "Email": email})
}
