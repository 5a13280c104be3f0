//! Pull throughput: 100,000 events from the in-process simulator over loopback HTTP, pages of
//! 200, from the beginning of the feed to its end.

mod common;

use connector_conformance::drain;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: usize = 100_000;

fn bench_pull(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (handle, state, connector) = rt.block_on(common::seeded(EVENTS));
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
