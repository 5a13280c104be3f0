//! Install and deploy as written: `crosswalk init` output passes `check`, and the systemd units in
//! `deploy/` run their `ExecStart` with exactly the environment they give it (`Environment=` and
//! the `EnvironmentFile=` holding only what `check` says `sync`/`run` require) against the
//! simulators; the sync is judged from the simulators' records (the back-link HubSpot holds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crosswalk::commands::sim::{SimState, StartedSim};
use sim_hubspot::ObjectType;

use crate::crm_setup::start_sims;

const BIN: &str = env!("CARGO_BIN_EXE_crosswalk");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn crosswalk(env: &[(String, String)], args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).env_clear().envs(env.iter().cloned()).args(args).output().expect("crosswalk");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn sim_credentials() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("WLCRO_API_KEY", sim_whitelabelcro::SimConfig::default_key()),
        ("HUBSPOT_TOKEN", sim_hubspot::SimConfig::default().tokens[0].clone()),
        ("SALESFORCE_CLIENT_SECRET", sim_salesforce::SimConfig::default().client_secret),
    ])
}

/// The environment variables `check` says the `sync` and `run` commands require.
fn sync_requires(check_output: &str) -> Vec<String> {
    let line = check_output
        .lines()
        .find(|l| l.trim_start().starts_with("sync, run:"))
        .expect("check reports what sync requires");
    line.split("environment variable ").skip(1).map(|s| s.split(')').next().unwrap().to_string()).collect()
}

#[test]
fn init_writes_a_configuration_check_passes_and_refuses_to_overwrite() {
    let creds: Vec<(String, String)> = sim_credentials().into_iter().map(|(k, v)| (k.into(), v)).collect();
    for crm in ["hubspot", "salesforce"] {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("etc");
        let at_s = at.display().to_string();
        let (code, text) = crosswalk(&[], &["init", "--crm", crm, "--dir", &at_s]);
        assert_eq!(code, 0, "{text}");
        let config = at.join("crosswalk.toml");
        let config_s = config.display().to_string();
        let (code, text) = crosswalk(&creds, &["--config", &config_s, "check"]);
        assert_eq!(code, 0, "check on init's {crm} output: {text}");
        assert!(text.contains("1 mapping file(s) are valid"), "{text}");
        let secret = if crm == "hubspot" { "HUBSPOT_TOKEN" } else { "SALESFORCE_CLIENT_SECRET" };
        assert_eq!(sync_requires(&text), [secret, "WLCRO_API_KEY"], "{text}");
        let shipped = std::fs::read_dir(repo("mappings"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(crm));
        for file in shipped {
            let name = file.unwrap().file_name();
            let copied = std::fs::read_to_string(at.join("mappings").join(&name)).expect("mapping copied");
            assert_eq!(copied, std::fs::read_to_string(repo("mappings").join(&name)).unwrap());
        }

        std::fs::write(&config, "# edited by hand\n").unwrap();
        let (code, text) = crosswalk(&[], &["init", "--crm", crm, "--dir", &at_s]);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("exists; not overwritten (pass --force"), "{text}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "# edited by hand\n");
        let (code, text) = crosswalk(&[], &["init", "--crm", crm, "--dir", &at_s, "--force"]);
        assert_eq!(code, 0, "{text}");
        assert!(std::fs::read_to_string(&config).unwrap().contains("[systems.wlcro]"));
    }
    let (code, text) = crosswalk(&[], &["init", "--help"]);
    assert!(code == 0 && text.contains("--crm") && text.contains("--force"), "{text}");
}

/// A unit's `[Service]` lines: key → values, in order.
fn service_lines(unit: &str) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(repo("deploy").join(unit)).expect("unit file");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_service = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if let (true, Some((k, v))) = (in_service, line.split_once('=')) {
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    out
}

/// Paths of the unit moved under `root`, the installed binary replaced by the one under test.
fn remap(root: &Path, s: &str) -> String {
    s.replace("/usr/local/bin/crosswalk", BIN)
        .replace("/etc/crosswalk", &root.join("etc/crosswalk").display().to_string())
        .replace("/var/lib/crosswalk", &root.join("var/lib/crosswalk").display().to_string())
}

/// Installs as the README says (`init` into /etc/crosswalk, the URLs pointed at the simulators,
/// the credentials file with what `check` says `sync` requires), seeds one person in both
/// systems, and returns the unit's command and its exact environment.
fn install(
    root: &Path,
    unit: &str,
    urls: &BTreeMap<&str, String>,
) -> (Vec<String>, Vec<(String, String)>, PathBuf) {
    let lines = service_lines(unit);
    let etc = root.join("etc/crosswalk");
    let (code, text) = crosswalk(&[], &["init", "--crm", "hubspot", "--dir", &etc.display().to_string()]);
    assert_eq!(code, 0, "{text}");
    let config = etc.join("crosswalk.toml");
    let mut cfg: toml::Table = std::fs::read_to_string(&config).unwrap().parse().unwrap();
    for (system, url) in [("wlcro", &urls["wlcro"]), ("hubspot", &urls["hubspot"])] {
        cfg["systems"][system].as_table_mut().unwrap().insert("base_url".into(), url.clone().into());
    }
    std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();

    let all: Vec<(String, String)> = sim_credentials().into_iter().map(|(k, v)| (k.into(), v)).collect();
    let (code, text) = crosswalk(&all, &["--config", &config.display().to_string(), "check"]);
    assert_eq!(code, 0, "{text}");
    let creds = sim_credentials();
    let env_file: String =
        sync_requires(&text).iter().map(|k| format!("{k}={}\n", creds[k.as_str()])).collect();
    let files = lines.get("EnvironmentFile").expect("the unit loads an EnvironmentFile");
    assert_eq!(files.len(), 1);
    std::fs::write(remap(root, &files[0]), format!("# credentials for {unit}\n{env_file}")).unwrap();

    let mut env: Vec<(String, String)> = Vec::new();
    for assignment in lines.get("Environment").into_iter().flatten() {
        let (k, v) = assignment.split_once('=').expect("KEY=value");
        env.push((k.into(), v.into()));
    }
    let loaded = std::fs::read_to_string(remap(root, &files[0])).unwrap();
    for line in loaded.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (k, v) = line.split_once('=').unwrap();
        env.push((k.into(), v.into()));
    }
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        !names.iter().any(|k| k.contains("ADMIN") || k.contains("WEBHOOK")),
        "only credentials: {names:?}"
    );

    let exec = lines.get("ExecStart").expect("ExecStart")[0].clone();
    let argv: Vec<String> = exec.split_whitespace().map(|a| remap(root, a)).collect();
    let wd = PathBuf::from(remap(root, &lines["WorkingDirectory"][0]));
    std::fs::create_dir_all(&wd).unwrap();
    (argv, env, wd)
}

/// One WhiteLabelCRO client and one HubSpot contact with the same email, back-dated so the first
/// run's window holds them. Returns the client's id.
fn seed_person(sims: &[StartedSim], email: &str) -> i64 {
    let (SimState::Wlcro(w), SimState::Hubspot(h)) = (&sims[0].state, &sims[1].state) else {
        panic!("simulators in order")
    };
    let r = sim_whitelabelcro::SeedRecord {
        first_name: "Dee".into(),
        last_name: "Ploy".into(),
        email: email.into(),
        status: Some("Active Client".into()),
        ..Default::default()
    };
    let id = w.seed_at(r, false, true, Some(w.now() - chrono::Duration::minutes(5))).expect("seed client");
    h.set_clock_offset(-300_000);
    let p = serde_json::json!({"email": email, "firstname": "Dee", "lastname": "Ploy"});
    h.seed(ObjectType::Contacts, &[p.as_object().unwrap().clone()]).expect("seed contact");
    h.set_clock_offset(0);
    id
}

/// The HubSpot contact's back-link to its WhiteLabelCRO client, once the sync linked them.
fn back_link(sims: &[StartedSim], email: &str) -> Option<String> {
    let SimState::Hubspot(h) = &sims[1].state else { panic!("hubspot second") };
    let contacts = h.records(ObjectType::Contacts);
    let c = contacts.iter().find(|c| c.properties.get("email").map(String::as_str) == Some(email))?;
    c.properties.get("wlcro_client_id").filter(|v| !v.is_empty()).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_timer_unit_runs_as_written_with_only_the_credentials() {
    let timer = std::fs::read_to_string(repo("deploy/crosswalk-sync.timer")).unwrap();
    assert!(timer.contains("Unit=crosswalk-sync.service") && timer.contains("OnCalendar="), "{timer}");
    let root = tempfile::tempdir().unwrap();
    let (sims, urls) = start_sims().await;
    let (argv, env, wd) = install(root.path(), "crosswalk-sync.service", &urls);
    assert_eq!(argv.last().map(String::as_str), Some("sync"));
    let client = seed_person(&sims, "dee@example.test");
    let out =
        Command::new(&argv[0]).args(&argv[1..]).current_dir(&wd).env_clear().envs(env).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the unit's ExecStart: {text}");
    assert_eq!(back_link(&sims, "dee@example.test"), Some(client.to_string()), "linked, per HubSpot: {text}");
    assert!(wd.join("crosswalk.db").exists(), "the store is in the unit's working directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_unit_runs_as_written_and_stops_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let (sims, urls) = start_sims().await;
    let (argv, env, wd) = install(root.path(), "crosswalk-run.service", &urls);
    assert_eq!(argv.last().map(String::as_str), Some("run"), "the period is sync.interval");
    let client = seed_person(&sims, "rue@example.test");
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&wd)
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A real process: wait for its first cycle's effect on the simulator, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(120);
    while back_link(&sims, "rue@example.test").is_none() && Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("crosswalk run exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(back_link(&sims, "rue@example.test"), Some(client.to_string()), "the first cycle linked them");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SIGTERM stops the scheduler cleanly: {log}");
    assert!(log.contains("scheduler started") && log.contains("\"every\":\"5m\""), "sync.interval: {log}");
}
