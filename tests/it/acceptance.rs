//! Issue #14's acceptance world: the shipped mappings and the README's sample configuration,
//! unchanged but for addresses and credentials, against the three simulators started through
//! `crosswalk sim`'s own entry point (their default schemas are what the README tells an admin to
//! create), driven by the real binary the way the README says to onboard: a backfill of each
//! pair, then scheduled `sync` runs. Judged only from the simulators' stored records and request
//! logs.
//!
//! The population: WhiteLabelCRO clients and leads that exist only there, contacts only in
//! HubSpot and only in Salesforce, people in all three with different email case, one
//! disagreement made on both sides after the first sync, two HubSpot contacts with one email (an
//! import artefact) and a lead converted to a client between runs. The simulators' clocks run 30 s
//! behind the engine's (a remote whose clock lags), so what one run writes is behind the next
//! run's horizon and the world converges without waiting on the wall clock.

use std::collections::{BTreeMap, BTreeSet};

use crosswalk::commands::sim::{SimState, StartedSim};
use serde_json::{Map, Value, json};
use sim_hubspot::ObjectType;
use sim_salesforce::{ObjectKind, SeedRecord};

const HS_PAIR: &str = "wlcro-people__hubspot-contacts";
const SF_PAIR: &str = "wlcro-people__salesforce-contacts";

struct World {
    dir: tempfile::TempDir,
    sims: Vec<StartedSim>,
}

impl World {
    fn w(&self) -> &sim_whitelabelcro::SimState {
        match &self.sims[0].state {
            SimState::Wlcro(w) => w,
            _ => unreachable!("started in order"),
        }
    }

    fn h(&self) -> &sim_hubspot::SimState {
        match &self.sims[1].state {
            SimState::Hubspot(h) => h,
            _ => unreachable!("started in order"),
        }
    }

    fn sf(&self) -> &sim_salesforce::SimState {
        match &self.sims[2].state {
            SimState::Salesforce(s) => s,
            _ => unreachable!("started in order"),
        }
    }

    /// The real binary with the README's configuration and the simulators' credentials.
    fn crosswalk(&self, args: &[&str]) -> String {
        let (code, text) = crate::crm_setup::crosswalk(self.dir.path(), args);
        assert_eq!(code, 0, "crosswalk {args:?} failed:\n{text}");
        text
    }

    /// Every WhiteLabelCRO person (leads and clients).
    fn people(&self) -> Vec<Value> {
        self.w().records()["clients"].as_array().cloned().unwrap_or_default()
    }

    fn contacts(&self) -> Vec<sim_hubspot::Record> {
        self.h().records(ObjectType::Contacts).into_iter().filter(|r| !r.archived()).collect()
    }

    fn sf_contacts(&self) -> Vec<sim_salesforce::store::Record> {
        let live =
            |r: &sim_salesforce::store::Record| r.object == ObjectKind::Contact && r.deleted_at.is_none();
        self.sf().records().into_iter().filter(live).collect()
    }

    /// Each record's values and last-modified stamp, per system.
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for p in self.people() {
            let mut values = p.clone();
            let updated = values.as_object_mut().and_then(|o| o.remove("updated_utc")).unwrap_or_default();
            s.wlcro.insert(p["client_id"].to_string(), (values.to_string(), updated.to_string()));
        }
        for c in self.contacts() {
            let mut props = c.properties.clone();
            for volatile in ["hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"] {
                props.remove(volatile);
            }
            s.hubspot.insert(c.id.to_string(), (format!("{props:?}"), c.updated_ms.to_string()));
        }
        for c in self.sf_contacts() {
            s.salesforce.insert(c.id.clone(), (format!("{:?}", c.fields), c.last_modified.to_rfc3339()));
        }
        s.requests = [self.w().requests().len(), self.h().requests().len(), self.sf().log.entries().len()];
        s
    }

    /// Write requests since `from` (per system: WhiteLabelCRO, HubSpot, Salesforce).
    fn writes_since(&self, from: &Snapshot) -> [usize; 3] {
        let count = |log: Vec<sim_core::LoggedRequest>, n: usize| {
            log.into_iter().skip(n).filter(crosswalk::demo::report::is_write).count()
        };
        [
            count(self.w().requests(), from.requests[0]),
            count(self.h().requests(), from.requests[1]),
            count(self.sf().log.entries(), from.requests[2]),
        ]
    }
}

#[derive(Debug, Default, Clone)]
struct Snapshot {
    wlcro: BTreeMap<String, (String, String)>,
    hubspot: BTreeMap<String, (String, String)>,
    salesforce: BTreeMap<String, (String, String)>,
    requests: [usize; 3],
}

/// Records that were written (stamp moved) although no value changed, per system.
fn written_unchanged(before: &Snapshot, after: &Snapshot) -> [Vec<String>; 3] {
    let same = |b: &BTreeMap<String, (String, String)>, a: &BTreeMap<String, (String, String)>| {
        a.iter()
            .filter(|(id, (v, t))| b.get(*id).is_some_and(|(bv, bt)| bv == v && bt != t))
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    };
    [
        same(&before.wlcro, &after.wlcro),
        same(&before.hubspot, &after.hubspot),
        same(&before.salesforce, &after.salesforce),
    ]
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn seed_wlcro(
    w: &sim_whitelabelcro::SimState,
    first: &str,
    email: &str,
    status: Option<&str>,
    lead: bool,
) -> i64 {
    let at = w.now() - chrono::Duration::minutes(5);
    let r = sim_whitelabelcro::SeedRecord {
        first_name: first.into(),
        last_name: "Accept".into(),
        email: email.into(),
        phone: Some("(415) 555-0142".into()),
        city: Some("Austin".into()),
        state: Some("TX".into()),
        zip: Some("78701".into()),
        status: status.map(str::to_string),
        ..Default::default()
    };
    w.seed_at(r, lead, true, Some(at)).expect("seed WhiteLabelCRO")
}

/// The seeded world; answers the ids the judgement needs.
struct Seeded {
    lead_to_convert: i64,
    conflicted: i64,
    dup_client: i64,
}

fn seed(world: &World) -> Seeded {
    let (w, h, sf) = (world.w(), world.h(), world.sf());
    for (i, status) in ["Active Client", "On Hold", "Completed"].into_iter().enumerate() {
        seed_wlcro(w, &format!("Wonly{i}"), &format!("w-only{i}@example.test"), Some(status), false);
    }
    let lead_to_convert = seed_wlcro(w, "Lena", "lena.lead@example.test", None, true);
    seed_wlcro(w, "Lou", "lou.lead@example.test", Some("Lead - Contacted"), true);
    let both = seed_wlcro(w, "Mia", "Mia.Both@Example.test", Some("Active Client"), false);
    let conflicted = seed_wlcro(w, "Cora", "cora@example.test", Some("Active Client"), false);
    let dup_client = seed_wlcro(w, "Dee", "dup@example.test", Some("Active Client"), false);

    h.set_clock_offset(-300_000);
    let contact = |first: &str, email: &str| {
        obj(json!({"email": email, "firstname": first, "lastname": "Accept", "phone": "+14155550142",
            "city": "Austin", "state": "TX", "zip": "78701"}))
    };
    let seeded = [
        contact("Hana", "h-only0@example.test"),
        contact("Hugo", "h-only1@example.test"),
        contact("Mia", "mia.both@example.test"),
        contact("Cora", "cora@example.test"),
        contact("Dee", "dup@example.test"),
    ];
    h.seed(ObjectType::Contacts, &seeded).expect("seed HubSpot");
    h.import_duplicate(ObjectType::Contacts, &contact("Dee", "dup@example.test"))
        .expect("an imported duplicate");
    h.set_clock_offset(0);

    sf.clock.set_offset(chrono::Duration::minutes(-5));
    let sf_contact = |first: &str, email: &str| SeedRecord {
        object: Some(ObjectKind::Contact),
        fields: obj(
            json!({"FirstName": first, "LastName": "Accept", "Email": email, "Phone": "+14155550142"}),
        ),
        ..Default::default()
    };
    sf.seed(vec![
        sf_contact("Sal", "s-only0@example.test"),
        sf_contact("Mia", "MIA.BOTH@example.test"),
        sf_contact("Cora", "cora@example.test"),
    ])
    .expect("seed Salesforce");
    sf.clock.set_offset(chrono::Duration::zero());
    let _ = both;
    Seeded { lead_to_convert, conflicted, dup_client }
}

/// The simulators' clocks 30 s behind the engine's from here on.
fn lag_the_remotes(world: &World) {
    world.w().clock.set_offset(chrono::Duration::seconds(-30));
    world.h().set_clock_offset(-30_000);
    world.sf().clock.set_offset(chrono::Duration::seconds(-30));
}

fn norm(e: &str) -> String {
    e.trim().to_lowercase()
}

fn count_by_email<'a>(emails: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in emails {
        *out.entry(norm(e)).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_configuration_onboards_real_looking_data_without_damage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sims, urls) = crate::crm_setup::start_sims().await;
    let world = World { dir, sims };
    std::fs::write(
        world.dir.path().join("crosswalk.toml"),
        crate::crm_setup::readme_config(&urls, world.dir.path()),
    )
    .expect("config");
    let seeded = seed(&world);
    lag_the_remotes(&world);
    let start_state = world.snapshot();
    let mut unchanged_wlcro: BTreeMap<String, usize> = BTreeMap::new();
    let mut judge_run = |world: &World, before: &Snapshot, what: &str| {
        let after = world.snapshot();
        let [wl, hs, sf] = written_unchanged(before, &after);
        assert!(hs.is_empty(), "{what}: HubSpot contacts written without a change: {hs:?}");
        assert!(sf.is_empty(), "{what}: Salesforce contacts written without a change: {sf:?}");
        for id in wl {
            *unchanged_wlcro.entry(id).or_default() += 1;
        }
        after
    };

    // Run 1: the onboarding backfill of each pair, as the README says.
    let before = world.snapshot();
    world.crosswalk(&["backfill", "--pair", HS_PAIR]);
    world.crosswalk(&["backfill", "--pair", SF_PAIR]);
    let after_first = judge_run(&world, &before, "the backfills");

    // Back-links are in place on the CRM side for every linked WhiteLabelCRO person.
    let people = world.people();
    let contacts = world.contacts();
    let sf_contacts = world.sf_contacts();
    for p in &people {
        let id = p["client_id"].as_i64().expect("id");
        if id == seeded.dup_client {
            continue;
        }
        let email = norm(p["email"].as_str().expect("email"));
        let hs: Vec<_> = contacts
            .iter()
            .filter(|c| c.properties.get("email").map(|e| norm(e)) == Some(email.clone()))
            .collect();
        assert_eq!(hs.len(), 1, "{email} is on HubSpot once");
        assert_eq!(
            hs[0].properties.get("wlcro_client_id"),
            Some(&id.to_string()),
            "{email}: HubSpot back-link"
        );
        let sf: Vec<_> = sf_contacts
            .iter()
            .filter(|c| c.fields.get("Email").map(|e| norm(e)) == Some(email.clone()))
            .collect();
        assert_eq!(sf.len(), 1, "{email} is on Salesforce once");
        assert_eq!(sf[0].fields.get("WLCRO_Id__c"), Some(&id.to_string()), "{email}: Salesforce back-link");
        if let Some(ext) = p["external_id"].as_str() {
            assert_eq!(ext, format!("hubspot_{}", hs[0].id), "{email}: WhiteLabelCRO back-link");
        }
    }
    // The HubSpot-only contacts became leads; the Salesforce-only one stays there (link only).
    for email in ["h-only0@example.test", "h-only1@example.test"] {
        let p =
            people.iter().find(|p| p["email"] == email).unwrap_or_else(|| panic!("{email} became a lead"));
        assert_eq!(p["is_lead"], true, "{email} is a lead");
    }
    assert!(people.iter().all(|p| p["email"] != "s-only0@example.test"), "Salesforce-only stays there");
    // The duplicate HubSpot email: nobody linked, nothing created for it.
    let dups: Vec<_> = contacts
        .iter()
        .filter(|c| c.properties.get("email").map(String::as_str) == Some("dup@example.test"))
        .collect();
    assert_eq!(dups.len(), 2, "the two imported contacts are still there");
    assert!(
        dups.iter().all(|c| !c.properties.contains_key("wlcro_client_id")),
        "neither was linked: a guess"
    );
    let hubspot_contact_of = |id: i64| -> u64 {
        world
            .contacts()
            .into_iter()
            .find(|c| c.properties.get("wlcro_client_id") == Some(&id.to_string()))
            .map(|c| c.id)
            .expect("a linked contact")
    };
    let lena_contact = hubspot_contact_of(seeded.lead_to_convert);

    // Between runs: the lead is converted to a client, and Cora's first name is edited on both
    // sides differently (a true conflict).
    world.w().ui_status(seeded.lead_to_convert, "Active Client", None).expect("convert");
    world.w().ui_edit(seeded.conflicted, &obj(json!({"first_name": "Corinna"}))).expect("edit");
    let cora = hubspot_contact_of(seeded.conflicted);
    world.h().external_edit(ObjectType::Contacts, cora, &obj(json!({"firstname": "Coco"}))).expect("edit");

    // Runs 2, 3 and 4: scheduled syncs.
    let mut before = world.snapshot();
    let mut writes = Vec::new();
    for run in 2..=4 {
        world.crosswalk(&["sync"]);
        writes.push(world.writes_since(&before));
        before = judge_run(&world, &before, &format!("run {run}"));
    }
    assert_eq!(writes[2], [0, 0, 0], "the last run writes nothing anywhere (runs 2–4: {writes:?})");

    // The converted lead keeps its one link: the same contact, now a customer; a client in
    // Salesforce's status field too.
    assert_eq!(hubspot_contact_of(seeded.lead_to_convert), lena_contact, "the conversion kept the link");
    let lena = world.contacts().into_iter().find(|c| c.id == lena_contact).expect("Lena's contact");
    assert_eq!(lena.properties.get("lifecyclestage").map(String::as_str), Some("customer"));
    let lena_sf = world
        .sf_contacts()
        .into_iter()
        .find(|c| c.fields.get("WLCRO_Id__c") == Some(&seeded.lead_to_convert.to_string()))
        .expect("Lena in Salesforce");
    assert_eq!(lena_sf.fields.get("WLCRO_Status__c").map(String::as_str), Some("Active Client"));
    // The conflict waits: neither side's edit was overwritten.
    let cora_now = world.contacts().into_iter().find(|c| c.id == cora).expect("Cora");
    assert_eq!(cora_now.properties.get("firstname").map(String::as_str), Some("Coco"));
    let cora_wl =
        world.people().into_iter().find(|p| p["client_id"] == json!(seeded.conflicted)).expect("Cora");
    assert_eq!(cora_wl["first_name"], "Corinna");

    // Every person exists once per system (by normalised email); only the seeded duplicate twice.
    let end = world.snapshot();
    let wl_people = world.people();
    let wl = count_by_email(wl_people.iter().filter_map(|p| p["email"].as_str()));
    assert!(wl.values().all(|n| *n == 1), "WhiteLabelCRO duplicates: {wl:?}");
    let contacts = world.contacts();
    let hs = count_by_email(contacts.iter().filter_map(|c| c.properties.get("email").map(String::as_str)));
    assert!(hs.iter().all(|(e, n)| *n == 1 || (e == "dup@example.test" && *n == 2)), "HubSpot: {hs:?}");
    let sf_all = world.sf_contacts();
    let sf = count_by_email(sf_all.iter().filter_map(|c| c.fields.get("Email").map(String::as_str)));
    assert!(sf.values().all(|n| *n == 1), "Salesforce duplicates: {sf:?}");
    for e in wl.keys() {
        assert!(sf.contains_key(e), "{e} reached Salesforce");
        assert!(hs.contains_key(e), "{e} is on HubSpot");
    }

    // No write changed nothing, but for the one exception: the first write-through of a field
    // WhiteLabelCRO cannot return (the address the CRM owns), at most once per person.
    assert!(unchanged_wlcro.values().all(|n| *n == 1), "written twice without a change: {unchanged_wlcro:?}");
    // No WhiteLabelCRO value was changed but by a rule that owns it (the CRM's address), the
    // edits and the conversion this test made, and the records created there.
    let owned_by_the_crm: BTreeSet<&str> = ["city", "state", "zip", "updated_utc"].into();
    let test_edits: BTreeSet<(i64, &str)> = [
        (seeded.lead_to_convert, "status"),
        (seeded.lead_to_convert, "status_id"),
        (seeded.lead_to_convert, "status_name"),
        (seeded.lead_to_convert, "is_lead"),
        (seeded.conflicted, "first_name"),
        (seeded.conflicted, "full_name"),
    ]
    .into();
    let first_values: BTreeMap<String, Value> = start_state
        .wlcro
        .iter()
        .map(|(id, (v, _))| (id.clone(), serde_json::from_str(v).unwrap_or(Value::Null)))
        .collect();
    for p in &wl_people {
        let id = p["client_id"].as_i64().expect("id");
        let Some(before) = first_values.get(&id.to_string()) else { continue };
        for (k, v) in p.as_object().into_iter().flatten() {
            if before.get(k) != Some(v)
                && !owned_by_the_crm.contains(k.as_str())
                && !test_edits.contains(&(id, k.as_str()))
            {
                panic!(
                    "WhiteLabelCRO {id}'s `{k}` changed from {:?} to {v} by no rule that owns it",
                    before.get(k)
                );
            }
        }
    }
    let _ = (after_first, end);
    for s in world.sims {
        s.handle.stop().await;
    }
}
