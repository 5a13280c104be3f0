//! Planner throughput: 100,000 linked records × 12 mapped fields, 5% of them changed on one side.
//! Target: under one second for the whole plan.

use std::hint::black_box;
use std::path::Path;

use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};
use crosswalk::mapping::{CanonMap, PairMapping, load_str};
use crosswalk::reconcile::{Plan, SideView, plan_link};

const RECORDS: usize = 100_000;
const FIELDS: usize = 12;

fn pair() -> PairMapping {
    let mut src = String::from(
        "version = 1\nname = \"bench\"\nleft = { system = \"a\", object = \"x\" }\n\
         right = { system = \"b\", object = \"y\" }\n\
         [identity]\nemail = { left = \"l0\", right = \"r0\" }\n[creation]\nleft_to_right = \"create\"\n\
         right_to_left = \"create\"\n",
    );
    for i in 0..FIELDS {
        let rule = ["two_way", "left", "prefer_right_unless_blank"][i % 3];
        src.push_str(&format!("[fields.f{i}]\nrule = \"{rule}\"\nleft = \"l{i}\"\nright = \"r{i}\"\n"));
    }
    load_str(&src, Path::new("bench.toml")).expect("bench mapping is valid")
}

fn data() -> Vec<(CanonMap, CanonMap, CanonMap)> {
    (0..RECORDS)
        .map(|n| {
            let base: CanonMap =
                (0..FIELDS).map(|i| (format!("f{i}"), Some(format!("value {n} {i}")))).collect();
            let mut left = base.clone();
            let right = base.clone();
            if n % 20 == 0 {
                left.insert(format!("f{}", n % FIELDS), Some(format!("changed {n}")));
            }
            (base, left, right)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pair = pair();
    let data = data();
    let at = DateTime::from_timestamp(1_770_000_000, 0).unwrap_or_default();
    c.bench_function("plan 100k links x 12 fields, 5% changed", |b| {
        b.iter(|| {
            let mut plan = Plan::new(&pair);
            for (n, (base, left, right)) in data.iter().enumerate() {
                let id = if n % 2 == 0 { "even" } else { "odd" };
                let l = SideView { id, values: left, modified_at: Some(at) };
                let r = SideView { id, values: right, modified_at: Some(at) };
                plan.push_link(plan_link(&pair, base, &l, &r));
            }
            assert_eq!(plan.links.len(), RECORDS / 20);
            black_box(plan)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
