//! A wait on a rate limit over two seconds is logged with the system, the bucket and the limit.
//! A test binary of its own: tracing caches each log site's interest process-wide, and a test
//! on another thread that reaches the same site first (with no subscriber) could hide the line
//! from this test's scoped subscriber.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_api::http::RequestSpec;
use connector_api::{Clock, ManualClock, StopToken};

mod support;
use support::{Remote, client};

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
