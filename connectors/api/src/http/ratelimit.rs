//! Client-side rate limiting per bucket, driven by the injected [`Clock`](crate::Clock).
//!
//! Why not `governor`: its limiter reads its own clock and waits with its own timer, so tests on
//! a `ManualClock` would block on real time; it also has no way to take the server's own
//! numbers (`X-RateLimit-Remaining`/`Reset`) back into its state. And GCRA with a burst equal to
//! the limit admits up to twice the limit inside one fixed window (a full burst, then one cell
//! per emission interval), which a server counting fixed windows answers with 429s.
//!
//! So each bucket is an exact sliding log: a send is admitted when fewer than `limit` sends
//! happened in the last `window + margin`. That holds for every window position, so a server
//! counting fixed *or* rolling windows of `window` never sees more than `limit` (the margin
//! absorbs latency jitter between our clock and the server's counting). Memory is one `i64` per
//! send in the window (8 MB for a saturated 1M/day bucket, acceptable).
//! On top of the log, the server can block a bucket until a time (`Retry-After`, or
//! `Remaining: 0` until `Reset`) and say how many requests remain until its reset.
//!
//! A server that states its fixed window (`X-RateLimit-Limit` and `X-RateLimit-Window`, as
//! WhiteLabelCRO does, §7) is paced by that window instead of the log: up to `limit` sends per
//! window, then a wait until the window resets. `X-RateLimit-Reset` is whole seconds, which
//! wastes up to a second per window; so when an answer says it was the first of its window
//! (`Remaining = Limit − 1`), the reset is taken as the time that answer arrived plus the window
//! — never earlier than the true reset, because the server opened the window before answering.
//!
//! A server that states a *rolling* window (HubSpot's `X-HubSpot-RateLimit-Max` and
//! `-Interval-Milliseconds`, spec §10) keeps the sliding log, re-sized to the stated limit and
//! window: an account on a higher tier is paced by what its server says, not by the configured
//! guess. A bucket configured with [`BucketPolicy::may_raise`] off (a limit the user set) only
//! ever goes down to the server's. Its `Remaining` is kept as a count that our own sends leaving
//! the window give back, so `Remaining: 0` after a quick burst waits for our oldest send to
//! leave the window, not for a whole interval from the answer; only sends the server counts and
//! we do not (another app on the account) make it wait for the interval.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::clock::SharedClock;

/// One bucket's configured limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPolicy {
    /// The bucket's name, as requests name it (`read`, `write`, `burst`, `daily`).
    pub name: String,
    /// Requests allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
    /// Whether a limit the server states above `limit` replaces it (`limit` was only a safe
    /// guess, e.g. a default tier), or only a lower one does (the user chose `limit`, perhaps to
    /// leave room for other apps on the account).
    pub may_raise: bool,
}

impl BucketPolicy {
    /// `limit` requests per `window` for bucket `name`; the server's stated limit replaces it.
    pub fn new(name: impl Into<String>, limit: u32, window: Duration) -> Self {
        Self { name: name.into(), limit, window, may_raise: true }
    }

    /// The same bucket, paced never above `limit` whatever the server states (a lower stated
    /// limit still lowers it).
    pub fn capped(mut self) -> Self {
        self.may_raise = false;
        self
    }
}

/// The server's own view of a bucket, read from response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerQuota {
    /// Requests the server says remain in its current window.
    pub remaining: u32,
    /// When the server's window resets.
    pub resets_at: DateTime<Utc>,
    /// The server's limit per window, when it says (`X-RateLimit-Limit`).
    pub limit: Option<u32>,
    /// The server's window, when it says (`X-RateLimit-Window: 1m`, `2s`, `500ms`; HubSpot's
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`).
    pub window: Option<Duration>,
    /// The window rolls (HubSpot) instead of resetting at fixed times (WhiteLabelCRO).
    pub rolling: bool,
}

impl ServerQuota {
    /// Reads the quota from the usual headers, with the bucket name when a header names it:
    /// `X-RateLimit-Remaining` + `X-RateLimit-Reset` (Unix seconds; WhiteLabelCRO, with the
    /// bucket in `X-RateLimit-Policy: read:60/1m`), or HubSpot's
    /// `X-HubSpot-RateLimit-Remaining` + `X-HubSpot-RateLimit-Interval-Milliseconds`, with the
    /// limit in `X-HubSpot-RateLimit-Max` (rolling: the reset is taken, conservatively, as a
    /// whole interval from now).
    pub fn from_headers(headers: &HeaderMap, now: DateTime<Utc>) -> Option<(Option<String>, ServerQuota)> {
        let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        if let (Some(rem), Some(reset)) = (num("x-ratelimit-remaining"), num("x-ratelimit-reset")) {
            let resets_at = DateTime::from_timestamp(reset, 0)?;
            let bucket = headers
                .get("x-ratelimit-policy")
                .and_then(|v| v.to_str().ok())
                .and_then(|p| p.split(':').next())
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty());
            let limit = num("x-ratelimit-limit").and_then(|l| u32::try_from(l).ok()).filter(|l| *l > 0);
            let window =
                headers.get("x-ratelimit-window").and_then(|v| v.to_str().ok()).and_then(parse_window);
            let quota =
                ServerQuota { remaining: rem.max(0) as u32, resets_at, limit, window, rolling: false };
            return Some((bucket, quota));
        }
        let rem = num("x-hubspot-ratelimit-remaining")?;
        let interval = num("x-hubspot-ratelimit-interval-milliseconds")?;
        let resets_at = now + chrono::Duration::milliseconds(interval.max(0));
        let limit = num("x-hubspot-ratelimit-max").and_then(|l| u32::try_from(l).ok()).filter(|l| *l > 0);
        let window = u64::try_from(interval).ok().filter(|i| *i > 0).map(Duration::from_millis);
        let quota = ServerQuota { remaining: rem.max(0) as u32, resets_at, limit, window, rolling: true };
        Some((None, quota))
    }
}

/// `1m`, `2s`, `500ms`, `1h` or bare seconds; `None` for anything else or zero.
fn parse_window(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// A server-stated fixed window: how many sends remain in it and when it resets.
#[derive(Debug, Clone, Copy)]
struct Fixed {
    limit: u32,
    window: Duration,
    remaining: u32,
    resets_at: DateTime<Utc>,
    /// False while `resets_at` is only a guess (a window opened by our next send, no answer
    /// yet); true once an answer bounded it from above.
    known: bool,
}

#[derive(Debug)]
struct Bucket {
    limit: usize,
    /// The configured limit and whether the server may raise it ([`BucketPolicy::may_raise`]).
    configured: usize,
    may_raise: bool,
    /// The configured window (without the margin), for log lines.
    window: Duration,
    span_ns: i64,
    sent: VecDeque<i64>,
    blocked_until: Option<DateTime<Utc>>,
    server: Option<ServerQuota>,
    /// When the server's rolling count in `server` was answered (ns): our sends before
    /// `answered - span` were not in it, so their leaving the window gives nothing back.
    answered_ns: i64,
    /// Set once the server has stated its fixed window; then it paces instead of the log.
    fixed: Option<Fixed>,
    margin: Duration,
}

impl Bucket {
    /// How long to wait before a send is admitted at `now` (zero: admit now).
    fn wait(&mut self, now: DateTime<Utc>) -> Duration {
        let now_ns = ns(now);
        while let Some(t) = self.sent.front().copied().filter(|&t| t <= now_ns - self.span_ns) {
            self.sent.pop_front();
            // A send the server's rolling count held has left its window: one more remains.
            if let Some(q) = self.server.as_mut().filter(|q| q.rolling)
                && t > self.answered_ns - self.span_ns
            {
                q.remaining = q.remaining.saturating_add(1);
            }
        }
        let mut until = now;
        if let Some(b) = self.blocked_until {
            until = until.max(b);
        }
        if let Some(f) = self.fixed.as_mut() {
            if now >= f.resets_at {
                // A new window opens with our next send; its first answer says when it resets.
                f.remaining = f.limit;
                f.resets_at = now + chrono::Duration::from_std(f.window).unwrap_or_default();
                f.known = false;
            }
            if f.remaining == 0 {
                until = until.max(f.resets_at);
            }
            return (until - now).to_std().unwrap_or_default();
        }
        if let Some(q) = self.server {
            // A rolling count spent by our own sends alone is paced by the log below.
            let ours = q.rolling && self.sent.len() >= self.limit.max(1);
            if now >= q.resets_at {
                self.server = None;
            } else if q.remaining == 0 && !ours {
                until = until.max(q.resets_at);
            }
        }
        if self.limit == 0 {
            // A zero limit is a config error; pace at one per window rather than never.
            self.limit = 1;
        }
        if self.sent.len() >= self.limit {
            let oldest_relevant = self.sent[self.sent.len() - self.limit];
            until = until.max(from_ns(oldest_relevant + self.span_ns));
        }
        (until - now).to_std().unwrap_or_default()
    }

    fn record(&mut self, now: DateTime<Utc>) {
        self.sent.push_back(ns(now));
        if let Some(q) = self.server.as_mut() {
            q.remaining = q.remaining.saturating_sub(1);
        }
        if let Some(f) = self.fixed.as_mut() {
            f.remaining = f.remaining.saturating_sub(1);
        }
    }

    /// The limit in force, for people: `60/min`, or the server's own when it stated one.
    fn describe(&self) -> String {
        match self.fixed {
            Some(f) => per(f.limit as usize, f.window),
            None => per(self.limit, self.window),
        }
    }

    /// The server's stated limit as this bucket may use it: lowered to the configured one when
    /// that was the user's choice.
    fn allowed(&self, stated: u32) -> u32 {
        if self.may_raise { stated } else { stated.min(u32::try_from(self.configured).unwrap_or(u32::MAX)) }
    }

    /// Takes the server's count, answered at `now`.
    fn observe(&mut self, quota: ServerQuota, now: DateTime<Utc>) {
        self.server = Some(quota);
        self.answered_ns = ns(now);
        let (Some(stated), Some(window)) = (quota.limit, quota.window) else { return };
        let limit = self.allowed(stated);
        if quota.rolling {
            // Keep the sliding log, sized to the server's window (plus our margin).
            self.limit = limit as usize;
            self.window = window;
            self.span_ns = i64::try_from((window + self.margin).as_nanos()).unwrap_or(i64::MAX / 4);
            return;
        }
        let margin = self.margin.min(window / 100);
        // The answer belongs to the window we are counting in (a fresh one we have not had an
        // answer for yet, or a known one that has not reset).
        let current = self.fixed.filter(|f| !f.known || now < f.resets_at);
        let resets_at = if quota.remaining.checked_add(1) == Some(stated) {
            // The first send of its window: the server opened the window before this answer.
            quota.resets_at.min(now + chrono::Duration::from_std(window + margin).unwrap_or_default())
        } else {
            match current {
                Some(f) if f.known => f.resets_at.min(quota.resets_at),
                _ => quota.resets_at,
            }
        };
        // Below the server's limit by our own cap: what the server counts as used comes off it.
        let stated_remaining = quota.remaining.saturating_sub(stated - limit);
        // Sends still in flight are not in the server's count yet: keep the lower one.
        let remaining = current.map_or(stated_remaining, |f| f.remaining.min(stated_remaining));
        self.fixed = Some(Fixed { limit, window, remaining, resets_at, known: true });
    }
}

/// The limiter for all buckets of one client.
#[derive(Debug)]
pub struct RateLimiter {
    clock: SharedClock,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    /// The system's display name, for log lines.
    system: String,
}

/// A request named a bucket the client was not configured with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rate-limit bucket `{0}`")]
pub struct UnknownBucket(pub String);

impl RateLimiter {
    /// A limiter for `buckets`; `margin` is added to every window to absorb latency jitter.
    pub fn new(clock: SharedClock, buckets: &[BucketPolicy], margin: Duration) -> Self {
        let map = buckets
            .iter()
            .map(|b| {
                let span = b.window + margin;
                let bucket = Bucket {
                    limit: b.limit as usize,
                    configured: b.limit as usize,
                    may_raise: b.may_raise,
                    answered_ns: 0,
                    window: b.window,
                    span_ns: i64::try_from(span.as_nanos()).unwrap_or(i64::MAX / 4),
                    sent: VecDeque::new(),
                    blocked_until: None,
                    server: None,
                    fixed: None,
                    margin,
                };
                (b.name.clone(), bucket)
            })
            .collect();
        Self { clock, buckets: Mutex::new(map), system: "the remote system".into() }
    }

    /// Names the system in log lines (its display name: `WhiteLabelCRO`).
    pub fn set_system(&mut self, display_name: String) {
        self.system = display_name;
    }

    /// Logs a wait on `bucket` when it is longer than [`LONG_WAIT`](super::LONG_WAIT), as
    /// "waiting 38 s for WhiteLabelCRO's read limit, 60/min"; `why` adds the cause when it is
    /// not the pacing itself (a 429).
    pub fn log_wait(&self, bucket: &str, wait: Duration, why: &str) {
        if wait <= super::LONG_WAIT {
            return;
        }
        let limit = self.buckets.lock().expect("limiter lock").get(bucket).map(Bucket::describe);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let limit = limit.map(|l| format!(", {l}")).unwrap_or_default();
        let why = if why.is_empty() { String::new() } else { format!(" ({why})") };
        tracing::info!(
            system = %self.system,
            bucket,
            wait_secs = secs,
            "waiting {secs} s for {}'s {bucket} limit{limit}{why}",
            self.system
        );
    }

    /// Waits (on the clock) until every named bucket admits one more send, and records it in all
    /// of them at once, so a multi-bucket request never holds a slot it cannot use.
    /// A wait longer than [`LONG_WAIT`](super::LONG_WAIT) is logged once per call.
    pub async fn acquire(&self, names: &[String]) -> Result<(), UnknownBucket> {
        let mut logged = false;
        loop {
            let (wait, longest) = {
                let mut map = self.buckets.lock().expect("limiter lock");
                let now = self.clock.now();
                let mut wait = Duration::ZERO;
                let mut longest = None;
                for n in names {
                    let b = map.get_mut(n).ok_or_else(|| UnknownBucket(n.clone()))?;
                    let w = b.wait(now);
                    if w > wait {
                        (wait, longest) = (w, Some(n));
                    }
                }
                if wait.is_zero() {
                    for n in names {
                        map.get_mut(n).expect("checked above").record(now);
                    }
                    return Ok(());
                }
                (wait, longest)
            };
            if !logged && let Some(bucket) = longest {
                self.log_wait(bucket, wait, "");
                logged = wait > super::LONG_WAIT;
            }
            self.clock.sleep(wait).await;
        }
    }

    /// No send on these buckets before `until` (the server said so, e.g. `Retry-After`).
    pub fn block_until(&self, names: &[String], until: DateTime<Utc>) {
        let mut map = self.buckets.lock().expect("limiter lock");
        for n in names {
            if let Some(b) = map.get_mut(n) {
                b.blocked_until = Some(b.blocked_until.map_or(until, |u| u.max(until)));
            }
        }
    }

    /// The limit a bucket paces by now (the configured one, or the server's once it stated one)
    /// and its window; `None` for a bucket the limiter was not configured with.
    pub fn limit(&self, name: &str) -> Option<(u32, Duration)> {
        let map = self.buckets.lock().expect("limiter lock");
        let b = map.get(name)?;
        Some(match b.fixed {
            Some(f) => (f.limit, f.window),
            None => (u32::try_from(b.limit).unwrap_or(u32::MAX), b.window),
        })
    }

    /// The limits in force for `names` as a quota shared with other processes counts them: each
    /// bucket's server-stated fixed window once known, else its configured one, widened by the
    /// pacing margin (so sends that arrive late still fall in one window). Unknown names are
    /// left out.
    pub fn in_force(&self, names: &[String]) -> Vec<BucketPolicy> {
        let map = self.buckets.lock().expect("limiter lock");
        names
            .iter()
            .filter_map(|n| {
                let b = map.get(n)?;
                let (limit, window) = match b.fixed {
                    Some(f) => (f.limit, f.window),
                    None => (u32::try_from(b.limit).unwrap_or(u32::MAX), b.window),
                };
                Some(BucketPolicy::new(n.clone(), limit.max(1), window + b.margin))
            })
            .collect()
    }

    /// Takes the server's own count for a bucket; unknown bucket names are ignored.
    pub fn observe(&self, name: &str, quota: ServerQuota) {
        let now = self.clock.now();
        if let Some(b) = self.buckets.lock().expect("limiter lock").get_mut(name) {
            b.observe(quota, now);
        }
    }
}

/// `60/min`, `100/10s`, `5/s`, `250000/day`.
fn per(limit: usize, window: Duration) -> String {
    let unit = match window.as_secs() {
        1 if window.subsec_nanos() == 0 => "s".to_string(),
        60 if window.subsec_nanos() == 0 => "min".to_string(),
        3600 if window.subsec_nanos() == 0 => "h".to_string(),
        86_400 if window.subsec_nanos() == 0 => "day".to_string(),
        s if window.subsec_nanos() == 0 => format!("{s}s"),
        _ => format!("{}ms", window.as_millis()),
    };
    format!("{limit}/{unit}")
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn from_ns(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
