//! Incremental pull of N changed contacts through the connector against the HubSpot simulator,
//! at search limit 200: requests per 1,000 records (from the simulator's request log, window
//! restarts and the recycle-bin scan included), records/s, and the puller's peak RSS (VmHWM) at
//! 10,000 and 100,000 records, to show that the pull's memory does not grow with N.
//!
//! `cargo bench -p connector-hubspot --bench pull` prints the figures. Each size runs in two
//! fresh child processes of this binary: one serves the simulator (its memory holds every record,
//! so it grows with N by design), the other runs the connector and reports its own VmHWM, which is
//! the figure that must stay flat. Rate limits are raised on both sides, so nothing is paced.
//! Without `--bench` (e.g. `cargo test --all-targets`) it runs one small size as a smoke check.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use connector_api::http::ReqwestTransport;
use connector_api::{ChangeKind, Checkpoint, Connector, ManualClock, PullRequest};
use connector_hubspot::{HubspotConfig, HubspotConnector, RateLimits};
use serde_json::{Map, Value, json};
use sim_hubspot::{ObjectType, RateLimitConfig, Schema, SimConfig};

const TOKEN: &str = "pat-na1-bench";
const LIMIT: usize = 200;
/// Records sharing one millisecond of `lastmodifieddate` (a realistic mix of ties).
const PER_MS: usize = 3;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    match std::env::var("HS_BENCH_ROLE").as_deref() {
        Ok("sim") => sim_role(),
        Ok("pull") => pull_role(),
        _ => {
            let full = std::env::args().any(|a| a == "--bench");
            let sizes: &[usize] = if full { &[10_000, 100_000] } else { &[1_000] };
            orchestrate(sizes)
        }
    }
}

fn env_num(name: &str) -> Res<i64> {
    Ok(std::env::var(name)?.parse()?)
}

/// Peak resident set size of a process in KiB, from `/proc/<pid>/status`.
fn vm_hwm_kib(pid: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM line")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmHWM line")?.parse()?)
}

/// CPU time (user + system) this process has used, in clock ticks of `/proc/self/stat`.
fn cpu_ticks() -> Res<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the `(comm)`; utime and stime are fields 14 and 15 of the whole line.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok(f.get(11).ok_or("utime")?.parse::<u64>()? + f.get(12).ok_or("stime")?.parse::<u64>()?)
}

/// Serves a simulator holding N contacts changed after `since`, `PER_MS` to a millisecond.
/// Prints `READY url since horizon id_sum`, answers `COUNT` on stdin with its request log
/// (`REQUESTS total search`), and exits when stdin closes.
fn sim_role() -> Res<()> {
    let n = env_num("HS_BENCH_N")? as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let t0 = DateTime::parse_from_rfc3339("2026-03-02T10:00:00.000Z")?.to_utc();
    let cfg = SimConfig {
        seed: 3,
        start_time: Some(t0),
        tokens: vec![TOKEN.to_string()],
        schema: Schema { unique_properties: vec!["wlcro_client_id".into()], ..Schema::default() },
        rate_limits: RateLimitConfig {
            burst_max: u32::MAX,
            daily_max: u64::MAX,
            search_max: u32::MAX,
            ..RateLimitConfig::default()
        },
        ..SimConfig::default()
    };
    let (handle, sim) = rt.block_on(sim_hubspot::start(cfg))?;
    sim.set_search_lag(0, 0);
    // No emails: the simulator checks email uniqueness by scanning every record, which would
    // make seeding quadratic; the pull reads the same properties either way.
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let recs: Vec<Map<String, Value>> = chunk
            .iter()
            .map(|i| json!({"firstname": format!("F{i}"), "lastname": "Bench"}).as_object().cloned())
            .collect::<Option<_>>()
            .ok_or("not an object")?;
        ids.extend(sim.seed(ObjectType::Contacts, &recs)?);
    }
    sim.advance(3_600_000);
    let since = sim.now_ms();
    let change: Map<String, Value> = json!({"lastname": "Changed"}).as_object().cloned().ok_or("object")?;
    for (i, id) in ids.iter().enumerate() {
        if i % PER_MS == 0 {
            sim.advance(1);
        }
        sim.external_edit(ObjectType::Contacts, *id, &change)?;
    }
    sim.advance(10_000);
    let id_sum: u128 = ids.iter().map(|id| u128::from(*id)).sum();
    println!("READY {} {since} {} {id_sum}", handle.base_url(), sim.now_ms());
    std::io::stdout().flush()?;
    for line in std::io::stdin().lock().lines() {
        if line? == "COUNT" {
            let log = sim.requests();
            let search = log.iter().filter(|r| r.path.ends_with("/search")).count();
            let failed = log.iter().filter(|r| r.status >= 400).count();
            println!("REQUESTS {} {search} {failed}", log.len());
            std::io::stdout().flush()?;
        }
    }
    drop(handle);
    Ok(())
}

/// Pulls every change after `since` up to the horizon, one page at a time (nothing kept but
/// counts), and prints `PULLED changes id_sum elapsed_us hwm_before_kib hwm_after_kib cpu_ticks`.
fn pull_role() -> Res<()> {
    let url = std::env::var("HS_BENCH_URL")?;
    let since = DateTime::from_timestamp_millis(env_num("HS_BENCH_SINCE")?).ok_or("since")?;
    let horizon = DateTime::from_timestamp_millis(env_num("HS_BENCH_HORIZON")?).ok_or("horizon")?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let mut config = HubspotConfig::new(url, TOKEN.to_string().into(), "wlcro_client_id");
    config.page_limit = LIMIT;
    config.rate_limits = RateLimits { burst_per_10s: u32::MAX, daily: u32::MAX, search_per_second: u32::MAX };
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(60))?);
    let clock = ManualClock::new(horizon);
    let conn = HubspotConnector::new(config, transport, clock.shared(), 1)?;
    let before = vm_hwm_kib("self")?;
    let cpu_before = cpu_ticks()?;
    let started = Instant::now();
    let (changes, id_sum) = rt.block_on(async {
        let (mut changes, mut id_sum, mut cp): (usize, u128, Option<Checkpoint>) = (0, 0, None);
        loop {
            let req = PullRequest {
                object: "contacts",
                checkpoint: cp.as_ref(),
                rewind: None,
                horizon,
                since: Some(since),
                until: None,
                limit: LIMIT,
            };
            let page = conn.pull(req).await?;
            for ch in page.changes.iter().filter(|c| c.kind == ChangeKind::Upsert) {
                changes += 1;
                id_sum += ch.id.parse::<u128>()?;
            }
            cp = Some(page.next);
            if page.done {
                return Ok::<_, Box<dyn std::error::Error>>((changes, id_sum));
            }
        }
    })?;
    let elapsed = started.elapsed();
    let cpu = cpu_ticks()? - cpu_before;
    println!("PULLED {changes} {id_sum} {} {before} {} {cpu}", elapsed.as_micros(), vm_hwm_kib("self")?);
    Ok(())
}

fn read_line(r: &mut impl BufRead, prefix: &str) -> Res<Vec<String>> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if words.first().map(String::as_str) != Some(prefix) {
        return Err(format!("expected {prefix}, got {line:?}").into());
    }
    Ok(words[1..].to_vec())
}

fn orchestrate(sizes: &[usize]) -> Res<()> {
    let exe = std::env::current_exe()?;
    println!("hubspot incremental pull, search limit {LIMIT}, {PER_MS} records per millisecond");
    println!(
        "{:>8} {:>9} {:>8} {:>9} {:>10} {:>14} {:>12} {:>14} {:>12}",
        "records",
        "requests",
        "minimum",
        "req/1000",
        "records/s",
        "puller CPU/1k",
        "pull VmHWM",
        "(before pull)",
        "sim VmHWM"
    );
    for &n in sizes {
        let mut sim = Command::new(&exe)
            .env("HS_BENCH_ROLE", "sim")
            .env("HS_BENCH_N", n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut sim_out = BufReader::new(sim.stdout.take().ok_or("sim stdout")?);
        let ready = read_line(&mut sim_out, "READY")?;
        let out = Command::new(&exe)
            .env("HS_BENCH_ROLE", "pull")
            .env("HS_BENCH_URL", &ready[0])
            .env("HS_BENCH_SINCE", &ready[1])
            .env("HS_BENCH_HORIZON", &ready[2])
            .stderr(Stdio::inherit())
            .output()?;
        let pulled = read_line(&mut out.stdout.as_slice(), "PULLED")?;
        let mut sim_in = sim.stdin.take().ok_or("sim stdin")?;
        writeln!(sim_in, "COUNT")?;
        let counts = read_line(&mut sim_out, "REQUESTS")?;
        let sim_hwm = vm_hwm_kib(&sim.id().to_string())?;
        drop(sim_in);
        sim.wait()?;

        let (changes, id_sum): (usize, u128) = (pulled[0].parse()?, pulled[1].parse()?);
        assert_eq!(changes, n, "every changed contact read exactly once");
        assert_eq!(id_sum, ready[3].parse::<u128>()?, "the ids read are the ids changed");
        let (total, failed): (usize, usize) = (counts[0].parse()?, counts[2].parse()?);
        assert_eq!(failed, 0, "no request failed");
        let secs = pulled[2].parse::<f64>()? / 1e6;
        let minimum = n.div_ceil(LIMIT) + 1;
        // Clock ticks are 1/100 s on Linux.
        let cpu_ms_per_1k = pulled[5].parse::<f64>()? * 10.0 * 1000.0 / n as f64;
        println!(
            "{n:>8} {total:>9} {minimum:>8} {:>9.3} {:>10.0} {:>11.1} ms {:>8} KiB {:>10} KiB {:>8} KiB",
            total as f64 * 1000.0 / n as f64,
            n as f64 / secs,
            cpu_ms_per_1k,
            pulled[4],
            pulled[3],
            sim_hwm
        );
    }
    println!("(minimum = one search per {LIMIT} records + one recycle-bin page. records/s is bound by the");
    println!(" simulator, whose search clones and scans its whole index per request; puller CPU is the");
    println!(" connector's own cost; sim VmHWM holds every record.)");
    Ok(())
}
