//! `/healthz` (is the store reachable) and `/metrics` (Prometheus text written by hand from
//! store counts: open review items by kind, resolved items waiting, dead letters, recent runs
//! by status, and the last finished run's counts). Neither needs the admin token: they carry
//! counts only, never ids or values.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::review::QueueStatus;
use crate::store::RunStatus;

/// How many recent runs the run metrics look at.
const RUNS_WINDOW: usize = 100;

/// `GET /healthz`.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.review.store().count_open_review().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: state store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "state store unreachable\n").into_response()
        }
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.review.status(RUNS_WINDOW).await {
        Ok(status) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render(&status))
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics: state store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "state store unreachable\n").into_response()
        }
    }
}

/// The Prometheus exposition text for `status`.
pub fn render(status: &QueueStatus) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, rows: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let by_kind: Vec<(String, u64)> =
        status.open_by_kind.iter().map(|(k, n)| (format!("{{kind=\"{k}\"}}"), *n)).collect();
    gauge("crosswalk_review_open_items", "Open review items by kind.", &by_kind);
    gauge(
        "crosswalk_review_resolved_waiting",
        "Resolved review items the next run will apply.",
        &[(String::new(), status.resolved_waiting)],
    );
    gauge("crosswalk_dead_letters", "Dead letters recorded.", &[(String::new(), status.dead_letters)]);

    let mut by_status: BTreeMap<&str, u64> = RunStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    by_status.insert("running", 0);
    for run in &status.recent_runs {
        *by_status.entry(run.status.map_or("running", |s| s.as_str())).or_default() += 1;
    }
    let rows: Vec<(String, u64)> =
        by_status.iter().map(|(s, n)| (format!("{{status=\"{s}\"}}"), *n)).collect();
    gauge("crosswalk_recent_runs", "Runs among the latest 100, by status.", &rows);

    if let Some(last) = status.recent_runs.iter().find(|r| r.finished_at.is_some()) {
        let c = &last.counts;
        let rows = [
            ("pulled", c.pulled),
            ("written", c.created + c.updated + c.deleted),
            ("conflicts", c.conflicts),
            ("rejected", c.rejected),
            ("linked", c.linked),
        ]
        .map(|(what, n)| (format!("{{count=\"{what}\"}}"), n));
        gauge("crosswalk_last_run_records", "Records the last finished run pulled, wrote, …", &rows);
        if let Some(t) = last.finished_at {
            gauge(
                "crosswalk_last_run_finished_timestamp_seconds",
                "When the last run finished (Unix time).",
                &[(String::new(), t.timestamp().max(0) as u64)],
            );
        }
    }
    out
}
