//! The request log: every request a simulator received, with the time and the status it answered.
//! Tests judge politeness (no request before a `Retry-After` deadline, request counts) from it,
//! and waste: a write request records what it did to the stored records ([`WriteEffect`]), so a
//! write that changed nothing is seen by the simulator, not guessed by the client.

use std::collections::BTreeSet;
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
    /// For a request that updated existing records: how many it changed and how many it left as
    /// they were (every value it sent was already stored). `None` for reads and creates.
    pub effect: Option<WriteEffect>,
}

/// What one write request did to the existing records it named. A handler puts it in the
/// response's extensions (`resp.extensions_mut().insert(effect)`); the log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteEffect {
    /// Records whose stored values changed.
    pub changed: u32,
    /// Records the request wrote without changing any stored value.
    pub unchanged: u32,
    /// The names (never the values) of the fields sent for the records that changed nothing.
    pub unchanged_fields: BTreeSet<String>,
}

impl WriteEffect {
    /// One record written with `fields`: `changed` says whether any stored value differs after.
    pub fn one<'a>(changed: bool, fields: impl IntoIterator<Item = &'a String>) -> Self {
        let mut e = Self::default();
        e.add(changed, fields);
        e
    }

    /// Counts one more record written with `fields`.
    pub fn add<'a>(&mut self, changed: bool, fields: impl IntoIterator<Item = &'a String>) {
        if changed {
            self.changed += 1;
        } else {
            self.unchanged += 1;
            self.unchanged_fields.extend(fields.into_iter().cloned());
        }
    }
}

/// Whether a stored record changed, comparing its JSON before and after a write while ignoring
/// the bookkeeping fields `ignore` (modified stamps, which every write moves).
pub fn changed(before: &serde_json::Value, after: &serde_json::Value, ignore: &[&str]) -> bool {
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            for k in ignore {
                m.remove(*k);
            }
        }
        v
    };
    strip(before) != strip(after)
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
    let effect = resp.extensions().get::<WriteEffect>().cloned();
    let status = resp.status().as_u16();
    state.log.push(LoggedRequest { at, method, path, query, status, retry_after, effect });
    resp
}
