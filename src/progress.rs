//! Progress of long operations (backfills): counts, rate and an honest ETA, drawn as a bar on a
//! terminal and as plain log lines otherwise.
//!
//! The ETA is the larger of two estimates: the observed one (records left at the rate seen so
//! far) and the quota one (the writes still to come at the target system's write limit). The
//! quota bound keeps the ETA honest at the start of a paced backfill, when the first requests
//! ride on a full rate-limit bucket and the observed rate is far above what the limit allows:
//! 10,000 creates into WhiteLabelCRO at 100 writes a minute show about 100 minutes from the first
//! page on.
//!
//! The display starts before anything is read ([`BackfillProgress::starting`]): counting the
//! records and the first page can take minutes behind a rate limit, and a blank screen for that
//! long reads as a hang.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::SharedClock;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::mapping::Side;
use crate::sync::{PageStats, ProgressSink};

/// The numbers an ETA is made of, for one phase (one side's stream).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EtaInput {
    /// Records expected in the phase, if the system can say.
    pub total: Option<u64>,
    /// Records processed so far in the phase.
    pub done: u64,
    /// Remote writes made so far in the phase.
    pub writes: u64,
    /// Time since the phase started.
    pub elapsed: Duration,
    /// Records per second the written-to system accepts, if it is rate-limited.
    pub write_capacity: Option<f64>,
}

/// The ETA of a phase, or `None` when the total is unknown or nothing was processed yet.
pub fn eta(i: EtaInput) -> Option<Duration> {
    let total = i.total?;
    let left = total.saturating_sub(i.done) as f64;
    if left == 0.0 {
        return Some(Duration::ZERO);
    }
    if i.done == 0 {
        return None;
    }
    let observed = i.elapsed.as_secs_f64() / i.done as f64 * left;
    let quota = i.write_capacity.filter(|c| *c > 0.0).map_or(0.0, |cap| {
        let writes_per_record = i.writes as f64 / i.done as f64;
        left * writes_per_record / cap
    });
    Some(Duration::from_secs_f64(observed.max(quota)))
}

/// Per side: (expected records, write capacity of the system that side's records are written to).
pub type Plan = BTreeMap<Side, (Option<u64>, Option<f64>)>;

/// One phase as the sink tracks it.
#[derive(Debug, Clone)]
struct Phase {
    side: Side,
    started: DateTime<Utc>,
    base: PageStats,
    total: Option<u64>,
    capacity: Option<f64>,
}

/// A [`ProgressSink`] that draws a bar (terminal) or logs a line per page (otherwise).
pub struct BackfillProgress {
    bar: ProgressBar,
    clock: SharedClock,
    /// Per side: (expected records, write capacity of the *other* side, where its writes go).
    plan: Mutex<Plan>,
    phase: Mutex<Option<Phase>>,
    last: Mutex<PageStats>,
    plain: bool,
}

impl BackfillProgress {
    /// A progress display; `plan` gives, per side, the expected record count and the write
    /// capacity of the system that side's records are written to.
    pub fn new(clock: SharedClock, plan: BTreeMap<Side, (Option<u64>, Option<f64>)>, terminal: bool) -> Self {
        let bar = if terminal {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            clock,
            plan: Mutex::new(plan),
            phase: Mutex::new(None),
            last: Mutex::new(PageStats::default()),
            plain: !terminal,
        }
    }

    /// Draws the first line at once, before anything is read: the bar with `pair` and what
    /// comes first on a terminal, a log line otherwise.
    pub fn starting(&self, pair: &str) {
        if self.plain {
            tracing::info!(
                pair,
                "backfill starting: counting the records to read, then reading the first page; a line follows every page"
            );
        } else {
            self.bar.set_prefix(pair.to_string());
            self.bar.set_message("counting the records to read, then reading the first page");
            self.bar.enable_steady_tick(Duration::from_millis(250));
        }
    }

    /// Sets the expected counts and write capacities once they are known (see [`Self::new`]).
    pub fn set_plan(&self, plan: Plan) {
        *self.plan.lock().expect("progress lock") = plan;
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ProgressSink for BackfillProgress {
    fn page(&self, pair: &str, side: Side, total: &PageStats, newest: Option<DateTime<Utc>>) {
        let now = self.clock.now();
        let mut guard = self.phase.lock().expect("progress lock");
        if guard.as_ref().is_none_or(|p| p.side != side) {
            let plan = self.plan.lock().expect("progress lock").get(&side).copied();
            let (expected, capacity) = plan.unwrap_or((None, None));
            // The page just processed opened this phase: it starts from the totals before it.
            let base = self.last.lock().expect("progress lock").clone();
            *guard = Some(Phase { side, started: now, base, total: expected, capacity });
            self.bar.set_position(0);
            if let Some(t) = expected {
                self.bar.set_length(t);
            }
            self.bar.set_prefix(format!("{pair} {}", side.as_str()));
        }
        *self.last.lock().expect("progress lock") = total.clone();
        let Some(phase) = guard.as_ref() else { return };
        let done = total.run.pulled.saturating_sub(phase.base.run.pulled);
        let writes = total.written().saturating_sub(phase.base.written());
        let elapsed = (now - phase.started).to_std().unwrap_or_default();
        let rate = if elapsed.as_secs_f64() > 0.0 { done as f64 / elapsed.as_secs_f64() * 60.0 } else { 0.0 };
        let eta_text =
            match eta(EtaInput { total: phase.total, done, writes, elapsed, write_capacity: phase.capacity })
            {
                Some(d) => humantime::format_duration(Duration::from_secs(d.as_secs())).to_string(),
                None if phase.total.is_none() => {
                    "unknown (the system does not say how many records to expect)".into()
                }
                None => "estimating".into(),
            };
        let s = &total.run;
        let counts = format!(
            "created {}, updated {}, linked {}, conflicts {}, rejected {}",
            s.created, s.updated, s.linked, s.conflicts, s.rejected
        );
        let through = newest.map(|t| format!(", read through {}", t.to_rfc3339())).unwrap_or_default();
        if self.plain {
            tracing::info!(
                pair,
                side = side.as_str(),
                read = done,
                expected = phase.total,
                per_minute = format!("{rate:.0}"),
                eta = %eta_text,
                "backfill progress: {counts}{through}"
            );
        } else {
            self.bar.set_position(done);
            self.bar.set_message(format!("{rate:.0}/min, ETA {eta_text}; {counts}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_of_a_paced_backfill_is_bound_by_the_write_limit_from_the_first_page() {
        // 10,000 records, each a create into a system taking 100 writes a minute. The first
        // 100 creates ride on a full bucket and take 2 seconds.
        let e = eta(EtaInput {
            total: Some(10_000),
            done: 100,
            writes: 100,
            elapsed: Duration::from_secs(2),
            write_capacity: Some(100.0 / 60.0),
        })
        .expect("an eta");
        let minutes = e.as_secs_f64() / 60.0;
        assert!((98.0..=100.0).contains(&minutes), "ETA {minutes:.1} min, want ~99");
    }

    #[test]
    fn eta_follows_the_observed_rate_when_it_is_slower_than_the_quota() {
        let e = eta(EtaInput {
            total: Some(1_000),
            done: 500,
            writes: 10,
            elapsed: Duration::from_secs(500),
            write_capacity: Some(1_000.0),
        })
        .expect("an eta");
        assert_eq!(e.as_secs(), 500);
    }

    #[test]
    fn eta_is_unknown_without_a_total_or_before_the_first_record() {
        let base = EtaInput {
            total: None,
            done: 10,
            writes: 0,
            elapsed: Duration::from_secs(1),
            write_capacity: None,
        };
        assert_eq!(eta(base), None);
        assert_eq!(eta(EtaInput { total: Some(10), done: 0, ..base }), None);
        assert_eq!(eta(EtaInput { total: Some(10), done: 10, ..base }), Some(Duration::ZERO));
    }
}
