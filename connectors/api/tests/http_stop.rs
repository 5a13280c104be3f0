//! A stop handed to the shared HTTP client cuts its waits (rate-limit pacing, `Retry-After`,
//! back-off, a read in flight) before anything more is sent, while a write already sent is waited
//! for; and a long wait on a rate limit is logged with the system, the bucket and the limit.
//! Time is injected: a clock whose sleeps never end on their own (so only the stop can end them),
//! or a `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use connector_api::http::{
    BucketPolicy, ClientPolicy, HttpClient, HttpTransport, Request, RequestSpec, Response, TransportFailure,
    is_stopped,
};
use connector_api::{Clock, ConnectorError, ManualClock, SharedClock, StopToken};
use tokio::sync::Notify;

/// A clock standing still whose sleeps never end by themselves: a wait in the client ends only
/// when the stop cuts it. Records each requested sleep.
#[derive(Debug, Default)]
struct Stalled {
    slept: Mutex<Vec<Duration>>,
    asleep: Notify,
}

#[async_trait]
impl Clock for Stalled {
    fn now(&self) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("valid").to_utc()
    }
    async fn sleep(&self, d: Duration) {
        self.slept.lock().unwrap().push(d);
        self.asleep.notify_one();
        std::future::pending::<()>().await;
    }
}

/// Answers every request with `status` (and `Retry-After: 90` on a 429), after `gate` is
/// released when it is set; counts what it was sent.
struct Remote {
    status: u16,
    gate: Option<Arc<Notify>>,
    sent: Mutex<Vec<String>>,
    arrived: Notify,
}

impl Remote {
    fn new(status: u16, gate: Option<Arc<Notify>>) -> Arc<Self> {
        Arc::new(Self { status, gate, sent: Mutex::default(), arrived: Notify::new() })
    }
    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl HttpTransport for Remote {
    async fn send(&self, req: Request) -> Result<Response, ConnectorError> {
        self.send_checked(req).await.map_err(|f| f.error)
    }
    async fn send_checked(&self, req: Request) -> Result<Response, TransportFailure> {
        self.sent.lock().unwrap().push(req.method().to_string());
        self.arrived.notify_one();
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        let mut b = http::Response::builder().status(self.status);
        if self.status == 429 {
            b = b.header("retry-after", "90");
        }
        Ok(b.body(Bytes::from_static(b"{}")).unwrap())
    }
}

fn policy() -> ClientPolicy {
    ClientPolicy {
        pacing_margin: Duration::ZERO,
        buckets: vec![
            BucketPolicy::new("read", 60, Duration::from_secs(60)),
            BucketPolicy::new("write", 100, Duration::from_secs(60)),
        ],
        ..ClientPolicy::default()
    }
}

fn client(remote: &Arc<Remote>, clock: SharedClock, stop: &StopToken) -> Arc<HttpClient> {
    let c = HttpClient::new(remote.clone(), clock, 1, policy()).with_system("WhiteLabelCRO");
    c.stop_on(stop.clone());
    Arc::new(c)
}

#[tokio::test]
async fn a_stop_cuts_a_retry_after_wait_and_the_request_is_not_sent_again() {
    let clock = Arc::new(Stalled::default());
    let remote = Remote::new(429, None);
    let stop = StopToken::new();
    let c = client(&remote, clock.clone(), &stop);
    let send = tokio::spawn({
        let c = c.clone();
        async move { c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await }
    });
    clock.asleep.notified().await;
    assert_eq!(*clock.slept.lock().unwrap(), vec![Duration::from_secs(90)], "waiting out the Retry-After");
    stop.cancel();
    let err = send.await.unwrap().expect_err("stopped");
    assert!(is_stopped(&err), "{err}");
    assert!(err.is_retryable(), "a stopped request is left for the next run: {err}");
    assert_eq!(remote.sent().len(), 1, "nothing is sent after the stop");
}

#[tokio::test]
async fn a_stop_cuts_a_wait_on_the_pacing_limit_before_sending() {
    let clock = Arc::new(Stalled::default());
    let remote = Remote::new(200, None);
    let stop = StopToken::new();
    let c = client(&remote, clock.clone(), &stop);
    for _ in 0..60 {
        c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await.unwrap();
    }
    let send = tokio::spawn({
        let c = c.clone();
        async move { c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await }
    });
    clock.asleep.notified().await;
    stop.cancel();
    let err = send.await.unwrap().expect_err("stopped");
    assert!(is_stopped(&err), "{err}");
    assert_eq!(remote.sent().len(), 60, "the 61st read, paced, was not sent");
    let err = c.send(RequestSpec::post("http://h/api/v1/leads").bucket("write")).await.expect_err("stopped");
    assert!(is_stopped(&err), "{err}");
    assert_eq!(remote.sent().len(), 60, "no write after the stop");
}

#[tokio::test]
async fn a_read_in_flight_is_abandoned_on_a_stop_but_a_write_in_flight_finishes() {
    let clock = ManualClock::at_epoch();
    let gate = Arc::new(Notify::new());
    let remote = Remote::new(200, Some(gate.clone()));
    let stop = StopToken::new();
    let c = client(&remote, clock.shared(), &stop);
    let write = tokio::spawn({
        let c = c.clone();
        async move { c.send(RequestSpec::post("http://h/api/v1/leads").bucket("write")).await }
    });
    remote.arrived.notified().await;
    let read = tokio::spawn({
        let c = c.clone();
        async move { c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await }
    });
    remote.arrived.notified().await;
    stop.cancel();
    let read = read.await.unwrap().expect_err("the read was abandoned");
    assert!(is_stopped(&read), "{read}");
    assert!(!write.is_finished(), "the write waits for its answer");
    gate.notify_one();
    write.await.unwrap().expect("the write already sent finished with its answer");
    assert_eq!(remote.sent(), vec!["POST", "GET"]);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_wait_on_a_rate_limit_over_two_seconds_is_logged_with_the_system_and_the_limit() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let clock = ManualClock::at_epoch();
    let remote = Remote::new(200, None);
    let c = client(&remote, clock.shared(), &StopToken::new());
    // 60 reads a minute, one every 500 ms: the 61st waits until the first leaves the window.
    for _ in 0..60 {
        c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await.unwrap();
        clock.advance(Duration::from_millis(500));
    }
    let text = || String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text().contains("waiting"), "no wait yet, nothing logged: {}", text());
    c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await.unwrap();
    let lines: Vec<String> = text().lines().filter(|l| l.contains("waiting")).map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{}", text());
    assert!(lines[0].contains("waiting 30 s for WhiteLabelCRO's read limit, 60/min"), "{}", lines[0]);
    // The next waits half a second (until the send at 0.5 s leaves the window): nothing logged.
    let before = clock.now();
    c.send(RequestSpec::get("http://h/api/v1/events").bucket("read")).await.unwrap();
    assert_eq!(clock.now() - before, chrono::Duration::milliseconds(500));
    assert_eq!(text().lines().filter(|l| l.contains("waiting")).count(), 1, "{}", text());
}
