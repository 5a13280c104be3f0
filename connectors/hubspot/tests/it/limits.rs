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
