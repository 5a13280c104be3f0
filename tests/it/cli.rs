//! The `crosswalk` binary as an operator uses it: exit codes and messages.

use std::process::Command;

fn crosswalk(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .args(args)
        .current_dir(dir)
        .env_remove("CROSSWALK_CONFIG")
        .output()
        .expect("run crosswalk");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_reports_a_misspelt_key_and_a_missing_secret_together() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mappings")).unwrap();
    std::fs::write(
        dir.path().join("crosswalk.toml"),
        "[sync]\noverlapp = \"2m\"\n\n[systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"http://127.0.0.1:1\"\ntoken = { env = \"CROSSWALK_TEST_NO_SUCH_TOKEN\" }\n",
    )
    .unwrap();
    let (code, text) = crosswalk(dir.path(), &["check"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("crosswalk.toml:2: `sync.overlapp`: unknown key"), "{text}");
    assert!(text.contains("crosswalk.toml:7: `systems.hubspot.token`"), "{text}");
    assert!(text.contains("CROSSWALK_TEST_NO_SUCH_TOKEN is not set"), "{text}");
    assert!(text.contains("2 problem(s) found"), "{text}");
}

#[test]
fn check_passes_on_the_shipped_mappings_with_their_systems_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings");
    let config = format!(
        "[sync]\nmappings_dir = \"{mappings}\"\n\n\
         [systems.wlcro]\nkind = \"whitelabelcro\"\nbase_url = \"http://127.0.0.1:1\"\napi_key = {{ file = \"key\" }}\n\n\
         [systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"http://127.0.0.1:1\"\ntoken = {{ file = \"key\" }}\n\n\
         [systems.salesforce]\nkind = \"salesforce\"\nlogin_url = \"http://127.0.0.1:1\"\nclient_id = \"x\"\nclient_secret = {{ file = \"key\" }}\n"
    );
    std::fs::write(dir.path().join("crosswalk.toml"), config).unwrap();
    std::fs::write(dir.path().join("key"), "not-a-real-secret\n").unwrap();
    let (code, text) = crosswalk(dir.path(), &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("mapping file(s) are valid"), "{text}");
}

/// The checks that span the mapping files and the systems: a pair without `[identity]`, a
/// two-way rule on a field WhiteLabelCRO cannot return, and two pairs over the same records —
/// each reported with its file, line and key.
#[test]
fn check_reports_a_missing_identity_an_unreadable_two_way_field_and_overlapping_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir(&mappings).unwrap();
    let shipped = include_str!("../../mappings/wlcro-people__hubspot-contacts.toml");
    // A second pair over WhiteLabelCRO clients (the same people) and the same HubSpot contacts,
    // with the city two-way.
    let clients = shipped
        .replace("name = \"wlcro-people__hubspot-contacts\"", "name = \"wlcro-clients__hubspot-contacts\"")
        .replace("object = \"people\"", "object = \"clients\"")
        .replace("[fields.city]\nrule = \"right\"", "[fields.city]\nrule = \"two_way\"");
    std::fs::write(mappings.join("wlcro-clients__hubspot-contacts.toml"), &clients).unwrap();
    std::fs::write(mappings.join("wlcro-people__hubspot-contacts.toml"), shipped).unwrap();
    // A pair with no identity at all.
    let start = shipped.find("[identity]").unwrap();
    let end = shipped.find("[creation]").unwrap();
    let anonymous = format!("{}{}", &shipped[..start], &shipped[end..])
        .replace("name = \"wlcro-people__hubspot-contacts\"", "name = \"wlcro-people__other\"")
        .replace("system = \"hubspot\"", "system = \"other\"");
    std::fs::write(mappings.join("wlcro-people__other.toml"), anonymous).unwrap();
    let config = "[systems.wlcro]\nkind = \"whitelabelcro\"\nbase_url = \"http://127.0.0.1:1\"\napi_key = { file = \"key\" }\n\n\
         [systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"http://127.0.0.1:1\"\ntoken = { file = \"key\" }\n";
    std::fs::write(dir.path().join("crosswalk.toml"), config).unwrap();
    std::fs::write(dir.path().join("key"), "not-a-real-secret\n").unwrap();
    let (code, text) = crosswalk(dir.path(), &["check"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("wlcro-people__other.toml:1: `identity`: missing `[identity]`"), "{text}");
    let city_line = clients.lines().position(|l| l == "[fields.city]").unwrap() + 2;
    let city = format!(
        "wlcro-clients__hubspot-contacts.toml:{city_line}: `fields.city.rule`: wlcro never returns `city`"
    );
    assert!(text.contains(&city), "{text}");
    assert!(
        text.contains("wlcro-people__hubspot-contacts.toml:")
            && text.contains("sync the same records on both sides"),
        "{text}"
    );
}

#[test]
fn migrate_is_idempotent_and_a_bad_config_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (code, first) = crosswalk(dir.path(), &["migrate"]);
    assert_eq!(code, 0, "{first}");
    assert!(first.contains("migrated to version"), "{first}");
    let (code, second) = crosswalk(dir.path(), &["migrate"]);
    assert_eq!(code, 0, "{second}");
    assert!(second.contains("up to date"), "{second}");

    std::fs::write(dir.path().join("crosswalk.toml"), "[store]\nurll = \"x\"\n").unwrap();
    let (code, text) = crosswalk(dir.path(), &["migrate"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("`store.urll`: unknown key") && text.contains("crosswalk check"), "{text}");
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["check", "migrate", "explain"] {
        let (code, text) = crosswalk(dir.path(), &[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd}: {text}");
        assert!(text.contains("Usage: crosswalk"), "{cmd}: {text}");
    }
}

/// `crosswalk resume SYSTEM` closes an open breaker once, says when there is nothing to resume,
/// and names the configured systems for an unknown one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_closes_an_open_breaker_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mappings")).unwrap();
    let db = dir.path().join("state.db");
    let url = format!("sqlite://{}", db.display());
    std::fs::write(
        dir.path().join("crosswalk.toml"),
        format!("[store]\nurl = \"{url}\"\n\n[systems.crm]\nkind = \"memory\"\n"),
    )
    .unwrap();
    let store = crosswalk::store::open(&format!("{url}?mode=rwc")).await.expect("open store");
    store.migrate().await.unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
    assert!(store.record_system_run("crm", Some("401"), 1, at).await.unwrap().opened);

    let (code, text) = crosswalk(dir.path(), &["resume", "crm"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("closed the circuit breaker of `crm`"), "{text}");
    assert!(store.breakers().await.unwrap().iter().all(|b| !b.open), "closed in the store");
    let (code, text) = crosswalk(dir.path(), &["resume", "crm"]);
    assert_eq!((code, text.contains("is not open; nothing to resume")), (0, true), "{text}");
    let (code, text) = crosswalk(dir.path(), &["resume", "nope"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no system named `nope`; configured systems: crm"), "{text}");
    let (code, text) = crosswalk(dir.path(), &["resume", "--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("circuit breaker"), "{text}");
}

/// Human logs are coloured only on a terminal, and never with `NO_COLOR`: the binary runs under
/// `script` (a pseudo-terminal) and with its stderr captured.
#[cfg(unix)]
#[test]
fn logs_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[store]\nurl = \"sqlite://{}\"\n", dir.path().join("s.db").display());
    std::fs::write(dir.path().join("crosswalk.toml"), config).unwrap();
    let bin = env!("CARGO_BIN_EXE_crosswalk");
    let on_terminal = |no_color: Option<&str>| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &format!("{bin} -v migrate"), "/dev/null"]).current_dir(dir.path());
        cmd.env_remove("CROSSWALK_CONFIG").env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("script(1) runs the binary on a pseudo-terminal");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("DEBUG"), "debug lines were logged: {coloured}");
    assert!(coloured.contains("\u{1b}["), "colour on a terminal: {coloured:?}");
    let plain = on_terminal(Some("1"));
    assert!(plain.contains("DEBUG") && !plain.contains("\u{1b}["), "NO_COLOR=1: {plain:?}");

    let captured = Command::new(bin)
        .args(["-v", "migrate"])
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&captured.stderr);
    assert!(stderr.contains("DEBUG") && !stderr.contains('\u{1b}'), "captured stderr: {stderr:?}");
}
