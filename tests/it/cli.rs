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
