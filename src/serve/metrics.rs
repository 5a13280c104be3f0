//! `/healthz` (is the store reachable) and `/metrics` (the `ops::metrics` registry in
//! Prometheus' text format, its gauges read from the store at each scrape: lag per stream,
//! open review items per pair, dead letters, last successful run per pair, breakers). The
//! counters of runs and requests move in the process that runs the cycles (`crosswalk run
//! --metrics-listen`). Neither needs the admin token: they carry counts only, never ids or values.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// `GET /healthz`.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.review.store().count_open_review().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: state store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "state store unreachable\n").into_response()
        }
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    crate::ops::metrics::scrape(&state.metrics, state.review.store(), &state.clock).await
}
