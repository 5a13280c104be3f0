//! The request log: every request a simulator received, with the time and the status it answered.
//! Tests judge politeness (no request before a `Retry-After` deadline, request counts) from it.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::SimClock;

/// One logged request. Header values are not kept (they carry credentials).
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// When the simulator received it (simulator clock).
    pub at: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The status the simulator answered.
    pub status: u16,
    /// The `Retry-After` the simulator sent with this answer, in seconds.
    pub retry_after: Option<u64>,
}

/// A shared, append-only request log.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<Vec<LoggedRequest>>>,
}

impl RequestLog {
    /// Everything logged so far.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.lock().expect("log lock").clone()
    }

    /// Forgets everything logged so far.
    pub fn clear(&self) {
        self.entries.lock().expect("log lock").clear();
    }

    fn push(&self, entry: LoggedRequest) {
        self.entries.lock().expect("log lock").push(entry);
    }
}

/// State for [`record_requests`].
#[derive(Debug, Clone)]
pub struct LogState {
    /// Where to log.
    pub log: RequestLog,
    /// Whose time to stamp with.
    pub clock: SimClock,
    /// Paths starting with this prefix (the control API) are not logged.
    pub skip_prefix: &'static str,
}

/// axum middleware that appends every request outside `skip_prefix` to the log.
/// Install with `axum::middleware::from_fn_with_state(LogState { .. }, record_requests)`.
pub async fn record_requests(State(state): State<LogState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with(state.skip_prefix) {
        return next.run(req).await;
    }
    let at = state.clock.now();
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let resp = next.run(req).await;
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    state.log.push(LoggedRequest { at, method, path, query, status: resp.status().as_u16(), retry_after });
    resp
}
