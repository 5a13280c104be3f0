//! `crosswalk status`: after a real cycle against the simulators the report shows the run with
//! its counts and watermark windows, the lag of each stream, the open review items and each
//! system's health and budgets — judged against the simulators' own records. Also: an empty
//! store, an unreachable system, and the binary's `--json` output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::http::{HttpTransport, ReqwestTransport};
use connector_api::{Clock, ManualClock, SharedClock, SystemClock};
use crosswalk::demo::{self, SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::settings::{HubspotSettings, SystemSettings};
use crosswalk::status::{self, Health, StatusReport};
use crosswalk::store::{Backend, RunKind, RunStatus, StreamKey};
use crosswalk::sync::{Engine, SyncOptions};
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;

use crate::support::TestStore;

const PAIR: &str = "wlcro-people__hubspot-contacts";
/// Clients seeded on WhiteLabelCRO; the first two are pre-linked to HubSpot contacts.
const CLIENTS: usize = 8;
const PRE_LINKED: usize = 2;
/// HubSpot contacts with no client (the pair never creates clients).
const HUBSPOT_ONLY: usize = 2;

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

fn ms(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t).expect("valid ms")
}

/// A small world seeded five minutes in the past: eight clients, two of them pre-linked to
/// HubSpot contacts (the second disagreeing on the first name), and two HubSpot-only contacts.
/// Returns the conflicting contact's id.
fn seed(world: &SimWorld) -> u64 {
    let sims = &world.sims;
    let back = chrono::Duration::minutes(-5);
    sims.wlcro.clock.set_offset(back);
    sims.hubspot.clock.set_offset(back);
    let people: Vec<_> = (0..CLIENTS).map(demo::seed::person).collect();
    let mut contacts: Vec<Map<String, Value>> = people[..PRE_LINKED]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let first = if i == 1 { format!("{}-Marie", p.first) } else { p.first.clone() };
            props(&[("email", &p.email), ("firstname", &first), ("lastname", &p.last)])
        })
        .collect();
    for k in 0..HUBSPOT_ONLY {
        let email = format!("hs-only{k}@example.test");
        contacts.push(props(&[("email", &email), ("firstname", "Solo"), ("lastname", "Only")]));
    }
    let hs_ids = sims.hubspot.seed(ObjectType::Contacts, &contacts).expect("seed hubspot");
    for (i, p) in people.iter().enumerate() {
        let r = sim_whitelabelcro::SeedRecord {
            first_name: p.first.clone(),
            last_name: p.last.clone(),
            email: p.email.clone(),
            status: Some("Active Client".into()),
            external_id: (i < PRE_LINKED).then(|| format!("hubspot_{}", hs_ids[i])),
            ..Default::default()
        };
        let id = sims.wlcro.seed_at(r, false, true, None).expect("seed client");
        if i < PRE_LINKED {
            let link = props(&[("wlcro_client_id", &id.to_string())]);
            sims.hubspot.external_edit(ObjectType::Contacts, hs_ids[i], &link).expect("back-link");
        }
    }
    sims.wlcro.clock.set_offset(chrono::Duration::zero());
    sims.hubspot.clock.set_offset(chrono::Duration::zero());
    hs_ids[1]
}

fn live_contacts(world: &SimWorld) -> Vec<sim_hubspot::Record> {
    world.sims.hubspot.records(ObjectType::Contacts).into_iter().filter(|c| !c.archived()).collect()
}

fn transport() -> Arc<dyn HttpTransport> {
    Arc::new(ReqwestTransport::new(status::PROBE_LIMIT).expect("transport"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_after_a_real_cycle_shows_the_run_its_windows_the_lag_and_the_queue() {
    let dir = tempfile::tempdir().expect("dir");
    let world = SimWorld::start(WorldConfig::demo(11, 6000), dir.path()).await.expect("simulators");
    let conflicting = seed(&world);
    let before = live_contacts(&world);
    let (oldest, newest) = (
        before.iter().map(|c| c.updated_ms).min().expect("contacts"),
        before.iter().map(|c| c.updated_ms).max().expect("contacts"),
    );

    let ts = TestStore::sqlite().await;
    let pairs: Vec<_> = demo::pairs().expect("pairs").into_iter().filter(|p| p.name == PAIR).collect();
    let clock: SharedClock = SystemClock::shared();
    let connectors = world.connectors(&pairs, clock.clone(), 11).expect("connectors");
    let ids = Arc::new(IdGen::new(clock.clone(), 11));
    let opts = SyncOptions { owner: "status-test".into(), ..SyncOptions::default().creating_on_first_sync() };
    let engine = Engine::new(ts.store.clone(), connectors, pairs.clone(), clock, ids, opts);
    let run = engine.run(RunKind::Manual, &[], false).await.expect("run");

    // Ground truth: what the cycle did on HubSpot.
    let after = live_contacts(&world);
    let created_on_hubspot = after.len() - before.len();
    assert_eq!(created_on_hubspot, CLIENTS - PRE_LINKED, "every unlinked client was created on HubSpot");
    assert_eq!(
        world.sims.wlcro.records()["clients"].as_array().map(Vec::len),
        Some(CLIENTS + HUBSPOT_ONLY),
        "the HubSpot-only contacts became WhiteLabelCRO leads"
    );

    // Lags are measured against a clock an hour after the run started.
    let at = ManualClock::new(run_started(&ts, &run.run_id).await + chrono::Duration::hours(1));
    let mut report = status::gather(&ts.store, &at.shared(), 5).await.expect("status");
    report.systems = Some(
        status::probe::probe_all(&world.systems, &pairs, at.shared(), 1, transport(), status::PROBE_LIMIT)
            .await,
    );

    assert_eq!(report.store, Backend::Sqlite);
    let r = &report.queue.recent_runs[0];
    assert_eq!(report.queue.recent_runs.len(), 1);
    assert_eq!(
        (r.id.as_str(), r.kind, r.status),
        (run.run_id.as_str(), RunKind::Manual, Some(RunStatus::Ok))
    );
    assert_eq!(
        r.counts.created as usize,
        created_on_hubspot + HUBSPOT_ONLY,
        "created = contacts that appeared on HubSpot + leads that appeared on WhiteLabelCRO"
    );
    assert_eq!(r.counts.conflicts, 1, "the one seeded disagreement");
    assert!(r.counts.pulled as usize >= CLIENTS + before.len(), "pulled {}", r.counts.pulled);

    // Windows: one per stream, HubSpot's from the oldest seeded contact to at least the newest
    // (the page may also carry what this cycle's first pass wrote: the window is the changes
    // the run saw; the checkpoint itself stays behind the horizon).
    let scope = format!("pair:{PAIR}");
    let systems: Vec<&str> = r.windows.iter().map(|w| w.stream.system.as_str()).collect();
    assert_eq!(systems, vec!["wlcro", "hubspot"]);
    let hs = r.windows.iter().find(|w| w.stream.system == "hubspot").expect("hubspot window");
    assert_eq!(
        hs.stream,
        StreamKey { scope: scope.clone(), system: "hubspot".into(), object: "contacts".into() }
    );
    assert_eq!(hs.from, Some(ms(oldest)));
    assert!(hs.to >= Some(ms(newest)), "{hs:?}");
    let finished = r.finished_at.expect("finished");
    for w in &r.windows {
        assert!(w.from <= w.to && w.to.is_some_and(|to| to <= finished), "{w:?}");
    }

    // Streams: the same two checkpoints, lag = clock − newest change applied (about the hour).
    assert_eq!(report.streams.len(), 2);
    for s in &report.streams {
        assert_eq!(s.stream.scope, scope);
        let to = s.window_to.expect("a window");
        assert_eq!(s.lag_seconds, Some((at.now() - to).num_seconds()));
        assert!(s.lag_seconds.is_some_and(|l| l >= 3500), "{s:?}");
        assert!(s.committed_at >= r.started_at && s.committed_at <= finished);
        let w = r.windows.iter().find(|w| w.stream == s.stream).expect("the run's window");
        assert_eq!((s.window_from, s.window_to), (w.from, w.to), "the checkpoint holds the run's window");
    }

    // The queue: one open field conflict, about the contact seeded with another first name.
    let all_open = ts.store.list_review(&Default::default()).await.expect("list");
    assert_eq!(report.queue.open_total, 1, "{all_open:#?}");
    assert_eq!(report.queue.open_by_kind["field_conflict"], 1);
    assert_eq!(report.queue.open_by_kind["ambiguous_identity"], 0);
    let open = ts.store.list_review(&Default::default()).await.expect("list");
    assert_eq!(open[0].right_id.as_deref(), Some(conflicting.to_string().as_str()));
    assert_eq!(report.queue.dead_letters, 0);

    // Systems: all answer; budgets are the simulators' own counts.
    let systems = report.systems.as_ref().expect("probed");
    let health: BTreeMap<&str, Health> = systems.iter().map(|s| (s.name.as_str(), s.health)).collect();
    assert_eq!(
        health,
        BTreeMap::from([("hubspot", Health::Ok), ("salesforce", Health::Ok), ("wlcro", Health::Ok)])
    );
    let budget = |system: &str, bucket: &str| {
        let s = systems.iter().find(|s| s.name == system).expect("system");
        s.budgets.iter().find(|b| b.bucket == bucket).cloned().unwrap_or_else(|| panic!("{system} {bucket}"))
    };
    let read = budget("wlcro", "read");
    assert_eq!(read.limit, Some(6000));
    assert!(read.remaining < 6000, "{read:?}");
    let burst = budget("hubspot", "burst");
    assert_eq!(burst.limit, Some(10_000));
    let sf = budget("salesforce", "daily");
    let sf_calls =
        world.sims.salesforce.log.entries().iter().filter(|e| e.path.starts_with("/services/data")).count();
    assert_eq!(
        sf.limit.map(|l| l - sf.remaining),
        Some(sf_calls as u64),
        "used = the simulator's data calls"
    );

    // The JSON shape the README documents, and the table.
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["format"], 1);
    assert_eq!(json["recent_runs"][0]["counts"]["created"], (created_on_hubspot + HUBSPOT_ONLY) as u64);
    assert_eq!(json["recent_runs"][0]["windows"][1]["stream"]["system"], "hubspot");
    assert_eq!(json["streams"][0]["scope"], scope.as_str());
    assert_eq!(json["streams"][0]["lag_seconds"].as_i64(), report.streams[0].lag_seconds);
    assert_eq!(json["open_by_kind"]["field_conflict"], 1);
    assert_eq!(json["systems"][0]["health"], "ok");
    let text = status::render::text(&report);
    for needle in [
        run.run_id.as_str(),
        "Review queue: 1 open (field_conflict 1)",
        "Dead letters: 0",
        "hubspot/contacts",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    world.stop().await;
    ts.finish().await;
}

async fn run_started(ts: &TestStore, id: &str) -> DateTime<Utc> {
    ts.store.run(id).await.expect("run").expect("recorded").started_at
}

async fn empty_store(backend: Backend) {
    let Some(ts) = TestStore::new(backend).await else {
        eprintln!("skipped: set {}=… to run the PostgreSQL status test", crate::support::PG_URL_VAR);
        return;
    };
    let clock = ManualClock::at_epoch();
    let report: StatusReport = status::gather(&ts.store, &clock.shared(), 5).await.expect("status");
    assert_eq!(report.store, backend);
    assert!(report.queue.recent_runs.is_empty() && report.streams.is_empty());
    assert_eq!(
        (report.queue.open_total, report.queue.resolved_waiting, report.queue.dead_letters),
        (0, 0, 0)
    );
    assert!(report.queue.open_by_kind.values().all(|n| *n == 0) && report.queue.open_by_kind.len() == 5);
    assert_eq!(report.generated_at, clock.now());
    let text = status::render::text(&report);
    assert!(text.contains("Runs: none recorded yet") && text.contains("Systems: not probed"), "{text}");
    ts.finish().await;
}

#[tokio::test]
async fn status_of_an_empty_sqlite_store() {
    empty_store(Backend::Sqlite).await;
}

#[tokio::test]
async fn status_of_an_empty_postgres_store() {
    empty_store(Backend::Postgres).await;
}

/// A system nobody answers for is reported `unreachable` with a reason; a missing secret file
/// is `misconfigured`; neither fails the report. The manual clock makes the client's retries
/// instant.
#[tokio::test]
async fn an_unreachable_or_misconfigured_system_is_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let token = demo::world::secret_file(dir.path(), "token", "not-a-real-token").expect("secret");
    let hubspot = |base_url: String, token| {
        SystemSettings::Hubspot(HubspotSettings {
            base_url,
            token,
            webhook_secret: None,
            unique_property: "wlcro_client_id".into(),
            overlap: None,
            tier: None,
            burst_per_10s: None,
            daily: None,
            search_per_second: None,
        })
    };
    let mut missing = token.clone();
    missing.file = Some(dir.path().join("no-such-file"));
    let systems = BTreeMap::from([
        ("down".to_string(), hubspot(format!("http://127.0.0.1:{closed}"), token)),
        ("nokey".to_string(), hubspot("http://127.0.0.1:1".into(), missing)),
    ]);
    let clock = ManualClock::at_epoch();
    let got =
        status::probe::probe_all(&systems, &[], clock.shared(), 1, transport(), Duration::from_secs(30))
            .await;
    let health: Vec<(&str, Health)> = got.iter().map(|s| (s.name.as_str(), s.health)).collect();
    assert_eq!(health, vec![("down", Health::Unreachable), ("nokey", Health::Misconfigured)]);
    assert!(got.iter().all(|s| s.message.is_some() && s.budgets.is_empty()), "{got:?}");
    assert!(!got[0].message.as_deref().unwrap_or_default().contains("not-a-real-token"));
}

fn crosswalk(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .args(args)
        .current_dir(dir)
        .env_remove("CROSSWALK_CONFIG")
        .output()
        .expect("run crosswalk");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_binary_prints_parseable_json_and_fails_in_one_line_without_a_store() {
    let dir = tempfile::tempdir().expect("dir");
    let (code, stdout, stderr) = crosswalk(dir.path(), &["status", "--json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("status --json is one JSON object");
    assert_eq!(json["format"], 1);
    assert_eq!(json["store"], "sqlite");
    assert_eq!(json["recent_runs"], json!([]));
    assert_eq!(json["streams"], json!([]));
    assert_eq!(json["systems"], json!([]), "no system configured");
    assert_eq!(json["open_total"], 0);

    let (code, stdout, _) = crosswalk(dir.path(), &["status", "--no-probe"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Runs: none recorded yet") && stdout.contains("Systems: not probed"), "{stdout}");

    let missing = dir.path().join("no-such-dir").join("state.db");
    std::fs::write(
        dir.path().join("crosswalk.toml"),
        format!("[store]\nurl = \"sqlite://{}\"\n", missing.display()),
    )
    .expect("config");
    let (code, stdout, stderr) = crosswalk(dir.path(), &["status"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach the state store"), "{stderr}");
}
