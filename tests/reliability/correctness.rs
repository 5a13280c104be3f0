//! Scenarios A (correctness): C1–C14.

use std::collections::{BTreeMap, BTreeSet};

use crosswalk::store::Backend;
use serde_json::Value;

use crate::harness::{Outcome, Sim, person, run_scenario, sync_options, written_records};
use crate::net::{FaultPlan, WireEntry};

/// Ids of the HubSpot records the search pages of `phase` returned.
fn hubspot_pulled(wire: &[WireEntry], phase: &str) -> BTreeSet<String> {
    wire.iter()
        .filter(|e| e.phase == phase && e.system == "hubspot" && e.path.ends_with("/search"))
        .flat_map(|e| {
            let v: Value = serde_json::from_str(&e.bodies.1).unwrap_or(Value::Null);
            v["results"].as_array().cloned().unwrap_or_default()
        })
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect()
}

/// The whole lifecycle with no faults: people edit all three systems, runs keep up, and the
/// oracle holds after settling.
#[test]
fn chaos_baseline_no_faults() {
    run_scenario("chaos_baseline_no_faults", 35, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        sim.populate(20);
        sim.chaos(6, 6, FaultPlan::none(), 0.0).await;
        let violations = sim.settle_and_check().await;
        sim.done(violations).await
    });
}

/// The whole lifecycle with every HTTP fault of the plan and random crash points.
#[test]
fn chaos_faults_and_crashes() {
    run_scenario("chaos_faults_and_crashes", 75, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        sim.populate(20);
        let plan = FaultPlan::chaos(&mut sim.rng);
        sim.chaos(8, 6, plan, 0.5).await;
        let violations = sim.settle_and_check().await;
        sim.done(violations).await
    });
}

/// C1: two consecutive incremental runs. 200 contacts linked across all three systems reach a
/// steady state; then HubSpot edits 7 and creates 3, Salesforce edits 4. The next runs write
/// exactly what the rules imply (each edited field once to each other system, no creates for
/// the link-only HubSpot contacts), re-read a boundary record without writing it, never move a
/// watermark back, and the oracle holds.
#[test]
fn c01_two_consecutive_incremental_runs() {
    run_scenario("c01_two_consecutive_incremental_runs", 1, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let linked = sim.populate_linked(200);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("C1: no steady state within 4 runs after the first sync".into());
        }
        // A boundary record: edited 30 s before the last steady run, so the next run's overlap
        // re-reads it.
        let boundary = linked[0].clone();
        sim.world.clock.advance(std::time::Duration::from_secs(270));
        sim.hs_edit(boundary.1, &[("firstname", "Boundary")]);
        sim.world.clock.advance(std::time::Duration::from_secs(30));
        sim.run("boundary").await;
        let before = sim.store().list_checkpoints().await.unwrap_or_default();
        sim.world.clock.advance(std::time::Duration::from_secs(60));
        let hs_edited: Vec<_> = linked[1..8].to_vec();
        let sf_edited: Vec<_> = linked[8..12].to_vec();
        for (i, (_, hs, _)) in hs_edited.iter().enumerate() {
            sim.hs_edit(*hs, &[("firstname", ["Ada", "Bea", "Cyd", "Dot", "Eve", "Fay", "Gus"][i])]);
        }
        let mut created = BTreeSet::new();
        for k in 0..3 {
            let p = person(7_000 + k);
            created.insert(sim.hs_create(&p, &format!("c1-new{k}@example.test"), None).to_string());
        }
        for (i, (_, _, sf)) in sf_edited.iter().enumerate() {
            sim.sf_edit(sf, &[("FirstName", ["Hal", "Ivy", "Jo", "Kay"][i])]);
        }
        sim.world.clock.advance(std::time::Duration::from_secs(240));
        sim.run("run-2").await;
        for r in 3..=4 {
            sim.tick(&format!("run-{r}")).await;
        }
        let wire = sim.wire();
        let pulled = hubspot_pulled(&wire, "run-2");
        let expected_pull: BTreeSet<String> = hs_edited
            .iter()
            .map(|x| x.1.to_string())
            .chain(created.iter().cloned())
            .chain([boundary.1.to_string()])
            .collect();
        if !pulled.contains(&boundary.1.to_string()) {
            v.push(
                "C1: the boundary record was not re-read (the overlap comparison is not inclusive)".into(),
            );
        }
        let extra: Vec<_> = pulled.difference(&expected_pull).collect();
        if !extra.is_empty() {
            v.push(format!(
                "C1: run 2 fetched HubSpot records that neither changed nor sit in the overlap: {extra:?}"
            ));
        }
        let writes = written_records(&wire, &["run-"]);
        let mut want: BTreeMap<(&str, String), usize> = BTreeMap::new();
        for (c, _, sf) in &hs_edited {
            want.insert(("wlcro", c.to_string()), 1);
            want.insert(("salesforce", sf.clone()), 1);
        }
        for (c, hs, _) in &sf_edited {
            want.insert(("wlcro", c.to_string()), 1);
            want.insert(("hubspot", hs.to_string()), 1);
        }
        // The boundary edit reached WhiteLabelCRO in the boundary run (a plain edit there emits
        // no event), so Salesforce gets it from that run's sweep or, at the latest, this one's:
        // once either way.
        let boundary_sf = ("salesforce", boundary.2.clone());
        if writes.contains_key(&boundary_sf) {
            want.insert(boundary_sf, 1);
        }
        // A new HubSpot contact becomes a WhiteLabelCRO lead (one create), is told the lead's id
        // (its back-link) and takes the lead's stage; the lead goes on to Salesforce (one create).
        let wl = sim.world.sims.wlcro.records();
        for hs in &created {
            want.insert(("wlcro", format!("new:hubspot_{hs}")), 1);
            want.insert(("hubspot", hs.clone()), 2);
            let lead = wl["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["external_id"].as_str() == Some(format!("hubspot_{hs}").as_str()));
            if let Some(id) = lead.and_then(|c| c["client_id"].as_i64()) {
                want.insert(("salesforce", format!("new:{id}")), 1);
            }
        }
        if writes != want {
            v.push(format!(
                "C1: remote mutations differ from what the rules imply: got {writes:?}, want {want:?}"
            ));
        }
        let after = sim.store().list_checkpoints().await.unwrap_or_default();
        for b in &before {
            let a = after.iter().find(|a| a.stream == b.stream);
            if a.is_none_or(|a| a.window_to < b.window_to) {
                v.push(format!("C1: the watermark of {:?} moved back or vanished", b.stream));
            }
        }
        v.extend(sim.settle_and_check().await);
        sim.done(v).await
    });
}

fn live_carriers(truth: &crate::oracle::Truth, system: &str, client: i64) -> Vec<String> {
    let (remotes, field) = if system == "hubspot" {
        (&truth.hubspot, "wlcro_client_id")
    } else {
        (&truth.salesforce, "WLCRO_Id__c")
    };
    remotes
        .iter()
        .filter(|r| r.live && r.fields.get(field).is_some_and(|v| v == &client.to_string()))
        .map(|r| r.id.clone())
        .collect()
}

async fn open_items_for(sim: &Sim, pair: &str, client: i64) -> usize {
    let open = sim
        .store()
        .list_review(&crosswalk::store::ReviewFilter {
            state: Some(crosswalk::store::ReviewState::Open),
            pair: Some(pair.into()),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    open.iter().filter(|i| i.left_id.as_deref() == Some(client.to_string().as_str())).count()
}

/// C10: deletes, tombstones and undelete under the shipped policy (`unlink_and_review`):
/// (a) a HubSpot delete goes to review and is never re-created; (b) a Salesforce delete while
/// HubSpot edits the same record: the edit still reaches WhiteLabelCRO, the delete goes to review;
/// (c) a Salesforce undelete from the recycle bin after one run restores the link without a
/// duplicate; (d) a delete followed by a new record with the same email links the new record and
/// does not revive the old one.
#[test]
fn c10_deletes_tombstones_and_undelete() {
    run_scenario("c10_deletes_tombstones_and_undelete", 8, 1, |seed, backend: Backend| async move {
        use crate::oracle::{HS_PAIR, SF_PAIR, Truth};
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let linked = sim.populate_linked(12);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("C10: no steady state".into());
        }
        let (a, b, c, d) = (linked[0].clone(), linked[1].clone(), linked[2].clone(), linked[3].clone());
        let hs = &sim.world.sims.hubspot;
        let sf = &sim.world.sims.salesforce;
        hs.archive(sim_hubspot::ObjectType::Contacts, a.1).expect("archive a");
        sf.delete(&b.2).expect("delete b");
        sim.hs_edit(b.1, &[("firstname", "Edited-While-Deleted")]);
        sf.delete(&c.2).expect("delete c");
        hs.archive(sim_hubspot::ObjectType::Contacts, d.1).expect("archive d");
        sim.tick("after-deletes").await;
        sim.world.sims.salesforce.undelete(&c.2).expect("undelete c");
        let d_email = Truth::read(&sim.world.sims).clients[&d.0]["email"].clone();
        let d_new = sim.hs_create(&person(4_321), &d_email, None).to_string();
        sim.expect.must_live.insert(("hubspot".into(), d_new.clone()));
        for r in 0..2 {
            sim.tick(&format!("after-undelete-{r}")).await;
        }
        v.extend(sim.settle_and_check().await);
        let truth = Truth::read(&sim.world.sims);
        if !live_carriers(&truth, "hubspot", a.0).is_empty() {
            v.push("C10a: the deleted HubSpot contact was re-created".into());
        }
        if open_items_for(&sim, HS_PAIR, a.0).await == 0 {
            v.push("C10a: the HubSpot delete left no open review item".into());
        }
        if truth.clients[&b.0].get("first_name").map(String::as_str) != Some("Edited-While-Deleted") {
            v.push(
                "C10b: the HubSpot edit of a record deleted in Salesforce did not reach WhiteLabelCRO".into(),
            );
        }
        if !live_carriers(&truth, "salesforce", b.0).is_empty() {
            v.push("C10b: the deleted Salesforce contact was re-created".into());
        }
        if open_items_for(&sim, SF_PAIR, b.0).await == 0 {
            v.push("C10b: the Salesforce delete left no open review item".into());
        }
        if live_carriers(&truth, "salesforce", c.0) != vec![c.2.clone()] {
            v.push(format!(
                "C10c: after the undelete, Salesforce records carrying the client's id: {:?} (want only the restored one)",
                live_carriers(&truth, "salesforce", c.0)
            ));
        }
        if truth.hubspot.iter().any(|r| r.id == d.1.to_string() && r.live) {
            v.push("C10d: the deleted HubSpot contact was revived".into());
        }
        sim.done(v).await
    });
}

/// C12: identity on first link. A case-only email difference links without a third record; an
/// external id and an email that point at different records link by the external id (or go to
/// review); exactly as many records are created as are missing.
#[test]
fn c12_identity_matching_on_first_link() {
    run_scenario("c12_identity_matching_on_first_link", 3, 1, |seed, backend: Backend| async move {
        use crate::oracle::{HS_PAIR, SF_PAIR};
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let p = person(10);
        let bob = sim.wl_create(&p, "Bob@Example.com", None);
        let bob_hs = sim.hs_create(&p, "bob@example.com", None);
        let bob_sf = sim.sf_create(&p, "BOB@example.com", None);
        let q = person(12);
        let by_id = sim.hs_create(&q, "x-by-id@example.test", None);
        let x = sim.wl_create(&q, "x-by-email@example.test", Some(format!("hubspot_{by_id}")));
        let by_email = sim.hs_create(&person(13), "x-by-email@example.test", None);
        let missing: Vec<i64> = (0..5)
            .map(|k| sim.wl_create(&person(40 + 4 * k), &format!("c12-missing{k}@example.test"), None))
            .collect();
        sim.expect.must_live.extend([
            ("hubspot".to_string(), bob_hs.to_string()),
            ("salesforce".to_string(), bob_sf.clone()),
            ("hubspot".to_string(), by_id.to_string()),
            ("hubspot".to_string(), by_email.to_string()),
        ]);
        let mut v = Vec::new();
        sim.tick("first").await;
        v.extend(sim.settle_and_check().await);
        let link = |pair: &'static str, id: i64| {
            let store = sim.ts.store.clone();
            async move {
                store.link_by_record(pair, crosswalk::side::Side::Left, &id.to_string()).await.ok().flatten()
            }
        };
        if link(HS_PAIR, bob).await.map(|l| l.right_id) != Some(bob_hs.to_string()) {
            v.push("C12: the case-only email pair was not linked on HubSpot".into());
        }
        if link(SF_PAIR, bob).await.map(|l| l.right_id) != Some(bob_sf.clone()) {
            v.push("C12: the case-only email pair was not linked on Salesforce".into());
        }
        match link(HS_PAIR, x).await.map(|l| l.right_id) {
            Some(r) if r == by_id.to_string() => {}
            None if open_items_for(&sim, HS_PAIR, x).await > 0 => {}
            other => v.push(format!(
                "C12: external id vs email: linked to {other:?}, want {by_id} (the external id) or review"
            )),
        }
        let writes = written_records(&sim.wire(), &[""]);
        let creates =
            |system: &str| writes.keys().filter(|(s, id)| *s == system && id.starts_with("new:")).count();
        // HubSpot: only the five clients with no counterpart. Salesforce: those five and x.
        if creates("hubspot") != missing.len() || creates("salesforce") != missing.len() + 1 {
            v.push(format!(
                "C12: creates: hubspot {}, salesforce {}; want {} and {}",
                creates("hubspot"),
                creates("salesforce"),
                missing.len(),
                missing.len() + 1
            ));
        }
        sim.done(v).await
    });
}

/// No record written twice in one run: (phase, system, id) counts over 1.
fn written_twice_in_a_run(sim: &Sim, phases: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for phase in phases {
        let wire: Vec<WireEntry> = sim.wire().into_iter().filter(|e| e.phase == *phase).collect();
        for ((system, id), n) in written_records(&wire, &[phase]) {
            if n > 1 {
                v.push(format!("C5: {system} {id} written {n} times in `{phase}`"));
            }
        }
    }
    v
}

/// C5: records mutate during a page scan (page size 5). Between HubSpot page reads people
/// edit 3 records not read yet (moving them to the end); two Salesforce edits stamped before the
/// current position (a long transaction) become visible mid-scan. After two runs every edit is
/// on the other side, nothing was skipped, and no record was written twice in one run.
#[test]
fn c05_records_mutate_during_a_page_scan() {
    run_scenario("c05_records_mutate_during_a_page_scan", 8, 1, |seed, backend: Backend| async move {
        let opts = crosswalk::sync::SyncOptions { page_size: 5, ..sync_options() };
        let mut sim = Sim::new(seed, backend, |_| {}, opts).await?;
        let linked = sim.populate_linked(30);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("C5: no steady state".into());
        }
        sim.world.clock.advance(std::time::Duration::from_secs(60));
        for (i, (_, hs, _)) in linked.iter().take(25).enumerate() {
            sim.hs_edit(*hs, &[("firstname", &format!("Scan{i}"))]);
            sim.world.clock.advance(std::time::Duration::from_secs(1));
        }
        let sf = sim.world.sims.salesforce.clone();
        let txn = sf.open_transaction();
        for (i, (_, _, sfid)) in linked[25..27].iter().enumerate() {
            let fields =
                [("FirstName".to_string(), serde_json::json!(format!("Late{i}")))].into_iter().collect();
            sf.edit(sim_salesforce::ExternalEdit {
                id: sfid.clone(),
                fields,
                system_only: false,
                visible_after_secs: 0,
                txn: Some(txn),
            })
            .expect("edit in a transaction");
        }
        let hs = sim.world.sims.hubspot.clone();
        let targets: Vec<u64> = linked.iter().take(25).map(|l| l.1).collect();
        let (mut seen, mut pages, mut committed) = (BTreeSet::new(), 0, false);
        sim.world.net.set_hook(Some(Box::new(move |system, _m, path, resp| {
            if system == "salesforce" && !committed && (path.contains("/query") || path.contains("/updated"))
            {
                committed = sf.commit_transaction(txn).is_ok();
            }
            // A HubSpot record is read by the search pages and by the batch reads that fetch the
            // other side of the WhiteLabelCRO pages.
            if system != "hubspot"
                || !(path.ends_with("/search") || path.ends_with("/batch/read"))
                || pages >= 2
            {
                return;
            }
            let body: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
            seen.extend(
                body["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_str().map(String::from)),
            );
            pages += 1;
            if pages == 2 {
                for id in targets.iter().filter(|id| !seen.contains(&id.to_string())).take(3) {
                    let f = [("firstname".to_string(), serde_json::json!(format!("Moved{id}")))]
                        .into_iter()
                        .collect();
                    let _ = hs.external_edit(sim_hubspot::ObjectType::Contacts, *id, &f);
                }
            }
        })));
        sim.tick("scan-1").await;
        sim.world.net.set_hook(None);
        sim.tick("scan-2").await;
        v.extend(written_twice_in_a_run(&sim, &["scan-1", "scan-2"]));
        if std::env::var("SIM_DEBUG").is_ok() {
            for e in sim.wire().iter().filter(|e| e.phase == "scan-1" && e.system != "wlcro") {
                eprintln!(
                    "[c5 {}] {} {} {} > {}",
                    e.seq,
                    e.system,
                    e.method,
                    e.path,
                    e.bodies.0.chars().take(300).collect::<String>()
                );
            }
        }
        let truth = crate::oracle::Truth::read(&sim.world.sims);
        for (client, hs, sfid) in &linked[..27] {
            let want = truth
                .hubspot
                .iter()
                .find(|r| r.id == hs.to_string())
                .and_then(|r| r.fields.get("firstname").cloned())
                .filter(|n| n.starts_with("Scan") || n.starts_with("Moved"))
                .or_else(|| {
                    truth
                        .salesforce
                        .iter()
                        .find(|r| &r.id == sfid)
                        .and_then(|r| r.fields.get("FirstName").cloned())
                });
            if truth.clients[client].get("first_name") != want.as_ref() {
                v.push(format!("C5: client {client}'s first name is not the latest edit after two runs"));
            }
        }
        v.extend(sim.settle_and_check().await);
        sim.done(v).await
    });
}

/// Sets the rule of `field` in `pair` (scenarios that test other policies than the shipped ones).
fn set_rule(sim: &mut Sim, pair: &str, field: &str, kind: crosswalk::mapping::RuleKind, flag_drift: bool) {
    for p in sim.world.pairs.iter_mut().filter(|p| p.name == pair) {
        for f in p.fields.iter_mut().filter(|f| f.name == field) {
            f.rule.kind = kind;
            f.rule.flag_drift = flag_drift;
        }
    }
}

async fn open_field_items(sim: &Sim, pair: &str, client: i64, field: &str) -> usize {
    let open = sim
        .store()
        .list_review(&crosswalk::store::ReviewFilter {
            state: Some(crosswalk::store::ReviewState::Open),
            pair: Some(pair.into()),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    open.iter()
        .filter(|i| {
            i.left_id.as_deref() == Some(client.to_string().as_str()) && i.field.as_deref() == Some(field)
        })
        .count()
}

/// C7: clock skew and timestamp granularity. HubSpot's clock is 90 s ahead, Salesforce's 90 s
/// behind, crosswalk's 30 s ahead, WhiteLabelCRO stamps whole seconds. People edit all three
/// systems; nothing is lost and the oracle holds (watermarks follow each server's clock). With
/// `first_name` set to `two_way` + `newest` on the HubSpot pair, two edits whose stamps are 10 s
/// apart (inside the 30 s skew tolerance) go to review instead of to an arbitrary winner.
#[test]
fn c07_clock_skew_and_timestamp_granularity() {
    run_scenario("c07_clock_skew_and_timestamp_granularity", 5, 1, |seed, backend: Backend| async move {
        use crate::oracle::HS_PAIR;
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let clock = sim.world.clock.clone();
        clock.set_sim_offset("hubspot", chrono::Duration::seconds(90));
        clock.set_sim_offset("salesforce", chrono::Duration::seconds(-90));
        clock.set_app_offset(chrono::Duration::seconds(30));
        set_rule(
            &mut sim,
            HS_PAIR,
            "first_name",
            crosswalk::mapping::RuleKind::TwoWay(crosswalk::mapping::OnConflict::Newest),
            false,
        );
        sim.restart().await;
        let linked = sim.populate_linked(6);
        sim.populate(10);
        sim.chaos(4, 6, FaultPlan::none(), 0.0).await;
        sim.steady("steady", 4).await;
        // HubSpot edits 80 s (true time) before WhiteLabelCRO: its stamp, +90 s skewed, lands
        // 10 s after WhiteLabelCRO's.
        let (client, hs, _) = linked[0].clone();
        sim.world.clock.advance(std::time::Duration::from_secs(100));
        sim.hs_edit(hs, &[("firstname", "Skewed-HubSpot")]);
        sim.world.clock.advance(std::time::Duration::from_secs(80));
        sim.wl_edit(client, &[("first_name", "Skewed-WLCRO")]);
        sim.tick("skewed-edits").await;
        let mut v = sim.settle_and_check().await;
        if open_field_items(&sim, HS_PAIR, client, "first_name").await != 1 {
            v.push("C7: edits inside the skew tolerance did not go to exactly one review item".into());
        }
        sim.done(v).await
    });
}

/// C8: per-field system of record. Email belongs to Salesforce, phone to HubSpot, status to
/// WhiteLabelCRO (drift flagged). In one interval every system edits every one of those fields
/// on one record: each field converges to its owner's value everywhere, each losing edit leaves
/// one review item, and further runs add none.
#[test]
fn c08_per_field_system_of_record_routing() {
    run_scenario("c08_per_field_system_of_record_routing", 8, 1, |seed, backend: Backend| async move {
        use crate::oracle::{HS_PAIR, SF_PAIR, Truth};
        use crosswalk::mapping::RuleKind::SystemOfRecord;
        use crosswalk::side::Side::{Left, Right};
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        set_rule(&mut sim, HS_PAIR, "email", SystemOfRecord(Left), true);
        set_rule(&mut sim, SF_PAIR, "email", SystemOfRecord(Right), true);
        set_rule(&mut sim, HS_PAIR, "phone", SystemOfRecord(Right), true);
        set_rule(&mut sim, SF_PAIR, "phone", SystemOfRecord(Left), true);
        sim.restart().await;
        let linked = sim.populate_linked(5);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("C8: no steady state".into());
        }
        // A client whose HubSpot stage can move to `customer` (not a Cancelled one: HubSpot's
        // stage only moves forward, see `termination_rejected_write_is_not_resent`).
        let truth = Truth::read(&sim.world.sims);
        let (client, hs, sf) = linked
            .iter()
            .find(|l| truth.clients[&l.0].get("status_name").is_some_and(|s| s != "Cancelled"))
            .cloned()
            .unwrap_or_else(|| linked[0].clone());
        // Every edit a real change: the two statuses the client does not have yet.
        let current = truth.clients[&client].get("status_name").cloned().unwrap_or_default();
        let others: Vec<&str> =
            ["Active Client", "On Hold", "Completed"].into_iter().filter(|s| *s != current).collect();
        let (wl_status, sf_status) = (others[0], others[1]);
        sim.world.clock.advance(std::time::Duration::from_secs(30));
        sim.wl_edit(client, &[("email", "c8-wlcro@example.test"), ("phone", "(415) 555-0101")]);
        sim.world.sims.wlcro.ui_status(client, wl_status, None).expect("status");
        sim.hs_edit(hs, &[("email", "c8-hubspot@example.test"), ("phone", "+14155550202")]);
        sim.sf_edit(
            &sf,
            &[
                ("Email", "c8-salesforce@example.test"),
                ("Phone", "+14155550303"),
                ("WLCRO_Status__c", sf_status),
            ],
        );
        for r in 0..3 {
            sim.tick(&format!("routing-{r}")).await;
        }
        let truth = Truth::read(&sim.world.sims);
        let hs_rec = truth
            .hubspot
            .iter()
            .find(|r| r.id == hs.to_string())
            .map(|r| r.fields.clone())
            .unwrap_or_default();
        let sf_rec =
            truth.salesforce.iter().find(|r| r.id == sf).map(|r| r.fields.clone()).unwrap_or_default();
        let wl = truth.clients[&client].clone();
        let checks = [
            (
                "email on WhiteLabelCRO",
                wl.get("email").map(|e| e.to_lowercase()),
                "c8-salesforce@example.test",
            ),
            ("email on HubSpot", hs_rec.get("email").cloned(), "c8-salesforce@example.test"),
            (
                "phone on WhiteLabelCRO",
                wl.get("phone")
                    .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
                    .map(|d| d[d.len().saturating_sub(10)..].to_string()),
                "4155550202",
            ),
            ("phone on Salesforce", sf_rec.get("Phone").cloned(), "+14155550202"),
            ("status on Salesforce", sf_rec.get("WLCRO_Status__c").cloned(), wl_status),
            ("status on WhiteLabelCRO", wl.get("status_name").cloned(), wl_status),
        ];
        for (what, got, want) in checks {
            if got.as_deref() != Some(want) {
                v.push(format!("C8: {what} is {got:?}, want its owner's {want:?}"));
            }
        }
        let all = |sim: &Sim| {
            let store = sim.ts.store.clone();
            async move { store.count_review(&crosswalk::store::ReviewFilter::default()).await.unwrap_or_default() }
        };
        let items = all(&sim).await;
        // The losing edits: HubSpot's email and WhiteLabelCRO's phone (HubSpot pair), and
        // WhiteLabelCRO's email, Salesforce's phone and status (Salesforce pair).
        for (pair, field) in [
            (HS_PAIR, "email"),
            (HS_PAIR, "phone"),
            (SF_PAIR, "email"),
            (SF_PAIR, "phone"),
            (SF_PAIR, "status"),
        ] {
            let n = sim
                .store()
                .list_review(&crosswalk::store::ReviewFilter {
                    pair: Some(pair.into()),
                    field: Some(field.into()),
                    ..Default::default()
                })
                .await
                .unwrap_or_default()
                .len();
            if n != 1 {
                v.push(format!("C8: {n} review items for the losing `{field}` edit in {pair} (want 1)"));
            }
        }
        v.extend(sim.settle_and_check().await);
        if all(&sim).await != items {
            v.push("C8: further runs created more review items".into());
        }
        sim.done(v).await
    });
}

/// The ground truth a run should end in, without ids and times: per client, its fields and
/// those of the HubSpot and Salesforce records that carry its id.
fn projection(truth: &crate::oracle::Truth) -> Vec<String> {
    let strip = |m: &BTreeMap<String, String>| {
        m.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "updated_utc" | "created_utc" | "external_id"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    truth
        .clients
        .iter()
        .map(|(id, c)| {
            let hs: Vec<_> = truth
                .hubspot
                .iter()
                .filter(|r| r.live && r.fields.get("wlcro_client_id") == Some(&id.to_string()))
                .map(|r| strip(&r.fields))
                .collect();
            let sf: Vec<_> = truth
                .salesforce
                .iter()
                .filter(|r| r.live && r.fields.get("WLCRO_Id__c") == Some(&id.to_string()))
                .map(|r| strip(&r.fields))
                .collect();
            format!("{id}: {} | hs {hs:?} | sf {sf:?}", strip(c))
        })
        .collect()
}

/// C2: resume from every checkpoint. Page size 2 and 26 changes, so the first run passes dozens
/// of crash points (every remote call and every store commit). For each crash point k the same
/// seed is run again with the process killed at k and restarted on the reopened store: it must
/// end in the same remote state as the uninterrupted run, and the oracle must hold.
/// `CROSSWALK_C2_ALL=1` enumerates every k; by default about 16 evenly spread.
#[test]
fn c02_resume_from_every_checkpoint() {
    run_scenario("c02_resume_from_every_checkpoint", 1, 0, |seed, backend: Backend| async move {
        let opts = crosswalk::sync::SyncOptions { page_size: 2, ..sync_options() };
        let world = |crash: Option<u64>| {
            let opts = opts.clone();
            async move {
                let mut sim = Sim::new(seed, backend, |_| {}, opts).await?;
                sim.populate_linked(3);
                for k in 0..20 {
                    sim.wl_create(&person(300 + 4 * k), &format!("c2-{k}@example.test"), None);
                }
                sim.world.clock.advance(std::time::Duration::from_secs(60));
                sim.world.crash.arm(crash);
                sim.run("first").await;
                let passed = sim.world.crash.passed();
                let violations = sim.settle_and_check().await;
                Some((sim, passed, violations))
            }
        };
        let (base, points, mut v) = world(None).await?;
        let want = projection(&crate::oracle::Truth::read(&base.world.sims));
        let trace = base.trace_hash();
        base.ts.finish().await;
        let every = std::env::var("CROSSWALK_C2_ALL").is_ok();
        let step = if every { 1 } else { (points / 16).max(1) };
        let mut crashes = 0;
        for k in (1..=points).step_by(step as usize) {
            crashes += 1;
            let (sim, _, violations) = world(Some(k)).await?;
            if sim.world.net.faults().get(&crate::net::Fault::Crash).copied().unwrap_or_default() != 1 {
                v.push(format!("C2: crash point {k} of {points} was not reached"));
            }
            v.extend(violations.into_iter().map(|x| format!("crash at {k}: {x}")));
            let got = projection(&crate::oracle::Truth::read(&sim.world.sims));
            if got != want {
                let diff: Vec<_> = got.iter().filter(|g| !want.contains(g)).take(3).collect();
                v.push(format!("C2: crash at point {k} of {points} ends in another remote state: {diff:?}"));
            }
            sim.ts.finish().await;
        }
        let kinds = [("Crash".to_string(), crashes)].into_iter().collect();
        Some(Outcome { violations: v, trace, faults: crashes, kinds })
    });
}

/// C13: a backfill alongside scheduled runs. 30 WhiteLabelCRO clients stamped 300 days ago appear; a backfill capped at 10 creates per attempt runs between
/// scheduled runs while people edit. The backfill never moves an incremental checkpoint, resumes
/// from its own state, finishes, and the oracle holds: the records the backfill created are not
/// created again by the scheduled runs, and the other way round (no duplicates, nothing lost).
#[test]
fn c13_backfill_alongside_incremental_runs() {
    run_scenario("c13_backfill_alongside_incremental_runs", 3, 1, |seed, backend: Backend| async move {
        use crate::oracle::{HS_PAIR, SF_PAIR};
        use crosswalk::store::StreamKey;
        let opts = crosswalk::sync::SyncOptions { page_size: 10, ..sync_options() };
        let mut sim = Sim::new(seed, backend, |_| {}, opts).await?;
        sim.populate(15);
        let mut v = Vec::new();
        sim.steady("steady", 4).await;
        let old = sim.world.clock.master() - chrono::Duration::days(300);
        for k in 0..30 {
            let p = person(500 + 4 * k);
            let r = sim_whitelabelcro::SeedRecord {
                first_name: p.first.clone(),
                last_name: p.last.clone(),
                email: format!("c13-old{k}@example.test"),
                phone: Some(p.phone.clone()),
                status: Some("Active Client".into()),
                ..Default::default()
            };
            sim.world.sims.wlcro.seed_at(r, false, true, Some(old)).expect("old client");
        }
        let incremental = |sim: &Sim| {
            let store = sim.ts.store.clone();
            async move {
                let mut cps = store.list_checkpoints().await.unwrap_or_default();
                cps.retain(|c| c.stream.scope == StreamKey::INCREMENTAL);
                cps.iter().map(|c| format!("{:?}{}", c.stream, c.checkpoint)).collect::<Vec<_>>()
            }
        };
        for pair in [HS_PAIR, SF_PAIR] {
            let spec = crosswalk::sync::BackfillSpec {
                pair: pair.into(),
                max_creates: Some(10),
                ..Default::default()
            };
            let mut finished = false;
            for attempt in 0..8 {
                for _ in 0..3 {
                    sim.human_edit();
                }
                let before = incremental(&sim).await;
                sim.world.net.set_phase(format!("backfill-{pair}-{attempt}"));
                match sim.engine.backfill(&spec, false).await {
                    Ok(report) => {
                        if std::env::var("SIM_DEBUG").is_ok() {
                            let pairs = report.run.as_ref().map(|r| {
                                r.pairs
                                    .iter()
                                    .map(|p| format!("{:?} {:?}", p.status, p.stats.run))
                                    .collect::<Vec<_>>()
                            });
                            eprintln!(
                                "[backfill {pair} {attempt}] resumed={} finished={:?} {pairs:?}",
                                report.resumed, report.state.finished_at
                            );
                        }
                        if attempt > 0 && !report.resumed && report.state.finished_at.is_none() {
                            v.push(format!(
                                "C13: attempt {attempt} of the {pair} backfill did not resume its own state"
                            ));
                        }
                        finished = report.state.finished_at.is_some();
                    }
                    Err(e) => v.push(format!("C13: the {pair} backfill failed: {e}")),
                }
                if incremental(&sim).await != before {
                    v.push(format!("C13: the {pair} backfill moved an incremental checkpoint"));
                }
                sim.tick(&format!("inc-{pair}-{attempt}")).await;
                if finished {
                    break;
                }
            }
            if !finished {
                v.push(format!("C13: the {pair} backfill did not finish in 8 attempts"));
            }
        }
        let by_backfill = written_records(&sim.wire(), &["backfill-"])
            .keys()
            .filter(|(_, id)| id.starts_with("new:"))
            .count();
        if by_backfill < 10 {
            v.push(format!("C13: the backfills created {by_backfill} records, want at least their first 10"));
        }
        v.extend(sim.settle_and_check().await);
        sim.done(v).await
    });
}

/// C2, the future checkpoint: HubSpot's stored watermark is set one year ahead (a bad restore, a
/// clock that jumped). The run reads nothing from it, does not panic, persists a state, and
/// says loudly that the watermark was ahead of the server's time; the watermark is clamped, so
/// an edit made now still reaches WhiteLabelCRO and Salesforce (a watermark left in the future
/// would skip every change for a year, silently).
#[test]
fn c02_future_watermark_is_clamped_and_reported() {
    run_scenario("c02_future_watermark_is_clamped_and_reported", 2, 1, |seed, backend: Backend| async move {
        use crosswalk::store::PageCommit;
        let capture = crate::huge::Capture::default();
        let _guard = capture.install();
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let linked = sim.populate_linked(5);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("C2f: no steady state".into());
        }
        let saved = sim.store().list_checkpoints().await.unwrap_or_default().into_iter().find(|c| {
            c.stream.scope.starts_with("pair:") && c.stream.system == "hubspot" && c.checkpoint["ts"].is_i64()
        });
        let Some(saved) = saved else {
            v.push("C2f: no HubSpot checkpoint after the steady runs".into());
            return sim.done(v).await;
        };
        let stream = saved.stream.clone();
        let year_ms = 365 * 86_400_000_i64;
        let mut future = saved.checkpoint.clone();
        let ts = future["ts"].as_i64().unwrap_or_default();
        future["ts"] = Value::from(ts + year_ms);
        let now = sim.world.clock.master();
        let lease = sim
            .store()
            .claim_lease("c02-future", "test", std::time::Duration::from_secs(60), now)
            .await
            .ok()
            .flatten()
            .expect("a free lease");
        let mut commit = PageCommit::new(lease.clone(), "c02-future", now);
        commit.checkpoint = Some((stream.clone(), future, saved.window_from, saved.window_to));
        sim.store().commit_page(commit).await.expect("the future watermark is stored");
        sim.store().release_lease(&lease).await.expect("release");

        let (client, hs, _) = linked[0].clone();
        sim.world.clock.advance(std::time::Duration::from_secs(60));
        sim.hs_edit(hs, &[("firstname", "AfterTheFuture")]);
        let errors = sim.errors.len();
        sim.tick("future-1").await;
        sim.tick("future-2").await;
        if sim.errors.len() > errors {
            v.push(format!("C2f: runs failed with the future watermark: {:?}", &sim.errors[errors..]));
        }
        let after = sim.store().load_checkpoint(&stream).await.ok().flatten();
        let after_ts = after.as_ref().and_then(|c| c.checkpoint["ts"].as_i64()).unwrap_or(i64::MAX);
        if after_ts > sim.world.clock.sim_now("hubspot").timestamp_millis() + 86_400_000 {
            v.push(format!("C2f: the watermark is still ahead after the runs ({after_ts} ms)"));
        }
        if !capture.text().contains("ahead of the server's time") {
            v.push("C2f: no alert that the watermark was ahead of the server's time".into());
        }
        let truth = crate::oracle::Truth::read(&sim.world.sims);
        if truth.clients[&client].get("first_name").map(String::as_str) != Some("AfterTheFuture") {
            v.push("C2f: the edit made after the clamp never reached WhiteLabelCRO".into());
        }
        v.extend(sim.settle_and_check().await);
        sim.done(v).await
    });
}
