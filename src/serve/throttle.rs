//! Back-off for wrong admin tokens, per client address: after [`FREE_FAILURES`] failed attempts
//! (at `/login` or with a bearer token on the API) a client gets one attempt per
//! [`SLOW_INTERVAL`]; earlier ones are answered 429 without looking at the token. A success, or
//! [`FORGET_AFTER`] without a failure, clears the client's count. Time comes from the injected
//! clock, so the tests drive it without sleeping.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use chrono::{DateTime, Utc};
use connector_api::SharedClock;

/// Wrong tokens a client may send at full speed.
pub const FREE_FAILURES: u32 = 5;
/// The pace of a client past [`FREE_FAILURES`]: one attempt per this interval.
pub const SLOW_INTERVAL: Duration = Duration::from_secs(1);
/// A client whose last failure is this old starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Clients tracked at most; past it, the ones not seen for longest are forgotten first.
const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: DateTime<Utc>,
}

/// The failure counts, by client address.
pub struct Throttle {
    clock: SharedClock,
    clients: Mutex<HashMap<IpAddr, Entry>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

/// The address a request came from; in-process callers without one share a single slot.
pub fn client_of(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip())
}

/// The client address of a request, as an extractor.
pub struct Client(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_of(&parts.extensions)))
    }
}

/// Whole seconds to put in `Retry-After` for `wait` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl Throttle {
    /// A throttle reading time from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self { clock, clients: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` while `client` must wait before its next attempt is even checked.
    pub fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let clients = self.clients.lock().expect("throttle lock");
        let Some(e) = clients.get(&client).filter(|e| e.failures >= FREE_FAILURES) else { return Ok(()) };
        let next = e.last + chrono::Duration::from_std(SLOW_INTERVAL).expect("small");
        match (next - now).to_std() {
            Ok(wait) if !wait.is_zero() => {
                tracing::debug!(%client, "admin token attempt refused while backing off");
                Err(wait)
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong token from `client`.
    pub fn failed(&self, client: IpAddr) {
        let now = self.clock.now();
        let forget = chrono::Duration::from_std(FORGET_AFTER).expect("small");
        let mut clients = self.clients.lock().expect("throttle lock");
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, e| now - e.last < forget);
        }
        if clients.len() >= MAX_CLIENTS
            && let Some(oldest) = clients.iter().min_by_key(|(_, e)| e.last).map(|(ip, _)| *ip)
        {
            clients.remove(&oldest);
        }
        let e = clients.entry(client).or_insert(Entry { failures: 0, last: now });
        if now - e.last >= forget {
            e.failures = 0;
        }
        e.failures += 1;
        e.last = now;
        if e.failures == FREE_FAILURES {
            tracing::warn!(%client, failures = e.failures,
                "repeated wrong admin tokens; this client now gets one attempt per second");
        }
    }

    /// Clears `client`'s count after a right token.
    pub fn succeeded(&self, client: IpAddr) {
        self.clients.lock().expect("throttle lock").remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::ManualClock;

    #[test]
    fn five_failures_then_one_attempt_per_second_and_a_success_clears_it() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::new(t0);
        let throttle = Throttle::new(clock.shared());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.admit(a), Ok(()));
            throttle.failed(a);
        }
        assert!(throttle.admit(a).is_err(), "the sixth attempt at once waits");
        assert_eq!(throttle.admit(b), Ok(()), "another client is not slowed");
        clock.advance(SLOW_INTERVAL);
        assert_eq!(throttle.admit(a), Ok(()));
        throttle.failed(a);
        assert!(throttle.admit(a).is_err());
        clock.advance(SLOW_INTERVAL);
        throttle.succeeded(a);
        assert_eq!(throttle.admit(a), Ok(()));
        for _ in 0..FREE_FAILURES {
            throttle.failed(a);
        }
        clock.advance(FORGET_AFTER);
        throttle.failed(a);
        assert_eq!(throttle.admit(a), Ok(()), "an old streak is forgotten");
    }
}
