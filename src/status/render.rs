//! The status report as readable tables: runs (with counts and windows), streams with their lag,
//! the review queue, dead letters and systems. Times are UTC.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{RunRecord, StreamWindow};

use super::costs::{BacklogStatus, SystemCost};
use super::{PairFreshness, StatusReport, StreamStatus, SystemStatus};

/// The whole report.
pub fn text(r: &StatusReport) -> String {
    let mut s = format!("Status at {} (store: {})\n", time(r.generated_at), r.store);
    runs(&mut s, &r.queue.recent_runs, &r.carried_runs, r.generated_at);
    streams(&mut s, &r.streams);
    backlogs(&mut s, &r.backlogs);
    api_costs(&mut s, &r.api_costs);
    freshness(&mut s, &r.freshness);
    let q = &r.queue;
    let kinds: Vec<String> =
        q.open_by_kind.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    let kinds = if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) };
    let _ = writeln!(
        s,
        "\nReview queue: {} open{kinds}; {} resolved, waiting for the next run",
        q.open_total, q.resolved_waiting
    );
    let _ = writeln!(s, "Dead letters: {} open", q.dead_letters);
    let mut by_reason: Vec<(&String, &u64)> = q.dead_letters_by_reason.iter().collect();
    by_reason.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (reason, n) in by_reason {
        let _ = writeln!(s, "  {n:>5}  {reason}");
    }
    if q.dead_letters > 0 {
        let _ = writeln!(
            s,
            "  (`crosswalk dead-letters list` shows them; `retry ID` or `discard ID` acts on one)"
        );
    }
    breakers(&mut s, &r.breakers);
    match &r.systems {
        None => s.push_str("\nSystems: not probed\n"),
        Some(systems) => self::systems(&mut s, systems),
    }
    s
}

fn breakers(s: &mut String, breakers: &[crate::store::BreakerState]) {
    let open: Vec<_> = breakers.iter().filter(|b| b.open).collect();
    if open.is_empty() {
        s.push_str("Circuit breakers: all closed\n");
        return;
    }
    for b in open {
        let _ = writeln!(
            s,
            "Circuit breaker OPEN for `{}` since {}: its pairs are paused ({}); it closes when the system answers again, or run `crosswalk resume {}`",
            b.system,
            short_time(b.opened_at),
            b.reason.as_deref().unwrap_or("repeated failures"),
            b.system
        );
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn short_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.format("%m-%d %H:%M:%S").to_string())
}

fn span(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let d = (to - from).to_std().unwrap_or_default();
    // Whole seconds above a minute, milliseconds below.
    let d = if d >= Duration::from_secs(60) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

fn runs(s: &mut String, runs: &[RunRecord], carried: &[(String, Vec<String>)], now: DateTime<Utc>) {
    if runs.is_empty() {
        s.push_str("\nRuns: none recorded yet\n");
        return;
    }
    let _ = writeln!(s, "\nLast {} run(s), newest first", runs.len());
    for r in runs {
        let (status, took) = match (r.status, r.finished_at) {
            (Some(st), Some(end)) => (st.as_str(), format!("took {}", span(r.started_at, end))),
            _ => ("running", format!("running for {} (or crashed)", span(r.started_at, now))),
        };
        let pairs = if r.pairs.is_empty() { "all pairs".to_string() } else { r.pairs.join(", ") };
        let _ = writeln!(s, "  {}  {:<9} {:<8} started {}, {took}", r.id, r.kind, status, time(r.started_at));
        let _ = writeln!(s, "    pairs: {pairs}");
        let c = &r.counts;
        let _ = writeln!(
            s,
            "    pulled {}, re-read in overlap {}, linked {}, created {}, updated {}, conflicts {}, rejected {}",
            c.pulled, c.reread, c.linked, c.created, c.updated, c.conflicts, c.rejected
        );
        for w in &r.windows {
            let _ = writeln!(s, "    window {}", window(w));
        }
        if let Some((_, systems)) = carried.iter().find(|(id, _)| *id == r.id) {
            let _ =
                writeln!(s, "    time box reached, backlog carried to the next run ({})", systems.join(", "));
        }
        if let Some(e) = &r.error {
            let _ = writeln!(s, "    error: {e}");
        }
    }
}

fn window(w: &StreamWindow) -> String {
    format!(
        "{}/{} [{} .. {}]  ({})",
        w.stream.system,
        w.stream.object,
        short_time(w.from),
        short_time(w.to),
        w.stream.scope
    )
}

fn streams(s: &mut String, streams: &[StreamStatus]) {
    if streams.is_empty() {
        s.push_str("\nStreams: no checkpoint saved yet\n");
        return;
    }
    s.push_str("\nStreams (lag = now - newest change applied)\n");
    let _ =
        writeln!(s, "  {:<48} {:<24} {:<31} {:>10}  committed", "scope", "system/object", "window", "lag");
    for st in streams {
        let lag = st.lag_seconds.map_or_else(
            || "-".to_string(),
            |n| humantime::format_duration(Duration::from_secs(n.max(0) as u64)).to_string(),
        );
        let _ = writeln!(
            s,
            "  {:<48} {:<24} {:<31} {:>10}  {}",
            st.stream.scope,
            format!("{}/{}", st.stream.system, st.stream.object),
            format!("{} .. {}", short_time(st.window_from), short_time(st.window_to)),
            lag,
            short_time(Some(st.committed_at)),
        );
    }
}

fn seconds(secs: f64) -> String {
    let d = Duration::from_secs_f64(secs.max(0.0));
    let d = if d >= Duration::from_secs(60) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

fn backlogs(s: &mut String, backlogs: &[BacklogStatus]) {
    if backlogs.is_empty() {
        return;
    }
    s.push_str(
        "\nBacklog (as each stream's last run left it; ETA at that run's pace, one run per interval)\n",
    );
    for b in backlogs {
        let k = &b.backlog;
        let name = format!("{} {}/{}", k.pair, k.stream.system, k.stream.object);
        let state = if !k.carried {
            format!("caught up ({} change(s) read in {})", k.drained, seconds(k.run_ms as f64 / 1000.0))
        } else {
            let records = match (k.records, k.counted) {
                (Some(n), true) => format!("{n} change(s) left (counted by the API)"),
                (Some(n), false) => {
                    format!("about {n} change(s) left (extrapolated: the API gives no count)")
                }
                (None, _) => "change(s) left: unknown".to_string(),
            };
            let eta =
                b.eta_seconds.map_or_else(|| "ETA unknown".to_string(), |e| format!("ETA {}", seconds(e)));
            format!(
                "time box reached, backlog carried: {records}, {} behind; {} drained in {}; {eta}",
                seconds(k.behind_ms as f64 / 1000.0),
                k.drained,
                seconds(k.run_ms as f64 / 1000.0)
            )
        };
        let _ = writeln!(s, "  {name:<56} {state}");
    }
    for b in backlogs {
        if let (Some(n), Some(budget)) = (b.sweep_found_within_runs, b.backlog.sweep_budget) {
            let k = &b.backlog;
            let _ = writeln!(
                s,
                "  sweep {} {}: {budget} of {} linked record(s) re-read per run: a silent edit is found within {n} run(s)",
                k.pair, k.stream.system, k.linked
            );
        }
    }
}

fn api_costs(s: &mut String, costs: &[SystemCost]) {
    if costs.is_empty() {
        return;
    }
    let runs = costs.iter().map(|c| c.runs).max().unwrap_or_default();
    let _ = writeln!(
        s,
        "\nAPI cost over the last {runs} run(s): requests per synced record, beside the batch-limited minimum"
    );
    let ratio = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    for c in costs {
        let over = match (c.requests, c.minimum) {
            (_, 0) => "-".to_string(),
            (r, m) => format!("{:.2}x", r as f64 / m as f64),
        };
        let _ = writeln!(
            s,
            "  {:<12} {} request(s) for {} record(s): {}/record, minimum {} ({} request(s)), {over} the minimum; last run {} for {}",
            c.system,
            c.requests,
            c.records,
            ratio(c.per_record),
            ratio(c.minimum_per_record),
            c.minimum,
            c.last.requests,
            c.last.records
        );
    }
}

fn freshness(s: &mut String, pairs: &[PairFreshness]) {
    if pairs.is_empty() {
        return;
    }
    s.push_str("\nFreshness (source change -> write to the other side, newest samples)\n");
    let secs = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}s"));
    for f in pairs {
        let _ = writeln!(
            s,
            "  {:<48} p50 {:>9}  p99 {:>9}  ({} writes, {} by webhook)",
            f.pair,
            secs(f.p50_seconds),
            secs(f.p99_seconds),
            f.samples,
            f.webhook_samples
        );
    }
}

fn systems(s: &mut String, systems: &[SystemStatus]) {
    if systems.is_empty() {
        s.push_str("\nSystems: none configured\n");
        return;
    }
    s.push_str("\nSystems (remaining API budgets as the remote reports them)\n");
    for sys in systems {
        let budgets: Vec<String> = sys
            .budgets
            .iter()
            .map(|b| {
                let of = b.limit.map(|l| format!("/{l}")).unwrap_or_default();
                let per = b.window.as_deref().map(|w| format!(" per {w}")).unwrap_or_default();
                format!("{} {}{of}{per}", b.bucket, b.remaining)
            })
            .collect();
        let budgets = if budgets.is_empty() { "-".to_string() } else { budgets.join(", ") };
        let _ = writeln!(s, "  {:<12} {:<14} {:<16} {budgets}", sys.name, sys.kind, sys.health.as_str());
        if let Some(m) = &sys.message {
            let _ = writeln!(s, "    {m}");
        }
    }
}
