//! `crosswalk demo` end to end, in process: the three simulators, the real engine and connectors
//! over loopback HTTP. Judged from the simulators' ground truth (records and request logs).

use std::collections::BTreeMap;

use crosswalk::demo::{self, DemoOptions, DemoReport};
use crosswalk::store::ReviewKind;
use sim_hubspot::ObjectType;

async fn run_demo() -> (DemoReport, String) {
    let mut out = Vec::new();
    let report = demo::run(&DemoOptions::default(), &mut out).await.expect("demo runs");
    (report, String::from_utf8(out).expect("utf-8 output"))
}

fn duplicates(emails: impl Iterator<Item = String>) -> Vec<String> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for e in emails {
        *count.entry(e.trim().to_lowercase()).or_default() += 1;
    }
    count.into_iter().filter(|(_, n)| *n > 1).map(|(e, _)| e).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_onboards_with_a_backfill_converges_and_parks_what_it_cannot_decide() {
    let (r, text) = run_demo().await;
    let hubspot: Vec<_> =
        r.sims.hubspot.records(ObjectType::Contacts).into_iter().filter(|c| !c.archived()).collect();
    let salesforce: Vec<_> = r
        .sims
        .salesforce
        .records()
        .into_iter()
        .filter(|c| c.object == sim_salesforce::ObjectKind::Contact && c.deleted_at.is_none())
        .collect();
    let truth = r.sims.wlcro.records();
    let people = truth["clients"].as_array().expect("clients").clone();
    assert_eq!(
        people.len(),
        demo::seed::CLIENTS + demo::seed::HUBSPOT_ONLY,
        "the HubSpot-only contacts became WhiteLabelCRO leads, nobody else was created there"
    );
    let wlcro_dups = duplicates(people.iter().filter_map(|c| c["email"].as_str().map(str::to_string)));
    assert!(wlcro_dups.is_empty(), "duplicate WhiteLabelCRO emails: {wlcro_dups:?}");

    // No duplicate emails: HubSpot none at all; Salesforce only the pair seeded as ambiguous.
    let hs_dups = duplicates(hubspot.iter().filter_map(|c| c.properties.get("email").cloned()));
    assert!(hs_dups.is_empty(), "duplicate HubSpot emails: {hs_dups:?}");
    let sf_dups = duplicates(salesforce.iter().filter_map(|c| c.fields.get("Email").cloned()));
    let amb = demo::seed::person(demo::seed::AMBIGUOUS_INDEX).email;
    assert_eq!(sf_dups, vec![amb], "the only Salesforce duplicate is the seeded ambiguous pair");

    // Every person is on HubSpot exactly once (by email) and the contact's `wlcro_client_id`
    // names the person — also for the people linked by email. WhiteLabelCRO's `external_id` is
    // never returned by its API, so it is never written over; where it is set, it names the
    // contact.
    for c in &people {
        let id = c["client_id"].as_i64().expect("client id").to_string();
        let email = c["email"].as_str().expect("email").trim().to_lowercase();
        let by_email: Vec<_> = hubspot
            .iter()
            .filter(|h| h.properties.get("email").map(|e| e.to_lowercase()) == Some(email.clone()))
            .collect();
        assert_eq!(by_email.len(), 1, "person {id} is on HubSpot {} times", by_email.len());
        let contact = by_email[0];
        assert_eq!(
            contact.properties.get("wlcro_client_id"),
            Some(&id),
            "contact {}'s back-link",
            contact.id
        );
        if let Some(ext) = c["external_id"].as_str() {
            assert_eq!(ext, format!("hubspot_{}", contact.id), "{id}'s back-link");
        }
    }
    assert_eq!(hubspot.len(), demo::seed::CLIENTS + demo::seed::HUBSPOT_ONLY);

    // The last scheduled cycle wrote nothing anywhere.
    let second = r.marks.last().expect("marks");
    for (name, log) in r.sims.logs() {
        let from = second.requests[name];
        let writes = demo::report::writes_since(&log, from);
        assert!(writes.is_empty(), "{name} got writes in cycle 2: {writes:?}");
        assert!(log.len() > from, "{name} was read in cycle 2");
        assert!(log.iter().all(|q| q.status != 429), "{name} answered 429");
        // Judged by the simulator, value before against value after each write request, over
        // the whole demo (backfill and both cycles): no request wrote what was already there —
        // but for the one exception the real-data issue allows, counted apart: the first
        // write-through, once per person, of the CRM-owned fields WhiteLabelCRO's API cannot
        // return (so nobody can know they were there already).
        let wasted: Vec<(usize, &sim_core::LoggedRequest)> = log
            .iter()
            .enumerate()
            .filter(|(_, q)| q.effect.as_ref().is_some_and(|e| e.unchanged > 0))
            .collect();
        if name != "wlcro" {
            assert!(wasted.is_empty(), "{name}: {} writes changed nothing: {wasted:?}", wasted.len());
            continue;
        }
        let unreadable = ["city", "state", "zip", "external_id", "package_keyword"];
        let mut per_person: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, q) in &wasted {
            let fields = &q.effect.as_ref().expect("effect").unchanged_fields;
            assert!(fields.iter().all(|f| unreadable.contains(&f.as_str())), "{q:?} wrote readable fields");
            *per_person.entry(q.path.as_str()).or_default() += 1;
        }
        assert!(per_person.values().all(|n| *n == 1), "a write-through repeated: {per_person:?}");
        assert!(wasted.iter().all(|(i, _)| *i < from), "write-throughs only before the last cycle");
    }

    // The conflicts and the ambiguous duplicate wait in the review queue.
    let open = |pair: &str, kind: ReviewKind| -> Vec<String> {
        let mut ids: Vec<String> = r
            .review
            .iter()
            .filter(|i| i.pair.contains(pair) && i.kind == kind)
            .filter_map(|i| i.left_id.clone())
            .collect();
        ids.sort();
        ids
    };
    let ids = |v: &[i64]| -> Vec<String> { v.iter().map(ToString::to_string).collect() };
    assert_eq!(open("hubspot", ReviewKind::FieldConflict), ids(&r.seeded.hubspot_conflicts));
    assert_eq!(open("salesforce", ReviewKind::FieldConflict), ids(&r.seeded.salesforce_conflicts));
    assert_eq!(open("salesforce", ReviewKind::AmbiguousIdentity), ids(&[r.seeded.ambiguous_client]));
    assert!(
        r.review.iter().all(|i| matches!(i.kind, ReviewKind::FieldConflict | ReviewKind::AmbiguousIdentity)),
        "{:?}",
        r.review.iter().map(|i| (i.kind, &i.reason)).collect::<Vec<_>>()
    );

    // The output carries the summaries, ground truth, the review table and the status.
    for needle in [
        "Backfill",
        "Cycle 1",
        "Cycle 2",
        "What changed",
        "429s received: 0",
        "Open review queue (7 items)",
        "Status",
    ] {
        assert!(text.contains(needle), "output lacks {needle:?}:\n{text}");
    }
    let row = "field_conflict     first_name";
    assert_eq!(text.matches(row).count(), 6, "one table row per conflict:\n{text}");
    assert!(!r.store_path.exists(), "the temporary store is removed");
}
