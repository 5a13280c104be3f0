//! The API-cost report and the backlogs of `crosswalk status` and the metrics: per system, the
//! requests per synced record over the last runs beside the batch-limited minimum; per stream,
//! the backlog its last run left, the ETA to drain it, and the verification sweep's promise
//! ("a silent edit is found within N runs").

use serde::Serialize;

use crate::store::{RunCost, StreamBacklog};

/// How many of the newest runs the cost report sums.
pub const COST_RUNS: usize = 10;

/// One system's API cost over the last runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemCost {
    pub system: String,
    /// Runs summed (at most [`COST_RUNS`]).
    pub runs: usize,
    /// Requests sent in them (every attempt, retries included).
    pub requests: u64,
    /// Records those runs synced (created or updated on any system).
    pub records: u64,
    /// The fewest requests the API's batch limits allow for that work.
    pub minimum: u64,
    /// `requests / records`.
    pub per_record: Option<f64>,
    /// `minimum / records`.
    pub minimum_per_record: Option<f64>,
    /// The newest run's row.
    pub last: RunCost,
}

/// Sums `costs` (rows of several runs, newest first) per system.
pub fn summarise(costs: &[RunCost]) -> Vec<SystemCost> {
    let mut out: Vec<SystemCost> = Vec::new();
    for c in costs {
        match out.iter_mut().find(|s| s.system == c.system) {
            Some(s) => {
                s.runs += 1;
                s.requests += c.requests;
                s.records += c.records;
                s.minimum += c.minimum;
            }
            None => out.push(SystemCost {
                system: c.system.clone(),
                runs: 1,
                requests: c.requests,
                records: c.records,
                minimum: c.minimum,
                per_record: None,
                minimum_per_record: None,
                last: c.clone(),
            }),
        }
    }
    for s in &mut out {
        if s.records > 0 {
            s.per_record = Some(s.requests as f64 / s.records as f64);
            s.minimum_per_record = Some(s.minimum as f64 / s.records as f64);
        }
    }
    out.sort_by(|a, b| a.system.cmp(&b.system));
    out
}

/// The rows of the newest `n` runs among `costs` (newest first).
pub fn newest_runs(costs: &[RunCost], n: usize) -> Vec<RunCost> {
    let mut ids: Vec<&str> = Vec::new();
    for c in costs {
        if !ids.contains(&c.run_id.as_str()) {
            ids.push(&c.run_id);
        }
    }
    ids.truncate(n);
    costs.iter().filter(|c| ids.contains(&c.run_id.as_str())).cloned().collect()
}

/// The runs whose time box stopped a stream, each with the systems whose streams it stopped.
pub fn carried_runs(costs: &[RunCost]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for c in costs.iter().filter(|c| c.carried > 0) {
        match out.iter_mut().find(|(id, _)| *id == c.run_id) {
            Some((_, systems)) => systems.push(c.system.clone()),
            None => out.push((c.run_id.clone(), vec![c.system.clone()])),
        }
    }
    out
}

/// One stream's backlog as `status` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacklogStatus {
    #[serde(flatten)]
    pub backlog: StreamBacklog,
    /// The ETA in seconds (`None`: unknown).
    pub eta_seconds: Option<f64>,
    /// A silent edit on this side is found within this many runs (`None`: not swept).
    pub sweep_found_within_runs: Option<u64>,
}

impl From<StreamBacklog> for BacklogStatus {
    fn from(b: StreamBacklog) -> Self {
        Self {
            eta_seconds: b.eta_ms.map(|ms| ms as f64 / 1000.0),
            sweep_found_within_runs: b.sweep_runs(),
            backlog: b,
        }
    }
}
