//! The real `crosswalk` binary as separate processes against the simulators on loopback and one
//! SQLite store: two processes started at once, SIGTERM during `run`, kill -9 during a backfill
//! and its resume. Outcomes are judged from the simulators' stored records.
//!
//! The WhiteLabelCRO simulator answers every request after a small injected latency so that a
//! cycle lasts long enough to be interrupted; the tests wait for conditions on the simulators'
//! ground truth (with a generous deadline), never for a fixed time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crosswalk::demo::world::{SimWorld, WorldConfig};
use crosswalk::settings::{SecretRef, SystemSettings};
use crosswalk::store::{self, Store};
use sim_core::FaultConfig;

const CLIENTS: usize = 120;
const PAIR: &str = "wlcro-people__hubspot-contacts";

struct Proc {
    world: SimWorld,
    dir: tempfile::TempDir,
}

fn secret(s: &SecretRef) -> String {
    match (&s.env, &s.file) {
        (_, Some(f)) => format!("{{ file = {:?} }}", f.display().to_string()),
        (Some(e), None) => format!("{{ env = {e:?} }}"),
        (None, None) => "{}".into(),
    }
}

/// The config file an operator would write for the simulators.
fn config(world: &SimWorld, dir: &Path, page_size: usize) -> String {
    let mut out = format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[sync]\nmappings_dir = {:?}\npage_size = {page_size}\nsafety_margin = \"1s\"\n\n",
        dir.join("state.db").display(),
        dir.join("mappings").display().to_string()
    );
    for (name, system) in &world.systems {
        match system {
            SystemSettings::Whitelabelcro(s) => out.push_str(&format!(
                "[systems.{name}]\nkind = \"whitelabelcro\"\nbase_url = {:?}\napi_key = {}\nread_per_minute = {}\nwrite_per_minute = {}\n\n",
                s.base_url,
                secret(&s.api_key),
                s.read_per_minute,
                s.write_per_minute
            )),
            SystemSettings::Hubspot(s) => out.push_str(&format!(
                "[systems.{name}]\nkind = \"hubspot\"\nbase_url = {:?}\ntoken = {}\nunique_property = {:?}\n\n",
                s.base_url,
                secret(&s.token),
                s.unique_property
            )),
            // The Salesforce pair is not used here.
            SystemSettings::Salesforce(_) | SystemSettings::Memory(_) => {}
        }
    }
    out
}

impl Proc {
    /// Simulators with `CLIENTS` WhiteLabelCRO clients (created five minutes ago) that have no
    /// HubSpot contact yet, a config with only the HubSpot pair, and pages of `page_size`; with
    /// `established`, one `crosswalk sync` ran before the clients arrived.
    async fn start(seed: u64, page_size: usize, established: bool) -> Proc {
        Self::start_with(seed, page_size, established, CLIENTS, 0).await
    }

    /// `clients` WhiteLabelCRO clients and `contacts` other HubSpot-only contacts (all created
    /// five minutes ago), otherwise as [`Proc::start`].
    async fn start_with(
        seed: u64,
        page_size: usize,
        established: bool,
        clients: usize,
        contacts: usize,
    ) -> Proc {
        let dir = tempfile::tempdir().expect("temp dir");
        let world = SimWorld::start(WorldConfig::demo(seed, 60_000), dir.path()).await.expect("simulators");
        let mappings = dir.path().join("mappings");
        std::fs::create_dir(&mappings).expect("mappings dir");
        let file = format!("{PAIR}.toml");
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings").join(&file))
                .expect("shipped mapping");
        std::fs::write(mappings.join(file), text).expect("mapping");
        std::fs::write(dir.path().join("crosswalk.toml"), config(&world, dir.path(), page_size))
            .expect("config");
        let proc = Proc { world, dir };
        // `established`: the pair has synced (an empty world) before these clients arrive, so scheduled runs create their contacts (a pair's very first sync in a store
        // only links, and says to backfill).
        if established {
            let first = proc.command(&["sync"]).output().expect("first sync");
            assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        }
        proc.world.sims.wlcro.clock.set_offset(chrono::Duration::minutes(-5));
        proc.world.sims.hubspot.clock.set_offset(chrono::Duration::minutes(-5));
        let only: Vec<serde_json::Map<String, serde_json::Value>> = (0..contacts)
            .map(|i| {
                let v = serde_json::json!({"email": format!("lead{i}@example.test"), "firstname": format!("Lee{i}"), "lastname": "Hubspot"});
                v.as_object().cloned().unwrap_or_default()
            })
            .collect();
        proc.world.sims.hubspot.seed(sim_hubspot::ObjectType::Contacts, &only).expect("seed contacts");
        proc.world.sims.hubspot.clock.set_offset(chrono::Duration::zero());
        for i in 0..clients {
            let r = sim_whitelabelcro::SeedRecord {
                first_name: format!("Pat{i}"),
                last_name: "Backfill".into(),
                email: format!("pat{i}@example.test"),
                ..Default::default()
            };
            proc.world.sims.wlcro.seed_at(r, false, true, None).expect("seed");
        }
        proc.world.sims.wlcro.clock.set_offset(chrono::Duration::zero());
        proc
    }

    fn slow_down(&self, latency_ms: u64) {
        self.world.sims.wlcro.set_faults(FaultConfig { latency_ms, ..FaultConfig::default() });
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crosswalk"));
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(self.dir.path().join("crosswalk.toml"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("start crosswalk")
    }

    /// HubSpot contacts by `wlcro_client_id` (one entry per contact, so duplicates show).
    fn contacts(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.world
            .sims
            .hubspot
            .records(sim_hubspot::ObjectType::Contacts)
            .into_iter()
            .filter(|r| !r.archived())
            .map(|r| {
                let key = r.properties.get("wlcro_client_id").cloned().unwrap_or_default();
                let mut fields = r.properties.clone();
                for volatile in ["hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"] {
                    fields.remove(volatile);
                }
                (key, fields)
            })
            .collect()
    }

    async fn store(&self) -> std::sync::Arc<dyn Store> {
        store::open(&format!("sqlite://{}", self.dir.path().join("state.db").display())).await.expect("store")
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// Waits (polling the simulators' ground truth) until `cond` holds; panics after a minute.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

fn wait(child: Child) -> Output {
    child.wait_with_output().expect("wait for crosswalk")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn assert_once_each(contacts: &[(String, BTreeMap<String, String>)]) {
    let ids: Vec<&String> = contacts.iter().map(|(k, _)| k).collect();
    let unique: BTreeSet<&&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a client has two HubSpot contacts");
    assert_eq!(ids.len(), CLIENTS, "every client has its contact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_started_at_once_run_the_pair_exactly_once_and_the_other_says_it_skipped() {
    let p = Proc::start(31, 20, true).await;
    p.slow_down(15);
    let migrate = p.command(&["migrate"]).output().expect("migrate");
    assert!(migrate.status.success(), "{}", text(&migrate));
    let a = p.spawn(&["sync"]);
    let b = p.spawn(&["sync"]);
    let (a, b) = (wait(a), wait(b));
    assert!(a.status.success() && b.status.success(), "A: {}\nB: {}", text(&a), text(&b));
    let skipped = [&a, &b].iter().filter(|o| text(o).contains("skipped: another process")).count();
    let done = [&a, &b].iter().filter(|o| String::from_utf8_lossy(&o.stdout).contains(" done\n")).count();
    assert_eq!((skipped, done), (1, 1), "A: {}\nB: {}", text(&a), text(&b));
    assert_once_each(&p.contacts());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_run_finishes_the_page_saves_the_checkpoint_and_exits_zero() {
    let p = Proc::start(32, 10, true).await;
    p.slow_down(20);
    let child = p.spawn(&["run", "--every", "5m"]);
    let hubspot = p.world.sims.hubspot.clone();
    until("the first cycle has written some contacts", || {
        !hubspot.records(sim_hubspot::ObjectType::Contacts).is_empty()
    })
    .await;
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(kill.success());
    let out = wait(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stopped cleanly"), "{}", text(&out));
    assert!(p.contacts().len() < CLIENTS, "the run stopped before the end, so this test tests something");

    let store = p.store().await;
    let runs = store.recent_runs(5).await.expect("runs");
    assert!(runs[0].finished_at.is_some(), "the run was recorded as finished: {runs:?}");
    let saved = store.list_checkpoints().await.expect("checkpoints");
    assert!(
        saved.iter().any(|c| c.stream.scope == format!("pair:{PAIR}") && c.stream.system == "wlcro"),
        "the page in flight was committed with its checkpoint: {saved:?}"
    );

    // The next cycle continues from there and nothing is created twice.
    let next = p.command(&["sync"]).output().expect("sync");
    assert!(next.status.success(), "{}", text(&next));
    assert_once_each(&p.contacts());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_backfill_then_resume_ends_exactly_like_an_uninterrupted_backfill() {
    // The reference: the same world, backfilled without interruption.
    let reference = Proc::start(33, 10, false).await;
    let out = reference.command(&["backfill", "--pair", PAIR]).output().expect("backfill");
    assert!(out.status.success(), "{}", text(&out));
    let mut expected = reference.contacts();
    expected.sort();
    assert_once_each(&expected);

    let p = Proc::start(33, 10, false).await;
    p.slow_down(20);
    let child = p.spawn(&["backfill", "--pair", PAIR]);
    let hubspot = p.world.sims.hubspot.clone();
    until("the backfill is part-way", || {
        let n = hubspot.records(sim_hubspot::ObjectType::Contacts).len();
        (20..CLIENTS - 20).contains(&n)
    })
    .await;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
    let killed = wait(child);
    assert_eq!(killed.status.code(), None, "killed by a signal");
    let part = p.contacts().len();
    assert!(part < CLIENTS, "interrupted part-way ({part} of {CLIENTS})");

    p.slow_down(0);
    let resumed = p.command(&["backfill", "--pair", PAIR]).output().expect("resume");
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resumed and finished"), "{}", text(&resumed));
    let mut got = p.contacts();
    got.sort();
    assert_eq!(got, expected, "same final state as the uninterrupted backfill, no duplicate creates");

    let again = p.command(&["backfill", "--pair", PAIR]).output().expect("again");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already finished"), "{}", text(&again));
    let store = p.store().await;
    let incremental = store.list_checkpoints().await.expect("checkpoints");
    assert!(
        incremental.iter().all(|c| !c.stream.scope.starts_with("pair:")),
        "the backfill never moved the incremental watermarks: {incremental:?}"
    );
    let _ = p.path();
}

/// A scheduled `sync` of a pair that never synced in this store (a new store, or the wrong one)
/// links what identity finds but creates nothing, and says what to run: 3,000 records per side
/// that match nothing stay where they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_in_an_empty_store_creates_nothing_and_says_to_run_a_backfill() {
    let p = Proc::start_with(34, 200, false, 3000, 3000).await;
    let (hs_before, wl_before) = (p.world.sims.hubspot.requests().len(), p.world.sims.wlcro.requests().len());
    let out = p.command(&["sync"]).output().expect("sync");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let hint = format!("crosswalk backfill --pair {PAIR} --dry-run");
    assert!(said.contains(&hint), "the run says to back-fill first:\n{said}");
    assert!(said.contains("6000 record(s) with no match"), "{said}");
    let writes = |log: Vec<sim_core::LoggedRequest>, from: usize| {
        log.into_iter().skip(from).filter(crosswalk::demo::report::is_write).count()
    };
    assert_eq!(writes(p.world.sims.hubspot.requests(), hs_before), 0, "nothing written to HubSpot");
    assert_eq!(writes(p.world.sims.wlcro.requests(), wl_before), 0, "nothing written to WhiteLabelCRO");
    assert_eq!(p.contacts().len(), 3000);
    assert_eq!(p.world.sims.wlcro.records()["clients"].as_array().map(Vec::len), Some(3000));
}

/// The onboarding backfill of 3,000 WhiteLabelCRO people with the shipped mapping (caps
/// included: 500 creates, 10 % of the links) finishes in one go: caps bound scheduled runs, not a
/// backfill, so nothing is held back, and every person ends with one contact carrying its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_of_3000_people_with_the_shipped_caps_finishes_without_holding_anything_back() {
    let p = Proc::start_with(35, 200, false, 3000, 0).await;
    let out = p.command(&["backfill", "--pair", PAIR]).output().expect("backfill");
    assert!(out.status.success(), "{}", text(&out));
    let contacts = p.contacts();
    let ids: BTreeSet<&String> = contacts.iter().map(|(k, _)| k).filter(|k| !k.is_empty()).collect();
    assert_eq!((contacts.len(), ids.len()), (3000, 3000), "one contact per person, each with its id");
    let store = p.store().await;
    let held = crosswalk::store::ReviewFilter {
        kind: Some(crosswalk::store::ReviewKind::HeldBack),
        ..Default::default()
    };
    assert_eq!(store.list_review(&held).await.expect("review"), Vec::new(), "nothing held back");
}

/// Collects the child's stderr lines as they come (the child keeps running).
fn stderr_lines(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    lines
}

/// Every line is one JSON object; answers them.
fn json_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

/// WhiteLabelCRO answers every request 429 with `Retry-After: 90`.
fn throttle_for_90_s(p: &Proc) {
    p.world.sims.wlcro.set_faults(FaultConfig {
        rate_429: 1.0,
        retry_after_secs: Some(90),
        ..FaultConfig::default()
    });
}

/// SIGTERM while a cycle waits out a 90-second `Retry-After` ends the process within 5 s: the
/// wait is cut before anything more is sent, nothing is written after the signal, and the page
/// is left whole for the next run (no checkpoint moved, nothing created). The JSON log says
/// which limit it waited on, with the run's id and the pair at the top level of every line.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_long_rate_limit_wait_stops_within_5_s_and_leaves_the_page_for_the_next_run() {
    let p = Proc::start(36, 10, true).await;
    let store = p.store().await;
    let before = store.list_checkpoints().await.expect("checkpoints");
    let contacts_before = p.contacts().len();
    throttle_for_90_s(&p);
    let (hs0, wl0) = (p.world.sims.hubspot.requests().len(), p.world.sims.wlcro.requests().len());
    let mut child = p.spawn(&["--log-format", "json", "run", "--every", "5m", "--json"]);
    let lines = stderr_lines(&mut child);
    until("the cycle waits on WhiteLabelCRO's read limit", || {
        lines.lock().expect("lines").iter().any(|l| l.contains("s for WhiteLabelCRO's read limit"))
    })
    .await;
    let signalled = std::time::Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let out = wait(child);
    let took = signalled.elapsed();
    eprintln!("stopped {took:?} after SIGTERM");
    assert!(took < Duration::from_secs(5), "stopped {took:?} after SIGTERM");
    assert_eq!(out.status.code(), Some(0));

    let lines = lines.lock().expect("lines").clone();
    let logged = json_lines(&lines);
    let waiting = logged
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains("WhiteLabelCRO's read limit")))
        .expect("the wait is logged");
    let message = waiting["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("waiting 90 s for WhiteLabelCRO's read limit, "), "{message}");
    assert!(waiting["run_id"].is_string(), "run_id at the top level: {waiting}");
    assert_eq!(waiting["pair"], PAIR, "pair at the top level: {waiting}");
    assert!(
        logged.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("stopping:"))),
        "{lines:?}"
    );

    let summary: crosswalk::commands::summary::RunSummary =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
            .expect("one JSON summary on stdout");
    assert_eq!(summary.command, "run");
    assert_eq!(
        Some(summary.run_id.clone().unwrap_or_default()),
        waiting["run_id"].as_str().map(String::from)
    );
    assert_eq!(summary.pairs.len(), 1);
    assert_eq!(summary.pairs[0].status, "incomplete", "{summary:?}");

    let writes = |log: Vec<sim_core::LoggedRequest>, from: usize| {
        log.into_iter().skip(from).filter(crosswalk::demo::report::is_write).count()
    };
    assert_eq!(writes(p.world.sims.hubspot.requests(), hs0), 0, "nothing written to HubSpot");
    assert_eq!(writes(p.world.sims.wlcro.requests(), wl0), 0, "nothing written to WhiteLabelCRO");
    let after = store.list_checkpoints().await.expect("checkpoints");
    assert_eq!(after, before, "no checkpoint moved: the page is read again by the next run");
    assert_eq!(p.contacts().len(), contacts_before, "nothing created");

    // The next run, unthrottled, reads the page whole and finishes the work once.
    p.world.sims.wlcro.set_faults(FaultConfig::default());
    let next = p.command(&["sync"]).output().expect("sync");
    assert!(next.status.success(), "{}", text(&next));
    assert_once_each(&p.contacts());
}

/// The backfill's first progress line comes before its first page is pulled: here every read
/// waits on a 90-second `Retry-After`, and the line is there while no page has been read.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_says_it_started_before_its_first_page_is_pulled() {
    let p = Proc::start(37, 10, false).await;
    throttle_for_90_s(&p);
    let mut child = p.spawn(&["--log-format", "json", "backfill", "--pair", PAIR]);
    let lines = stderr_lines(&mut child);
    let starting =
        |l: &serde_json::Value| l["message"].as_str().is_some_and(|m| m.starts_with("backfill starting"));
    until("the backfill's first line", || json_lines(&lines.lock().expect("lines")).iter().any(starting))
        .await;
    let served = p.world.sims.wlcro.requests().iter().filter(|r| r.status == 200).count();
    assert_eq!(served, 0, "no page was read yet");
    let logged = json_lines(&lines.lock().expect("lines"));
    let first = logged.iter().find(|l| starting(l)).expect("the line");
    assert_eq!(first["pair"], PAIR);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let out = wait(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(p.contacts().is_empty(), "nothing created");
}

/// `sync --json` prints one JSON document whose counts agree with the simulators; `--log-format
/// json` keeps stderr to JSON objects only; human logs on a captured stderr have no colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_json_summary_agrees_with_the_simulators_and_logs_are_plain_off_a_terminal() {
    let p = Proc::start(38, 50, true).await;
    let out = p.command(&["--log-format", "json", "sync", "--json"]).output().expect("sync");
    assert!(out.status.success(), "{}", text(&out));
    let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr).lines().map(str::to_string).collect();
    let logged = json_lines(&stderr);
    let done = logged.iter().find(|l| l["message"] == "pair done").expect("a pair-done line");
    assert!(done["run_id"].is_string() && done["pair"] == PAIR, "{done}");
    let summary: crosswalk::commands::summary::RunSummary =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).expect("one JSON document");
    assert_eq!(summary.command, "sync");
    assert_eq!(summary.run_id.as_deref(), done["run_id"].as_str());
    let pair = &summary.pairs[0];
    assert_eq!((pair.pair.as_str(), pair.status.as_str()), (PAIR, "done"));
    assert_eq!(pair.counts.created as usize, p.contacts().len(), "created = contacts the simulator holds");
    assert_once_each(&p.contacts());

    let human = p.command(&["sync"]).output().expect("sync");
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(stderr.contains("pair done"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI codes when stderr is not a terminal: {stderr:?}");
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// One `run --every 5m --serve` process: while its first cycle runs, the same process answers
/// `/healthz`, accepts a signed WhiteLabelCRO delivery (stored in the store the cycles use) and
/// serves `/metrics` with the cycle's request counters (one registry); SIGTERM stops both, exit 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_serve_process_runs_cycles_serves_healthz_takes_a_signed_webhook_and_stops_cleanly() {
    let p = Proc::start(33, 10, true).await;
    p.slow_down(20);
    let (token, secret) = ("an-admin-token-long-enough-0123456789", crate::webhooks::SECRET);
    std::fs::write(p.path().join("admin.token"), token).expect("token");
    std::fs::write(p.path().join("hook.secret"), secret).expect("secret");
    let file = p.path().join("crosswalk.toml");
    let conf = std::fs::read_to_string(&file).expect("config").replace(
        "[systems.wlcro]\n",
        &format!("[systems.wlcro]\nwebhook_secrets = [{{ file = {:?} }}]\n", p.path().join("hook.secret")),
    );
    let conf = format!("[serve]\nadmin_token = {{ file = {:?} }}\n\n{conf}", p.path().join("admin.token"));
    std::fs::write(&file, conf).expect("config");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = p.spawn(&["run", "--every", "5m", "--serve", "--listen", &addr]);
    let hubspot = p.world.sims.hubspot.clone();
    until("the first cycle has written some contacts", || {
        !hubspot.records(sim_hubspot::ObjectType::Contacts).is_empty()
    })
    .await;

    let http = reqwest::Client::new();
    // The real time, as the server's clock reads it (the signature's timestamp is checked).
    let now = || connector_api::Clock::now(&*connector_api::SystemClock::shared());
    let health = http.get(format!("http://{addr}/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
    let body = serde_json::json!({
        "id": 7001, "type": "client.status_changed", "createdUtc": now().to_rfc3339(),
        "companyId": 17, "payload": {"client_id": 3, "previous_status": "On Hold", "new_status": "Active Client"},
    })
    .to_string();
    let hook = http
        .post(format!("http://{addr}/webhooks/wlcro"))
        .header("content-type", "application/json")
        .header("x-webhook-timestamp", now().timestamp().to_string())
        .header("x-webhook-signature", crate::webhooks::sign(secret, body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(hook.status(), 202, "{:?}", hook.text().await);
    let metrics = http.get(format!("http://{addr}/metrics")).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("metrics text");
    let requests = metrics
        .lines()
        .find(|l| l.starts_with("crosswalk_api_requests_total{") && l.contains("system=\"wlcro\""))
        .unwrap_or_else(|| panic!("the cycle's requests are in the server's registry: {metrics}"));
    assert!(!requests.ends_with(" 0"), "{requests}");
    assert!(
        p.contacts().len() < CLIENTS,
        "the cycle was still running, so this tests one process doing both"
    );

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let out = wait(child);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("stopped cleanly"), "{}", text(&out));
    assert!(std::net::TcpStream::connect(&addr).is_err(), "the server stopped with the scheduler");
    let store = p.store().await;
    assert!(
        !store.record_event("wlcro", "7001", now(), "{}").await.expect("store"),
        "the delivery was stored in the store the cycles use"
    );
}
