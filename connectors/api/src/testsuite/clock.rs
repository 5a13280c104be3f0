//! One virtual clock that keeps other clocks in step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Clock, ManualClock, SharedClock};

type Link = Arc<dyn Fn(Duration) + Send + Sync>;

/// A [`ManualClock`] whose [`advance`](LinkedClock::advance) — and therefore every
/// [`sleep`](Clock::sleep) of the code under test (pacing, backoff, `Retry-After`) — also moves
/// each linked clock by the same amount, so a connector and the simulators behind it see time
/// pass together and nothing waits on the wall clock. Clones share the time and the links.
#[derive(Clone)]
pub struct LinkedClock {
    manual: ManualClock,
    links: Arc<Mutex<Vec<Link>>>,
}

impl std::fmt::Debug for LinkedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedClock").field("now", &self.manual.now()).finish_non_exhaustive()
    }
}

impl LinkedClock {
    /// `manual` drives `now`; every advance is also passed to `also`.
    pub fn new(manual: ManualClock, also: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        let clock = Self::unlinked(manual);
        clock.link(also);
        clock
    }

    /// A clock standing at `start` with no links yet.
    pub fn at(start: DateTime<Utc>) -> Self {
        Self::unlinked(ManualClock::new(start))
    }

    /// `manual` drives `now`; links are added with [`link`](Self::link).
    pub fn unlinked(manual: ManualClock) -> Self {
        Self { manual, links: Arc::default() }
    }

    /// Adds a clock (or any callback) that every later advance also moves.
    pub fn link(&self, also: impl Fn(Duration) + Send + Sync + 'static) -> &Self {
        self.links.lock().expect("links lock").push(Arc::new(also));
        self
    }

    /// Moves this clock and every linked one forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.manual.advance(d);
        let links = self.links.lock().expect("links lock").clone();
        for link in links {
            link(d);
        }
    }

    /// The manual clock that drives `now` (set it to jump this clock alone).
    pub fn manual(&self) -> &ManualClock {
        &self.manual
    }

    /// This clock as a [`SharedClock`].
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

#[async_trait]
impl Clock for LinkedClock {
    fn now(&self) -> DateTime<Utc> {
        self.manual.now()
    }

    /// Advances this clock and its links at once, then yields as the manual clock does.
    async fn sleep(&self, d: Duration) {
        self.advance(d);
        self.manual.sleep(Duration::ZERO).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_and_advances_move_every_linked_clock() {
        let (a, b) = (ManualClock::at_epoch(), Arc::new(Mutex::new(Duration::ZERO)));
        let clock = LinkedClock::at(a.now());
        let a2 = a.clone();
        let b2 = b.clone();
        clock.link(move |d| a2.advance(d)).link(move |d| *b2.lock().unwrap() += d);
        let t0 = clock.now();
        clock.sleep(Duration::from_secs(5)).await;
        clock.clone().advance(Duration::from_secs(2));
        assert_eq!(clock.now() - t0, chrono::Duration::seconds(7));
        assert_eq!(a.now() - t0, chrono::Duration::seconds(7));
        assert_eq!(*b.lock().unwrap(), Duration::from_secs(7));
        clock.manual().advance(Duration::from_secs(1));
        assert_eq!(a.now() - t0, chrono::Duration::seconds(7), "the manual clock alone moves no link");
    }
}
