//! Alerts: a notifier that posts when something changes state — a breaker opened or closed, a
//! pair failing `alerts.pair_failures` runs in a row, the review queue above
//! `alerts.review_queue_above`, new dead letters, a stream more than `alerts.lag_above` behind
//! — to each `[[alerts.targets]]`: a generic webhook (the JSON [`Alert`], HMAC-SHA256 signed) or
//! a Slack-compatible incoming webhook (`{"text": …}`).
//!
//! One message per state change: the last state alerted for each subject is in the store and
//! changed by compare-and-set ([`Store::swap_alert_state`]), so a restart or a second worker
//! never repeats one. Sending is spawned (at most [`MAX_IN_FLIGHT`] at once; more are dropped
//! with a warning), never awaited by a run, and retried with backoff by the shared HTTP client.
//! Payloads carry names of systems, pairs and streams, counts and classified reasons: never a
//! record's values, ids or a secret.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{self, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};
use connector_api::SharedClock;
use connector_api::http::{ClientPolicy, HttpClient, HttpTransport, RequestSpec};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tracing::{info, warn};

use crate::settings::{AlertSettings, AlertTargetKind};
use crate::store::{Store, StoreError};

use super::breaker::Transition;

/// Messages being sent at most at once; more are dropped (and logged), never queued without bound.
pub const MAX_IN_FLIGHT: usize = 32;
/// The header carrying `sha256=<hex HMAC>` of `<timestamp>.<body>`.
pub const SIGNATURE_HEADER: &str = "x-crosswalk-signature";
/// The header carrying the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-crosswalk-timestamp";

/// One alert: what changed, about what, and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Always `crosswalk`.
    pub source: &'static str,
    /// `breaker_opened`, `breaker_closed`, `pair_failing`, `pair_recovered`,
    /// `review_queue_above`, `review_queue_below`, `dead_letters_new`, `stream_lagging`,
    /// `stream_caught_up`.
    pub event: String,
    /// The subject's key (`breaker:hubspot`), stable across messages about it.
    pub key: String,
    /// The subject's new state (`open`, `closed`, `failing`, `ok`, `above`, …).
    pub state: String,
    /// The names the alert is about: `system`, `pair`, `stream`.
    pub subject: std::collections::BTreeMap<String, String>,
    /// What happened and what to do, in one sentence.
    pub message: String,
    /// When the change was seen.
    pub at: DateTime<Utc>,
}

/// A condition's state now: the subject, its state and the alert to send when it changed.
struct Condition {
    key: String,
    state: String,
    /// The state a subject is in when nothing is wrong: reaching it first is not alerted.
    fine: &'static str,
    event: String,
    subject: Vec<(&'static str, String)>,
    message: String,
}

/// Sets each condition's state in the store and answers an alert for each state that changed
/// (for the one caller whose change took).
async fn changed(
    store: &dyn Store,
    now: DateTime<Utc>,
    conditions: Vec<Condition>,
) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    for c in conditions {
        let old = store.alert_state(&c.key).await?;
        if old.as_deref() == Some(c.state.as_str()) {
            continue;
        }
        if !store.swap_alert_state(&c.key, old.as_deref(), &c.state, now).await? {
            continue; // another worker took this change and sends it
        }
        let quiet = old.is_none() && c.state == c.fine;
        let fewer_dead_letters = c.key == "dead_letters"
            && old
                .as_deref()
                .and_then(|o| o.parse::<u64>().ok())
                .zip(c.state.parse::<u64>().ok())
                .is_some_and(|(o, n)| n <= o);
        if quiet || fewer_dead_letters {
            continue;
        }
        out.push(Alert {
            source: "crosswalk",
            event: c.event,
            key: c.key,
            state: c.state,
            subject: c.subject.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            message: c.message,
            at: now,
        });
    }
    Ok(out)
}

/// What the alerts look at after a run: the breakers (all of them, so a `resume` in another
/// process is alerted too), the pairs' failure streaks, the queue, dead letters and lag.
pub async fn evaluate(
    store: &dyn Store,
    clock: &SharedClock,
    settings: &AlertSettings,
    streaks: &[(String, u32)],
    transitions: &[Transition],
) -> Result<Vec<Alert>, StoreError> {
    let now = clock.now();
    let mut conditions = Vec::new();
    for b in store.breakers().await? {
        let system = b.system.clone();
        let reason = transitions
            .iter()
            .find(|t| t.system == system && t.opened == b.open)
            .map(|t| t.reason.clone())
            .or(b.reason.clone())
            .unwrap_or_default();
        let (state, event, message) = if b.open {
            (
                "open",
                "breaker_opened",
                format!(
                    "crosswalk paused every pair using `{system}`: {reason}. They run again when `{system}` answers the probe, or after `crosswalk resume {system}`."
                ),
            )
        } else {
            (
                "closed",
                "breaker_closed",
                format!("crosswalk runs the pairs using `{system}` again: {reason}."),
            )
        };
        conditions.push(Condition {
            key: format!("breaker:{system}"),
            state: state.into(),
            fine: "closed",
            event: event.into(),
            subject: vec![("system", system)],
            message,
        });
    }
    for (pair, n) in streaks {
        let failing = *n >= settings.pair_failures;
        conditions.push(Condition {
            key: format!("pair:{pair}"),
            state: if failing { "failing" } else { "ok" }.into(),
            fine: "ok",
            event: if failing { "pair_failing" } else { "pair_recovered" }.into(),
            subject: vec![("pair", pair.clone())],
            message: if failing {
                format!("pair `{pair}` failed {n} runs in a row; `crosswalk status` and the run log say why")
            } else {
                format!("pair `{pair}` finished a run again")
            },
        });
    }
    let open = store.count_open_review().await?;
    let above = open > settings.review_queue_above;
    conditions.push(Condition {
        key: "review_queue".into(),
        state: if above { "above" } else { "below" }.into(),
        fine: "below",
        event: if above { "review_queue_above" } else { "review_queue_below" }.into(),
        subject: Vec::new(),
        message: if above {
            format!(
                "{open} review items are open (more than {}); work through them with `crosswalk review list` or the admin page",
                settings.review_queue_above
            )
        } else {
            format!("the review queue is back to {open} open items (at most {})", settings.review_queue_above)
        },
    });
    let dead = store.count_dead_letters().await?;
    conditions.push(Condition {
        key: "dead_letters".into(),
        state: dead.to_string(),
        fine: "0",
        event: "dead_letters_new".into(),
        subject: Vec::new(),
        message: format!("new dead letters: {dead} in all; `crosswalk status` lists them by reason"),
    });
    let limit = chrono::Duration::from_std(settings.lag_above.0).unwrap_or(chrono::Duration::MAX);
    for (stream, behind) in super::stream_lags(store, now).await? {
        let pair = stream.scope.strip_prefix("pair:").unwrap_or(&stream.scope).to_string();
        let lagging = behind > limit;
        let (system, object) = (stream.system.clone(), stream.object.clone());
        let shown = humantime::format_duration(behind.to_std().unwrap_or_default());
        conditions.push(Condition {
            key: format!("lag:{pair}:{system}:{object}"),
            state: if lagging { "lagging" } else { "ok" }.into(),
            fine: "ok",
            event: if lagging { "stream_lagging" } else { "stream_caught_up" }.into(),
            subject: vec![("pair", pair.clone()), ("system", system.clone()), ("stream", object.clone())],
            message: if lagging {
                format!(
                    "stream `{object}` of `{system}` (pair `{pair}`) is {shown} behind (more than {})",
                    settings.lag_above
                )
            } else {
                format!("stream `{object}` of `{system}` (pair `{pair}`) caught up")
            },
        });
    }
    changed(store, now, conditions).await
}

/// One resolved target.
struct Target {
    kind: AlertTargetKind,
    url: String,
    secret: Option<SecretString>,
}

/// Why the notifier cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("`alerts.targets.{index}.secret`: {message}")]
pub struct NotifierError {
    index: usize,
    message: String,
}

/// Sends alerts to the configured targets in the background.
pub struct Notifier {
    targets: Vec<Target>,
    client: Arc<HttpClient>,
    clock: SharedClock,
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("targets", &self.targets.len()).finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier for `settings.targets` over `transport`, resolving each webhook's secret
    /// (a missing, empty or short one is an error naming its key).
    pub fn new(
        settings: &AlertSettings,
        transport: Arc<dyn HttpTransport>,
        clock: SharedClock,
        seed: u64,
    ) -> Result<Self, NotifierError> {
        let mut targets = Vec::new();
        for (index, t) in settings.targets.iter().enumerate() {
            let secret = match (t.kind, &t.secret) {
                (AlertTargetKind::Webhook, Some(s)) => Some(
                    s.resolve_min(crate::settings::MIN_WEBHOOK_SECRET)
                        .map_err(|e| NotifierError { index, message: e.to_string() })?,
                ),
                (AlertTargetKind::Webhook, None) => {
                    return Err(NotifierError {
                        index,
                        message: "a webhook target needs a signing secret".into(),
                    });
                }
                (AlertTargetKind::Slack, _) => None,
            };
            targets.push(Target { kind: t.kind, url: t.url.clone(), secret });
        }
        let policy = ClientPolicy {
            request_timeout: Duration::from_secs(10),
            max_attempts: settings.attempts.max(1),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            pace_from_headers: false,
            ..ClientPolicy::default()
        };
        let client = Arc::new(HttpClient::new(transport, clock.clone(), seed, policy));
        Ok(Self { targets, client, clock, tasks: Mutex::new(tokio::task::JoinSet::new()) })
    }

    /// True when no target is configured (alerts are still recorded, so none is repeated later).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Starts sending each alert to every target and returns at once.
    pub fn send(&self, alerts: Vec<Alert>) {
        let mut tasks = self.tasks.lock().expect("notifier lock");
        while tasks.try_join_next().is_some() {}
        for alert in alerts {
            info!(event = %alert.event, key = %alert.key, "alert");
            for (i, target) in self.targets.iter().enumerate() {
                if tasks.len() >= MAX_IN_FLIGHT {
                    warn!(event = %alert.event, target = i, "alert dropped: {MAX_IN_FLIGHT} alerts are still being sent");
                    continue;
                }
                let spec = match request(target, &alert, self.clock.now().timestamp()) {
                    Ok(spec) => spec.log_as(format!("alert target {i}")),
                    Err(e) => {
                        warn!(target = i, error = %e, "alert not sent");
                        continue;
                    }
                };
                let client = self.client.clone();
                let event = alert.event.clone();
                tasks.spawn(async move {
                    if let Err(e) = client.send(spec).await {
                        warn!(target = i, %event, error = %e, "alert could not be delivered");
                    }
                });
            }
        }
    }

    /// Like [`flush`](Self::flush), but gives up waiting after `limit` (a real-time bound for a
    /// process about to exit: a receiver that is down must not hold it for every retry).
    pub async fn flush_within(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.flush()).await.is_err() {
            warn!(limit = ?limit, "exiting with alerts still being sent; they are not sent again");
        }
    }

    /// Waits until every alert started so far was delivered or given up (before a process
    /// exits, and in tests).
    pub async fn flush(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("notifier lock"));
        while tasks.join_next().await.is_some() {}
    }
}

/// The signature of `body` sent at `timestamp`: `sha256=` and the hex HMAC-SHA256 of
/// `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn request(target: &Target, alert: &Alert, timestamp: i64) -> Result<RequestSpec, serde_json::Error> {
    let body = match target.kind {
        AlertTargetKind::Webhook => serde_json::to_vec(alert)?,
        AlertTargetKind::Slack => {
            serde_json::to_vec(&serde_json::json!({ "text": format!("crosswalk: {}", alert.message) }))?
        }
    };
    let mut spec = RequestSpec::post(&target.url)
        .header(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
        // Receivers tell a repeat by `key` + `state` + `at`; a retry of the same message is safe.
        .idempotent(true);
    if let Some(secret) = &target.secret {
        let signature = sign(secret.expose_secret(), timestamp, &body);
        spec = spec.header(HeaderName::from_static(TIMESTAMP_HEADER), HeaderValue::from(timestamp)).header(
            HeaderName::from_static(SIGNATURE_HEADER),
            HeaderValue::from_str(&signature).expect("hex is a valid header"),
        );
    }
    Ok(spec.body(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{AlertTarget, SecretRef};

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = sign("0123456789abcdef", 1_700_000_000, br#"{"event":"x"}"#);
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64, "{a}");
        assert_ne!(a, sign("0123456789abcdef", 1_700_000_001, br#"{"event":"x"}"#), "timestamp signed");
        assert_ne!(a, sign("0123456789abcdef", 1_700_000_000, br#"{"event":"y"}"#), "body signed");
        assert_ne!(a, sign("0123456789abcdeF", 1_700_000_000, br#"{"event":"x"}"#), "key used");
    }

    #[test]
    fn slack_gets_text_and_no_signature_webhooks_get_both_headers() {
        let alert = Alert {
            source: "crosswalk",
            event: "breaker_opened".into(),
            key: "breaker:hubspot".into(),
            state: "open".into(),
            subject: [("system".to_string(), "hubspot".to_string())].into(),
            message: "paused".into(),
            at: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc(),
        };
        let slack =
            Target { kind: AlertTargetKind::Slack, url: "https://hooks.example/x".into(), secret: None };
        let req = request(&slack, &alert, 5).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&req.body).unwrap(),
            serde_json::json!({"text": "crosswalk: paused"})
        );
        assert!(req.headers.get(SIGNATURE_HEADER).is_none());
        let hook = Target {
            kind: AlertTargetKind::Webhook,
            url: "https://hooks.example/y".into(),
            secret: Some(SecretString::from("0123456789abcdef".to_string())),
        };
        let req = request(&hook, &alert, 5).unwrap();
        assert_eq!(req.headers[TIMESTAMP_HEADER], "5");
        assert_eq!(req.headers[SIGNATURE_HEADER].to_str().unwrap(), sign("0123456789abcdef", 5, &req.body));
    }

    #[test]
    fn a_webhook_without_a_usable_secret_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "").unwrap();
        let settings = AlertSettings {
            targets: vec![AlertTarget {
                kind: AlertTargetKind::Webhook,
                url: "https://hooks.example/y".into(),
                secret: Some(SecretRef { env: None, file: Some(path) }),
            }],
            ..AlertSettings::default()
        };
        let transport: Arc<dyn HttpTransport> =
            Arc::new(connector_api::http::ReqwestTransport::new(Duration::from_secs(1)).unwrap());
        let clock = connector_api::ManualClock::at_epoch().shared();
        let err = Notifier::new(&settings, transport, clock, 1).unwrap_err().to_string();
        assert!(err.starts_with("`alerts.targets.0.secret`") && err.contains("empty"), "{err}");
    }
}
