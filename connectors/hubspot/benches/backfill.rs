//! A 10,000-contact HubSpot backfill pull, crosswalk's connector beside singer-io's
//! `tap-hubspot`, each against a fresh simulator with the same records and the same enforced
//! rate limits (the free tier's 100 / 10 s and 5 searches / s, then professional's 190 / 10 s),
//! on the real clock. Requests per endpoint come from each simulator's request log.
//!
//! `cargo bench -p connector-hubspot --bench backfill` prints the table. The crosswalk side does
//! what `crosswalk backfill` of a HubSpot side does for its pull: one `estimate` (a search for
//! the count), then pages from an empty checkpoint with `until` and no `since`, the first page
//! with the run's rewind (which reads the property list once) — with the shipped default
//! configuration (tier `free`), so a faster account is paced by what its server states. The tap
//! runs through `benches/tap_hubspot_sim.py` with the Python in `TAP_HUBSPOT_PYTHON` (default
//! `python3`; `pip install tap-hubspot==4.5.0`); without it the tap rows say so. Without
//! `--bench` (e.g. `cargo test --all-targets`) it runs crosswalk on 300 records as a smoke check.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_api::http::ReqwestTransport;
use connector_api::{ChangeKind, Checkpoint, Connector, PullRequest, SystemClock};
use connector_hubspot::{HubspotConfig, HubspotConnector};
use serde_json::{Map, Value, json};
use sim_hubspot::{ObjectType, RateLimitConfig, Schema, SimConfig};

const TOKEN: &str = "pat-na1-bench";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    match std::env::var("HS_BENCH_ROLE").as_deref() {
        Ok("sim") => sim_role(),
        Ok("pull") => pull_role(),
        _ => {
            let full = std::env::args().any(|a| a == "--bench");
            orchestrate(full)
        }
    }
}

/// Serves a simulator with N contacts on the real clock, at `HS_BENCH_BURST` per 10 s. Prints
/// `READY url`, answers `COUNT` with its request log by endpoint, exits when stdin closes.
fn sim_role() -> Res<()> {
    let n: usize = std::env::var("HS_BENCH_N")?.parse()?;
    let burst: u32 = std::env::var("HS_BENCH_BURST")?.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let cfg = SimConfig {
        seed: 5,
        start_time: None,
        tokens: vec![TOKEN.to_string()],
        schema: Schema { unique_properties: vec!["wlcro_client_id".into()], ..Schema::default() },
        rate_limits: RateLimitConfig { burst_max: burst, ..RateLimitConfig::default() },
        ..SimConfig::default()
    };
    let (handle, sim) = rt.block_on(sim_hubspot::start(cfg))?;
    // No emails: the simulator checks email uniqueness by scanning every record (quadratic
    // seeding); both contenders read the same properties of the same records either way.
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let recs: Vec<Map<String, Value>> = chunk
            .iter()
            .map(|i| json!({"firstname": format!("F{i}"), "lastname": "Bench", "phone": "+15550100"}))
            .map(|v| v.as_object().cloned().ok_or("not an object"))
            .collect::<Result<_, _>>()?;
        sim.seed(ObjectType::Contacts, &recs)?;
    }
    println!("READY {}", handle.base_url());
    std::io::stdout().flush()?;
    for line in std::io::stdin().lock().lines() {
        if line? == "COUNT" {
            let log = sim.requests();
            let list = |archived: bool| {
                log.iter()
                    .filter(|r| r.status != 429 && r.method == "GET" && r.path == "/crm/v3/objects/contacts")
                    .filter(|r| r.query.as_deref().unwrap_or_default().contains("archived=true") == archived)
                    .count()
            };
            let props =
                log.iter().filter(|r| r.status != 429 && r.path.starts_with("/crm/v3/properties")).count();
            let search = log.iter().filter(|r| r.status != 429 && r.path.ends_with("/search")).count();
            let throttled = log.iter().filter(|r| r.status == 429).count();
            let failed = log.iter().filter(|r| r.status >= 400 && r.status != 429).count();
            println!(
                "REQUESTS {} {} {props} {search} {throttled} {failed} {}",
                list(false),
                list(true),
                log.len()
            );
            std::io::stdout().flush()?;
        }
    }
    drop(handle);
    Ok(())
}

/// A backfill pull of everything through the connector (defaults: tier `free`); prints
/// `PULLED changes distinct elapsed_us`.
fn pull_role() -> Res<()> {
    let url = std::env::var("HS_BENCH_URL")?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let config = HubspotConfig::new(url, TOKEN.to_string().into(), "wlcro_client_id");
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(60))?);
    let clock = SystemClock::shared();
    let conn = HubspotConnector::new(config, transport, clock.clone(), 1)?;
    let started = Instant::now();
    let (changes, distinct) = rt.block_on(async {
        let until = clock.now();
        conn.estimate("contacts", None, Some(until)).await?;
        let (mut cp, mut rewind): (Option<Checkpoint>, _) = (None, Some(Duration::from_secs(120)));
        let (mut changes, mut ids) = (0usize, BTreeSet::new());
        loop {
            let req = PullRequest {
                object: "contacts",
                checkpoint: cp.as_ref(),
                rewind: rewind.take(),
                horizon: until,
                since: None,
                until: Some(until),
                limit: 200,
            };
            let page = conn.pull(req).await?;
            for ch in page.changes.iter().filter(|c| c.kind == ChangeKind::Upsert) {
                changes += 1;
                ids.insert(ch.id.clone());
            }
            cp = Some(page.next);
            if page.done {
                return Ok::<_, Box<dyn std::error::Error>>((changes, ids.len()));
            }
        }
    })?;
    println!("PULLED {changes} {distinct} {}", started.elapsed().as_micros());
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

/// What one contender did: records (distinct), seconds, the simulator's log counts.
struct Outcome {
    records: usize,
    distinct: usize,
    secs: f64,
    requests: Vec<String>,
}

/// Starts a fresh simulator, runs `contender` against its URL, and reads the simulator's log.
fn against_sim(
    n: usize,
    burst: u32,
    contender: impl FnOnce(&str) -> Res<(usize, usize, f64)>,
) -> Res<Outcome> {
    let exe = std::env::current_exe()?;
    let mut sim = Command::new(&exe)
        .env("HS_BENCH_ROLE", "sim")
        .env("HS_BENCH_N", n.to_string())
        .env("HS_BENCH_BURST", burst.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut sim_out = BufReader::new(sim.stdout.take().ok_or("sim stdout")?);
    let url = read_line(&mut sim_out, "READY")?.remove(0);
    let result = contender(&url);
    let mut sim_in = sim.stdin.take().ok_or("sim stdin")?;
    writeln!(sim_in, "COUNT")?;
    let requests = read_line(&mut sim_out, "REQUESTS")?;
    drop(sim_in);
    sim.wait()?;
    let (records, distinct, secs) = result?;
    Ok(Outcome { records, distinct, secs, requests })
}

fn crosswalk(url: &str) -> Res<(usize, usize, f64)> {
    let out = Command::new(std::env::current_exe()?)
        .env("HS_BENCH_ROLE", "pull")
        .env("HS_BENCH_URL", url)
        .stderr(Stdio::inherit())
        .output()?;
    let pulled = read_line(&mut out.stdout.as_slice(), "PULLED")?;
    Ok((pulled[0].parse()?, pulled[1].parse()?, pulled[2].parse::<f64>()? / 1e6))
}

fn tap_python() -> Option<String> {
    let python = std::env::var("TAP_HUBSPOT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import tap_hubspot"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

fn tap(python: &str, url: &str) -> Res<(usize, usize, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/tap_hubspot_sim.py");
    let out = Command::new(python).args([script, url, TOKEN, "10.5"]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let secs = stderr
        .lines()
        .find_map(|l| l.strip_prefix("TAP_SECONDS "))
        .ok_or_else(|| format!("the tap did not finish: {}", stderr.lines().last().unwrap_or_default()))?
        .trim()
        .parse()?;
    let (mut records, mut ids) = (0, BTreeSet::new());
    for line in out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line)?;
        if v["type"] == "RECORD" {
            records += 1;
            ids.insert(v["record"]["id"].as_str().unwrap_or_default().to_string());
        }
    }
    Ok((records, ids.len(), secs))
}

fn row(who: &str, limits: &str, o: &Outcome) {
    let r = &o.requests;
    println!(
        "{who:<22} {limits:<16} {:>8} {:>9} {:>6} {:>6} {:>7} {:>5} {:>6} {:>9.2}",
        o.distinct, r[0], r[1], r[2], r[3], r[4], r[6], o.secs
    );
}

fn orchestrate(full: bool) -> Res<()> {
    let n = if full { 10_000 } else { 300 };
    let python = if full { tap_python() } else { None };
    println!("hubspot backfill pull of {n} contacts, each contender on a fresh simulator (real clock)");
    println!(
        "{:<22} {:<16} {:>8} {:>9} {:>6} {:>6} {:>7} {:>5} {:>6} {:>9}",
        "contender",
        "sim limits",
        "records",
        "list GETs",
        "bin",
        "props",
        "search",
        "429",
        "total",
        "seconds"
    );
    let tiers: &[(u32, &str)] =
        if full { &[(100, "free 100/10s"), (190, "pro 190/10s")] } else { &[(100, "free 100/10s")] };
    for &(burst, label) in tiers {
        let cw = against_sim(n, burst, crosswalk)?;
        assert_eq!((cw.records, cw.distinct), (n, n), "crosswalk read every contact once");
        row("crosswalk (connector)", label, &cw);
        match &python {
            Some(py) => {
                let t = against_sim(n, burst, |url| tap(py, url))?;
                assert_eq!(t.distinct, n, "the tap read every contact");
                row("tap-hubspot 4.5.0", label, &t);
            }
            None if full => println!(
                "{:<22} {label:<16} not installed: pip install tap-hubspot==4.5.0 (or set TAP_HUBSPOT_PYTHON)",
                "tap-hubspot"
            ),
            None => {}
        }
    }
    println!("(list GETs: live-record list pages; bin: recycle-bin pages (archived=true); props: property");
    println!(" list reads (the tap's includes its discovery, sent 10.5 s before its timed sync); 429s are");
    println!(" in total. crosswalk's seconds: estimate + every page; the tap's: its do_sync.)");
    Ok(())
}
