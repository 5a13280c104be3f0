//! The CRM set-up the shipped mappings need: the README's "Setting up the CRMs" tables agree with
//! the simulators' default schemas, those schemas hold every field the mappings use, and the
//! README's sample configuration syncs through simulators started by `crosswalk sim`'s own entry
//! point (no options) with the real binary — judged from the simulators' records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crosswalk::commands::sim::{SimKind, SimOptions, SimState, StartedSim, start};
use crosswalk::mapping::{self, Transform};
use crosswalk::side::Side;
use sim_hubspot::ObjectType;
use sim_salesforce::{ObjectKind, SeedRecord};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn readme() -> String {
    std::fs::read_to_string(repo("README.md")).expect("README.md")
}

/// The table rows (cells trimmed, backticks dropped) of a README section whose first cell is `first`.
fn table_rows(section: &str, first: &str) -> Vec<Vec<String>> {
    let text = readme();
    let start = text.find(section).unwrap_or_else(|| panic!("README has no {section}"));
    let body = &text[start + section.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.lines()
        .filter(|l| l.starts_with(&format!("| {first} ")))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().replace('`', "")).collect())
        .collect()
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

#[test]
fn readme_crm_setup_tables_match_the_simulators_default_schemas() {
    let section = "## Setting up the CRMs";
    let hubspot: Vec<Vec<String>> = sim_hubspot::Schema::default()
        .properties
        .iter()
        .map(|p| {
            let kind = serde_json::to_value(p.kind).unwrap().as_str().unwrap().to_string();
            let object = serde_json::to_value(p.object).unwrap().as_str().unwrap().to_string();
            vec![object, p.name.clone(), kind, p.field_type.clone(), yes(p.has_unique_value)]
        })
        .collect();
    let mut readme_hs = table_rows(section, "contacts");
    readme_hs.extend(table_rows(section, "companies"));
    assert_eq!(readme_hs, hubspot, "README HubSpot table vs connectors/sim/hubspot/schema/default.json");
    let salesforce: Vec<Vec<String>> = sim_salesforce::Schema::default()
        .fields
        .iter()
        .map(|f| {
            let kind = serde_json::to_value(f.kind).unwrap().as_str().unwrap().to_string();
            let values = if f.kind == sim_salesforce::SfType::Picklist {
                f.picklist_values.join("; ")
            } else {
                String::new()
            };
            let length = f.length.unwrap_or(255).to_string();
            vec![
                f.object.name().into(),
                f.name.clone(),
                kind,
                length,
                yes(f.external_id),
                yes(f.unique),
                values,
            ]
        })
        .collect();
    let mut readme_sf = table_rows(section, "Contact");
    readme_sf.extend(table_rows(section, "Lead"));
    readme_sf.extend(table_rows(section, "Account"));
    assert_eq!(
        readme_sf, salesforce,
        "README Salesforce table vs connectors/sim/salesforce/schema/default.json"
    );
}

/// Every remote field a pair reads or writes on its right side, with the values a value map writes.
fn right_fields(pair: &mapping::PairMapping) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &pair.fields {
        let targets = match &f.transform {
            Transform::ValueMap { map, .. } => map.values().cloned().collect(),
            _ => Vec::new(),
        };
        for name in f.remote(Side::Right) {
            out.entry(name.clone()).or_default().extend(targets.clone());
        }
    }
    if let Some(ext) = pair.identity.external_id(Side::Right) {
        out.entry(ext.field.clone()).or_default();
    }
    if let Some((_, email)) = &pair.identity.email {
        out.entry(email.clone()).or_default();
    }
    out
}

#[test]
fn the_default_schemas_hold_every_field_and_value_the_shipped_mappings_use() {
    let pairs = mapping::load_dir(&repo("mappings")).expect("shipped mappings load");
    let hubspot = sim_hubspot::Schema::default().catalog().expect("default HubSpot schema");
    let salesforce = sim_salesforce::Schema::default();
    let wlcro_statuses = [
        "Lead - New",
        "Lead - Contacted",
        "Lead - Qualified",
        "Active Client",
        "On Hold",
        "Completed",
        "Cancelled",
    ];
    let mut checked = 0;
    for pair in &pairs {
        for (name, values) in right_fields(pair) {
            checked += 1;
            match pair.right.system.as_str() {
                "hubspot" => {
                    let object = ObjectType::parse(&pair.right.object).expect("HubSpot object");
                    let def = hubspot
                        .get(object, &name)
                        .unwrap_or_else(|| panic!("{}: HubSpot lacks {name}", pair.name));
                    assert!(!def.read_only_value, "{}: {name} is read-only", pair.name);
                    for v in &values {
                        assert!(def.allows_option(v), "{}: {name} has no option {v}", pair.name);
                    }
                }
                "salesforce" => {
                    let object = ObjectKind::parse(&pair.right.object).expect("Salesforce object");
                    let f = object
                        .field(&name, &salesforce.fields)
                        .unwrap_or_else(|| panic!("{}: Salesforce lacks {name}", pair.name));
                    assert!(f.writable, "{}: {name} is not updateable", pair.name);
                    if f.restricted {
                        for s in wlcro_statuses {
                            assert!(f.picklist.iter().any(|p| p == s), "{}: {name} lacks {s}", pair.name);
                        }
                    }
                }
                other => panic!("unexpected right system {other}"),
            }
        }
    }
    assert!(checked >= 20, "the shipped mappings were read ({checked} fields)");
}

/// The README's sample configuration with only the addresses, the consumer key, the store and
/// the mappings directory pointed at this test's simulators and files.
pub(crate) fn readme_config(urls: &BTreeMap<&str, String>, dir: &Path) -> String {
    let text = readme();
    let start = text.find("## Configuration").expect("Configuration section");
    let block = &text[start..];
    let open = block.find("```toml\n").expect("toml block") + "```toml\n".len();
    let close = open + block[open..].find("```").expect("end of toml block");
    let mut cfg: toml::Table = block[open..close].parse().expect("README sample config is TOML");
    let set = |t: &mut toml::Table, path: &[&str], v: &str| {
        let (last, parents) = path.split_last().unwrap();
        let mut at = t;
        for p in parents {
            at = at
                .get_mut(*p)
                .and_then(toml::Value::as_table_mut)
                .unwrap_or_else(|| panic!("README config lacks {p}"));
        }
        assert!(at.contains_key(*last), "README config lacks {last}");
        at.insert((*last).to_string(), toml::Value::String(v.to_string()));
    };
    set(&mut cfg, &["store", "url"], &format!("sqlite://{}", dir.join("state.db").display()));
    set(&mut cfg, &["sync", "mappings_dir"], &repo("mappings").display().to_string());
    set(&mut cfg, &["systems", "wlcro", "base_url"], &urls["wlcro"]);
    set(&mut cfg, &["systems", "hubspot", "base_url"], &urls["hubspot"]);
    set(&mut cfg, &["systems", "salesforce", "login_url"], &urls["salesforce"]);
    set(&mut cfg, &["systems", "salesforce", "client_id"], &sim_salesforce::SimConfig::default().client_id);
    // The line the README shows commented for `crosswalk sim salesforce`, whose token responses
    // name http://localhost as the instance.
    let sf = cfg.get_mut("systems").and_then(|s| s.get_mut("salesforce")).and_then(toml::Value::as_table_mut);
    sf.expect("salesforce system").insert(
        "allowed_instance_hosts".into(),
        toml::Value::Array(vec![toml::Value::String("http://localhost".into())]),
    );
    toml::to_string(&cfg).expect("config serialises")
}

/// Seeds, back-dated so the first run's window holds them: three WhiteLabelCRO clients (one on
/// hold, one also in Salesforce by email), one lead, one HubSpot-only contact.
fn seed(sims: &[StartedSim]) {
    for s in sims {
        match &s.state {
            SimState::Wlcro(w) => {
                let five_minutes_ago = || w.now() - chrono::Duration::minutes(5);
                for (i, status) in ["Active Client", "On Hold", "Active Client"].into_iter().enumerate() {
                    let r = sim_whitelabelcro::SeedRecord {
                        first_name: format!("Client{i}"),
                        last_name: "Readme".into(),
                        email: format!("client{i}@example.test"),
                        status: Some(status.into()),
                        ..Default::default()
                    };
                    w.seed_at(r, false, true, Some(five_minutes_ago())).expect("seed client");
                }
                let lead = sim_whitelabelcro::SeedRecord {
                    first_name: "Lead".into(),
                    last_name: "Readme".into(),
                    email: "lead0@example.test".into(),
                    ..Default::default()
                };
                w.seed_at(lead, true, true, Some(five_minutes_ago())).expect("seed lead");
            }
            SimState::Hubspot(h) => {
                h.set_clock_offset(-300_000);
                let p = serde_json::json!({"email": "hubspot-only@example.test", "firstname": "Hub", "lastname": "Only"});
                h.seed(ObjectType::Contacts, &[p.as_object().unwrap().clone()]).expect("seed contact");
                h.set_clock_offset(0);
            }
            SimState::Salesforce(sf) => {
                sf.clock.set_offset(chrono::Duration::minutes(-5));
                let fields = serde_json::json!({"LastName": "Readme", "Email": "client2@example.test"});
                let r = SeedRecord {
                    object: Some(ObjectKind::Contact),
                    fields: fields.as_object().unwrap().clone(),
                    ..Default::default()
                };
                sf.seed(vec![r]).expect("seed Salesforce contact");
                sf.clock.set_offset(chrono::Duration::zero());
            }
        }
    }
}

pub(crate) fn crosswalk(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .current_dir(dir)
        .env_remove("CROSSWALK_CONFIG")
        .env("WLCRO_API_KEY", sim_whitelabelcro::SimConfig::default_key())
        .env("WLCRO_WEBHOOK_SECRET", "whsec-readme-test-0123456789")
        .env("HUBSPOT_TOKEN", sim_hubspot::SimConfig::default().tokens[0].clone())
        .env("HUBSPOT_CLIENT_SECRET", sim_hubspot::SimConfig::default().client_secret)
        .env("SALESFORCE_CLIENT_SECRET", sim_salesforce::SimConfig::default().client_secret)
        .env("CROSSWALK_ADMIN_TOKEN", "readme-test-admin-token-0123456789abcdef")
        .arg("--config")
        .arg(dir.join("crosswalk.toml"))
        .args(args)
        .output()
        .expect("run crosswalk");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn no_bad_requests(sims: &[StartedSim]) {
    for s in sims {
        let log = match &s.state {
            SimState::Hubspot(h) => h.requests(),
            SimState::Salesforce(sf) => sf.log.entries(),
            SimState::Wlcro(_) => continue,
        };
        let refused: Vec<String> = log
            .iter()
            .filter(|r| r.status == 400 || r.status == 403)
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect();
        assert!(refused.is_empty(), "the simulator refused requests: {refused:?}");
    }
}

/// The three simulators as `crosswalk sim` starts them with no options (WhiteLabelCRO, HubSpot,
/// Salesforce, in that order) and their addresses by the README config's system names.
pub(crate) async fn start_sims() -> (Vec<StartedSim>, BTreeMap<&'static str, String>) {
    let mut sims = Vec::new();
    for kind in [SimKind::Wlcro, SimKind::Hubspot, SimKind::Salesforce] {
        sims.push(start(kind, &SimOptions::default()).await.expect("crosswalk sim starts"));
    }
    let urls = ["wlcro", "hubspot", "salesforce"]
        .into_iter()
        .zip(sims.iter().map(|s| s.handle.base_url()))
        .collect();
    (sims, urls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_configuration_syncs_through_crosswalk_sim_with_the_shipped_mappings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sims, urls) = start_sims().await;
    std::fs::write(dir.path().join("crosswalk.toml"), readme_config(&urls, dir.path())).expect("config");
    seed(&sims);
    // A first scheduled sync in a new store links but creates nothing; onboarding is a backfill
    // of each pair, as the README says.
    let (code, text) = crosswalk(dir.path(), &["sync"]);
    assert_eq!(code, 0, "crosswalk sync with the README configuration: {text}");
    assert!(text.contains("crosswalk backfill --pair wlcro-people__hubspot-contacts --dry-run"), "{text}");
    let mut text = text;
    for pair in ["wlcro-people__hubspot-contacts", "wlcro-people__salesforce-contacts"] {
        let (code, out) = crosswalk(dir.path(), &["backfill", "--pair", pair]);
        assert_eq!(code, 0, "crosswalk backfill --pair {pair}: {out}");
        text.push_str(&out);
    }
    no_bad_requests(&sims);

    let [SimState::Wlcro(w), SimState::Hubspot(h), SimState::Salesforce(sf)] =
        [&sims[0].state, &sims[1].state, &sims[2].state]
    else {
        panic!("simulators in order");
    };
    let truth = w.records();
    let clients: Vec<&serde_json::Value> = truth["clients"].as_array().unwrap().iter().collect();
    let contacts = h.records(ObjectType::Contacts);
    let sf_contacts: Vec<_> = sf.records().into_iter().filter(|r| r.object == ObjectKind::Contact).collect();
    let stage = |s: &str| if s.starts_with("Lead") { "lead" } else { "customer" };
    for c in clients.iter().filter(|c| c["is_lead"] == false) {
        let id = c["client_id"].to_string();
        let (email, status) = (c["email"].as_str().unwrap(), c["status_name"].as_str().unwrap());
        let hs: Vec<_> =
            contacts.iter().filter(|r| r.properties.get("wlcro_client_id") == Some(&id)).collect();
        assert_eq!(hs.len(), 1, "one HubSpot contact for client {id}");
        assert_eq!(hs[0].properties.get("email").map(String::as_str), Some(email));
        assert_eq!(hs[0].properties.get("lifecyclestage").map(String::as_str), Some(stage(status)));
        // Created contacts carry the External ID, and the one linked by email is given it too.
        let s: Vec<_> = sf_contacts.iter().filter(|r| r.fields.get("WLCRO_Id__c") == Some(&id)).collect();
        assert_eq!(s.len(), 1, "one Salesforce contact for client {id}: {sf_contacts:?}\n{text}");
        assert_eq!(s[0].fields.get("WLCRO_Status__c").map(String::as_str), Some(status));
        assert_eq!(s[0].fields.get("Email").map(String::as_str), Some(email));
    }
    let by_email = sf_contacts
        .iter()
        .filter(|r| r.fields.get("Email").map(String::as_str) == Some("client2@example.test"));
    assert_eq!(by_email.count(), 1, "the existing Salesforce contact was linked by email, not duplicated");
    let lead = clients.iter().find(|c| c["email"] == "hubspot-only@example.test");
    assert!(
        lead.is_some_and(|l| l["is_lead"] == true),
        "the HubSpot-only contact became a WhiteLabelCRO lead"
    );
    let lead0 = clients.iter().find(|c| c["email"] == "lead0@example.test").expect("seeded lead");
    let lead0_id = lead0["client_id"].to_string();
    assert!(
        contacts.iter().any(|r| r.properties.get("wlcro_client_id") == Some(&lead0_id)
            && r.properties.get("lifecyclestage").map(String::as_str) == Some("lead")),
        "the WhiteLabelCRO lead reached HubSpot as a lead"
    );
    let (code, text) = crosswalk(dir.path(), &["sync"]);
    assert_eq!(code, 0, "second cycle: {text}");
    no_bad_requests(&sims);
    assert_eq!(
        h.records(ObjectType::Contacts).len(),
        contacts.len(),
        "the second cycle created no HubSpot contact"
    );
    assert_eq!(sf.records().len(), sf_contacts.len(), "the second cycle created no Salesforce contact");
    assert_eq!(w.records()["clients"].as_array().unwrap().len(), clients.len());
    for s in sims {
        s.handle.stop().await;
    }
}
