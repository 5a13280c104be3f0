//! Per-key, per-bucket rate limits (spec §7): fixed windows that start with the first request in
//! them (SUGGESTION), measured on the simulator clock, with a window length scalable for fast tests.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The three documented buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// 60/min by default: polling, reads, searches, lookups, subscription list.
    Read,
    /// 100/min: record creates/updates, notes, subscription delete.
    Write,
    /// 200/min: test events, subscription create/patch.
    Admin,
}

impl Bucket {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Read => "read",
            Bucket::Write => "write",
            Bucket::Admin => "admin",
        }
    }
}

/// Limits per window and the window scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Read bucket limit (spec default 60; §10 conflict: lookups say 200, we keep 60).
    pub read: u32,
    /// Write bucket limit.
    pub write: u32,
    /// Admin bucket limit.
    pub admin: u32,
    /// Window length = 60 s × this factor (1.0 = the documented minute).
    pub window_scale: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { read: 60, write: 100, admin: 200, window_scale: 1.0 }
    }
}

impl RateLimitConfig {
    fn limit(&self, b: Bucket) -> u32 {
        match b {
            Bucket::Read => self.read,
            Bucket::Write => self.write,
            Bucket::Admin => self.admin,
        }
    }

    /// The window length (at least 1 ms).
    pub fn window(&self) -> Duration {
        let ms = (60_000.0 * self.window_scale).round().max(1.0);
        Duration::milliseconds(ms as i64)
    }

    /// `1m` for the documented window, else seconds or milliseconds.
    pub fn window_label(&self) -> String {
        let ms = self.window().num_milliseconds();
        match ms {
            60_000 => "1m".to_string(),
            m if m % 1000 == 0 => format!("{}s", m / 1000),
            m => format!("{m}ms"),
        }
    }
}

/// What a request was told, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Bucket.
    pub bucket: Bucket,
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset` (unix seconds, rounded up).
    pub reset_unix: i64,
    /// `X-RateLimit-Window`.
    pub window: String,
    /// Seconds until the reset, at least 1 (`Retry-After` on 429).
    pub retry_after: u64,
    /// True when this request was over the limit.
    pub exceeded: bool,
}

impl Quota {
    /// The five `X-RateLimit-*` headers.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset_unix.to_string()),
            ("x-ratelimit-window", self.window.clone()),
            ("x-ratelimit-policy", format!("{}:{}/{}", self.bucket.as_str(), self.limit, self.window)),
        ]
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    count: u32,
}

/// The limiter state.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Current configuration.
    pub config: RateLimitConfig,
    windows: HashMap<(String, Bucket), Window>,
}

impl Limiter {
    /// A limiter with `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self { config, windows: HashMap::new() }
    }

    /// Replaces the configuration and forgets open windows.
    pub fn set_config(&mut self, config: RateLimitConfig) {
        self.config = config;
        self.windows.clear();
    }

    /// Counts one request by `key` in `bucket` at `now`.
    pub fn hit(&mut self, key: &str, bucket: Bucket, now: DateTime<Utc>) -> Quota {
        let len = self.config.window();
        let limit = self.config.limit(bucket);
        let w = self.windows.entry((key.to_string(), bucket)).or_insert(Window { start: now, count: 0 });
        if now >= w.start + len {
            *w = Window { start: now, count: 0 };
        }
        let exceeded = w.count >= limit;
        if !exceeded {
            w.count += 1;
        }
        let reset = w.start + len;
        let reset_unix = reset.timestamp() + i64::from(reset.timestamp_subsec_nanos() > 0);
        let until_ms = (reset - now).num_milliseconds().max(0);
        let retry_after = u64::try_from((until_ms + 999) / 1000).unwrap_or(1).max(1);
        Quota {
            bucket,
            limit,
            remaining: limit.saturating_sub(w.count),
            reset_unix,
            window: self.config.window_label(),
            retry_after,
            exceeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    #[test]
    fn fixed_window_starts_at_first_request_and_resets() {
        let mut l = Limiter::new(RateLimitConfig { read: 2, ..RateLimitConfig::default() });
        assert_eq!(l.hit("k", Bucket::Read, t(10)).remaining, 1);
        assert_eq!(l.hit("k", Bucket::Read, t(30)).remaining, 0);
        let q = l.hit("k", Bucket::Read, t(40));
        assert!(q.exceeded);
        assert_eq!((q.reset_unix, q.retry_after), (t(70).timestamp(), 30));
        assert!(!l.hit("k", Bucket::Write, t(40)).exceeded, "buckets are separate");
        assert!(!l.hit("other", Bucket::Read, t(40)).exceeded, "keys are separate");
        assert!(!l.hit("k", Bucket::Read, t(70)).exceeded, "the window reset");
    }

    #[test]
    fn scaled_window_label() {
        let c = RateLimitConfig { window_scale: 0.5, ..RateLimitConfig::default() };
        assert_eq!(c.window_label(), "30s");
        assert_eq!(RateLimitConfig::default().window_label(), "1m");
    }
}
