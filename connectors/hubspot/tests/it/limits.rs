//! Rate limits: a burst 429 is honoured politely; the daily limit stops the system for the day.

use connector_api::{Clock, Connector, ConnectorError};
use connector_hubspot::RateLimits;
use sim_hubspot::RateLimitConfig;

use crate::common::world_with;

#[tokio::test]
async fn burst_limit_is_paced_not_hammered() {
    // The account allows 5 per 10 s but the connector was configured for 100: it must learn
    // from the headers and the 429s, not retry into a storm.
    let sim = RateLimitConfig { burst_max: 5, search_max: 100, ..RateLimitConfig::default() };
    let w = world_with(sim, RateLimits { burst_per_10s: 100, ..RateLimits::default() }).await;
    let ids: Vec<String> = w.seed_contacts(1, "r").iter().map(u64::to_string).collect();
    let start = w.clock.now();
    for _ in 0..12 {
        assert_eq!(w.conn.fetch("contacts", &ids).await.unwrap().len(), 1);
    }
    let log = w.sim.requests();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    assert!(throttled <= 1, "{throttled} 429s");
    assert_eq!(log.iter().filter(|r| r.status == 200).count(), 12);
    assert!(w.clock.now() - start >= chrono::Duration::seconds(20), "12 requests at 5/10 s take ≥ 20 s");
    // And a 429 (when the server sends one anyway) is retried after HubSpot's 10 s, not at once.
    w.sim.set_faults(sim_core::FaultConfig { rate_429: 1.0, ..Default::default() });
    let before = w.clock.now();
    let err = w.conn.fetch("contacts", &ids).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Throttled { .. }), "{err:?}");
    assert!(w.clock.now() - before >= chrono::Duration::seconds(30), "backed off between attempts");
}

#[tokio::test]
async fn daily_limit_is_quota_exhausted_and_stops_sending() {
    let sim =
        RateLimitConfig { burst_max: 1_000, search_max: 100, daily_max: 3, ..RateLimitConfig::default() };
    let w = world_with(sim, RateLimits::default()).await;
    let ids: Vec<String> = w.seed_contacts(1, "d").iter().map(u64::to_string).collect();
    let mut results = Vec::new();
    for _ in 0..5 {
        results.push(w.conn.fetch("contacts", &ids).await);
    }
    let first_quota = results.iter().position(|r| matches!(r, Err(ConnectorError::QuotaExhausted { .. })));
    assert!(matches!(first_quota, Some(i) if i <= 3), "{results:?}");
    let sent = w.sim.requests().len();
    assert!(sent <= 4, "stopped sending after the limit: {sent}");
    let again = w.conn.fetch("contacts", &ids).await.unwrap_err();
    assert!(matches!(again, ConnectorError::QuotaExhausted { resets_at: Some(_), .. }));
    assert_eq!(w.sim.requests().len(), sent, "no request once the day is spent");
}

/// Send times (simulator clock) of the requests the simulator admitted.
fn admitted(w: &crate::common::World) -> Vec<chrono::DateTime<chrono::Utc>> {
    w.sim.requests().iter().filter(|r| r.status != 429).map(|r| r.at).collect()
}

/// The most requests the simulator saw inside any 10 s.
fn busiest_10s(times: &[chrono::DateTime<chrono::Utc>]) -> usize {
    let ten = chrono::Duration::seconds(10);
    times.iter().map(|t| times.iter().filter(|u| **u >= *t && **u - *t < ten).count()).max().unwrap_or(0)
}

/// A professional account (190 / 10 s) with the connector left at the free tier's defaults: its
/// answers' `X-HubSpot-RateLimit-Max` paces the connector, so 190 go in the first window.
#[tokio::test]
async fn a_higher_tier_account_is_paced_by_what_its_server_states() {
    let sim = RateLimitConfig { burst_max: 190, search_max: 100, ..RateLimitConfig::default() };
    let w = world_with(sim, RateLimits::default()).await;
    let ids: Vec<String> = w.seed_contacts(1, "t").iter().map(u64::to_string).collect();
    let start = w.clock.now();
    for _ in 0..200 {
        assert_eq!(w.conn.fetch("contacts", &ids).await.unwrap().len(), 1);
    }
    let times = admitted(&w);
    assert_eq!(times.len(), 200);
    assert_eq!(w.sim.requests().iter().filter(|r| r.status == 429).count(), 0, "no 429");
    let in_first = times.iter().filter(|t| **t - start < chrono::Duration::seconds(10)).count();
    assert_eq!(in_first, 190, "the first window held the server's 190, not the configured 100");
    assert!(busiest_10s(&times) <= 190);
    let burst = w.conn.capabilities().rate_buckets.into_iter().find(|b| b.name == "burst").unwrap();
    assert_eq!((burst.limit, burst.window.as_secs()), (190, 10), "capabilities show the learned limit");
}

/// A burst limit the user set is a ceiling: a server stating more does not raise it.
#[tokio::test]
async fn a_burst_limit_the_user_set_is_never_raised_by_the_server() {
    let sim = RateLimitConfig { burst_max: 190, search_max: 100, ..RateLimitConfig::default() };
    let limits = RateLimits { burst_per_10s: 30, ..RateLimits::default() };
    let w =
        crate::common::world_user(sim, limits, connector_hubspot::UserLimits { burst: true, daily: false })
            .await;
    let ids: Vec<String> = w.seed_contacts(1, "c").iter().map(u64::to_string).collect();
    for _ in 0..70 {
        w.conn.fetch("contacts", &ids).await.unwrap();
    }
    let times = admitted(&w);
    assert_eq!(times.len(), 70);
    assert!(busiest_10s(&times) <= 30, "{} in one 10 s", busiest_10s(&times));
    assert!(times[69] - times[0] >= chrono::Duration::seconds(20), "70 at 30 / 10 s take ≥ 20 s");
}

/// The day is the account's: `X-HubSpot-RateLimit-Daily-Remaining` counts another app's
/// requests too, and `-Daily` replaces the configured 250,000. The connector stops when the
/// server's count is spent, without a 429.
#[tokio::test]
async fn the_daily_count_is_the_accounts_as_the_server_states_it() {
    let sim =
        RateLimitConfig { burst_max: 1_000, search_max: 100, daily_max: 10, ..RateLimitConfig::default() };
    let w = world_with(sim, RateLimits::default()).await;
    let ids: Vec<String> = w.seed_contacts(1, "d").iter().map(u64::to_string).collect();
    let other = w.another_app();
    for _ in 0..7 {
        other.fetch("contacts", &ids).await.unwrap();
    }
    let mut ok = 0;
    for _ in 0..5 {
        match w.conn.fetch("contacts", &ids).await {
            Ok(_) => ok += 1,
            Err(e) => assert!(matches!(e, ConnectorError::QuotaExhausted { .. }), "{e:?}"),
        }
    }
    assert_eq!(ok, 3, "10 a day, 7 spent by the other app");
    let log = w.sim.requests();
    assert_eq!(log.len(), 10, "nothing sent once the server's count was spent");
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 0);
    let daily = w.conn.capabilities().rate_buckets.into_iter().find(|b| b.name == "daily").unwrap();
    assert_eq!(daily.limit, 10);
}
