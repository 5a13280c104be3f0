//! Injected time: the only place in crosswalk that may read the system clock.
//!
//! The engine, connectors and rate limiters take a [`SharedClock`]; production passes
//! [`SystemClock`], tests and the simulation harness pass [`ManualClock`], whose time moves only
//! when the test says so (or when a sleeper asks it to, see [`ManualClock::sleep`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A source of "now" and a way to wait.
#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;
    /// Waits for `d` of this clock's time to pass.
    async fn sleep(&self, d: Duration);
}

/// A clock shared by every component of one process or one simulated world.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle to the real clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

#[async_trait]
impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the seam
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A virtual clock for tests: `now` only moves through [`ManualClock::advance`] or
/// [`ManualClock::set`], and `sleep` advances it instantly instead of waiting, so code that
/// backs off or paces itself runs at full speed while its notion of time stays consistent.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// A clock standing at 2026-01-01T00:00:00Z, the default epoch of tests.
    pub fn at_epoch() -> Self {
        Self::new(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("valid").to_utc())
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now += chrono::Duration::from_std(d).expect("duration in range");
    }

    /// Sets the time (backwards too, to model a clock that jumps).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = t;
    }

    /// This clock as a [`SharedClock`].
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    async fn sleep(&self, d: Duration) {
        self.advance(d);
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_sleep_advances_instead_of_waiting() {
        let clock = ManualClock::at_epoch();
        let before = clock.now();
        clock.sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now() - before, chrono::Duration::hours(1));
    }
}
