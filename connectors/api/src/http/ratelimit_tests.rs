//! Tests of the limiter (the file beside it).

use super::*;
use crate::clock::{Clock, ManualClock};

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn never_more_than_limit_in_any_window() {
    let clock = ManualClock::at_epoch();
    let rl = RateLimiter::new(
        clock.shared(),
        &[BucketPolicy::new("read", 5, Duration::from_secs(10))],
        Duration::ZERO,
    );
    let mut times = Vec::new();
    for _ in 0..17 {
        rl.acquire(&names(&["read"])).await.unwrap();
        times.push(clock.now());
        clock.advance(Duration::from_millis(300));
    }
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().filter(|u| **u - *t < chrono::Duration::seconds(10)).count();
        assert!(in_window <= 5, "{in_window} sends within 10 s from send {i}");
    }
    // ...and it does not over-throttle: 17 sends at 5/10 s fit in a bit over 30 s.
    let total = times[16] - times[0];
    assert!(total <= chrono::Duration::seconds(31), "took {total}");
}

#[tokio::test]
async fn server_remaining_zero_blocks_until_reset() {
    let clock = ManualClock::at_epoch();
    let rl = RateLimiter::new(
        clock.shared(),
        &[BucketPolicy::new("w", 100, Duration::from_secs(60))],
        Duration::ZERO,
    );
    let reset = clock.now() + chrono::Duration::seconds(42);
    rl.observe(
        "w",
        ServerQuota { remaining: 1, resets_at: reset, limit: None, window: None, rolling: false },
    );
    rl.acquire(&names(&["w"])).await.unwrap();
    let before = clock.now();
    rl.acquire(&names(&["w"])).await.unwrap();
    assert_eq!(clock.now(), reset, "second send waited from {before} to the server's reset");
}

#[test]
fn window_header_forms() {
    assert_eq!(parse_window("1m"), Some(Duration::from_secs(60)));
    assert_eq!(parse_window(" 2s"), Some(Duration::from_secs(2)));
    assert_eq!(parse_window("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_window("60"), Some(Duration::from_secs(60)));
    assert_eq!(parse_window("0s"), None);
    assert_eq!(parse_window("soon"), None);
}

/// A server stating 3 per 2 s (configured 100/min): three sends, then a wait until the
/// first answer's arrival plus the window (+1 %), not the rounded-up `Reset` header.
#[tokio::test]
async fn a_stated_fixed_window_resets_from_its_first_answer() {
    let clock = ManualClock::at_epoch();
    clock.advance(Duration::from_millis(300));
    let rl = RateLimiter::new(
        clock.shared(),
        &[BucketPolicy::new("w", 100, Duration::from_secs(60))],
        Duration::from_millis(250),
    );
    let start = clock.now();
    let rounded_reset = start + chrono::Duration::milliseconds(2_700); // x.3 s + 2 s, rounded up
    for remaining in [2, 1, 0] {
        rl.acquire(&names(&["w"])).await.unwrap();
        assert_eq!(clock.now(), start, "the window's three sends go at once");
        let q = ServerQuota {
            remaining,
            resets_at: rounded_reset,
            limit: Some(3),
            window: Some(Duration::from_secs(2)),
            rolling: false,
        };
        rl.observe("w", q);
    }
    rl.acquire(&names(&["w"])).await.unwrap();
    assert_eq!(clock.now(), start + chrono::Duration::milliseconds(2_020));
}

#[tokio::test]
async fn unknown_bucket_is_an_error() {
    let clock = ManualClock::at_epoch();
    let rl = RateLimiter::new(clock.shared(), &[], Duration::ZERO);
    assert_eq!(rl.acquire(&names(&["nope"])).await, Err(UnknownBucket("nope".into())));
}

#[test]
fn reads_whitelabel_and_hubspot_headers() {
    let now = ManualClock::at_epoch().now();
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-remaining", "7".parse().unwrap());
    h.insert("x-ratelimit-reset", (now.timestamp() + 30).to_string().parse().unwrap());
    h.insert("x-ratelimit-policy", "read:60/1m".parse().unwrap());
    let (bucket, q) = ServerQuota::from_headers(&h, now).unwrap();
    assert_eq!(bucket.as_deref(), Some("read"));
    let resets_at = now + chrono::Duration::seconds(30);
    assert_eq!(q, ServerQuota { remaining: 7, resets_at, limit: None, window: None, rolling: false });

    let mut h = HeaderMap::new();
    h.insert("x-hubspot-ratelimit-remaining", "0".parse().unwrap());
    h.insert("x-hubspot-ratelimit-interval-milliseconds", "10000".parse().unwrap());
    let (bucket, q) = ServerQuota::from_headers(&h, now).unwrap();
    assert_eq!(bucket, None);
    assert_eq!(q.remaining, 0);
    assert_eq!(q.resets_at, now + chrono::Duration::seconds(10));
    assert!(q.rolling);
    assert_eq!((q.limit, q.window), (None, Some(Duration::from_secs(10))), "no -Max header: no limit");
    h.insert("x-hubspot-ratelimit-max", "190".parse().unwrap());
    let (_, q) = ServerQuota::from_headers(&h, now).unwrap();
    assert_eq!(q.limit, Some(190));
    assert!(ServerQuota::from_headers(&HeaderMap::new(), now).is_none());
}

/// HubSpot's answer as the simulator and the spec (§10) send it: `Max`, `Remaining` and the
/// rolling interval.
fn hubspot(remaining: u32, max: u32, interval_ms: u64, now: DateTime<Utc>) -> ServerQuota {
    let resets_at = now + chrono::Duration::milliseconds(interval_ms as i64);
    let window = Some(Duration::from_millis(interval_ms));
    ServerQuota { remaining, resets_at, limit: Some(max), window, rolling: true }
}

/// Sends `n` requests as fast as the bucket admits them, each answered by a server counting a
/// rolling `max` per `interval_ms` (exactly, like the simulator); returns the send times.
async fn burst(
    rl: &RateLimiter,
    clock: &ManualClock,
    n: usize,
    max: u32,
    interval_ms: u64,
) -> Vec<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = Vec::new();
    for _ in 0..n {
        rl.acquire(&names(&["burst"])).await.unwrap();
        let now = clock.now();
        times.push(now);
        let window = chrono::Duration::milliseconds(interval_ms as i64);
        let used = times.iter().filter(|t| now - **t < window).count() as u32;
        assert!(used <= max, "{used} sends inside one rolling window of {max}");
        rl.observe("burst", hubspot(max - used, max, interval_ms, now));
        clock.advance(Duration::from_millis(10));
    }
    times
}

/// Configured at the free tier (100 / 10 s) on an account whose server says 190: the 190 go in
/// the first window, and never more than 190 in any rolling 10 s.
#[tokio::test]
async fn a_stated_rolling_limit_above_the_default_raises_it() {
    let clock = ManualClock::at_epoch();
    let rl = RateLimiter::new(
        clock.shared(),
        &[BucketPolicy::new("burst", 100, Duration::from_secs(10))],
        Duration::from_millis(250),
    );
    let times = burst(&rl, &clock, 191, 190, 10_000).await;
    assert_eq!(times[189] - times[0], chrono::Duration::milliseconds(1_890), "190 sends without a wait");
    assert!(times[190] - times[0] >= chrono::Duration::seconds(10), "the 191st waits for the window");
    assert_eq!(rl.limit("burst"), Some((190, Duration::from_secs(10))));
}

/// A limit the user set (capped) is never raised by the server, but a lower stated one lowers it.
#[tokio::test]
async fn a_capped_limit_is_lowered_to_the_servers_and_never_raised() {
    let clock = ManualClock::at_epoch();
    let capped = [BucketPolicy::new("burst", 150, Duration::from_secs(10)).capped()];
    let rl = RateLimiter::new(clock.shared(), &capped, Duration::from_millis(250));
    rl.acquire(&names(&["burst"])).await.unwrap();
    rl.observe("burst", hubspot(189, 190, 10_000, clock.now()));
    assert_eq!(rl.limit("burst"), Some((150, Duration::from_secs(10))), "190 stated, 150 configured");
    rl.observe("burst", hubspot(99, 100, 10_000, clock.now()));
    assert_eq!(rl.limit("burst"), Some((100, Duration::from_secs(10))), "the server's 100 is lower");
    let times = burst(&rl, &clock, 100, 100, 10_000).await;
    assert!(times[99] - times[0] >= chrono::Duration::seconds(10), "the 101st send of the window waited");
}

/// `Remaining: 0` after a burst of our own waits until our oldest send leaves the rolling
/// window (10 s + margin after it), not a whole interval after the answer that said 0.
#[tokio::test]
async fn remaining_zero_from_our_own_burst_waits_for_our_oldest_send_only() {
    let clock = ManualClock::at_epoch();
    let rl = RateLimiter::new(
        clock.shared(),
        &[BucketPolicy::new("burst", 100, Duration::from_secs(10))],
        Duration::from_millis(250),
    );
    let times = burst(&rl, &clock, 101, 100, 10_000).await;
    // The 100th answer (at 0.99 s) said 0 remain; a blanket wait would end at 10.99 s.
    assert_eq!(times[100] - times[0], chrono::Duration::milliseconds(10_250));
}

/// Sends the server counts and we do not (another app on the account) still hold us back: a
/// `Remaining: 0` we cannot explain waits the interval from the answer.
#[tokio::test]
async fn remaining_zero_from_someone_else_waits_the_interval() {
    let clock = ManualClock::at_epoch();
    let rl = RateLimiter::new(
        clock.shared(),
        &[BucketPolicy::new("burst", 100, Duration::from_secs(10))],
        Duration::from_millis(250),
    );
    rl.acquire(&names(&["burst"])).await.unwrap();
    let answered = clock.now();
    rl.observe("burst", hubspot(0, 100, 10_000, answered));
    clock.advance(Duration::from_secs(1));
    rl.acquire(&names(&["burst"])).await.unwrap();
    assert_eq!(clock.now(), answered + chrono::Duration::seconds(10));
}
