//! The systems part of `status`: each configured system's connector is built over a transport
//! that keeps the response headers, asked for its health once (with a time limit), and the
//! remaining API budgets are read from the rate-limit headers of that answer:
//!
//! - WhiteLabelCRO: `X-RateLimit-Remaining` / `-Limit` / `-Window` / `-Reset` of the bucket named
//!   in `X-RateLimit-Policy` (`read:60/1m`);
//! - HubSpot: `X-HubSpot-RateLimit-Remaining` / `-Max` / `-Interval-Milliseconds` (the burst
//!   window) and `X-HubSpot-RateLimit-Daily-Remaining` / `-Daily`;
//! - Salesforce: `Sforce-Limit-Info: api-usage=<used>/<max>` (the rolling 24-hour allocation).
//!
//! The numbers are the remote's own, after the probe's request. A process that is not the one
//! running the cycles cannot know that process's client-side pacing, so nothing else is shown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use connector_api::http::{HttpTransport, Request, Response, TransportFailure};
use connector_api::{ConnectorError, ErrorClass, SharedClock};
use serde::Serialize;

use crate::mapping::PairMapping;
use crate::registry;
use crate::settings::SystemSettings;

/// How a system answered the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// It answered and accepted the credentials.
    Ok,
    /// No answer within the time limit, or transport / server failures.
    Unreachable,
    /// The credentials were refused; an operator must fix them.
    AuthFailed,
    /// It is throttling us right now.
    Throttled,
    /// A quota that does not refill within a run (a daily limit) is spent.
    QuotaExhausted,
    /// The connector could not even be built (e.g. a secret file is missing).
    Misconfigured,
    /// Any other failure (an unreadable answer, an unexpected rejection).
    Error,
}

impl Health {
    /// The JSON spelling, also used in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unreachable => "unreachable",
            Self::AuthFailed => "auth_failed",
            Self::Throttled => "throttled",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Misconfigured => "misconfigured",
            Self::Error => "error",
        }
    }

    fn of(err: &ConnectorError) -> Self {
        match err.class() {
            ErrorClass::Transient => Self::Unreachable,
            ErrorClass::Throttled => Self::Throttled,
            ErrorClass::QuotaExhausted => Self::QuotaExhausted,
            ErrorClass::Auth => Self::AuthFailed,
            ErrorClass::Misconfigured => Self::Misconfigured,
            _ => Self::Error,
        }
    }
}

/// One remaining API budget, as the remote reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// The bucket: WhiteLabelCRO `read`/`write`/`admin`, HubSpot `burst`/`daily`, Salesforce `daily`.
    pub bucket: String,
    /// Requests left in the current window.
    pub remaining: u64,
    /// Requests allowed per window, when the remote says.
    pub limit: Option<u64>,
    /// The window, as the remote describes it (`1m`, `10s`, `24h`), when known.
    pub window: Option<String>,
    /// When the window resets, when the remote says.
    pub resets_at: Option<DateTime<Utc>>,
}

/// One configured system, probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemStatus {
    /// The configured name (`[systems.<name>]`).
    pub name: String,
    /// The connector kind.
    pub kind: String,
    /// How it answered.
    pub health: Health,
    /// Why it is not `ok` (already redacted by the HTTP client: no secrets).
    pub message: Option<String>,
    /// Remaining budgets from the answer's rate-limit headers; empty when it did not answer or
    /// sends none.
    pub budgets: Vec<Budget>,
}

/// A transport that keeps the headers of every response it passes on.
struct Recording {
    inner: Arc<dyn HttpTransport>,
    seen: Mutex<Vec<HeaderMap>>,
}

impl Recording {
    fn keep(&self, resp: &Response) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(resp.headers().clone());
        }
    }

    fn headers(&self) -> Vec<HeaderMap> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl HttpTransport for Recording {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        let resp = self.inner.send(req).await?;
        self.keep(&resp);
        Ok(resp)
    }

    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        let resp = self.inner.send_checked(req).await?;
        self.keep(&resp);
        Ok(resp)
    }
}

/// Probes every system at once; each gets at most `limit` (then it is `unreachable`).
pub async fn probe_all(
    systems: &BTreeMap<String, SystemSettings>,
    pairs: &[PairMapping],
    clock: SharedClock,
    seed: u64,
    transport: Arc<dyn HttpTransport>,
    limit: Duration,
) -> Vec<SystemStatus> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for (i, (name, settings)) in systems.iter().enumerate() {
        let kind = settings.kind().to_string();
        let recording = Arc::new(Recording { inner: transport.clone(), seen: Mutex::new(Vec::new()) });
        let built = registry::build(
            name,
            settings,
            pairs,
            recording.clone(),
            clock.clone(),
            seed.wrapping_add(i as u64),
        );
        let connector = match built {
            Ok(c) => c,
            Err(e) => {
                out.push(SystemStatus {
                    name: name.clone(),
                    kind,
                    health: Health::Misconfigured,
                    message: Some(e.to_string()),
                    budgets: Vec::new(),
                });
                continue;
            }
        };
        let name = name.clone();
        tasks.spawn(async move {
            let (health, message) = match tokio::time::timeout(limit, connector.health()).await {
                Ok(Ok(())) => (Health::Ok, None),
                Ok(Err(e)) => (Health::of(&e), Some(e.to_string())),
                Err(_) => (
                    Health::Unreachable,
                    Some(format!("no answer within {}", humantime::format_duration(limit))),
                ),
            };
            let budgets = budgets(&recording.headers());
            SystemStatus { name, kind, health, message, budgets }
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(status) => out.push(status),
            Err(e) => tracing::warn!(error = %e, "a system probe task failed"),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The budgets the responses report, the latest value per bucket.
pub fn budgets(responses: &[HeaderMap]) -> Vec<Budget> {
    let mut by_bucket: BTreeMap<String, Budget> = BTreeMap::new();
    for headers in responses {
        for b in from_headers(headers) {
            by_bucket.insert(b.bucket.clone(), b);
        }
    }
    by_bucket.into_values().collect()
}

fn from_headers(h: &HeaderMap) -> Vec<Budget> {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let num = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
    let mut out = Vec::new();
    // WhiteLabelCRO and other X-RateLimit-* senders.
    if let Some(remaining) = num("x-ratelimit-remaining") {
        let bucket = text("x-ratelimit-policy")
            .and_then(|p| p.split(':').next())
            .filter(|b| !b.is_empty())
            .unwrap_or("requests");
        out.push(Budget {
            bucket: bucket.to_string(),
            remaining,
            limit: num("x-ratelimit-limit"),
            window: text("x-ratelimit-window").map(str::to_string),
            resets_at: num("x-ratelimit-reset")
                .and_then(|s| i64::try_from(s).ok())
                .and_then(|s| DateTime::from_timestamp(s, 0)),
        });
    }
    // HubSpot: the rolling burst window and the account's day.
    if let Some(remaining) = num("x-hubspot-ratelimit-remaining") {
        let window = num("x-hubspot-ratelimit-interval-milliseconds")
            .map(|ms| humantime::format_duration(Duration::from_millis(ms)).to_string());
        out.push(Budget {
            bucket: "burst".into(),
            remaining,
            limit: num("x-hubspot-ratelimit-max"),
            window,
            resets_at: None,
        });
    }
    if let Some(remaining) = num("x-hubspot-ratelimit-daily-remaining") {
        out.push(Budget {
            bucket: "daily".into(),
            remaining,
            limit: num("x-hubspot-ratelimit-daily"),
            window: Some("1day".into()),
            resets_at: None,
        });
    }
    // Salesforce: `api-usage=used/max`, possibly followed by `; api-bursts=…`.
    if let Some(usage) = text("sforce-limit-info")
        .and_then(|v| v.split(';').find_map(|part| part.trim().strip_prefix("api-usage=")))
        && let Some((used, max)) = usage.split_once('/')
        && let (Ok(used), Ok(max)) = (used.trim().parse::<u64>(), max.trim().parse::<u64>())
    {
        out.push(Budget {
            bucket: "daily".into(),
            remaining: max.saturating_sub(used),
            limit: Some(max),
            window: Some("24h rolling".into()),
            resets_at: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn reads_each_systems_rate_limit_headers() {
        let wl = headers(&[
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "42"),
            ("x-ratelimit-reset", "1800000000"),
            ("x-ratelimit-window", "1m"),
            ("x-ratelimit-policy", "read:60/1m"),
        ]);
        let b = budgets(&[wl]);
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].bucket.as_str(), b[0].remaining, b[0].limit), ("read", 42, Some(60)));
        assert_eq!(b[0].resets_at, DateTime::from_timestamp(1_800_000_000, 0));

        let hs = headers(&[
            ("x-hubspot-ratelimit-max", "100"),
            ("x-hubspot-ratelimit-remaining", "97"),
            ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
            ("x-hubspot-ratelimit-daily", "250000"),
            ("x-hubspot-ratelimit-daily-remaining", "249990"),
        ]);
        let b = budgets(&[hs]);
        let got: Vec<_> = b.iter().map(|b| (b.bucket.as_str(), b.remaining, b.limit)).collect();
        assert_eq!(got, vec![("burst", 97, Some(100)), ("daily", 249_990, Some(250_000))]);
        assert_eq!(b[0].window.as_deref(), Some("10s"));

        let sf = headers(&[("sforce-limit-info", "api-usage=18/15000; api-bursts=1/100")]);
        let b = budgets(&[sf]);
        assert_eq!((b[0].bucket.as_str(), b[0].remaining, b[0].limit), ("daily", 14_982, Some(15_000)));
    }

    #[test]
    fn the_latest_answer_wins_and_garbage_is_ignored() {
        let older = headers(&[("sforce-limit-info", "api-usage=1/100")]);
        let newer = headers(&[("sforce-limit-info", "api-usage=5/100")]);
        let junk = headers(&[("sforce-limit-info", "api-usage=x/y"), ("x-ratelimit-remaining", "-3")]);
        let b = budgets(&[older, newer, junk]);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].remaining, 95);
    }
}
