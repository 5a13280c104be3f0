//! The oracle's own tests: a converged world passes, and each planted defect (a duplicate, a lost
//! record, a diverged field, an impolite retry, a write in a settle run) is reported. Without
//! these, a green run could mean a blind oracle.

use chrono::Duration;
use crosswalk::store::Backend;

use crate::harness::{Sim, person, sync_options};
use crate::net::WireEntry;
use crate::oracle;

fn has(v: &[String], what: &str) -> bool {
    v.iter().any(|x| x.starts_with(what))
}

#[test]
fn oracle_reports_planted_defects() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut sim = Sim::new(7, Backend::Sqlite, |_| {}, sync_options()).await.expect("sqlite");
        let linked = sim.populate_linked(4);
        assert!(sim.steady("steady", 4).await, "a linked world reaches a steady state");
        assert_eq!(sim.verdict_now().await, Vec::<String>::new(), "a converged world passes");

        // A second Salesforce contact for a linked client (HubSpot itself refuses duplicates).
        let email = crate::oracle::Truth::read(&sim.world.sims).clients[&linked[0].0]["email"].clone();
        sim.sf_create(&person(9), &email, None);
        // A linked Salesforce contact deleted behind crosswalk's back.
        sim.world.sims.salesforce.delete(&linked[1].2).expect("delete");
        // A field changed on one side only.
        sim.wl_edit(linked[2].0, &[("first_name", "Diverged")]);
        let v = sim.verdict_now().await;
        assert!(has(&v, "no duplicates"), "{v:#?}");
        assert!(has(&v, "no loss"), "{v:#?}");
        assert!(has(&v, "convergence"), "{v:#?}");
        sim.done(Vec::new()).await;
    });
}

#[test]
fn wire_checks_report_impolite_retries_and_settle_writes() {
    let t = crate::world::t0();
    let entry = |seq: u64,
                 at: chrono::DateTime<chrono::Utc>,
                 until: Option<chrono::DateTime<chrono::Utc>>| WireEntry {
        seq,
        phase: "witness".into(),
        at,
        system: "hubspot",
        method: "POST".into(),
        path: "/crm/v3/objects/contacts/batch/update".into(),
        request_id: "r1".into(),
        forwarded: true,
        status: Some(if until.is_some() { 429 } else { 200 }),
        retry_until: until,
        fault: None,
        write: true,
        bodies: Default::default(),
    };
    let early = [entry(0, t, Some(t + Duration::seconds(10))), entry(1, t + Duration::seconds(9), None)];
    assert!(has(&oracle::check_wire(&early, &Default::default()), "politeness"));
    let on_time = [entry(0, t, Some(t + Duration::seconds(10))), entry(1, t + Duration::seconds(10), None)];
    assert!(oracle::check_wire(&on_time, &Default::default()).is_empty());
    assert!(has(&oracle::check_no_writes(&on_time, &["witness"]), "termination"));
}
