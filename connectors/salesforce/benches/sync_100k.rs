//! Incremental pull and upsert of N Contacts through the Salesforce connector against the
//! in-process simulator (`harness = false`; Linux only, for `/proc/self/status`).
//!
//! For N = 10,000 and 100,000 this process starts the simulator and seeds N Contacts (each with
//! an external id), then runs each phase in a **fresh child process** that holds only the
//! connector: the child's peak RSS (`VmHWM`) and CPU time are the connector's alone, not the
//! simulator's (which keeps every record and copies its store on each collections call). The
//! parent counts the requests each phase made from the simulator's request log.
//!
//! Phases: `pull/200` (at 10,000 only) and `pull/2000` read every Contact with the incremental
//! `SystemModstamp` query from an empty checkpoint, page after page (200 is the engine's default
//! page size, 2,000 one SOQL batch), keeping only a count as the engine keeps one page. `upsert`
//! sends N create-by-external-id writes (sObject Collections, 200 per call) that each find and
//! update an existing Contact. It runs against a second org of [`UPSERT_ORG`] Contacts, cycling
//! over them: the simulator looks external ids up by a linear scan, so an org of N records would
//! make the simulator's cost quadratic in N and hide the connector's.
//!
//! Run: `cargo bench -p connector-salesforce --bench sync_100k`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connector_api::http::ReqwestTransport;
use connector_api::{Checkpoint, Connector, FieldMap, IdentityKey, ManualClock, PullRequest, Write, WriteOp};
use connector_salesforce::{SalesforceConfig, SalesforceConnector};
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use sim_salesforce::{ObjectKind, Quirks, SeedRecord, SimConfig, SimState};

const EXT: &str = "WLCRO_Id__c";
const VAR_URL: &str = "SF_BENCH_URL";
const VAR_PHASE: &str = "SF_BENCH_PHASE";
const VAR_N: &str = "SF_BENCH_N";
const VAR_NOW: &str = "SF_BENCH_NOW";
/// Contacts seeded per simulated second (so stamps tie in runs of 500, as in a bulk load).
const PER_SECOND: usize = 500;
/// Rows per collections call.
const BATCH: usize = 200;
/// Contacts in the org the upsert phase writes to.
const UPSERT_ORG: usize = 2_000;

fn main() {
    if let Ok(phase) = std::env::var(VAR_PHASE) {
        child(&phase);
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("salesforce connector vs in-process simulator (connector in a fresh child process per phase)");
    println!(
        "{:>8} {:>10} {:>9} {:>10} {:>11} {:>10} {:>11} {:>12}",
        "records", "phase", "requests", "req/1000", "wall_s", "records/s", "child_cpu_s", "child_peak"
    );
    // `SF_BENCH_SIZES=2000,5000` for a quick look; the figures in BENCHMARKS.md use the default.
    let sizes = std::env::var("SF_BENCH_SIZES").unwrap_or_else(|_| "10000,100000".into());
    for n in sizes.split(',').filter_map(|s| s.trim().parse::<usize>().ok()) {
        rt.block_on(parent(n));
    }
}

async fn org(records: usize) -> (sim_core::SimHandle, SimState) {
    let t0 = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").expect("time").to_utc();
    let config = SimConfig {
        seed: 3,
        start_time: Some(t0),
        external_id_fields: vec![EXT.into()],
        quirks: Quirks { daily_limit: 100_000_000, ..Quirks::default() },
        ..SimConfig::default()
    };
    let (handle, sim) = sim_salesforce::start(config).await.expect("simulator");
    seed(&sim, records);
    sim.advance(chrono::Duration::seconds(60));
    (handle, sim)
}

async fn parent(n: usize) {
    let (pull_handle, pull_sim) = org(n).await;
    let (upsert_handle, upsert_sim) = org(UPSERT_ORG).await;
    // Pages of 200 only at 10,000: the simulator sorts every matching row for each query, so
    // 500 queries over 100,000 rows measure the simulator, not the connector.
    let phases: &[&str] =
        if n <= 10_000 { &["pull/200", "pull/2000", "upsert"] } else { &["pull/2000", "upsert"] };
    for &phase in phases {
        let (sim, url) = match phase {
            "upsert" => (&upsert_sim, upsert_handle.base_url()),
            _ => (&pull_sim, pull_handle.base_url()),
        };
        sim.log.clear();
        let (now, phase_s) = (sim.now().to_rfc3339(), phase.to_string());
        let out = tokio::task::spawn_blocking(move || {
            let exe = std::env::current_exe().expect("own path");
            std::process::Command::new(exe)
                .env(VAR_URL, url)
                .env(VAR_PHASE, phase_s)
                .env(VAR_N, n.to_string())
                .env(VAR_NOW, now)
                .output()
                .expect("run child")
        })
        .await
        .expect("child task");
        assert!(out.status.success(), "{phase} child failed: {}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8_lossy(&out.stdout);
        let requests = sim.log.entries().len();
        let per_1000 = requests as f64 * 1000.0 / n as f64;
        println!("{n:>8} {phase:>10} {requests:>9} {per_1000:>10.2} {}", line.trim_end());
        if phase == "upsert" {
            let last = format!("Synced{}", (n - 1) / UPSERT_ORG);
            let synced = sim.records().iter().filter(|r| r.fields.get("Title") == Some(&last)).count();
            assert!(synced > 0, "the last pass landed");
            assert_eq!(sim.records().len(), UPSERT_ORG, "upserts found the records: none created");
        }
        sim.advance(chrono::Duration::seconds(60));
    }
    pull_handle.stop().await;
    upsert_handle.stop().await;
}

fn seed(sim: &SimState, n: usize) {
    for start in (0..n).step_by(PER_SECOND) {
        let records = (start..(start + PER_SECOND).min(n))
            .map(|i| SeedRecord {
                object: Some(ObjectKind::Contact),
                fields: obj(json!({
                    "FirstName": "Bench",
                    "LastName": format!("Contact{i}"),
                    "Email": format!("bench{i}@example.test"),
                    "Phone": format!("+1415555{:04}", i % 10_000),
                    EXT: format!("wl-{i}"),
                })),
                ..SeedRecord::default()
            })
            .collect();
        sim.seed(records).expect("seed");
        sim.advance(chrono::Duration::seconds(1));
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn child(phase: &str) {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let n: usize = var(VAR_N).parse().expect("N");
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(&var(VAR_NOW)).expect("now").to_utc();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let clock = ManualClock::new(now);
        let mut cfg = SalesforceConfig::new(
            var(VAR_URL),
            "sim-consumer-key",
            SecretString::from("sim-consumer-secret"),
        );
        cfg.external_id_field = EXT.into();
        cfg.allowed_instance_hosts = vec!["http://localhost".to_string()];
        let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(120)).expect("transport"));
        let sf = SalesforceConnector::new(cfg, transport, clock.shared(), 1);
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let done = match phase {
            "pull/200" => pull_all(&sf, now, 200).await,
            "pull/2000" => pull_all(&sf, now, 2000).await,
            "upsert" => upsert_all(&sf, n).await,
            other => panic!("unknown phase {other}"),
        };
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        assert_eq!(done, n, "{phase}: every record exactly once");
        let peak = status_kib("VmHWM:");
        println!("{secs:>11.2} {:>10.0} {cpu:>11.2} {:>8.1} MiB", n as f64 / secs, peak as f64 / 1024.0);
    });
}

/// Pulls every Contact from an empty checkpoint, page by page, keeping only a count.
async fn pull_all(sf: &SalesforceConnector, horizon: DateTime<Utc>, limit: usize) -> usize {
    let mut checkpoint: Option<Checkpoint> = None;
    let mut n = 0;
    loop {
        let req = PullRequest {
            object: "Contact",
            checkpoint: checkpoint.as_ref(),
            rewind: None,
            horizon,
            since: None,
            until: None,
            limit,
        };
        let page = sf.pull(req).await.expect("pull");
        n += page.changes.len();
        if page.done {
            return n;
        }
        checkpoint = Some(page.next);
    }
}

/// Sends `n` upserts by external id over the org's Contacts, 200 per collections call; counts
/// the updates.
async fn upsert_all(sf: &SalesforceConnector, n: usize) -> usize {
    let mut updated = 0;
    for start in (0..n).step_by(BATCH) {
        let writes = (start..(start + BATCH).min(n))
            .map(|i| {
                let (record, pass) = (i % UPSERT_ORG, i / UPSERT_ORG);
                let mut fields = FieldMap::new();
                fields.insert("LastName".into(), json!(format!("Contact{record}")));
                fields.insert("Title".into(), json!(format!("Synced{pass}")));
                let external_id = Some(IdentityKey { field: EXT.into(), value: format!("wl-{record}") });
                Write { key: format!("k{i}"), op: WriteOp::Create { fields, external_id } }
            })
            .collect();
        let outcomes = sf.apply("Contact", writes).await.expect("apply");
        for o in outcomes {
            let written = o.result.expect("row written");
            assert!(!written.created, "the upsert found the seeded record");
            updated += 1;
        }
    }
    updated
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`, clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat (Linux only)");
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
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
