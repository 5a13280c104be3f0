//! [`HttpClient`]: the one place that paces, sends, classifies and retries requests.
//!
//! Every connector sends through it. Retries happen here and nowhere else; all waiting goes
//! through the injected clock (so a `ManualClock` test runs instantly), jitter comes from a
//! seeded rng, and every error leaving it has passed the [`Redactor`].
//!
//! A stop (SIGINT/SIGTERM, handed in with [`HttpClient::stop_on`]) cuts every wait: a request
//! pacing on a rate limit or backing off before a retry returns [`stopped`] without being sent,
//! and a read in flight is abandoned. A write already sent is waited for, so its outcome is
//! known. A wait on a rate limit longer than [`LONG_WAIT`] is logged with the system, the
//! limit and how long.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::classify::{ResponseClassifier, classify};
use crate::StopToken;

use super::ratelimit::{BucketPolicy, RateLimiter, ServerQuota};
use super::redact::Redactor;
use super::shared::{SharedPacer, SharedQuota};
use super::{HttpTransport, Response, TransportFailure};
use crate::clock::SharedClock;
use crate::error::ConnectorError;

/// A wait on a rate limit longer than this is logged (at info) with the system and the limit.
pub const LONG_WAIT: Duration = Duration::from_secs(2);

/// The error of a request cut by a stop before it was sent: transient, so the engine leaves the
/// page for the next run (its checkpoint does not move).
pub fn stopped(what: &str) -> ConnectorError {
    ConnectorError::Transient {
        message: format!("{what}: not sent, the run was stopped on request; the next run reads it again"),
        retry_after: None,
    }
}

/// Whether `err` is the error of [`stopped`].
pub fn is_stopped(err: &ConnectorError) -> bool {
    matches!(err, ConnectorError::Transient { message, .. } if message.ends_with("the run was stopped on request; the next run reads it again"))
}

/// The header carrying the per-logical-request id (the same on every attempt).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Timeouts, retries and rate limits of one client.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    /// Bound on one attempt (connect + response).
    pub request_timeout: Duration,
    /// Attempts per logical request, the first included.
    pub max_attempts: u32,
    /// The first backoff ceiling; doubled each attempt (full jitter below it).
    pub base_backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited out here: the error goes to the caller
    /// (HubSpot's 477 can ask for a day).
    pub max_retry_after: Duration,
    /// The remote's rate-limit buckets.
    pub buckets: Vec<BucketPolicy>,
    /// Added to every bucket window to absorb latency jitter between us and the server.
    pub pacing_margin: Duration,
    /// Feed `X-RateLimit-*` style headers of every response back into the limiter.
    pub pace_from_headers: bool,
}

impl Default for ClientPolicy {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            buckets: Vec::new(),
            pacing_margin: Duration::from_millis(250),
            pace_from_headers: true,
        }
    }
}

/// One logical request.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// The method.
    pub method: Method,
    /// The full URL.
    pub url: String,
    /// Headers to send (auth included; never logged).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The rate-limit buckets one attempt consumes.
    pub buckets: Vec<String>,
    /// Safe to send twice. Defaults by method (GET, HEAD, PUT, DELETE, OPTIONS).
    pub idempotent: bool,
    /// Non-2xx statuses handed back as `Ok` for the connector to read (HubSpot 207,
    /// Salesforce 300, a 404 that means "missing" to `fetch`).
    pub accept: Vec<StatusCode>,
    /// What to log and put in messages instead of the URL, when its path carries data.
    pub log_as: Option<String>,
}

impl RequestSpec {
    /// A request with no headers, body or buckets.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let idempotent =
            matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS);
        Self {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            buckets: Vec::new(),
            idempotent,
            accept: Vec::new(),
            log_as: None,
        }
    }

    /// A GET.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// A POST (not idempotent unless said otherwise).
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::POST, url)
    }

    /// A PATCH (not idempotent unless said otherwise).
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::PATCH, url)
    }

    /// A DELETE.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::DELETE, url)
    }

    /// Consumes one slot of `bucket` per attempt.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.buckets.push(bucket.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, ConnectorError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ConnectorError::Protocol { message: format!("cannot encode request body: {e}") })?;
        self.body = Bytes::from(bytes);
        self.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self)
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Overrides whether the request is safe to send twice (a POST upsert by external id is).
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    /// Hands `status` back as `Ok` instead of classifying it as an error.
    pub fn accept(mut self, status: StatusCode) -> Self {
        self.accept.push(status);
        self
    }

    /// Logs and reports the request as `label` instead of its URL.
    pub fn log_as(mut self, label: impl Into<String>) -> Self {
        self.log_as = Some(label.into());
        self
    }

    fn build(&self, request_id: &str) -> Result<super::Request, ConnectorError> {
        let mut req = http::Request::builder()
            .method(self.method.clone())
            .uri(&self.url)
            .body(self.body.clone())
            .map_err(|e| ConnectorError::Protocol { message: format!("invalid request: {e}") })?;
        *req.headers_mut() = self.headers.clone();
        let id = HeaderValue::from_str(request_id).expect("hex request id is a valid header");
        req.headers_mut().insert(REQUEST_ID_HEADER, id);
        Ok(req)
    }
}

/// A snapshot of a client's counters, for metrics and `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// Attempts sent to the transport.
    pub requests: u64,
    /// 429 responses seen.
    pub throttled: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Logical requests that ended in an error.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
}

/// The shared HTTP client. See the module docs.
pub struct HttpClient {
    transport: Arc<dyn HttpTransport>,
    clock: SharedClock,
    rng: Mutex<ChaCha8Rng>,
    policy: ClientPolicy,
    limiter: RateLimiter,
    redactor: Redactor,
    classifier: Option<Arc<dyn ResponseClassifier>>,
    counters: Counters,
    /// Raised to stop: cuts waits and reads in flight (see the module docs).
    stop: Mutex<StopToken>,
    /// The account's quota shared with other processes, when there is one.
    shared: Option<SharedPacer>,
    /// The system's display name, for log lines.
    system: String,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("policy", &self.policy).field("stats", &self.stats()).finish()
    }
}

impl HttpClient {
    /// A client over `transport`, waiting on `clock`, with jitter and request ids from `seed`.
    pub fn new(
        transport: Arc<dyn HttpTransport>,
        clock: SharedClock,
        seed: u64,
        policy: ClientPolicy,
    ) -> Self {
        let limiter = RateLimiter::new(clock.clone(), &policy.buckets, policy.pacing_margin);
        Self {
            transport,
            clock,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            policy,
            limiter,
            redactor: Redactor::default(),
            classifier: None,
            counters: Counters::default(),
            stop: Mutex::new(StopToken::new()),
            shared: None,
            system: "the remote system".into(),
        }
    }

    /// Counts every send also in `quota` under `account` (see [`account_key`](super::account_key)),
    /// so the workers of one account share its quota (see [`shared`](super::shared)).
    pub fn with_shared_quota(mut self, quota: Arc<dyn SharedQuota>, account: String) -> Self {
        self.shared = Some(SharedPacer::new(quota, account));
        self
    }

    /// Names the system in log lines ("waiting 38 s for WhiteLabelCRO's read limit, 60/min").
    pub fn with_system(mut self, display_name: impl Into<String>) -> Self {
        self.system = display_name.into();
        self.limiter.set_system(self.system.clone());
        self
    }

    /// Stops on `token`: once it is cancelled, no request is sent any more and every wait
    /// (pacing, back-off, a read in flight) ends at once with [`stopped`].
    pub fn stop_on(&self, token: StopToken) {
        *self.stop.lock().expect("stop lock") = token;
    }

    /// Uses `redactor` (which the connector keeps a clone of, to add refreshed tokens).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Lets the connector refine the classification of error responses.
    pub fn with_classifier(mut self, classifier: Arc<dyn ResponseClassifier>) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// The redactor in use.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The counters now.
    pub fn stats(&self) -> ClientStats {
        let c = &self.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
        }
    }

    /// The limit `bucket` paces by now and its window: the configured one, or the server's once
    /// its headers stated one.
    pub fn bucket_limit(&self, bucket: &str) -> Option<(u32, Duration)> {
        self.limiter.limit(bucket)
    }

    /// Feeds rate-limit headers into the limiter for `bucket` (or the bucket the headers name),
    /// so pacing follows the server's own numbers. Done automatically for every response when
    /// [`ClientPolicy::pace_from_headers`] is set.
    pub fn observe_headers(&self, bucket: &str, headers: &HeaderMap) {
        if let Some((named, quota)) = ServerQuota::from_headers(headers, self.clock.now()) {
            self.limiter.observe(named.as_deref().unwrap_or(bucket), quota);
        }
    }

    /// Sends one logical request: paced, retried when safe, classified, redacted.
    pub async fn send(&self, spec: RequestSpec) -> Result<Response, ConnectorError> {
        let request_id = self.next_request_id();
        let shown = self.redactor.redact(&spec.log_as.clone().unwrap_or_else(|| strip_query(&spec.url)));
        let what = describe(&spec.method, &shown);
        let stop = self.stop.lock().expect("stop lock").clone();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failure = match self.attempt(&spec, &request_id, attempt, &what, &stop).await {
                Ok(resp) => return Ok(resp),
                Err(f) => f,
            };
            if stop.is_cancelled() && failure.not_sent {
                return Err(stopped(&what));
            }
            let err = self.redactor.redact_error(failure.error);
            let retryable = err.is_retryable() && (spec.idempotent || failure.not_sent);
            let wait = self.backoff(attempt, &err);
            if !retryable || attempt >= self.policy.max_attempts.max(1) || wait > self.policy.max_retry_after
            {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(request_id = %request_id, method = %spec.method, url = %shown, attempt,
                    class = ?err.class(), "http request failed");
                return Err(err);
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            if err.class() == crate::error::ErrorClass::Throttled
                && let Some(bucket) = spec.buckets.first()
            {
                self.limiter.log_wait(bucket, wait, "the server answered 429");
            }
            tokio::select! {
                () = self.clock.sleep(wait) => {}
                () = stop.cancelled() => return Err(stopped(&what)),
            }
        }
    }

    /// Sends and decodes a JSON answer.
    pub async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        spec: RequestSpec,
    ) -> Result<T, ConnectorError> {
        let what = describe(&spec.method, &spec.log_as.clone().unwrap_or_else(|| strip_query(&spec.url)));
        let resp = self.send(spec).await?;
        serde_json::from_slice(resp.body()).map_err(|e| {
            // serde's message names the position and expected type, never the value.
            self.redactor.redact_error(ConnectorError::Protocol { message: format!("{what}: {e}") })
        })
    }

    async fn attempt(
        &self,
        spec: &RequestSpec,
        request_id: &str,
        attempt: u32,
        what: &str,
        stop: &StopToken,
    ) -> Result<Response, TransportFailure> {
        let protocol = |message: String| TransportFailure {
            error: ConnectorError::Protocol { message },
            not_sent: true,
        };
        let cut = || TransportFailure { error: stopped(what), not_sent: true };
        if stop.is_cancelled() {
            return Err(cut());
        }
        // Dropping a pacing wait takes no slot: a slot is recorded only when it is admitted.
        tokio::select! {
            acquired = self.limiter.acquire(&spec.buckets) => {
                acquired.map_err(|e| protocol(format!("{what}: {e}")))?;
            }
            () = stop.cancelled() => return Err(cut()),
        }
        if let Some(shared) = &self.shared {
            tokio::select! {
                () = shared.admit(&self.limiter, &spec.buckets, &self.clock, &self.system) => {}
                () = stop.cancelled() => return Err(cut()),
            }
        }
        let req = spec.build(request_id).map_err(|e| protocol(format!("{what}: {e}")))?;
        let started = self.clock.now();
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        // A real-time bound on I/O, not a wait: it never fires for in-process transports, and
        // a hung socket must not hang a run whatever clock the caller injected.
        let sending = tokio::time::timeout(self.policy.request_timeout, self.transport.send_checked(req));
        let sent = if is_read(&spec.method) {
            // A read in flight is abandoned on a stop: it changes nothing remotely.
            tokio::select! {
                sent = sending => sent,
                () = stop.cancelled() => return Err(cut()),
            }
        } else {
            // A write already sent is waited for, so its outcome is known and settled.
            sending.await
        };
        let resp = match sent {
            Err(_) => {
                let message = format!("{what}: no response within {:?}", self.policy.request_timeout);
                return Err(TransportFailure {
                    error: ConnectorError::Transient { message, retry_after: None },
                    not_sent: false,
                });
            }
            Ok(Err(f)) => return Err(f),
            Ok(Ok(resp)) => resp,
        };
        let now = self.clock.now();
        let status = resp.status();
        let elapsed_ms = (now - started).num_milliseconds();
        tracing::debug!(request_id = %request_id, what, status = status.as_u16(), attempt, elapsed_ms,
            "http request");
        if self.policy.pace_from_headers
            && let Some(first) = spec.buckets.first()
        {
            self.observe_headers(first, resp.headers());
        }
        if let Some(error) = redirect_error(status, resp.headers(), what) {
            // Never followed and never retried: the next attempt would be redirected too.
            return Err(TransportFailure { error, not_sent: false });
        }
        if status.is_success() || spec.accept.contains(&status) {
            return Ok(resp);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
        }
        let default = classify(status, resp.headers(), resp.body(), now, what);
        let error = self
            .classifier
            .as_ref()
            .and_then(|c| c.refine(status, resp.headers(), resp.body(), &default))
            .unwrap_or(default);
        if let Some(ra) = error.retry_after().filter(|d| *d <= self.policy.max_retry_after)
            && let Ok(ra) = chrono::Duration::from_std(ra)
        {
            // Nothing else goes to these buckets before the server's deadline either. A longer
            // deadline (HubSpot's 477 can ask for a day) is the caller's to handle, not a
            // reason to park every request of the run.
            self.limiter.block_until(&spec.buckets, now + ra);
        }
        // 429 and 503 say the server did not process the request.
        let not_sent = matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE);
        Err(TransportFailure { error, not_sent })
    }

    /// The wait before attempt `attempt + 1`: the server's `Retry-After` when it gave one (so a
    /// retry never goes before its deadline), else full jitter below an exponential ceiling.
    fn backoff(&self, attempt: u32, err: &ConnectorError) -> Duration {
        if let Some(ra) = err.retry_after() {
            return ra;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let ceiling = self.policy.base_backoff.saturating_mul(factor).min(self.policy.max_backoff);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let pick = self.rng.lock().expect("rng lock").random_range(0..=nanos);
        Duration::from_nanos(pick)
    }

    fn next_request_id(&self) -> String {
        let v: u128 = self.rng.lock().expect("rng lock").random();
        let h = format!("{v:032x}");
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

/// A redirect answer (301, 302, 303, 307, 308) as a misconfiguration naming the `Location` host
/// (never its path or query, which may carry data). API calls follow no redirect: the request's
/// credentials and body must not go to a host the configuration does not name.
fn redirect_error(status: StatusCode, headers: &HeaderMap, what: &str) -> Option<ConnectorError> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok());
    let target = match location.map(|l| l.parse::<http::Uri>()) {
        Some(Ok(uri)) => match uri.host() {
            Some(host) => format!("host `{host}`"),
            None => "another path on the same host".to_string(),
        },
        Some(Err(_)) => "an unreadable Location".to_string(),
        None => "no Location".to_string(),
    };
    let message = format!(
        "{what}: HTTP {} redirect to {target}; API calls follow no redirect, so point the system's \
         URL setting at the address that answers directly",
        status.as_u16()
    );
    Some(ConnectorError::Misconfigured { message })
}

/// GET and HEAD change nothing remotely, so one in flight may be abandoned.
fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// The URL without its query (which may carry tokens or emails).
fn strip_query(url: &str) -> String {
    url.split_once('?').map_or(url, |(base, _)| base).to_string()
}

/// `METHOD target` for messages; a `log_as` label that already starts with the method is kept.
fn describe(method: &impl std::fmt::Display, target: &str) -> String {
    let method = method.to_string();
    match target.strip_prefix(method.as_str()) {
        Some(rest) if rest.starts_with(' ') => target.to_string(),
        _ => format!("{method} {target}"),
    }
}

#[cfg(test)]
mod describe_tests {
    use super::describe;

    #[test]
    fn the_method_is_named_once() {
        assert_eq!(describe(&"GET", "/api/v1/events"), "GET /api/v1/events");
        assert_eq!(describe(&"GET", "GET /api/v1/events"), "GET /api/v1/events");
        assert_eq!(describe(&"POST", "POSTAL /x"), "POST POSTAL /x");
    }
}
