//! Pull throughput: 100,000 events from the in-process simulator over loopback HTTP, pages of
//! 200, from the beginning of the feed to its end.

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use connector_api::ManualClock;
use connector_api::http::ReqwestTransport;
use connector_conformance::{LinkedClock, drain};
use connector_whitelabelcro::{WlcroConfig, WlcroConnector};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_whitelabelcro::{RateLimitConfig, SeedRecord, SimConfig, start};

const EVENTS: usize = 100_000;

fn bench_pull(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let t0 = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().to_utc();
    let (handle, state, connector) = rt.block_on(async {
        let (handle, state) = start(SimConfig::frozen(1, t0)).await.expect("sim");
        state.set_rate_limits(RateLimitConfig {
            read: 1_000_000_000,
            write: 1_000_000_000,
            ..RateLimitConfig::default()
        });
        for i in 0..EVENTS {
            let r = SeedRecord {
                first_name: "Bench".into(),
                last_name: format!("N{i}"),
                email: format!("bench{i}@example.test"),
                ..SeedRecord::default()
            };
            state.seed_at(r, true, true, None).expect("seed");
            if i % 50 == 0 {
                state.advance(chrono::Duration::seconds(1));
            }
        }
        let sim_clock = state.clock.clone();
        let clock = LinkedClock::new(ManualClock::new(state.now()), move |d| {
            sim_clock.advance(chrono::Duration::from_std(d).expect("small"))
        });
        let mut cfg = WlcroConfig::new(handle.base_url(), SimConfig::default_key().into());
        cfg.read_per_minute = 1_000_000_000;
        let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(30)).unwrap());
        let connector = WlcroConnector::new(cfg, transport, Arc::new(clock), 1).expect("connector");
        (handle, state, connector)
    });
    let mut g = c.benchmark_group("whitelabelcro");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("pull_100k_events", |b| {
        b.to_async(&rt).iter(|| async {
            let (changes, _) = drain(&connector, "leads", None, None, 200, state.now()).await.expect("pull");
            assert_eq!(changes.len(), EVENTS);
        })
    });
    g.finish();
    drop(handle);
}

criterion_group!(benches, bench_pull);
criterion_main!(benches);
