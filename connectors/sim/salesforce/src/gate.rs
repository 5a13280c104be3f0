//! The request gate in front of the REST API: injected faults, the bearer check (401
//! `INVALID_SESSION_ID`), the rolling daily allocation (403 `REQUEST_LIMIT_EXCEEDED`, no 429)
//! and the `Sforce-Limit-Info` header on every answer.
//!
//! Injected 429s come only from the generic fault gate: the real core REST API never sends
//! them (spec §8); they exist to test a client's generic retry path.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use sim_core::Injected;

use crate::auth::session_valid;
use crate::error::ApiError;
use crate::state::{SimState, prune_usage};

/// The API version in the path, e.g. `v62.0` (major 62).
#[derive(Debug, Clone)]
pub struct ApiVersion {
    /// As written in the path.
    pub raw: String,
    /// The major number.
    pub major: u32,
}

fn parse_version(seg: &str) -> Option<ApiVersion> {
    let (major, minor) = seg.strip_prefix('v')?.split_once('.')?;
    if minor != "0" {
        return None;
    }
    Some(ApiVersion { raw: seg.to_string(), major: major.parse().ok()? })
}

fn injected(fault: Injected) -> Option<Response> {
    let err = match fault {
        Injected::None => return None,
        Injected::TooManyRequests(retry) => {
            let mut resp =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMIT_EXCEEDED", "Too many requests")
                    .into_response();
            if let Some(secs) = retry {
                resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return Some(resp);
        }
        Injected::Unavailable => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SERVER_UNAVAILABLE", "Server unavailable")
        }
        Injected::ServerError => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred",
        ),
    };
    Some(err.into_response())
}

/// Middleware for everything under `/services/`.
pub async fn gate(State(state): State<SimState>, mut req: Request, next: Next) -> Response {
    let (fault, latency) = state.faults.decide();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await; // injected latency is real time by design
    }
    if let Some(resp) = injected(fault) {
        return resp;
    }
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return next.run(req).await; // OAuth endpoints: no session, not counted.
    };
    let version_seg = rest.split('/').next().unwrap_or_default();
    if version_seg.is_empty() {
        return next.run(req).await; // the version list carries no limit header
    }
    let Some(version) = parse_version(version_seg) else {
        return ApiError::not_found().into_response();
    };
    let now = state.clock.now();
    if !session_valid(&state, req.headers(), now) {
        return ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid")
            .into_response();
    }
    if !state.scopes().iter().any(|s| s == "api" || s == "full") {
        let msg = "This session is not valid for use with the REST API";
        return ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", msg).into_response();
    }
    let (used, max, allowed) = {
        let mut g = state.lock();
        prune_usage(&mut g, now);
        let max = g.quirks.daily_limit;
        let allowed = (g.usage.len() as u64) < max;
        if allowed {
            g.usage.push_back(now);
        }
        (g.usage.len() as u64, max, allowed)
    };
    let mut resp = if allowed {
        req.extensions_mut().insert(version);
        next.run(req).await
    } else {
        ApiError::new(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            .into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/{max}")) {
        resp.headers_mut().insert("sforce-limit-info", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_only_in_the_v_major_0_form() {
        assert_eq!(parse_version("v62.0").map(|v| v.major), Some(62));
        assert!(parse_version("62.0").is_none());
        assert!(parse_version("v62").is_none());
    }
}
