//! An in-memory simulator of the HubSpot CRM v3 API for contacts and companies, written from
//! `specs/hubspot-api.md` only (never from a connector): objects, batch, search (10k cap, index
//! lag), merges, rate limits, error bodies, signed v3 webhooks, and a `/_sim/` control API.
//!
//! Start it in-process with [`start`]; drive hidden state through [`SimState`] methods or the
//! control routes (see `control.rs`).

pub mod batch;
pub mod control;
pub mod error;
pub mod gate;
pub mod merge;
pub mod model;
pub mod objects;
pub mod properties;
pub mod props;
pub mod ratelimit;
pub mod schema;
pub mod search;
pub mod store;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim_core::log::LogState;
use sim_core::{FaultGate, RequestLog, SimClock, SimHandle, record_requests};

pub use gate::Quirks;
pub use model::{ObjectType, Record};
pub use ratelimit::RateLimitConfig;
pub use schema::{Catalog, PropertyDef, PropertyOption, PropertyType, Schema, SchemaError};
pub use store::{Behaviour, MergedGet, Source};
pub use webhooks::{SignedBatch, WebhookEvent, sign_v3};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds ids, correlation ids, faults and jitter.
    pub seed: u64,
    /// `Some(t)`: the clock is frozen at `t` and moves only when told (tests).
    pub start_time: Option<DateTime<Utc>>,
    /// Private-app tokens accepted as `Authorization: Bearer <token>`.
    pub tokens: Vec<String>,
    /// The app's client secret, used to sign webhooks (v3).
    pub client_secret: String,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Custom properties (default: what the shipped mappings need, `schema/default.json`).
    pub schema: Schema,
    /// Scopes granted per token; a token not listed here has every scope.
    pub token_scopes: BTreeMap<String, Vec<String>>,
    /// Rate limits.
    pub rate_limits: RateLimitConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            start_time: None,
            tokens: vec!["pat-na1-sim-token".to_string()],
            client_secret: "sim-client-secret".to_string(),
            port: 0,
            schema: Schema::default(),
            token_scopes: BTreeMap::new(),
            rate_limits: RateLimitConfig::default(),
        }
    }
}

/// Mutable simulator state behind one lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: store::Store,
    pub(crate) limiter: ratelimit::RateLimiter,
    pub(crate) quirks: Quirks,
    pub(crate) rng: ChaCha8Rng,
    /// Scopes per token (from the config; changed through the control API).
    pub(crate) token_scopes: BTreeMap<String, Vec<String>>,
}

/// A cloneable handle to one simulator: its clock, request log, fault gate and records.
#[derive(Debug, Clone)]
pub struct SimState {
    pub(crate) inner: Arc<Mutex<Inner>>,
    /// The simulator's clock.
    pub clock: SimClock,
    /// Every API request received (control routes excluded).
    pub log: RequestLog,
    /// Generic injected faults (429/503/500, latency, maintenance).
    pub faults: FaultGate,
    pub(crate) config: Arc<SimConfig>,
}

impl SimState {
    /// Fresh state from `config`.
    pub fn new(config: SimConfig) -> Self {
        let clock = config.start_time.map_or_else(SimClock::system, SimClock::frozen);
        let inner = Inner {
            store: store::Store::new(config.seed, config.schema.catalog_lenient()),
            limiter: ratelimit::RateLimiter::new(config.rate_limits.clone()),
            quirks: Quirks::default(),
            rng: ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(17)),
            token_scopes: config.token_scopes.clone(),
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            clock,
            log: RequestLog::default(),
            faults: FaultGate::new(config.seed),
            config: Arc::new(config),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("hubspot sim lock")
    }

    /// Current simulator time in epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// A seeded UUID-shaped correlation id.
    pub(crate) fn correlation_id(&self) -> String {
        let b: [u8; 16] = self.lock().rng.random();
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }
}

fn object_routes() -> Router<SimState> {
    Router::new()
        .route("/{object}", get(objects::list).post(objects::create))
        .route("/{object}/search", post(search::search))
        .route("/{object}/merge", post(objects::merge))
        .route("/{object}/batch/read", post(batch::read))
        .route("/{object}/batch/create", post(batch::create))
        .route("/{object}/batch/update", post(batch::update))
        .route("/{object}/batch/upsert", post(batch::upsert))
        .route("/{object}/batch/archive", post(batch::archive))
        .route("/{object}/{id}", get(objects::get_one).patch(objects::patch).delete(objects::delete))
}

fn property_routes() -> Router<SimState> {
    Router::new()
        .route("/{object}", get(properties::list))
        .route("/{object}/{name}", get(properties::get_one))
}

/// The simulator app: the real API under `/crm/v3/objects` and `/crm/objects/2026-03`, the control
/// API under `/_sim`, behind the request log and the gate (faults, auth, rate limits).
pub fn app(state: SimState) -> Router {
    let log_state =
        LogState { log: state.log.clone(), clock: state.clock.clone(), skip_prefix: control::PREFIX };
    Router::new()
        .nest("/crm/v3/objects", object_routes())
        .nest("/crm/objects/2026-03", object_routes())
        .nest("/crm/v3/properties", property_routes())
        .nest("/crm/properties/2026-03", property_routes())
        .route("/account-info/v3/api-usage/daily/private-apps", get(objects::api_usage))
        .route("/oauth/v2/private-apps/get/access-token-info", post(properties::token_info))
        .fallback(|| async { error::unknown_route() })
        .method_not_allowed_fallback(|| async { error::method_not_allowed() })
        .nest(control::PREFIX, control::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate::gate))
        .layer(axum::middleware::from_fn_with_state(log_state, record_requests))
        .with_state(state)
}

/// Serves the simulator on 127.0.0.1:`config.port`.
pub async fn start(config: SimConfig) -> std::io::Result<(SimHandle, SimState)> {
    let port = config.port;
    let state = SimState::new(config);
    let handle = sim_core::serve(app(state.clone()), port).await?;
    Ok((handle, state))
}
