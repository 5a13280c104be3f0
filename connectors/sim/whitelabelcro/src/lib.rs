//! An in-memory WhiteLabelCRO Integration API simulator, written from
//! `shared/specs/whitelabelcro-api.md` only (every SUGGESTION there is implemented as decided
//! behaviour). It never depends on a connector crate.
//!
//! The real surface: `X-Api-Key` auth (401 before 403), the cursor events feed and the other Events
//! API endpoints, webhook subscriptions with signed, retried deliveries, the 9 actions, both
//! searches and the lookups, per-key minute buckets with 429 + `Retry-After`, the §8 error body
//! and `X-Request-Id` on every response. The control API lives under `/_sim/` (see
//! `control_routes`), and the same operations are methods on [`SimState`].

pub mod actions;
pub mod auth;
pub mod body;
pub mod call;
pub mod config;
pub mod control;
pub mod control_routes;
pub mod delivery;
pub mod error;
pub mod events;
pub mod model;
pub mod ratelimit;
pub mod records;
pub mod search;
pub mod state;
pub mod webhooks;

use axum::Router;
use axum::middleware::from_fn_with_state;
use sim_core::log::LogState;
use sim_core::{SimHandle, record_requests, serve};

pub use auth::{ApiKeyConfig, Scope};
pub use config::{DEFAULT_COMPANY_ID, SimConfig};
pub use control::{ControlError, SeedRecord};
pub use delivery::{WebhookFaults, sign};
pub use ratelimit::{Bucket, RateLimitConfig};
pub use state::SimState;

/// The whole app: the real API (gated, logged) plus `/_sim/` control routes.
pub fn app(state: SimState) -> Router {
    let api = Router::new()
        .merge(events::routes())
        .merge(webhooks::routes())
        .merge(actions::routes())
        .merge(search::routes())
        .fallback(call::not_found)
        .method_not_allowed_fallback(call::not_found)
        .layer(from_fn_with_state(state.clone(), call::api_gate));
    let log = LogState { log: state.log.clone(), clock: state.clock.clone(), skip_prefix: "/_sim/" };
    Router::new()
        .merge(control_routes::routes())
        .merge(api)
        .layer(from_fn_with_state(log, record_requests))
        .with_state(state)
}

/// Serves the simulator on 127.0.0.1:`config.port` (0 = a free port). When
/// `config.delivery_tick` is set, a background task also runs due webhook deliveries (CLI mode).
pub async fn start(config: SimConfig) -> std::io::Result<(SimHandle, SimState)> {
    let state = SimState::new(&config);
    let handle = serve(app(state.clone()), config.port).await?;
    if let Some(tick) = config.delivery_tick {
        let s = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            loop {
                every.tick().await;
                s.deliver_due(s.now()).await;
            }
        });
    }
    Ok((handle, state))
}
