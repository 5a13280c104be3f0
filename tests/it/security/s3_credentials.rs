//! S3, the credential half: an API key that lacks a required scope, and a key swapped for a new
//! one. Judged from the simulators' records and request logs.

use crosswalk::demo::world::{SimWorld, WorldConfig, secret_file};
use crosswalk::settings::SystemSettings;
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;
use sim_whitelabelcro::{ApiKeyConfig, Scope};

use super::sim_rig::{Rig, t0};

const FULL: &str = "wlcro_live_17_full-scope-key-0000000000000000000000";
const READ_ONLY: &str = "wlcro_live_17_read-only-key-11111111111111111111111";
const ROTATED: &str = "wlcro_live_17_rotated-key-222222222222222222222222222";

fn use_key(world: &mut SimWorld, dir: &std::path::Path, key: &str) {
    let file = secret_file(dir, "wlcro.key", key).expect("secret file");
    if let Some(SystemSettings::Whitelabelcro(w)) = world.systems.get_mut("wlcro") {
        w.api_key = file;
    }
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

fn client(i: usize) -> sim_whitelabelcro::SeedRecord {
    sim_whitelabelcro::SeedRecord {
        first_name: format!("Client{i}"),
        last_name: "Scope".into(),
        email: format!("scope{i}@example.test"),
        status: Some("Active Client".into()),
        ..Default::default()
    }
}

/// A key without `integrations:write`: the run that needs to write to WhiteLabelCRO fails the
/// pair with an authorisation error that names the system, the missing scope and what to check;
/// WhiteLabelCRO's records are untouched, no record is parked as a rejected write (regression:
/// each 403 used to become a `write_rejected` review item and the pair reported `done`), and
/// the key's secret appears in no error. Swapping in a new,
/// complete key (a new engine over the same store, as a restart would do) finishes the work
/// with nothing lost.
#[tokio::test]
async fn s3_a_key_missing_a_scope_is_refused_clearly_and_a_new_key_finishes_the_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = WorldConfig::demo(21, 6000);
    let start = t0() - chrono::Duration::minutes(10);
    let read_scopes: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != Scope::IntegrationsWrite).collect();
    cfg.wlcro.start_time = Some(start);
    cfg.wlcro.api_keys = vec![
        ApiKeyConfig { key: FULL.into(), scopes: Scope::ALL.to_vec() },
        ApiKeyConfig { key: READ_ONLY.into(), scopes: read_scopes },
        ApiKeyConfig { key: ROTATED.into(), scopes: Scope::ALL.to_vec() },
    ];
    cfg.hubspot.start_time = Some(start);
    cfg.salesforce.start_time = Some(start);
    let mut world = SimWorld::start(cfg, dir.path()).await.expect("simulators start");
    let ids: Vec<i64> =
        (0..3).map(|i| world.sims.wlcro.seed_at(client(i), false, true, None).expect("seed")).collect();
    use_key(&mut world, dir.path(), FULL);
    let rig = Rig::new(&world, dir.path()).await;
    let mut outputs = Vec::new();
    rig.run(&rig.engine(&world), &mut outputs, "full key").await.expect("run");
    let contacts = world.sims.hubspot.records(ObjectType::Contacts);
    assert_eq!(contacts.len(), 3, "created on HubSpot");

    // HubSpot edits that must flow to WhiteLabelCRO (first_name is two-way).
    for c in &contacts {
        let first = format!("{}-edited", c.properties["firstname"]);
        world
            .sims
            .hubspot
            .external_edit(ObjectType::Contacts, c.id, &props(&[("firstname", &first)]))
            .expect("edit");
    }
    let before = world.sims.wlcro.records()["clients"].clone();
    use_key(&mut world, dir.path(), READ_ONLY);
    let from = world.sims.wlcro.requests().len();
    let report = rig.run(&rig.engine(&world), &mut outputs, "read-only key").await.expect("run");
    let log = world.sims.wlcro.requests();
    let refused: Vec<_> = log[from..].iter().filter(|r| r.status == 403).collect();
    assert!(!refused.is_empty(), "the write was refused for the missing scope: {:?}", &log[from..]);
    assert_eq!(world.sims.wlcro.records()["clients"], before, "nothing was written to WhiteLabelCRO");
    let text = crosswalk::status::run_summary(&report, false);
    assert!(text.contains("wlcro"), "the failure names the system:\n{text}");
    assert!(!text.contains("read-only-key-1111") && !format!("{report:?}").contains("read-only-key-1111"));
    let failed = report.pairs.iter().find(|p| p.pair.contains("hubspot")).expect("hubspot pair");
    assert!(
        !matches!(failed.status, crosswalk::sync::PairStatus::Done),
        "a refused write does not count as done: {:?}",
        failed.status
    );
    let parked = rig.store.list_review(&Default::default()).await.expect("review");
    assert!(parked.is_empty(), "a credentials problem parks no record as a rejected write: {parked:?}");

    // The key is replaced (a new key, as WhiteLabelCRO cannot add scopes to an old one).
    use_key(&mut world, dir.path(), ROTATED);
    let engine = rig.engine(&world);
    rig.run(&engine, &mut outputs, "rotated key").await.expect("run");
    rig.run(&engine, &mut outputs, "settle").await.expect("run");
    let truth = world.sims.wlcro.records();
    for id in &ids {
        let c = truth["clients"]
            .as_array()
            .expect("clients")
            .iter()
            .find(|c| c["client_id"] == *id)
            .expect("client");
        assert!(c["first_name"].as_str().expect("name").ends_with("-edited"), "client {id}: {c}");
    }
    assert_eq!(world.sims.hubspot.records(ObjectType::Contacts).len(), 3, "no duplicate on HubSpot");
    world.stop().await;
}
