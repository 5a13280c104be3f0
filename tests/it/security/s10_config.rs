//! S10: configuration that would switch a check off or send requests somewhere unexpected is
//! refused by `crosswalk check` and at start by each command that uses it, naming key and rule: an
//! empty or whitespace-only secret (file or environment), an admin token under 24 characters, a
//! webhook secret under 16, and URL settings that are not plain http(s) to a canonical host.

use std::path::Path;
use std::process::Command;

fn crosswalk(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crosswalk"));
    cmd.args(args).current_dir(dir).env_remove("CROSSWALK_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run crosswalk");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

/// A config whose every secret is a file in `dir` (written by the caller).
fn secrets_config() -> &'static str {
    "[systems.wlcro]\nkind = \"whitelabelcro\"\nbase_url = \"http://127.0.0.1:1\"\n\
     api_key = { file = \"empty.key\" }\nwebhook_secrets = [{ file = \"short.hook\" }]\n\n\
     [systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"http://127.0.0.1:1\"\n\
     token = { env = \"CROSSWALK_TEST_BLANK_TOKEN\" }\n\n\
     [serve]\nadmin_token = { file = \"short.admin\" }\n"
}

#[test]
fn s10_empty_blank_and_short_secrets_are_refused_by_check_and_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("mappings")).expect("mappings");
    write(dir.path(), "crosswalk.toml", secrets_config());
    write(dir.path(), "empty.key", "");
    write(dir.path(), "short.hook", "only-12-char");
    write(dir.path(), "short.admin", "twenty-three-characters\n");
    let env = [("CROSSWALK_TEST_BLANK_TOKEN", " \t ")];
    let (code, text) = crosswalk(dir.path(), &["check"], &env);
    assert_eq!(code, 1, "{text}");
    for (key, rule) in [
        ("systems.wlcro.api_key", "is empty or only whitespace"),
        ("systems.wlcro.webhook_secrets", "needs at least 16"),
        ("systems.hubspot.token", "CROSSWALK_TEST_BLANK_TOKEN is empty or only whitespace"),
        ("serve.admin_token", "needs at least 24"),
    ] {
        let line =
            text.lines().find(|l| l.contains(&format!("`{key}`"))).unwrap_or_else(|| panic!("{key}: {text}"));
        assert!(line.contains(rule), "{key}: {line}");
    }
    assert!(!text.contains("only-12-char") && !text.contains("twenty-three"), "no secret printed: {text}");
    // Each command refuses over the secrets it uses: `serve` all four, `sync` the credentials.
    let (code, text) = crosswalk(dir.path(), &["serve"], &env);
    assert_eq!(code, 2, "serve must refuse to start: {text}");
    assert!(text.contains("`serve.admin_token`") && text.contains("`systems.wlcro.api_key`"), "{text}");
    let (code, text) = crosswalk(dir.path(), &["sync"], &env);
    assert_eq!(code, 2, "sync must refuse to start: {text}");
    assert!(text.contains("`systems.wlcro.api_key`") && text.contains("`systems.hubspot.token`"), "{text}");
    assert!(!text.contains("`serve.admin_token`"), "sync does not use the admin token: {text}");
    // A whitespace-only file is as empty as a 0-byte one.
    write(dir.path(), "empty.key", "  \n");
    let (_, text) = crosswalk(dir.path(), &["check"], &env);
    assert!(text.contains("`systems.wlcro.api_key`: secret file"), "{text}");
}

#[test]
fn s10_every_bad_url_form_is_refused_by_check_naming_key_and_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("mappings")).expect("mappings");
    write(dir.path(), "key", "a-secret-long-enough-for-anything\n");
    let system = |name: &str, url: &str| {
        format!(
            "[systems.{name}]\nkind = \"hubspot\"\nbase_url = \"{url}\"\ntoken = {{ file = \"key\" }}\n\n"
        )
    };
    let cases = [
        ("userinfo", "http://user:pw@127.0.0.1:9", "rule: no user-info"),
        ("decimal", "http://2130706434:9", "rule: canonical host"),
        ("mapped", "http://[::ffff:127.0.0.2]:9", "rule: canonical host"),
        ("file", "file:///etc/passwd", "rule: scheme"),
        ("plain", "http://api.hubapi.com", "rule: https"),
        ("octal", "http://0177.0.0.1:9", "rule: canonical host"),
    ];
    let mut config: String = cases.iter().map(|(n, u, _)| system(n, u)).collect();
    config.push_str(&system("lab", "http://crm.lab.example"));
    config.push_str("allow_insecure_http = true\n\n");
    config.push_str(
        "[systems.sf]\nkind = \"salesforce\"\nlogin_url = \"https://login.salesforce.com\"\nclient_id = \"x\"\n\
         client_secret = { file = \"key\" }\nallowed_instance_hosts = [\"http://localhost\", \"http://2130706434\"]\n",
    );
    write(dir.path(), "crosswalk.toml", &config);
    let (code, text) = crosswalk(dir.path(), &["check"], &[]);
    assert_eq!(code, 1, "{text}");
    for (name, _, rule) in cases {
        let key = format!("`systems.{name}.base_url`");
        let line =
            text.lines().find(|l| l.contains(&key)).unwrap_or_else(|| panic!("{key} not refused: {text}"));
        assert!(line.contains(rule), "{key}: {line}");
    }
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert!(
        !errors.iter().any(|l| l.contains("systems.lab.")),
        "allow_insecure_http lifts the https rule: {text}"
    );
    let sf = text.lines().filter(|l| l.contains("`systems.sf.allowed_instance_hosts`")).collect::<Vec<_>>();
    assert_eq!(sf.len(), 1, "only the decimal entry is refused: {text}");
    assert!(sf[0].contains("2130706434"), "{}", sf[0]);
    assert!(text.contains("7 problem(s) found"), "nothing else: {text}");
}
