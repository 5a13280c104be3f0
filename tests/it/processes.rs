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
        for i in 0..CLIENTS {
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
