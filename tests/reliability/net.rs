//! The in-process network: an [`HttpTransport`] that routes each request by its base URL to a
//! simulator's axum `Router` with `tower::ServiceExt::oneshot` (no sockets), injects the HTTP
//! faults of the [`FaultPlan`] in front of the simulators (so they stay honest), keeps a wire log
//! (ground truth for politeness and termination) and a trace hash (for the determinism check),
//! and calls the [`CrashPoints`] hook after every remote call returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, StatusCode};
use chrono::{DateTime, Utc};
use connector_api::ConnectorError;
use connector_api::http::{HttpTransport, Request, Response, TransportFailure};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::world::WorldClock;

/// Per-call fault probabilities (scenarios §H.3, HTTP part). Each call rolls once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// 429 with a `Retry-After` (seconds or an HTTP date).
    pub p429_retry_after: f64,
    /// 429 without `Retry-After`.
    pub p429_bare: f64,
    /// 503 (not applied).
    pub p503: f64,
    /// 500 (not applied, but the client cannot know).
    pub p500: f64,
    /// A timeout before the request reached the server.
    pub p_timeout_before: f64,
    /// A timeout after the server applied the request (the response is lost).
    pub p_timeout_after: f64,
    /// Added latency on this share of calls (up to `max_latency_ms`).
    pub p_latency: f64,
    /// Latency bound.
    pub max_latency_ms: u64,
    /// Largest `Retry-After` sent.
    pub max_retry_after_secs: u64,
    /// Systems the plan applies to (`wlcro`, `hubspot`, `salesforce`); empty means all.
    pub systems: Vec<&'static str>,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// A plan drawn from `rng`: every kind of fault at a low, seed-dependent rate.
    pub fn chaos(rng: &mut ChaCha8Rng) -> Self {
        Self {
            p429_retry_after: rng.random_range(0.0..0.06),
            p429_bare: rng.random_range(0.0..0.03),
            p503: rng.random_range(0.0..0.04),
            p500: rng.random_range(0.0..0.02),
            p_timeout_before: rng.random_range(0.0..0.02),
            p_timeout_after: rng.random_range(0.0..0.03),
            p_latency: rng.random_range(0.0..0.3),
            max_latency_ms: 2_000,
            max_retry_after_secs: 20,
            systems: Vec::new(),
        }
    }

    fn applies_to(&self, system: &str) -> bool {
        self.systems.is_empty() || self.systems.contains(&system)
    }
}

/// One fault kind, as counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    TooManyWithRetryAfter,
    TooManyBare,
    Unavailable,
    ServerError,
    TimeoutBefore,
    TimeoutAfter,
    Latency,
    Crash,
}

/// One request as it crossed the wire.
#[derive(Debug, Clone)]
pub struct WireEntry {
    /// Order of sending.
    pub seq: u64,
    /// The harness phase when it was sent (e.g. `chaos`, `settle-2`).
    pub phase: String,
    /// World time when it was sent.
    pub at: DateTime<Utc>,
    /// `wlcro`, `hubspot` or `salesforce`.
    pub system: &'static str,
    /// Method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// The client's per-logical-request id (the same on every attempt).
    pub request_id: String,
    /// Whether the simulator received it.
    pub forwarded: bool,
    /// The status the client saw (`None`: a transport error).
    pub status: Option<u16>,
    /// The deadline a `Retry-After` set, in world time.
    pub retry_until: Option<DateTime<Utc>>,
    /// The injected fault, if any.
    pub fault: Option<Fault>,
    /// Whether it is a write (changes remote state when applied).
    pub write: bool,
    /// The request and response bodies.
    pub bodies: (String, String),
}

/// Crash points (scenarios §H.1): every remote call that returns and every store commit is one;
/// when the `k`-th is reached the "process" dies — from then on nothing reaches the network or
/// the store until the harness restarts the engine.
#[derive(Debug, Default)]
pub struct CrashPoints {
    count: AtomicU64,
    crash_at: AtomicU64,
    crashed: AtomicBool,
}

impl CrashPoints {
    /// Arms a crash at crash point number `k` (counted from now); `None` disarms.
    pub fn arm(&self, k: Option<u64>) {
        let now = self.count.load(Ordering::SeqCst);
        self.crash_at.store(k.map_or(0, |k| now + k.max(1)), Ordering::SeqCst);
    }

    /// Passes one crash point. True when the process dies here.
    pub fn pass(&self) -> bool {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.crash_at.load(Ordering::SeqCst);
        if at != 0 && n == at {
            self.crashed.store(true, Ordering::SeqCst);
            self.crash_at.store(0, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Whether the process is dead.
    pub fn is_down(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// The harness restarted the process.
    pub fn restart(&self) {
        self.crashed.store(false, Ordering::SeqCst);
    }

    /// Crash points passed so far.
    pub fn passed(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

/// A scenario's hook on forwarded calls: sees each request's system, method and path and may
/// change the simulator's answer (bad input, schema drift) or the world between two page
/// requests (mutations during a scan).
pub type Hook = Box<dyn FnMut(&'static str, &Method, &str, &mut Response) + Send>;

struct Route {
    prefix: String,
    system: &'static str,
    app: Router,
}

#[derive(Default)]
struct State {
    plan: FaultPlan,
    rng: Option<ChaCha8Rng>,
    wire: Vec<WireEntry>,
    faults: BTreeMap<Fault, u64>,
    phase: String,
    trace: Sha256,
}

/// The in-process network. See the module docs.
pub struct SimNet {
    routes: Vec<Route>,
    clock: WorldClock,
    /// The crash-point hook shared with the store wrapper.
    pub crash: Arc<CrashPoints>,
    state: Mutex<State>,
    seq: AtomicU64,
    hook: Mutex<Option<Hook>>,
}

/// Simulated per-attempt timeout: the world time a lost request costs the client.
pub const TIMEOUT: Duration = Duration::from_secs(30);

impl SimNet {
    /// A network over `routes` (base URL prefix, system name, app), faults seeded by `seed`.
    pub fn new(
        routes: Vec<(String, &'static str, Router)>,
        clock: WorldClock,
        crash: Arc<CrashPoints>,
        seed: u64,
    ) -> Self {
        let state = State {
            rng: Some(ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17)),
            phase: "setup".into(),
            ..State::default()
        };
        Self {
            routes: routes.into_iter().map(|(prefix, system, app)| Route { prefix, system, app }).collect(),
            clock,
            crash,
            state: Mutex::new(state),
            seq: AtomicU64::new(0),
            hook: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("net lock")
    }

    /// Replaces the fault plan (`FaultPlan::none()` turns faults off).
    pub fn set_plan(&self, plan: FaultPlan) {
        self.lock().plan = plan;
    }

    /// Installs (or removes) the scenario's hook.
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.hook.lock().expect("hook lock") = hook;
    }

    /// Labels the requests sent from now on.
    pub fn set_phase(&self, phase: impl Into<String>) {
        self.lock().phase = phase.into();
    }

    /// Everything sent so far.
    pub fn wire(&self) -> Vec<WireEntry> {
        self.lock().wire.clone()
    }

    /// Injected faults so far, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        self.lock().faults.clone()
    }

    /// Counts a fault the harness injected elsewhere (crashes).
    pub fn count_fault(&self, f: Fault) {
        *self.lock().faults.entry(f).or_default() += 1;
    }

    /// The hash of every request and response so far.
    pub fn trace_hash(&self) -> String {
        hex::encode(self.lock().trace.clone().finalize())
    }

    fn route(&self, url: &str) -> Option<&Route> {
        self.routes.iter().find(|r| url.starts_with(&r.prefix))
    }

    fn roll(&self, system: &str) -> (Option<Fault>, Duration, u64, bool) {
        let mut st = self.lock();
        let plan = st.plan.clone();
        let rng = st.rng.as_mut().expect("rng");
        if !plan.applies_to(system) || plan == FaultPlan::none() {
            return (None, Duration::ZERO, 0, false);
        }
        let latency = if rng.random_bool(plan.p_latency.clamp(0.0, 1.0)) {
            Duration::from_millis(rng.random_range(1..=plan.max_latency_ms.max(1)))
        } else {
            Duration::ZERO
        };
        let ra = rng.random_range(1..=plan.max_retry_after_secs.max(1));
        let as_date = rng.random_bool(0.5);
        let roll: f64 = rng.random();
        let mut edge = 0.0;
        let mut fault = None;
        for (p, f) in [
            (plan.p429_retry_after, Fault::TooManyWithRetryAfter),
            (plan.p429_bare, Fault::TooManyBare),
            (plan.p503, Fault::Unavailable),
            (plan.p500, Fault::ServerError),
            (plan.p_timeout_before, Fault::TimeoutBefore),
            (plan.p_timeout_after, Fault::TimeoutAfter),
        ] {
            edge += p;
            if fault.is_none() && roll < edge {
                fault = Some(f);
            }
        }
        // Salesforce's REST API never answers 429 (spec §8): its throttling is a 403 the
        // connector treats as a quota; keep the fault honest.
        if system == "salesforce" && matches!(fault, Some(Fault::TooManyWithRetryAfter | Fault::TooManyBare))
        {
            fault = Some(Fault::Unavailable);
        }
        (fault, latency, ra, as_date)
    }

    fn log(&self, mut e: WireEntry, req_body: &[u8], resp: Option<&Response>) {
        let mut st = self.lock();
        e.phase = st.phase.clone();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        e.bodies = (text(req_body), resp.map(|r| text(r.body())).unwrap_or_default());
        let t = &mut st.trace;
        t.update(e.system.as_bytes());
        t.update(e.method.as_bytes());
        t.update(e.path.as_bytes());
        t.update(req_body);
        t.update(format!("{:?}{:?}", e.status, e.fault).as_bytes());
        if let Some(r) = resp {
            t.update(r.body());
        }
        if let Some(f) = e.fault {
            *st.faults.entry(f).or_default() += 1;
        }
        st.wire.push(e);
    }
}

/// Whether a request changes remote state when applied.
pub fn is_write(system: &str, method: &Method, path: &str) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return false;
    }
    match system {
        "hubspot" => !(path.ends_with("/search") || path.ends_with("/batch/read")),
        "salesforce" => !path.starts_with("/services/oauth2/"),
        _ => true,
    }
}

fn failure(message: String, not_sent: bool) -> TransportFailure {
    TransportFailure { error: ConnectorError::Transient { message, retry_after: None }, not_sent }
}

fn synthetic(status: StatusCode, retry_after: Option<String>) -> Response {
    let body = format!(
        r#"{{"status":"error","message":"injected by the simulation harness","code":{}}}"#,
        status.as_u16()
    );
    let mut resp = http_response(status, Bytes::from(body));
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(ra) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        resp.headers_mut().insert("retry-after", ra);
    }
    resp
}

fn http_response(status: StatusCode, body: Bytes) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp
}

/// `Retry-After` as the header says it, and the deadline in world time.
/// A date is in the server's clock; `skew` (server minus world) maps it back to world time.
fn retry_after_value(resp: &Response, now: DateTime<Utc>, skew: chrono::Duration) -> Option<DateTime<Utc>> {
    let raw = resp.headers().get("retry-after")?.to_str().ok()?.trim().to_string();
    if let Ok(secs) = raw.parse::<i64>() {
        return Some(now + chrono::Duration::seconds(secs));
    }
    DateTime::parse_from_rfc2822(&raw.replace("GMT", "+0000")).ok().map(|d| d.to_utc() - skew)
}

#[async_trait]
impl HttpTransport for SimNet {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        self.send_checked(req).await.map_err(|f| f.error)
    }

    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        let url = req.uri().to_string();
        if self.crash.is_down() {
            return Err(failure("harness: the process is down".into(), true));
        }
        let Some(route) = self.route(&url) else {
            return Err(failure(
                format!("harness: no simulator at {}", connector_api::http::redact_query(&url)),
                true,
            ));
        };
        let system = route.system;
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let request_id =
            req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = req.body().clone();
        let (fault, latency, ra, as_date) = self.roll(system);
        if !latency.is_zero() {
            self.clock.advance(latency);
            self.count_fault(Fault::Latency);
        }
        let mut entry = WireEntry {
            seq: self.seq.fetch_add(1, Ordering::SeqCst),
            phase: String::new(),
            at: self.clock.master(),
            system,
            method: method.to_string(),
            write: is_write(system, &method, &path),
            path,
            request_id,
            forwarded: false,
            status: None,
            retry_until: None,
            fault,
            bodies: Default::default(),
        };
        let injected = match fault {
            Some(Fault::TooManyWithRetryAfter) => {
                let header = if as_date {
                    // An HTTP date in the server's own clock, rounded up so the deadline is
                    // never earlier than `ra` seconds from now.
                    let at = self.clock.sim_now(system) + chrono::Duration::seconds(ra as i64 + 1);
                    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
                } else {
                    ra.to_string()
                };
                Some(synthetic(StatusCode::TOO_MANY_REQUESTS, Some(header)))
            }
            Some(Fault::TooManyBare) => Some(synthetic(StatusCode::TOO_MANY_REQUESTS, None)),
            Some(Fault::Unavailable) => Some(synthetic(StatusCode::SERVICE_UNAVAILABLE, None)),
            Some(Fault::ServerError) => Some(synthetic(StatusCode::INTERNAL_SERVER_ERROR, None)),
            _ => None,
        };
        if let Some(resp) = injected {
            entry.status = Some(resp.status().as_u16());
            entry.retry_until = retry_after_value(&resp, entry.at, self.clock.sim_offset(system));
            self.log(entry, &body, Some(&resp));
            return self.after_call(Ok(resp));
        }
        if fault == Some(Fault::TimeoutBefore) {
            self.clock.advance(TIMEOUT);
            self.log(entry, &body, None);
            return self.after_call(Err(failure("harness: timed out (before the server)".into(), false)));
        }
        let app = route.app.clone();
        let request = req.map(Body::from);
        let resp = match app.oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, rbody) = resp.into_parts();
        let bytes = axum::body::to_bytes(rbody, usize::MAX)
            .await
            .map_err(|e| failure(format!("harness: reading the simulator's body: {e}"), false))?;
        let mut resp = Response::from_parts(parts, bytes);
        if let Some(hook) = self.hook.lock().expect("hook lock").as_mut() {
            hook(system, &method, &entry.path, &mut resp);
        }
        entry.forwarded = true;
        if fault == Some(Fault::TimeoutAfter) {
            self.clock.advance(TIMEOUT);
            self.log(entry, &body, Some(&resp));
            return self.after_call(Err(failure("harness: timed out (response lost)".into(), false)));
        }
        entry.status = Some(resp.status().as_u16());
        entry.retry_until = retry_after_value(&resp, entry.at, self.clock.sim_offset(system));
        self.log(entry, &body, Some(&resp));
        self.after_call(Ok(resp))
    }
}

impl SimNet {
    /// Crash point: after a remote call returns.
    fn after_call(&self, result: Result<Response, TransportFailure>) -> Result<Response, TransportFailure> {
        if self.crash.pass() {
            self.count_fault(Fault::Crash);
            return Err(failure("harness: the process crashed".into(), false));
        }
        result
    }
}
