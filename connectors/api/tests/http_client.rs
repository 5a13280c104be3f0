//! Behaviour of the shared HTTP client against a scripted in-process transport and a real axum
//! server on loopback, all on a `ManualClock` (no wall-clock waits).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use connector_api::http::{
    BucketPolicy, ClientPolicy, HttpClient, HttpTransport, Redactor, Request, RequestSpec, Response,
    ResponseClassifier, TransportFailure,
};
use connector_api::{Clock, ConnectorError, ErrorClass, ManualClock};
use http::{HeaderMap, StatusCode};

type Answer = Result<Response, TransportFailure>;

/// Answers from a script, recording when (on the manual clock) each request arrived.
struct Scripted {
    clock: ManualClock,
    script: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<(DateTime<Utc>, Request)>>,
}

impl Scripted {
    fn new(clock: &ManualClock, script: Vec<Answer>) -> Arc<Self> {
        Arc::new(Self { clock: clock.clone(), script: Mutex::new(script.into()), seen: Mutex::default() })
    }
    fn times(&self) -> Vec<DateTime<Utc>> {
        self.seen.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

#[async_trait]
impl HttpTransport for Scripted {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        self.send_checked(req).await.map_err(|f| f.error)
    }
    async fn send_checked(&self, req: Request) -> Answer {
        self.seen.lock().unwrap().push((self.clock.now(), req));
        self.script.lock().unwrap().pop_front().unwrap_or_else(|| Ok(resp(200, &[], "{}")))
    }
}

fn resp(status: u16, headers: &[(&'static str, &str)], body: &str) -> Response {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_string())).unwrap()
}

fn policy() -> ClientPolicy {
    ClientPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(5),
        pacing_margin: Duration::ZERO,
        buckets: vec![BucketPolicy::new("read", 10, Duration::from_secs(60))],
        ..ClientPolicy::default()
    }
}

fn client(clock: &ManualClock, t: &Arc<Scripted>) -> HttpClient {
    HttpClient::new(t.clone(), clock.shared(), 7, policy())
}

#[tokio::test]
async fn retry_after_seconds_is_honoured_exactly_once() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![Ok(resp(429, &[("retry-after", "5")], "")), Ok(resp(200, &[], "ok"))]);
    let c = client(&clock, &t);
    let r = c.send(RequestSpec::get("http://h/x?token=abc").bucket("read")).await.unwrap();
    assert_eq!(r.body().as_ref(), b"ok");
    let times = t.times();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= chrono::Duration::seconds(5), "retried after {}", times[1] - times[0]);
    let s = c.stats();
    assert_eq!((s.requests, s.throttled, s.retries, s.failures), (2, 1, 1, 0));
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let clock = ManualClock::at_epoch(); // 2026-01-01T00:00:00Z
    let date = "Thu, 01 Jan 2026 00:00:20 GMT";
    let t = Scripted::new(&clock, vec![Ok(resp(503, &[("retry-after", date)], ""))]);
    let c = client(&clock, &t);
    c.send(RequestSpec::get("http://h/x").bucket("read")).await.unwrap();
    let times = t.times();
    assert_eq!(times.len(), 2);
    assert!(times[1] >= DateTime::parse_from_rfc3339("2026-01-01T00:00:20Z").unwrap().to_utc());
}

#[tokio::test]
async fn a_throttle_deadline_holds_back_other_requests_on_the_bucket() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![Ok(resp(429, &[("retry-after", "30")], ""))]);
    let c = HttpClient::new(t.clone(), clock.shared(), 1, ClientPolicy { max_attempts: 1, ..policy() });
    let start = clock.now();
    assert_eq!(
        c.send(RequestSpec::get("http://h/a").bucket("read")).await.unwrap_err().class(),
        ErrorClass::Throttled
    );
    c.send(RequestSpec::get("http://h/b").bucket("read")).await.unwrap();
    assert!(t.times()[1] - start >= chrono::Duration::seconds(30));
}

#[tokio::test]
async fn two_503_then_ok_even_for_a_post() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(
        &clock,
        vec![Ok(resp(503, &[], "")), Ok(resp(503, &[], "")), Ok(resp(201, &[], "made"))],
    );
    let c = client(&clock, &t);
    let r = c.send(RequestSpec::post("http://h/x").bucket("read")).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(t.count(), 3);
    assert_eq!(c.stats().retries, 2);
    // Backoff happened on the clock, below the doubling ceilings (0.2 s + 0.4 s).
    let times = t.times();
    assert!(times[2] - times[0] <= chrono::Duration::milliseconds(600));
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![Ok(resp(401, &[], r#"{"error":{"code":"unauthorized"}}"#))]);
    let c = client(&clock, &t);
    let e = c.send(RequestSpec::get("http://h/x").bucket("read")).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth);
    assert_eq!(t.count(), 1);
    assert_eq!(c.stats().failures, 1);
}

#[tokio::test]
async fn exhausted_attempts_return_the_last_error() {
    let clock = ManualClock::at_epoch();
    let script = [500, 502, 503, 504].iter().map(|s| Ok(resp(*s, &[], ""))).collect();
    let t = Scripted::new(&clock, script);
    let c = client(&clock, &t);
    let e = c.send(RequestSpec::get("http://h/x").bucket("read")).await.unwrap_err();
    assert_eq!(t.count(), 4);
    assert!(matches!(&e, ConnectorError::Transient { message, .. } if message.contains("504")), "{e:?}");
}

#[tokio::test]
async fn non_idempotent_requests_retry_only_when_not_processed() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![Ok(resp(500, &[], ""))]);
    let c = client(&clock, &t);
    assert!(c.send(RequestSpec::post("http://h/x").bucket("read")).await.is_err());
    assert_eq!(t.count(), 1, "a 500 may have written: no retry for a POST");

    let maybe_sent = TransportFailure {
        error: ConnectorError::Transient { message: "reset".into(), retry_after: None },
        not_sent: false,
    };
    let refused = TransportFailure { not_sent: true, ..maybe_sent.clone() };
    let t = Scripted::new(&clock, vec![Err(refused), Err(maybe_sent)]);
    let c = client(&clock, &t);
    assert!(c.send(RequestSpec::post("http://h/x").bucket("read")).await.is_err());
    assert_eq!(t.count(), 2, "refused is retried, a reset after sending is not");
}

#[tokio::test]
async fn limiter_keeps_the_bucket_within_its_window() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![]);
    let pol = ClientPolicy { buckets: vec![BucketPolicy::new("w", 4, Duration::from_secs(10))], ..policy() };
    let c = Arc::new(HttpClient::new(t.clone(), clock.shared(), 3, pol));
    for _ in 0..13 {
        c.send(RequestSpec::get("http://h/x").bucket("w")).await.unwrap();
    }
    let times = t.times();
    for (i, start) in times.iter().enumerate() {
        let n = times[i..].iter().filter(|u| **u - *start < chrono::Duration::seconds(10)).count();
        assert!(n <= 4, "{n} requests in the 10 s from request {i}");
    }
    assert_eq!(times[12] - times[0], chrono::Duration::seconds(30), "paced, not over-throttled");
}

#[tokio::test]
async fn server_headers_pace_the_bucket() {
    let clock = ManualClock::at_epoch();
    let reset = (clock.now().timestamp() + 40).to_string();
    let h = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset.as_str())];
    let t = Scripted::new(&clock, vec![Ok(resp(200, &h, ""))]);
    let c = client(&clock, &t);
    c.send(RequestSpec::get("http://h/1").bucket("read")).await.unwrap();
    c.send(RequestSpec::get("http://h/2").bucket("read")).await.unwrap();
    assert_eq!(t.times()[1] - t.times()[0], chrono::Duration::seconds(40));
}

#[tokio::test]
async fn secrets_are_scrubbed_from_errors() {
    let secret = "sk_live_9f8e7d6c5b4a";
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let clock = ManualClock::at_epoch();
    let failure = TransportFailure {
        error: ConnectorError::Transient {
            message: format!("proxy said Bearer {secret} / Basic {b64}"),
            retry_after: None,
        },
        not_sent: false,
    };
    let t = Scripted::new(&clock, vec![Err(failure)]);
    let c = HttpClient::new(t.clone(), clock.shared(), 1, ClientPolicy { max_attempts: 1, ..policy() })
        .with_redactor(Redactor::new([secret]));
    let e = c.send(RequestSpec::get(format!("http://h/hooks/{secret}")).bucket("read")).await.unwrap_err();
    let text = e.to_string();
    assert!(!text.contains(secret) && !text.contains(&b64), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
}

#[tokio::test]
async fn request_id_is_stable_across_retries_and_fresh_per_request() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![Ok(resp(503, &[], ""))]);
    let c = client(&clock, &t);
    c.send(RequestSpec::get("http://h/x").bucket("read")).await.unwrap();
    c.send(RequestSpec::get("http://h/y").bucket("read")).await.unwrap();
    let seen = t.seen.lock().unwrap();
    let ids: Vec<_> =
        seen.iter().map(|(_, r)| r.headers()["x-request-id"].to_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_eq!(ids[0].len(), 36);
}

struct LockedIsConflict;
impl ResponseClassifier for LockedIsConflict {
    fn refine(
        &self,
        s: StatusCode,
        _: &HeaderMap,
        body: &[u8],
        _: &ConnectorError,
    ) -> Option<ConnectorError> {
        (s == StatusCode::BAD_REQUEST && body == b"managed")
            .then(|| ConnectorError::Conflict { message: "managed".into() })
    }
}

#[tokio::test]
async fn connectors_can_refine_classification_and_accept_statuses() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(
        &clock,
        vec![Ok(resp(400, &[], "managed")), Ok(resp(207, &[], "multi")), Ok(resp(404, &[], ""))],
    );
    let c = client(&clock, &t).with_classifier(Arc::new(LockedIsConflict));
    let e = c.send(RequestSpec::post("http://h/x").bucket("read")).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(c.send(RequestSpec::post("http://h/x").bucket("read")).await.unwrap().status().as_u16(), 207);
    let r =
        c.send(RequestSpec::get("http://h/x").bucket("read").accept(StatusCode::NOT_FOUND)).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_bucket_fails_without_sending() {
    let clock = ManualClock::at_epoch();
    let t = Scripted::new(&clock, vec![]);
    let e = client(&clock, &t).send(RequestSpec::get("http://h/x").bucket("typo")).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Protocol);
    assert_eq!(t.count(), 0);
}

mod over_loopback {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::StatusCode as S;
    use axum::routing::get;
    use connector_api::http::ReqwestTransport;

    use super::*;

    #[tokio::test]
    async fn real_server_429_then_200() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/x",
            get(move || {
                let n = h.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        (S::TOO_MANY_REQUESTS, [("retry-after", "3")], "slow down")
                    } else {
                        (S::OK, [("x-a", "b")], "fine")
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let clock = ManualClock::at_epoch();
        let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(5)).unwrap());
        let c = HttpClient::new(transport, clock.shared(), 9, policy());
        let start = clock.now();
        let r = c.send(RequestSpec::get(format!("http://{addr}/x")).bucket("read")).await.unwrap();
        assert_eq!(r.body().as_ref(), b"fine");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(clock.now() - start >= chrono::Duration::seconds(3));
    }

    #[tokio::test]
    async fn connection_refused_post_is_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let clock = ManualClock::at_epoch();
        let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(5)).unwrap());
        let c = HttpClient::new(transport, clock.shared(), 9, policy());
        let e = c.send(RequestSpec::post(format!("http://{addr}/x")).bucket("read")).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(c.stats().requests, 4, "refused connections are provably unsent, so retried");
    }
}

#[tokio::test]
async fn redirects_are_misconfigurations_naming_the_location_host_and_never_retried() {
    let clock = ManualClock::at_epoch();
    for status in [301, 302, 303, 307, 308] {
        let t =
            Scripted::new(&clock, vec![Ok(resp(status, &[("location", "http://127.0.0.2:9/x?key=1")], ""))]);
        let spec = RequestSpec::post("http://127.0.0.1:1/api")
            .idempotent(true)
            .accept(StatusCode::from_u16(status).unwrap());
        let e = client(&clock, &t).send(spec).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Misconfigured, "{status}: {e}");
        let text = e.to_string();
        assert!(text.contains("host `127.0.0.2`") && !text.contains("key=1"), "{status}: {text}");
        assert_eq!(t.count(), 1, "{status}: not retried, even when the status is accepted");
    }
    // Salesforce's 300 (several records match an external id) is not a redirect.
    let t = Scripted::new(&clock, vec![Ok(resp(300, &[], "[]"))]);
    let e = client(&clock, &t).send(RequestSpec::get("http://127.0.0.1:1/x")).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict, "{e}");
}
