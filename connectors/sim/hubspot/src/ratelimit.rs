//! Rate limits (spec §10, §5): a rolling burst window per app, a daily bucket per account that
//! resets at the account-timezone midnight, and the separate per-second search limit. Windows are
//! measured on the simulator clock and their lengths are configurable so tests can shrink them.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Limits; defaults are the Free/Starter private-app tier and the current search guide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per burst window (`X-HubSpot-RateLimit-Max`).
    pub burst_max: u32,
    /// Burst window in ms (`X-HubSpot-RateLimit-Interval-Milliseconds`; real: 10 000, rolling).
    pub burst_window_ms: i64,
    /// Requests per account day (`X-HubSpot-RateLimit-Daily`).
    pub daily_max: u64,
    /// Account time zone as minutes east of UTC; the daily bucket resets at its midnight.
    pub account_utc_offset_minutes: i32,
    /// Search requests per search window (real: 5 per second).
    pub search_max: u32,
    /// Search window in ms (real: 1 000).
    pub search_window_ms: i64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst_max: 100,
            burst_window_ms: 10_000,
            daily_max: 250_000,
            account_utc_offset_minutes: 0,
            search_max: 5,
            search_window_ms: 1_000,
        }
    }
}

/// Which policy refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Burst window (`TEN_SECONDLY_ROLLING`).
    Burst,
    /// Daily bucket (`DAILY`).
    Daily,
    /// Search per-second limit.
    Search,
}

impl Policy {
    /// The documented / observed 429 body (spec §10); `correlationId` and `requestId` are added by
    /// the gate. The search policy name is not documented (SUGGESTION: `SECONDLY`).
    pub fn body(self) -> Value {
        let (message, policy) = match self {
            Self::Burst => ("You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING"),
            Self::Daily => ("You have reached your daily limit.", "DAILY"),
            Self::Search => ("You have reached your secondly limit.", "SECONDLY"),
        };
        let mut v = json!({
            "status": "error", "message": message, "errorType": "RATE_LIMIT", "policyName": policy,
        });
        if self == Self::Burst {
            v["groupName"] = json!("privateapps:api");
        }
        v
    }
}

/// Values for the `X-HubSpot-RateLimit-*` headers after a request was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// `-Daily`
    pub daily: u64,
    /// `-Daily-Remaining`
    pub daily_remaining: u64,
    /// `-Interval-Milliseconds`
    pub interval_ms: i64,
    /// `-Max`
    pub max: u32,
    /// `-Remaining`
    pub remaining: u32,
    /// `-Secondly`: deprecated but still sent (spec §10). Its value is not documented; the
    /// simulator states the burst limit's share of one second (SUGGESTION), at least 1.
    pub secondly: u32,
    /// `-Secondly-Remaining`: that share less the requests of the last second.
    pub secondly_remaining: u32,
}

impl Headers {
    /// Name/value pairs.
    pub fn pairs(&self) -> [(&'static str, String); 7] {
        [
            ("X-HubSpot-RateLimit-Daily", self.daily.to_string()),
            ("X-HubSpot-RateLimit-Daily-Remaining", self.daily_remaining.to_string()),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", self.interval_ms.to_string()),
            ("X-HubSpot-RateLimit-Max", self.max.to_string()),
            ("X-HubSpot-RateLimit-Remaining", self.remaining.to_string()),
            ("X-HubSpot-RateLimit-Secondly", self.secondly.to_string()),
            ("X-HubSpot-RateLimit-Secondly-Remaining", self.secondly_remaining.to_string()),
        ]
    }
}

/// The buckets.
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// Current limits.
    pub config: RateLimitConfig,
    burst: VecDeque<i64>,
    search: VecDeque<i64>,
    day: Option<NaiveDate>,
    daily_used: u64,
}

impl RateLimiter {
    /// A limiter with `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// Requests counted against the current account day.
    pub fn daily_used(&self) -> u64 {
        self.daily_used
    }

    /// When the daily bucket resets after `now`: the next midnight in the account's time zone.
    pub fn resets_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let offset = Duration::minutes(i64::from(self.config.account_utc_offset_minutes));
        let local_next = (now + offset).date_naive().succ_opt().unwrap_or_default();
        local_next.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - offset
    }

    /// Admits or refuses one request at `now`. Search requests skip the burst window and get no
    /// headers (`Ok(None)`); refused requests consume nothing.
    pub fn admit(&mut self, now: DateTime<Utc>, is_search: bool) -> Result<Option<Headers>, Policy> {
        let ms = now.timestamp_millis();
        let day = (now + Duration::minutes(i64::from(self.config.account_utc_offset_minutes))).date_naive();
        if self.day != Some(day) {
            self.day = Some(day);
            self.daily_used = 0;
        }
        if self.daily_used >= self.config.daily_max {
            return Err(Policy::Daily);
        }
        let (queue, window, max, policy) = if is_search {
            (&mut self.search, self.config.search_window_ms, self.config.search_max, Policy::Search)
        } else {
            (&mut self.burst, self.config.burst_window_ms, self.config.burst_max, Policy::Burst)
        };
        while queue.front().is_some_and(|t| *t <= ms - window) {
            queue.pop_front();
        }
        if queue.len() >= max as usize {
            return Err(policy);
        }
        queue.push_back(ms);
        self.daily_used += 1;
        if is_search {
            return Ok(None);
        }
        let used = u32::try_from(queue.len()).unwrap_or(u32::MAX);
        let per_ms = f64::from(max) / window.max(1) as f64;
        let secondly = ((per_ms * 1_000.0).floor() as u32).max(1);
        let last_second = queue.iter().filter(|t| **t > ms - 1_000).count();
        let last_second = u32::try_from(last_second).unwrap_or(u32::MAX);
        Ok(Some(Headers {
            daily: self.config.daily_max,
            daily_remaining: self.config.daily_max - self.daily_used,
            interval_ms: window,
            max,
            remaining: max.saturating_sub(used),
            secondly,
            secondly_remaining: secondly.saturating_sub(last_second),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + ms).unwrap_or_default()
    }

    #[test]
    fn burst_window_rolls_and_daily_resets_at_account_midnight() {
        let cfg = RateLimitConfig { burst_max: 2, burst_window_ms: 100, daily_max: 3, ..Default::default() };
        let mut l = RateLimiter::new(cfg);
        let first = l.admit(t(0), false).unwrap().unwrap();
        assert_eq!((first.max, first.remaining, first.interval_ms), (2, 1, 100));
        assert_eq!((first.daily, first.daily_remaining), (3, 2));
        assert_eq!((first.secondly, first.secondly_remaining), (20, 19), "2 per 100 ms is 20 a second");
        assert!(l.admit(t(50), false).is_ok());
        assert_eq!(l.admit(t(99), false), Err(Policy::Burst));
        assert!(l.admit(t(100), false).is_ok());
        assert_eq!(l.admit(t(300), false), Err(Policy::Daily));
        assert!(l.admit(t(86_400_000), false).is_ok());
        assert_eq!(l.resets_at(t(5)), t(86_400_000));
        l.config.account_utc_offset_minutes = 60;
        assert_eq!(l.resets_at(t(5)), t(86_400_000 - 3_600_000));
    }
}
