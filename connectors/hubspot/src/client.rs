//! The connector's view of HubSpot over the shared [`HttpClient`]: auth header, rate-limit
//! buckets (burst 10 s, search 1 s), HubSpot's 429 flavours, and the daily quota, which stops
//! the system for the day instead of waiting for it (spec §10).
//!
//! The configured limits are where pacing starts. The burst bucket takes the server's
//! `X-HubSpot-RateLimit-Max` and `-Interval-Milliseconds` from every non-search answer (the
//! shared limiter keeps a rolling log sized to them); the day takes `-Daily` as its limit and
//! `-Daily-Remaining` as the account's own count (other apps' requests included). A limit the
//! user set is a ceiling the server's only lowers ([`crate::UserLimits`]). Search answers carry
//! no such headers (spec §5), so the search bucket stays as configured.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use connector_api::http::{
    BucketPolicy, ClientPolicy, HttpClient, HttpTransport, Redactor, RequestSpec, ResponseClassifier,
};
use connector_api::{ConnectorError, SharedClock};
use http::{HeaderMap, HeaderValue, StatusCode};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::HubspotConfig;

const BURST: &str = "burst";
const SEARCH: &str = "search";

/// HubSpot's 429s carry no `Retry-After` (spec §10); wait like HubSpot's own SDK does: 10 s for
/// the rolling burst window, 1 s for the search "secondly" limit.
struct Classifier;

impl ResponseClassifier for Classifier {
    fn refine(
        &self,
        status: StatusCode,
        _headers: &HeaderMap,
        body: &[u8],
        default: &ConnectorError,
    ) -> Option<ConnectorError> {
        let ConnectorError::Throttled { retry_after: None, bucket } = default else { return None };
        if status != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let text = |k: &str| v.get(k).and_then(|m| m.as_str()).unwrap_or_default().to_ascii_lowercase();
        let secondly = text("message").contains("secondly limit") || text("policyname") == "secondly";
        let wait = if secondly { Duration::from_secs(1) } else { Duration::from_secs(10) };
        Some(ConnectorError::Throttled { retry_after: Some(wait), bucket: bucket.clone() })
    }
}

#[derive(Debug)]
struct Daily {
    day: NaiveDate,
    sent: u64,
    exhausted: bool,
    /// The day's limit in force: the configured one until the server states its own.
    limit: u64,
}

/// HTTP access to one account.
pub(crate) struct Api {
    pub(crate) http: HttpClient,
    pub(crate) base: String,
    auth: HeaderValue,
    clock: SharedClock,
    /// The configured daily limit, and whether it is a ceiling (set by the user).
    daily_configured: u64,
    daily_ceiling: bool,
    daily: Mutex<Daily>,
}

impl Api {
    pub(crate) fn new(
        config: &HubspotConfig,
        transport: Arc<dyn HttpTransport>,
        clock: SharedClock,
        seed: u64,
    ) -> Result<Self, ConnectorError> {
        let token = config.token.expose_secret();
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ConnectorError::Auth { message: "hubspot token is not a valid header value".into() }
        })?;
        auth.set_sensitive(true);
        let limits = &config.rate_limits;
        let mut burst = BucketPolicy::new(BURST, limits.burst_per_10s, Duration::from_secs(10));
        if config.user_limits.burst {
            burst = burst.capped();
        }
        let policy = ClientPolicy {
            request_timeout: config.request_timeout,
            buckets: vec![burst, BucketPolicy::new(SEARCH, limits.search_per_second, Duration::from_secs(1))],
            ..ClientPolicy::default()
        };
        let http = HttpClient::new(transport, clock.clone(), seed, policy)
            .with_system("HubSpot")
            .with_redactor(Redactor::new([token]))
            .with_classifier(Arc::new(Classifier));
        let day = clock.now().date_naive();
        Ok(Self {
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            auth,
            clock,
            daily_configured: u64::from(limits.daily),
            daily_ceiling: config.user_limits.daily,
            daily: Mutex::new(Daily { day, sent: 0, exhausted: false, limit: u64::from(limits.daily) }),
        })
    }

    /// The burst limit paced by now and its window (the server's once it stated them).
    pub(crate) fn burst_limit(&self) -> (u32, Duration) {
        self.http.bucket_limit(BURST).unwrap_or((0, Duration::from_secs(10)))
    }

    /// The daily limit in force (the server's once it stated one).
    pub(crate) fn daily_limit(&self) -> u64 {
        self.daily.lock().expect("daily lock").limit
    }

    /// `{base}/crm/v3/objects/{object}{rest}`.
    pub(crate) fn url(&self, object: &str, rest: &str) -> String {
        format!("{}/crm/v3/objects/{object}{rest}", self.base)
    }

    fn next_midnight(now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        now.date_naive().succ_opt()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
    }

    /// Refuses to send once the daily quota is known to be spent (for the rest of the UTC day;
    /// the account's own time zone is not known to the connector).
    fn check_daily(&self) -> Result<(), ConnectorError> {
        let now = self.clock.now();
        let mut d = self.daily.lock().expect("daily lock");
        if d.day != now.date_naive() {
            *d = Daily { day: now.date_naive(), sent: 0, exhausted: false, limit: d.limit };
        }
        if d.exhausted || d.sent >= d.limit {
            d.exhausted = true;
            return Err(ConnectorError::QuotaExhausted {
                message: "hubspot daily API limit reached; stopping until it resets".into(),
                resets_at: Self::next_midnight(now),
            });
        }
        d.sent += 1;
        Ok(())
    }

    /// Takes the day's numbers from an answer: `-Daily` becomes the limit (lowered to a ceiling
    /// the user set), `-Daily-Remaining` the count sent (the account's, so other apps count).
    fn note_daily(&self, headers: Option<&HeaderMap>, err: Option<&ConnectorError>) {
        let num = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let stated = num("x-hubspot-ratelimit-daily").filter(|l| *l > 0);
        let remaining = num("x-hubspot-ratelimit-daily-remaining");
        let quota_err = matches!(err, Some(ConnectorError::QuotaExhausted { .. }));
        let mut d = self.daily.lock().expect("daily lock");
        if let Some(stated) = stated {
            d.limit = if self.daily_ceiling { stated.min(self.daily_configured) } else { stated };
            if let Some(rem) = remaining {
                d.sent = stated.saturating_sub(rem);
            }
        }
        if remaining == Some(0) || quota_err {
            d.exhausted = true;
        }
    }

    /// Sends with auth and the right buckets; 404 and 207 come back as `Ok` when `accept` says so.
    pub(crate) async fn send(
        &self,
        mut spec: RequestSpec,
        search: bool,
    ) -> Result<http::Response<bytes::Bytes>, ConnectorError> {
        self.check_daily()?;
        spec = spec.header(http::header::AUTHORIZATION, self.auth.clone()).bucket(if search {
            SEARCH
        } else {
            BURST
        });
        match self.http.send(spec).await {
            Ok(resp) => {
                self.note_daily(Some(resp.headers()), None);
                Ok(resp)
            }
            Err(e) => {
                self.note_daily(None, Some(&e));
                Err(e)
            }
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ConnectorError> {
        serde_json::from_slice(body)
            .map_err(|e| ConnectorError::Protocol { message: format!("{what}: unreadable answer: {e}") })
    }

    /// GET a JSON body; `log_as` hides paths that carry data (emails).
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        url: String,
        log_as: Option<String>,
    ) -> Result<T, ConnectorError> {
        let mut spec = RequestSpec::get(url);
        if let Some(l) = log_as {
            spec = spec.log_as(l);
        }
        let resp = self.send(spec, false).await?;
        Self::decode("GET", resp.body())
    }

    /// GET where 404 means "no such record".
    pub(crate) async fn get_opt<T: DeserializeOwned>(
        &self,
        url: String,
        log_as: String,
    ) -> Result<Option<T>, ConnectorError> {
        let spec = RequestSpec::get(url).log_as(log_as).accept(StatusCode::NOT_FOUND);
        let resp = self.send(spec, false).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Self::decode("GET", resp.body()).map(Some)
    }

    /// POST a JSON body; 207 is handed back for per-item reading. Returns status and body bytes.
    pub(crate) async fn post<B: Serialize>(
        &self,
        url: String,
        body: &B,
        search: bool,
        idempotent: bool,
    ) -> Result<(StatusCode, bytes::Bytes), ConnectorError> {
        let spec = RequestSpec::post(url).json(body)?.idempotent(idempotent).accept(StatusCode::MULTI_STATUS);
        let resp = self.send(spec, search).await?;
        Ok((resp.status(), resp.into_body()))
    }
}
