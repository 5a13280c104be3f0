//! A stop handed to the shared HTTP client cuts its waits (rate-limit pacing, `Retry-After`,
//! back-off, a read in flight) before anything more is sent, while a write already sent is waited
//! for (the log line of a long wait is `http_wait_log.rs`, a binary of its own).
//! Time is injected: a clock whose sleeps never end on their own (so only the stop can end them),
//! or a `ManualClock`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_api::http::{RequestSpec, is_stopped};
use connector_api::{Clock, ManualClock, StopToken};
use tokio::sync::Notify;

mod support;
use support::{Remote, client};

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
