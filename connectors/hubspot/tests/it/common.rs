//! Shared test set-up: a frozen-clock simulator and a connector on a clock linked to it, so
//! pacing waits (virtual) are seen by the simulator's rate limiter too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::http::ReqwestTransport;
use connector_api::{Change, Checkpoint, Clock, Connector, PullRequest};
use connector_conformance::LinkedClock;
use connector_hubspot::{HubspotConfig, HubspotConnector, RateLimits, UserLimits};
use serde_json::{Map, Value, json};
use sim_core::SimHandle;
use sim_hubspot::{ObjectType, RateLimitConfig, Schema, SimConfig, SimState};

pub const TOKEN: &str = "pat-na1-test-token";
pub const UNIQUE: &str = "wlcro_client_id";

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00.000Z").unwrap().to_utc()
}

pub struct World {
    pub _handle: SimHandle,
    pub sim: SimState,
    pub clock: LinkedClock,
    pub conn: HubspotConnector,
}

impl World {
    /// Moves both clocks forward.
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub fn seed_contacts(&self, n: usize, tag: &str) -> Vec<u64> {
        let recs: Vec<Map<String, Value>> = (0..n)
            .map(|i| {
                let v = json!({ "email": format!("{tag}{i}@example.test"), "firstname": format!("F{i}") });
                v.as_object().unwrap().clone()
            })
            .collect();
        self.sim.seed(ObjectType::Contacts, &recs).expect("seed")
    }

    pub fn search_requests(&self) -> usize {
        self.sim.requests().iter().filter(|r| r.path.ends_with("/search")).count()
    }

    /// Pulls until `done`, returning every change and the last checkpoint.
    pub async fn pull_all(
        &self,
        object: &str,
        checkpoint: Option<Checkpoint>,
        rewind: Option<Duration>,
    ) -> (Vec<Change>, Checkpoint) {
        let mut cp = checkpoint;
        let mut rewind = rewind;
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let req = PullRequest {
                object,
                checkpoint: cp.as_ref(),
                rewind: rewind.take(),
                horizon: self.clock.now(),
                since: None,
                until: None,
                limit: 200,
            };
            let page = self.conn.pull(req).await.expect("pull");
            assert!(page.quarantined.is_empty(), "{:?}", page.quarantined);
            all.extend(page.changes);
            cp = Some(page.next);
            if page.done {
                return (all, cp.unwrap());
            }
        }
        panic!("pull never finished");
    }
}

pub async fn world() -> World {
    world_with(
        RateLimitConfig { burst_max: 100_000, search_max: 100_000, ..RateLimitConfig::default() },
        RateLimits::default(),
    )
    .await
}

pub async fn world_with(sim_limits: RateLimitConfig, conn_limits: RateLimits) -> World {
    world_seeded(sim_limits, conn_limits, 7).await
}

/// A world whose connector's limits are the user's own (ceilings), as `user` says.
pub async fn world_user(sim_limits: RateLimitConfig, conn_limits: RateLimits, user: UserLimits) -> World {
    world_configured(sim_limits, conn_limits, user, 7).await
}

/// A world whose simulator orders search ties by `seed`.
pub async fn world_seeded(sim_limits: RateLimitConfig, conn_limits: RateLimits, seed: u64) -> World {
    world_configured(sim_limits, conn_limits, UserLimits::default(), seed).await
}

async fn world_configured(
    sim_limits: RateLimitConfig,
    conn_limits: RateLimits,
    user: UserLimits,
    seed: u64,
) -> World {
    let cfg = SimConfig {
        seed,
        start_time: Some(t0()),
        tokens: vec![TOKEN.to_string()],
        schema: Schema { unique_properties: vec![UNIQUE.to_string()], ..Schema::default() },
        rate_limits: sim_limits,
        ..SimConfig::default()
    };
    let (handle, sim) = sim_hubspot::start(cfg).await.expect("sim starts");
    sim.set_search_lag(0, 0);
    let sim_clock = sim.clock.clone();
    let clock = connector_conformance::linked_clock(t0(), move |d| sim_clock.advance(d));
    let transport = ReqwestTransport::new(Duration::from_secs(30)).unwrap();
    let mut config = HubspotConfig::new(handle.base_url(), TOKEN.to_string().into(), UNIQUE);
    config.properties = BTreeMap::from([
        ("contacts".to_string(), vec!["email".to_string(), "firstname".to_string()]),
        ("companies".to_string(), vec!["name".to_string()]),
    ]);
    config.rate_limits = conn_limits;
    config.user_limits = user;
    let conn = HubspotConnector::new(config, Arc::new(transport), clock.shared(), 42).expect("connector");
    World { _handle: handle, sim, clock, conn }
}

impl World {
    /// Another app's connector on the same account (its own limiter, the same token).
    pub fn another_app(&self) -> HubspotConnector {
        let transport = ReqwestTransport::new(Duration::from_secs(30)).unwrap();
        let config = HubspotConfig::new(self._handle.base_url(), TOKEN.to_string().into(), UNIQUE);
        HubspotConnector::new(config, Arc::new(transport), self.clock.shared(), 43).expect("connector")
    }
}
