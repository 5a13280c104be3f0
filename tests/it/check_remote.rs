//! `crosswalk check --remote` against the three simulators on loopback, with the README's sample
//! configuration (only the URLs and the Salesforce client id swapped for the simulators') and
//! the shipped mappings: judged from the command's output lines and exit code.

use std::path::Path;

use crosswalk::demo::world::{SimWorld, WorldConfig};

/// The simulators with their defaults (what `crosswalk sim …` serves with no options).
fn defaults() -> WorldConfig {
    WorldConfig {
        wlcro: sim_whitelabelcro::SimConfig::default(),
        hubspot: sim_hubspot::SimConfig::default(),
        salesforce: sim_salesforce::SimConfig::default(),
        wlcro_per_minute: 600,
    }
}

/// The README's sample config pointed at `world`.
fn readme_config(world: &SimWorld, sf_client_id: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Configuration").expect("README has a Configuration section")..];
    let start = section.find("```toml\n").expect("a toml sample") + "```toml\n".len();
    let mut config = section[start..start + section[start..].find("```").unwrap()].to_string();
    for (from, to) in [
        ("\"https://api.whitelabelcro.example\"", &world.urls[0]),
        ("\"https://api.hubapi.com\"", &world.urls[1]),
        ("\"https://login.salesforce.com\"", &world.urls[2]),
        ("\"3MVG9...\"", &sf_client_id.to_string()),
    ] {
        assert!(config.contains(from), "the README sample no longer holds {from}");
        config = config.replace(from, &format!("\"{to}\""));
    }
    // The line the README shows commented for the Salesforce simulator, whose token responses
    // name http://localhost as the instance.
    let commented = "# allowed_instance_hosts = [\"http://localhost\"]";
    assert!(config.contains(commented), "the README sample no longer shows {commented}");
    config.replace(commented, "allowed_instance_hosts = [\"http://localhost\"]")
}

/// Copies the shipped mappings into `dir/mappings`, replacing `from` by `to` in every file that
/// holds it (each edit must apply somewhere).
fn mappings(dir: &Path, edits: &[(&str, &str)]) {
    let target = dir.join("mappings");
    std::fs::create_dir_all(&target).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut applied = vec![false; edits.len()];
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (i, (from, to)) in edits.iter().enumerate() {
            applied[i] |= text.contains(from);
            text = text.replace(from, to);
        }
        std::fs::write(target.join(path.file_name().unwrap()), text).unwrap();
    }
    assert!(applied.iter().all(|a| *a), "some edit matched no shipped mapping: {edits:?}");
}

/// Runs `crosswalk check --remote` in a fresh directory against simulators started from
/// `config`, with the README's configuration, the WhiteLabelCRO key `wl_key` and mapping `edits`.
async fn check(config: WorldConfig, wl_key: Option<String>, edits: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let hs_token = config.hubspot.tokens.first().cloned().unwrap();
    let (sf_id, sf_secret) = (config.salesforce.client_id.clone(), config.salesforce.client_secret.clone());
    let world = SimWorld::start(config, dir.path()).await.unwrap();
    std::fs::write(dir.path().join("crosswalk.toml"), readme_config(&world, &sf_id)).unwrap();
    mappings(dir.path(), edits);
    let wl_key = wl_key.unwrap_or_else(sim_whitelabelcro::SimConfig::default_key);
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"))
            .args(["check", "--remote"])
            .current_dir(cwd)
            .env_remove("CROSSWALK_CONFIG")
            .env("WLCRO_API_KEY", wl_key)
            .env("WLCRO_WEBHOOK_SECRET", "test-webhook-secret")
            .env("HUBSPOT_TOKEN", hs_token)
            .env("HUBSPOT_CLIENT_SECRET", "test-client-secret")
            .env("SALESFORCE_CLIENT_SECRET", sf_secret)
            .env("CROSSWALK_ADMIN_TOKEN", "test-admin-token-that-is-long-enough-0123456789")
            .output()
            .expect("run crosswalk")
    })
    .await
    .unwrap();
    world.stop().await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The one `error:` line that starts with `prefix` and contains every one of `words`.
fn line<'a>(text: &'a str, prefix: &str, words: &[&str]) -> &'a str {
    let found: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("error: {prefix}")) && words.iter().all(|w| l.contains(w)))
        .collect();
    assert_eq!(found.len(), 1, "want one line `{prefix}` with {words:?}:\n{text}");
    found[0]
}

fn hubspot_with(properties: serde_json::Value) -> WorldConfig {
    let mut config = defaults();
    let schema = serde_json::json!({ "properties": properties }).to_string();
    config.hubspot.schema = sim_hubspot::Schema::from_json(&schema).unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_custom_property_is_named_with_what_to_do() {
    let (code, text) = check(hubspot_with(serde_json::json!([])), None, &[]).await;
    assert_eq!(code, 1, "{text}");
    let l = line(&text, "hubspot contacts.wlcro_client_id:", &["does not exist", "back-link"]);
    assert!(l.contains("create it in hubspot") && l.contains("Setting up the CRMs"), "{l}");
    assert!(l.contains("pair `wlcro-people__hubspot-contacts` uses it as the back-link"), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_property_without_unique_values_is_refused() {
    let plain = serde_json::json!([{ "object": "contacts", "name": "wlcro_client_id", "type": "string",
        "fieldType": "text", "hasUniqueValue": false }]);
    let (code, text) = check(hubspot_with(plain), None, &[]).await;
    assert_eq!(code, 1, "{text}");
    let l = line(&text, "hubspot contacts.wlcro_client_id:", &["back-link", "not unique"]);
    assert!(l.contains("mark it unique"), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_map_target_the_enumeration_lacks_is_named() {
    let edit = ("\"Cancelled\" = \"other\"", "\"Cancelled\" = \"churned\"");
    let (code, text) = check(defaults(), None, &[edit]).await;
    assert_eq!(code, 1, "{text}");
    let l = line(&text, "hubspot contacts.lifecyclestage:", &["writes \"churned\", which", "does not offer"]);
    assert!(l.contains("\"customer\"") && l.contains("add the value(s)"), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_target_property_is_named() {
    let props = serde_json::json!([
        { "object": "contacts", "name": "wlcro_client_id", "type": "string", "fieldType": "text",
          "hasUniqueValue": true },
        { "object": "contacts", "name": "wlcro_first_name", "type": "string", "fieldType": "text",
          "readOnlyValue": true },
    ]);
    let edit = ("right = \"firstname\"", "right = \"wlcro_first_name\"");
    let (code, text) = check(hubspot_with(props), None, &[edit]).await;
    assert_eq!(code, 1, "{text}");
    let l =
        line(&text, "hubspot contacts.wlcro_first_name:", &["read-only", "wlcro-people__hubspot-contacts"]);
    assert!(l.contains("make it writable"), "{l}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scopes_are_named_per_system() {
    let mut config = defaults();
    let token = config.hubspot.tokens[0].clone();
    config.hubspot.token_scopes.insert(token, vec!["crm.objects.contacts.read".into()]);
    config.salesforce.scopes = vec!["refresh_token".into()];
    let read_only = sim_whitelabelcro::ApiKeyConfig::new(
        sim_whitelabelcro::SimConfig::default().default_company_id,
        "ReadOnlyKeySecret0123456789abcdefghijklmnopq",
        &[sim_whitelabelcro::Scope::IntegrationsRead, sim_whitelabelcro::Scope::IntegrationsWrite],
    );
    let key = read_only.key.clone();
    config.wlcro.api_keys.push(read_only);
    let (code, text) = check(config, Some(key), &[]).await;
    assert_eq!(code, 1, "{text}");
    line(&text, "hubspot:", &["lack the scope `crm.objects.contacts.write`", "writing contacts"]);
    line(&text, "hubspot:", &["lack the scope `crm.schemas.contacts.read`"]);
    line(&text, "wlcro:", &["lack the scope `events:read`", "pulling changes", "create a new key"]);
    line(&text, "salesforce:", &["lack the scope `api`", "REST access to Contact", "connected app"]);
    assert!(
        text.contains("note: salesforce Contact: the missing scopes keep its fields from being read"),
        "{text}"
    );
    assert!(!text.contains("could not read"), "a refused describe is not a second problem: {text}");
    assert!(!text.contains("`integrations:read`"), "{text}");
    assert!(!text.contains("crm.objects.contacts.read`"), "a granted scope is not reported: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_set_up_passes() {
    let (code, text) = check(defaults(), None, &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ok: 3 system(s) accept the configuration and the mappings"), "{text}");
    assert!(!text.contains("error:"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_the_salesforce_picklist_lacks_is_named() {
    let mut config = defaults();
    let mut schema: serde_json::Value =
        serde_json::from_str(sim_salesforce::custom::DEFAULT_SCHEMA_JSON).unwrap();
    let status = schema["fields"].as_array_mut().unwrap().iter_mut().find(|f| f["name"] == "WLCRO_Status__c");
    let values = status.unwrap()["picklistValues"].as_array_mut().unwrap();
    values.retain(|v| v != "On Hold");
    config.salesforce.schema = sim_salesforce::Schema::from_json(&schema.to_string()).unwrap();
    let (code, text) = check(config, None, &[]).await;
    assert_eq!(code, 1, "{text}");
    let l = line(&text, "salesforce Contact.WLCRO_Status__c:", &["writes \"On Hold\", which the picklist"]);
    assert!(l.contains("wlcro-people__salesforce-contacts") && l.contains("add the value(s)"), "{l}");
}

#[test]
fn check_help_documents_the_remote_probe() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("--remote") && text.contains("read-only requests"), "{text}");
    assert!(text.contains("credentials and scopes"), "{text}");
}
