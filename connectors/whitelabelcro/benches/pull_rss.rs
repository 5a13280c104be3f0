//! Peak RSS of a whole-feed pull (`harness = false`; Linux only): for N = 10,000 and 100,000
//! events, a fresh process seeds the in-process simulator, resets the peak (`clear_refs` = 5),
//! then pulls the feed page by page (200 per page) the way the engine does — each page dropped
//! before the next — and prints RSS before, the peak during the pull, and the growth.
//!
//! The simulator lives in the same process (its 100,000 stored events are in "before"); the
//! growth during the pull is what the connector and the HTTP round trips cost, and it should not
//! grow with N. Run: `cargo bench -p connector-whitelabelcro --bench pull_rss`.

mod common;

use std::time::Instant;

use connector_api::{Checkpoint, Connector, PullRequest};
use connector_whitelabelcro::WlcroConnector;

const CHILD_VAR: &str = "WLCRO_PULL_RSS_EVENTS";

fn main() {
    if let Ok(n) = std::env::var(CHILD_VAR) {
        let n: usize = n.parse().expect("event count");
        measure(n);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    println!("whitelabelcro pull peak RSS (one fresh process per N; pages of 200)");
    println!(
        "{:>9} {:>12} {:>12} {:>12} {:>10} {:>11}",
        "events", "rss_before", "peak_pull", "growth", "pull_s", "events/s"
    );
    for n in [10_000usize, 100_000] {
        let out = std::process::Command::new(&exe).env(CHILD_VAR, n.to_string()).output().expect("run child");
        assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn measure(n: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (handle, state, connector) = common::seeded(n).await;

        let before = status_kib("VmRSS:");
        reset_peak();
        let started = Instant::now();
        let pulled = pull_all(&connector, state.now()).await;
        let secs = started.elapsed().as_secs_f64();
        let peak = status_kib("VmHWM:");
        assert_eq!(pulled, n, "every event pulled once");
        println!(
            "{n:>9} {:>9} MiB {:>9} MiB {:>9} MiB {secs:>10.2} {:>11.0}",
            mib(before),
            mib(peak),
            mib(peak.saturating_sub(before)),
            n as f64 / secs
        );
        drop(handle);
    });
}

/// Pulls the whole feed page by page, keeping only a count (as the engine keeps one page).
async fn pull_all(c: &WlcroConnector, horizon: chrono::DateTime<chrono::Utc>) -> usize {
    let mut checkpoint: Option<Checkpoint> = None;
    let mut n = 0;
    loop {
        let req = PullRequest {
            object: "leads",
            checkpoint: checkpoint.as_ref(),
            rewind: None,
            horizon,
            since: None,
            until: None,
            limit: 200,
        };
        let page = c.pull(req).await.expect("pull");
        n += page.changes.len();
        if page.done {
            return n;
        }
        checkpoint = Some(page.next);
    }
}

/// A `/proc/self/status` line's value in KiB.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak is the pull's alone.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS via /proc/self/clear_refs");
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
