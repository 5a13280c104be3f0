//! An in-memory Salesforce REST API simulator for Contact, Lead and Account, written from
//! `shared/specs/salesforce-api.md` only (never from a connector): OAuth token endpoint, SOQL
//! `query`/`queryAll` with cursor paging, getUpdated/getDeleted, sObject rows, upsert by
//! external id, sObject Collections, limits, duplicate rules, and a `/_sim/` control API.
//!
//! Start it in-process with [`start`] (HTTP) or [`start_tls`] (HTTPS, self-signed).

pub mod auth;
pub mod control;
pub mod control_ops;
pub mod custom;
pub mod error;
pub mod gate;
pub mod ids;
pub mod routes;
pub mod schema;
pub mod soql;
pub mod state;
pub mod store;
pub mod time;
pub mod tls;
pub mod writes;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use sim_core::log::LogState;
use sim_core::{SimHandle, record_requests};

pub use control_ops::{ExternalEdit, SeedRecord};
pub use custom::{CustomField, Schema, SchemaError};
pub use error::ApiError;
pub use schema::{ObjectKind, SfType};
pub use state::{Quirks, SimConfig, SimState};
pub use tls::TlsSimHandle;
pub use writes::{DuplicateMode, DuplicateRule};

use routes::{composite, describe, query, replication, sobjects};

const DATA: &str = "/services/data/{v}";

fn api_routes() -> Router<SimState> {
    let r = |p: &str| format!("{DATA}{p}");
    Router::new()
        .route("/services/oauth2/token", post(auth::token))
        .route("/services/data", get(routes::versions))
        .route("/services/data/", get(routes::versions))
        .route(&r("/limits"), get(routes::limits))
        .route(&r("/limits/"), get(routes::limits))
        .route(&r("/sobjects"), get(describe::global))
        .route(&r("/sobjects/"), get(describe::global))
        .route(&r("/sobjects/{obj}/describe"), get(describe::describe))
        .route(&r("/sobjects/{obj}/describe/"), get(describe::describe))
        .route("/id/{org}/{user}", get(describe::identity))
        .route(&r("/query"), get(query::query))
        // Real clients (simple-salesforce) call the trailing-slash form; Salesforce serves both.
        .route(&r("/query/"), get(query::query))
        .route(&r("/query/{next}"), get(query::more))
        .route(&r("/queryAll"), get(query::query_all))
        .route(&r("/queryAll/"), get(query::query_all))
        // simple-salesforce sends `sf.Contact.create()` and `metadata()` with a trailing slash.
        .route(&r("/sobjects/{obj}"), post(sobjects::create).get(describe::basic_info))
        .route(&r("/sobjects/{obj}/"), post(sobjects::create).get(describe::basic_info))
        .route(&r("/sobjects/{obj}/updated"), get(replication::updated))
        .route(&r("/sobjects/{obj}/updated/"), get(replication::updated))
        .route(&r("/sobjects/{obj}/deleted"), get(replication::deleted))
        .route(&r("/sobjects/{obj}/deleted/"), get(replication::deleted))
        .route(
            &r("/sobjects/{obj}/{id}"),
            get(sobjects::retrieve).patch(sobjects::update).delete(sobjects::delete),
        )
        .route(&r("/sobjects/{obj}/{field}/{value}"), get(sobjects::retrieve_by_ext).patch(sobjects::upsert))
        .route(
            &r("/composite/sobjects"),
            post(composite::create).patch(composite::update).delete(composite::delete),
        )
        .route(&r("/composite/sobjects/{obj}"), get(composite::retrieve))
        .route(&r("/composite/sobjects/{obj}/{field}"), patch(composite::upsert))
        .fallback(|| async { ApiError::not_found().into_response() })
        .method_not_allowed_fallback(|method: http::Method| async move {
            ApiError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("HTTP Method '{method}' not allowed"),
            )
            .into_response()
        })
}

/// The whole simulator as an axum app: the real API behind the gate, `/_sim/` beside it, and
/// the request log around both (control calls are not logged).
pub fn app(state: SimState) -> Router {
    let log = LogState { log: state.log.clone(), clock: state.clock.clone(), skip_prefix: "/_sim" };
    api_routes()
        .layer(from_fn_with_state(state.clone(), gate::gate))
        .nest("/_sim", control::routes())
        .layer(from_fn_with_state(log, record_requests))
        .with_state(state)
}

/// Starts the simulator over HTTP on 127.0.0.1:`config.port`. The token endpoint hands out
/// `http://localhost:PORT` as `instance_url`: a different host than the login host, as in
/// production (spec §14.1).
pub async fn start(config: SimConfig) -> std::io::Result<(SimHandle, SimState)> {
    let state = SimState::new(config.clone());
    let handle = sim_core::serve(app(state.clone()), config.port).await?;
    state.set_instance_url(format!("http://localhost:{}", handle.addr.port()));
    Ok((handle, state))
}

/// Starts the simulator over HTTPS with a fresh self-signed certificate (see
/// [`TlsSimHandle::cert_pem`], also at `GET /_sim/cert`).
pub async fn start_tls(config: SimConfig) -> std::io::Result<(TlsSimHandle, SimState)> {
    let state = SimState::new(config.clone());
    let (cert, key) = tls::self_signed()?;
    state.lock().cert_pem = Some(cert.clone());
    let handle = tls::serve_tls(app(state.clone()), config.port, cert, key).await?;
    state.set_instance_url(format!("https://localhost:{}", handle.addr.port()));
    Ok((handle, state))
}
