//! Each command resolves only the secrets it uses: `sync` runs with the systems' credentials
//! alone (webhook secrets and the admin token unset), `serve` refuses without them, and `check`
//! reports what each command requires, including `serve`'s HubSpot `public_url`. `run` takes its
//! period from `sync.interval` unless `--every` overrides it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use crosswalk::cli::{Cli, Command as Cmd};

use crate::crm_setup::{readme_config, start_sims};

/// Runs the binary with exactly `env` (nothing inherited) and the config in `dir`.
pub(crate) fn crosswalk_env(dir: &Path, env: &[(&str, String)], args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("--config")
        .arg(dir.join("crosswalk.toml"))
        .args(args)
        .output()
        .expect("run crosswalk");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn credentials() -> Vec<(&'static str, String)> {
    vec![
        ("WLCRO_API_KEY", sim_whitelabelcro::SimConfig::default_key()),
        ("HUBSPOT_TOKEN", sim_hubspot::SimConfig::default().tokens[0].clone()),
        ("SALESFORCE_CLIENT_SECRET", sim_salesforce::SimConfig::default().client_secret),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_needs_only_the_credentials_and_serve_needs_its_own_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sims, urls) = start_sims().await;
    // The README configuration names webhook secrets and an admin token; none is in the env.
    std::fs::write(dir.path().join("crosswalk.toml"), readme_config(&urls, dir.path())).expect("config");

    let (code, text) = crosswalk_env(dir.path(), &credentials(), &["sync"]);
    assert_eq!(code, 0, "sync with the credentials alone: {text}");
    assert!(!text.contains("WLCRO_WEBHOOK_SECRET"), "sync never reads the webhook secret: {text}");
    let crosswalk::commands::sim::SimState::Hubspot(h) = &sims[1].state else { panic!("hubspot second") };
    assert!(
        h.requests().iter().any(|r| r.path.starts_with("/crm/v3/objects/contacts")),
        "the sync reached HubSpot"
    );

    let mut without_wlcro = credentials();
    without_wlcro.retain(|(k, _)| *k != "WLCRO_API_KEY");
    let (code, text) = crosswalk_env(dir.path(), &without_wlcro, &["sync"]);
    assert_eq!(code, 2, "a missing credential still stops sync: {text}");
    assert!(text.contains("`systems.wlcro.api_key`") && text.contains("WLCRO_API_KEY is not set"), "{text}");

    let (code, text) = crosswalk_env(dir.path(), &[], &["status", "--no-probe"]);
    assert_eq!(code, 0, "status --no-probe reads only the store: {text}");
    assert!(text.contains("Dead letters: 0 open"), "{text}");
    let (code, text) = crosswalk_env(dir.path(), &[], &["status"]);
    assert_eq!(code, 2, "status probes the systems, so it needs their credentials: {text}");

    let (code, text) = crosswalk_env(dir.path(), &credentials(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "serve refuses without its secrets: {text}");
    for key in ["systems.wlcro.webhook_secrets", "systems.hubspot.webhook_secret", "serve.admin_token"] {
        assert!(text.contains(&format!("`{key}`")), "serve names {key}: {text}");
    }

    let (code, text) =
        crosswalk_env(dir.path(), &credentials(), &["run", "--serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "run --serve needs what serve needs too: {text}");
    assert!(text.contains("`serve.admin_token`"), "run --serve names serve.admin_token: {text}");
    let (code, text) = crosswalk_env(dir.path(), &credentials(), &["check"]);
    assert_eq!(code, 1, "check validates everything: {text}");
    assert!(
        text.contains("WLCRO_WEBHOOK_SECRET is not set") && text.contains("(needed by serve, run --serve)"),
        "{text}"
    );
    let sync_line = text.lines().find(|l| l.trim_start().starts_with("sync, run:")).expect("sync line");
    assert!(sync_line.contains("systems.wlcro.api_key (environment variable WLCRO_API_KEY)"), "{sync_line}");
    assert!(!sync_line.contains("webhook"), "sync requires no webhook secret: {sync_line}");
    let serve_line = text.lines().find(|l| l.trim_start().starts_with("serve:")).expect("serve line");
    assert!(
        serve_line.contains("serve.admin_token (environment variable CROSSWALK_ADMIN_TOKEN)"),
        "{serve_line}"
    );
}

/// A HubSpot receiver without `public_url` is a problem `check` reports for `serve` (it used to
/// pass `check` and stop `serve`), and it does not stop `migrate`.
#[test]
fn check_reports_serves_public_url_and_other_commands_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mappings")).unwrap();
    std::fs::write(
        dir.path().join("crosswalk.toml"),
        "[systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"http://127.0.0.1:1\"\ntoken = { env = \"HS_T\" }\n\
         webhook_secrets = [{ env = \"HS_W\" }]\n",
    )
    .unwrap();
    let env = [("HS_T", "token-token".to_string()), ("HS_W", "a-webhook-secret-0123456789".to_string())];
    let (code, text) = crosswalk_env(dir.path(), &env, &["check"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("`systems.hubspot.webhook.public_url`: required with webhook secrets")
            && text.contains("(needed by serve, run --serve)"),
        "{text}"
    );
    let (code, text) = crosswalk_env(dir.path(), &env, &["migrate"]);
    assert_eq!(code, 0, "migrate needs no serve setting: {text}");
    let (code, text) = crosswalk_env(dir.path(), &env, &["serve"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("public_url"), "{text}");
}

#[test]
fn run_takes_sync_interval_unless_every_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crosswalk.toml");
    std::fs::write(&file, "[sync]\ninterval = \"7m\"\n").unwrap();
    let settings = crosswalk::settings::load(&file, true).settings.expect("settings");
    let every = |args: &[&str]| {
        let cli = Cli::parse_from(args);
        let Cmd::Run { every, .. } = cli.command else { panic!("run") };
        crosswalk::commands::run::period(&settings, every)
    };
    assert_eq!(every(&["crosswalk", "run"]), Duration::from_secs(7 * 60), "sync.interval");
    assert_eq!(every(&["crosswalk", "run", "--every", "90s"]), Duration::from_secs(90), "--every wins");
}
