//! The simulator's clock: real or frozen time, plus an offset to model a remote whose clock is
//! skewed against ours.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug)]
struct State {
    /// `Some(t)`: frozen at `t` (tests move it); `None`: follows the system clock.
    frozen: Option<DateTime<Utc>>,
    offset: Duration,
}

/// A cloneable handle to one simulator's notion of time.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<State>>,
}

impl SimClock {
    /// A clock that follows the system clock.
    pub fn system() -> Self {
        Self { state: Arc::new(Mutex::new(State { frozen: None, offset: Duration::zero() })) }
    }

    /// A clock frozen at `t`; it moves only through [`SimClock::advance`] or [`SimClock::set`].
    pub fn frozen(t: DateTime<Utc>) -> Self {
        Self { state: Arc::new(Mutex::new(State { frozen: Some(t), offset: Duration::zero() })) }
    }

    /// The simulator's current time, offset included.
    #[allow(clippy::disallowed_methods)] // the simulator's own clock seam
    pub fn now(&self) -> DateTime<Utc> {
        let s = self.state.lock().expect("sim clock lock");
        s.frozen.unwrap_or_else(Utc::now) + s.offset
    }

    /// Moves a frozen clock forward (no effect on a system clock but the offset's).
    pub fn advance(&self, d: Duration) {
        let mut s = self.state.lock().expect("sim clock lock");
        match s.frozen.as_mut() {
            Some(t) => *t += d,
            None => s.offset += d,
        }
    }

    /// Freezes the clock at `t` (before the offset).
    pub fn set(&self, t: DateTime<Utc>) {
        self.state.lock().expect("sim clock lock").frozen = Some(t);
    }

    /// Sets the skew between this simulator and the real time.
    pub fn set_offset(&self, offset: Duration) {
        self.state.lock().expect("sim clock lock").offset = offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told_and_applies_the_offset() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap().to_utc();
        let c = SimClock::frozen(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::seconds(5));
        c.set_offset(Duration::seconds(-2));
        assert_eq!(c.now(), t0 + Duration::seconds(3));
    }
}
