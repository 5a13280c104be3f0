//! The API-cost rows of one run: per system, the requests sent during the run (every attempt,
//! counted by [`Metrics::transport`](super::metrics::Metrics::transport) under the connectors'
//! HTTP client) beside the records the run synced (its remote creates and updates, on any
//! system: what the requests bought) and the batch-limited minimum the engine's meter derives
//! from the work it asked of that system (`sync::meter`). Requests of a micro-sync that ran
//! during the run are counted with it (they share the connectors); the micro-sync's own work is
//! in the meter too, so the ratio stays honest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::Traffic;
use crate::status::costs::{COST_RUNS, newest_runs, summarise};
use crate::store::{RunCost, Store, StoreError};
use crate::sync::RunReport;

/// One row per system the run sent requests to or asked work of.
pub fn of_run(
    report: &RunReport,
    before: &BTreeMap<String, Traffic>,
    after: &BTreeMap<String, Traffic>,
    at: DateTime<Utc>,
) -> Vec<RunCost> {
    let systems: BTreeSet<&String> = after.keys().chain(report.work.keys()).collect();
    systems
        .into_iter()
        .filter_map(|system| {
            let sent = after.get(system).copied().unwrap_or_default();
            let requests = sent.since(&before.get(system).copied().unwrap_or_default()).attempts;
            let work = report.work.get(system).cloned().unwrap_or_default();
            let carried = report
                .pairs
                .iter()
                .flat_map(|p| &p.backlogs)
                .filter(|b| b.carried && &b.stream.system == system)
                .count() as u64;
            let records = report.totals().written();
            (requests > 0 || records > 0).then(|| RunCost {
                run_id: report.run_id.clone(),
                system: system.clone(),
                requests,
                records,
                minimum: work.minimum(),
                carried,
                at,
            })
        })
        .collect()
}

/// The gauges of the cost report and the backlogs, set from the store at each scrape.
#[derive(Default)]
pub struct CostGauges {
    per_record: Family<SystemLabel, Gauge<f64, AtomicU64>>,
    minimum_per_record: Family<SystemLabel, Gauge<f64, AtomicU64>>,
    backlog: Family<StreamLabels, Gauge>,
    eta: Family<StreamLabels, Gauge<f64, AtomicU64>>,
    carried: Family<StreamLabels, Gauge>,
    sweep_runs: Family<SideLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SystemLabel {
    system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    pair: String,
    system: String,
    stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SideLabels {
    pair: String,
    system: String,
}

impl CostGauges {
    /// Registers every gauge in `r`.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "crosswalk_api_requests_per_record",
            "Requests per synced record over the last runs, per system (the API-cost report).",
            self.per_record.clone(),
        );
        r.register(
            "crosswalk_api_requests_per_record_minimum",
            "The batch-limited minimum of requests per synced record over the same runs.",
            self.minimum_per_record.clone(),
        );
        r.register(
            "crosswalk_stream_backlog_records",
            "Changes a stream's last run left to read (counted by the API, or extrapolated).",
            self.backlog.clone(),
        );
        r.register(
            "crosswalk_stream_backlog_eta_seconds",
            "Seconds to drain a stream's backlog at its last run's pace, one run per interval.",
            self.eta.clone(),
        );
        r.register(
            "crosswalk_stream_backlog_carried",
            "1 when the time box stopped the stream's last run before its end.",
            self.carried.clone(),
        );
        r.register(
            "crosswalk_sweep_detection_runs",
            "A silent edit on this side is found within this many runs (ceil(linked / sweep budget)).",
            self.sweep_runs.clone(),
        );
    }

    /// Sets the gauges from the store.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), StoreError> {
        let all = store.run_costs(COST_RUNS).await?;
        self.per_record.clear();
        self.minimum_per_record.clear();
        for c in summarise(&newest_runs(&all, COST_RUNS)) {
            let l = SystemLabel { system: c.system.clone() };
            if let (Some(per), Some(min)) = (c.per_record, c.minimum_per_record) {
                self.per_record.get_or_create(&l).set(per);
                self.minimum_per_record.get_or_create(&l).set(min);
            }
        }
        self.backlog.clear();
        self.eta.clear();
        self.carried.clear();
        self.sweep_runs.clear();
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for b in store.backlogs().await? {
            let pair = b.pair.clone();
            let l = StreamLabels {
                pair: pair.clone(),
                system: b.stream.system.clone(),
                stream: b.stream.object.clone(),
            };
            if let Some(n) = b.records {
                self.backlog.get_or_create(&l).set(signed(n));
            }
            if let Some(ms) = b.eta_ms {
                self.eta.get_or_create(&l).set(ms as f64 / 1000.0);
            }
            self.carried.get_or_create(&l).set(i64::from(b.carried));
            if let Some(n) = b.sweep_runs() {
                self.sweep_runs
                    .get_or_create(&SideLabels { pair, system: b.stream.system.clone() })
                    .set(signed(n));
            }
        }
        Ok(())
    }
}
