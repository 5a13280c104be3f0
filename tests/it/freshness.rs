//! Freshness (issue #19): a synced change records how long after the source record's own
//! modified time the write to the other side succeeded, in the store (per pair and path), in
//! `status` (p50/p99, text and JSON) and in `/metrics` (`crosswalk_freshness_seconds`). The
//! clock is the world's one manual clock, which both fake systems stamp their edits with.

use std::time::Duration;

use connector_api::Clock;
use crosswalk::ops::metrics::Metrics;
use crosswalk::sync::{SyncOptions, SyncPath};

use crate::sync_engine::{World, fields};

/// Seeds a client, lets it be created and settle, then edits it and waits `after` before the
/// next run's five minutes. Returns the run's report and when the edit was made.
async fn edited_then_synced(
    w: &World,
    after: Duration,
) -> (crosswalk::sync::RunReport, chrono::DateTime<chrono::Utc>) {
    let id = w.a.seed("clients", fields(&[("email", "fa@example.test"), ("first_name", "Fa")]));
    w.run().await;
    w.run().await;
    w.a.edit("clients", &id, fields(&[("email", "fa@example.test"), ("first_name", "Fanny")]));
    let edited_at = w.clock.now();
    w.clock.advance(after);
    let report = w.run().await;
    let contact = w.b.live_records("contacts").into_iter().next().expect("the contact");
    assert_eq!(contact.fields.get("firstname").and_then(|v| v.as_str()), Some("Fanny"), "the edit arrived");
    (report, edited_at)
}

#[tokio::test]
async fn a_synced_edit_records_its_freshness_from_the_records_time_in_the_store_status_and_metrics() {
    let w = World::new(61).await;
    let (report, edited_at) = edited_then_synced(&w, Duration::from_secs(60)).await;
    let pair = w.pair.name.clone();

    let samples = w.store.freshness(&pair, 10).await.expect("samples");
    // The create (seeded at the epoch, written 300 s later) and the edit (written 360 s after
    // the edit's own time: the 60 s wait and the run's five minutes).
    let got: Vec<(i64, &str)> = samples.iter().map(|s| (s.millis, s.path.as_str())).collect();
    assert_eq!(got, [(360_000, "poll"), (300_000, "poll")], "{samples:?}");
    assert_eq!(samples[0].at, edited_at + Duration::from_secs(360), "stamped when the write succeeded");

    let status = crosswalk::status::gather(&w.store, &w.clock.shared(), 5).await.expect("status");
    let f = status.freshness.iter().find(|f| f.pair == pair).expect("the pair's freshness");
    assert_eq!(
        (f.samples, f.webhook_samples, f.p50_seconds, f.p99_seconds),
        (2, 0, Some(300.0), Some(360.0))
    );
    let text = crosswalk::status::render::text(&status);
    let line = text.lines().find(|l| l.contains(&pair) && l.contains("p50")).expect(&text);
    assert!(line.contains("300.0s") && line.contains("360.0s") && line.contains("2 writes"), "{line}");
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["freshness"][0]["p99_seconds"], 360.0, "{json}");

    let metrics = Metrics::new();
    metrics.observe_run(&report, 1.0, w.clock.now());
    let text = metrics.encode();
    let labels = format!("pair=\"{pair}\",path=\"poll\"");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("crosswalk_freshness_seconds_{name}{{")) && l.contains(&labels))
            .unwrap_or_else(|| panic!("no {name} for {labels}: {text}"))
            .to_string()
    };
    assert!(line("count").ends_with(" 1"), "one write in this run: {}", line("count"));
    assert!(line("sum").ends_with(" 360.0"), "{}", line("sum"));
}

#[tokio::test]
async fn an_engine_on_the_webhook_path_records_its_samples_as_webhook() {
    let opts = SyncOptions { path: SyncPath::Webhook, ..SyncOptions::default().creating_on_first_sync() };
    let w = World::with(62, |_| {}, opts).await;
    let (report, _) = edited_then_synced(&w, Duration::from_secs(5)).await;
    let samples = w.store.freshness(&w.pair.name, 10).await.expect("samples");
    assert_eq!(samples[0].millis, 305_000);
    assert!(samples.iter().all(|s| s.path == "webhook"), "{samples:?}");
    assert_eq!(report.pairs[0].stats.freshness, [(SyncPath::Webhook, 305_000)]);
    let status = crosswalk::status::gather(&w.store, &w.clock.shared(), 5).await.expect("status");
    assert_eq!(status.freshness[0].webhook_samples, 2);
}
