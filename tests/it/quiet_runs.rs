//! Every API call earns its keep (issue #21): the echo of our own creates costs no read of the
//! other side, quiet streams re-read only the overlap behind "now", and a record that matched
//! nothing is not probed again until something that could match it changes. Judged from the
//! simulators' request logs over loopback HTTP, the shipped mappings and a real SQLite store;
//! one virtual clock moves the engine, the connectors and the simulators.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::testsuite::LinkedClock;
use crosswalk::demo::{SimWorld, Sims, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::{self, Cap, PairMapping};
use crosswalk::store::RunKind;
use crosswalk::sync::{Engine, PairStatus, RunReport, SyncOptions};
use sim_core::LoggedRequest;

use crate::support::TestStore;

const SALESFORCE: &str = "mappings/wlcro-people__salesforce-contacts.toml";
const HUBSPOT: &str = "mappings/wlcro-people__hubspot-contacts.toml";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid time").to_utc()
}

struct Harness {
    world: SimWorld,
    clock: LinkedClock,
    _store: TestStore,
    engine: Engine,
    _dir: tempfile::TempDir,
}

/// The shipped mapping at `path`, its safety caps lifted (the tests create hundreds at once).
fn pair(path: &str, tweak: impl FnOnce(&mut PairMapping)) -> PairMapping {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let mut pair = mapping::load_file(&path).expect("the shipped mapping loads");
    let none = Cap { max: None, max_pct: None };
    pair.caps.creates = none;
    pair.caps.overwrites = none;
    tweak(&mut pair);
    pair
}

impl Harness {
    async fn new(pair: PairMapping, sweep_budget: usize) -> Harness {
        Self::paged(pair, sweep_budget, SyncOptions::default().page_size).await
    }

    async fn paged(pair: PairMapping, sweep_budget: usize, page_size: usize) -> Harness {
        Self::with(pair, sweep_budget, page_size, false).await
    }

    async fn with(
        pair: PairMapping,
        sweep_budget: usize,
        page_size: usize,
        batch_across_pages: bool,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WorldConfig::demo(21, 60_000).starting_at(t0());
        config.wlcro.webhook_jitter = false;
        config.hubspot.rate_limits.burst_max = 1_000_000;
        config.hubspot.rate_limits.search_max = 1_000_000;
        let world = SimWorld::start(config, dir.path()).await.expect("simulators start");
        let clock = world.linked_clock(t0());
        let shared = clock.shared();
        let connectors =
            world.connectors(std::slice::from_ref(&pair), shared.clone(), 21).expect("connectors");
        let store = TestStore::sqlite().await;
        let ids = Arc::new(IdGen::new(shared.clone(), 21));
        let opts = SyncOptions {
            owner: "quiet-runs-test".into(),
            sweep_budget,
            page_size,
            batch_across_pages,
            ..SyncOptions::default().creating_on_first_sync()
        };
        let engine = Engine::new(store.store.clone(), connectors, vec![pair], shared, ids, opts);
        Harness { world, clock, _store: store, engine, _dir: dir }
    }

    fn sims(&self) -> &Sims {
        &self.world.sims
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// A minute passes, then one scheduled run, which must not fail.
    async fn run(&self) -> RunReport {
        self.advance(60);
        let report = self.engine.run(RunKind::Scheduled, &[], false).await.expect("run");
        for p in &report.pairs {
            assert!(!matches!(p.status, PairStatus::Failed { .. }), "{}: {:?}", p.pair, p.status);
        }
        report
    }

    /// Seeds `n` WhiteLabelCRO clients (each with its event), distinct emails.
    fn clients(&self, n: usize, tag: &str) -> Vec<i64> {
        (0..n)
            .map(|i| {
                let r = sim_whitelabelcro::SeedRecord {
                    first_name: format!("First{i}"),
                    last_name: format!("Last{i}"),
                    email: format!("{tag}{i}@example.test"),
                    phone: Some(format!("+1 555 01{:02}", i % 100)),
                    ..Default::default()
                };
                self.sims().wlcro.seed_at(r, false, true, None).expect("seed client")
            })
            .collect()
    }

    /// Requests each simulator logged so far: (WhiteLabelCRO, HubSpot, Salesforce).
    fn marks(&self) -> [usize; 3] {
        self.sims().logs().map(|(_, log)| log.len())
    }

    /// The requests of each simulator since `marks`.
    fn since(&self, marks: [usize; 3]) -> [Vec<LoggedRequest>; 3] {
        let logs = self.sims().logs();
        let mut i = 0;
        logs.map(|(_, log)| {
            let out = log.into_iter().skip(marks[i]).collect();
            i += 1;
            out
        })
    }
}

/// WhiteLabelCRO record reads by id (one search per id).
fn wlcro_reads_by_id(log: &[LoggedRequest]) -> usize {
    log.iter()
        .filter(|r| {
            r.path.ends_with("/search") && r.query.as_deref().is_some_and(|q| q.contains("client_id="))
        })
        .count()
}

/// The number of records a test makes: `default`, or `CROSSWALK_QUIET_N` for the figures in
/// BENCHMARKS.md (3,000 creates, a 12,000-record burst).
fn n_or(default: usize) -> usize {
    std::env::var("CROSSWALK_QUIET_N").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn describe(log: &[LoggedRequest]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for r in log {
        *counts.entry(format!("{} {}", r.method, r.path)).or_default() += 1;
    }
    format!("{counts:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_our_own_creates_costs_no_read_of_the_other_side() {
    let n = n_or(300);
    // No verification sweep: its reads are a separate, budgeted cost (see the quiet-run test).
    let h = Harness::new(pair(SALESFORCE, |_| {}), 0).await;
    h.clients(n, "echo");
    h.run().await;
    let created = h.sims().salesforce.records().len();
    assert_eq!(created, n, "one Salesforce contact per client");

    let marks = h.marks();
    h.run().await;
    let [wlcro, _, salesforce] = h.since(marks);
    assert_eq!(
        wlcro_reads_by_id(&wlcro),
        0,
        "the created contacts came back as our own echo; WhiteLabelCRO: {}",
        describe(&wlcro)
    );
    assert!(
        salesforce.iter().all(|r| r.method == "GET"),
        "the echo costs no write either: {}",
        describe(&salesforce)
    );

    // Once the overlap (plus the minute `latestDateCovered` is truncated to) has left the creates
    // behind, a quiet Salesforce stream costs that look and one query (besides the run's one
    // schema look).
    for _ in 0..3 {
        h.run().await;
    }
    let marks = h.marks();
    h.run().await;
    let [wlcro, _, salesforce] = h.since(marks);
    let stream = salesforce.iter().filter(|r| !r.path.ends_with("/describe")).count();
    assert!(stream <= 2, "a quiet Salesforce stream: {}", describe(&salesforce));
    assert!(wlcro.len() <= 2, "a quiet WhiteLabelCRO feed, no sweep: {}", describe(&wlcro));
}

/// Seeds `n` HubSpot contacts in one millisecond (the simulator's clock is frozen), distinct
/// emails.
fn contacts(h: &Harness, n: usize, tag: &str) -> Vec<u64> {
    let props: Vec<serde_json::Map<String, serde_json::Value>> = (0..n)
        .map(|i| {
            let mut m = serde_json::Map::new();
            m.insert("email".into(), format!("{tag}{i}@example.test").into());
            m.insert("firstname".into(), format!("Hub{i}").into());
            m.insert("lastname".into(), format!("Spot{i}").into());
            m
        })
        .collect();
    h.sims().hubspot.seed(sim_hubspot::ObjectType::Contacts, &props).expect("seed contacts")
}

fn writes(log: &[LoggedRequest]) -> usize {
    log.iter().filter(|r| crosswalk::demo::report::is_write(r)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_on_one_timestamp_a_quiet_run_costs_two_requests_per_stream_plus_the_sweep() {
    let n = n_or(450);
    const SWEEP: usize = 10;
    let h = Harness::new(pair(HUBSPOT, |_| {}), SWEEP).await;
    h.clients(n, "burst");
    contacts(&h, n, "hub");
    let mut last = Vec::new();
    // The burst, its echoes, then quiet runs until the overlap window (two minutes) has left
    // the burst behind: the last one is measured.
    for run in 0..6 {
        let marks = h.marks();
        h.run().await;
        let [wlcro, hubspot, _] = h.since(marks);
        eprintln!("run {run}: wlcro {} | hubspot {}", describe(&wlcro), describe(&hubspot));
        last = vec![wlcro, hubspot];
    }
    assert_eq!(h.sims().hubspot.records(sim_hubspot::ObjectType::Contacts).len(), 2 * n);
    let [wlcro, hubspot] = [&last[0], &last[1]];
    assert_eq!(writes(wlcro) + writes(hubspot), 0, "converged: no writes");
    let feed = wlcro.iter().filter(|r| r.path == "/api/v1/events").count();
    assert!(feed <= 2, "the WhiteLabelCRO feed: {}", describe(wlcro));
    assert!(wlcro.len() <= 2 + SWEEP, "WhiteLabelCRO: the feed plus the sweep: {}", describe(wlcro));
    // Besides the stream, one schema look per run (`GET /crm/v3/properties`: schema drift).
    let stream = hubspot.iter().filter(|r| !r.path.starts_with("/crm/v3/properties")).count();
    assert!(stream <= 2, "HubSpot: one search and one recycle-bin page: {}", describe(hubspot));
    assert!(hubspot.len() <= 3, "HubSpot: {}", describe(hubspot));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_inside_the_overlap_is_still_read_after_quiet_runs() {
    let h = Harness::new(pair(SALESFORCE, |_| {}), 0).await;
    h.clients(3, "early");
    for _ in 0..4 {
        h.run().await;
    }
    assert_eq!(h.sims().salesforce.records().len(), 3);
    // The last run read the feed to its horizon; an event stamped 40 s before that horizon
    // (a commit that landed late) appears only now.
    let late_at = h.sims().wlcro.clock.now() - chrono::Duration::seconds(45);
    let r = sim_whitelabelcro::SeedRecord {
        first_name: "Late".into(),
        last_name: "Comer".into(),
        email: "late@example.test".into(),
        ..Default::default()
    };
    let late = h.sims().wlcro.seed_at(r, false, true, Some(late_at)).expect("seed the late client");
    let marks = h.marks();
    h.run().await;
    let [wlcro, _, _] = h.since(marks);
    let made: Vec<_> = h
        .sims()
        .salesforce
        .records()
        .into_iter()
        .filter(|c| c.fields.get("WLCRO_Id__c") == Some(&late.to_string()))
        .collect();
    assert_eq!(made.len(), 1, "the late event was read: WhiteLabelCRO {}", describe(&wlcro));
}

/// WhiteLabelCRO identity probes (searches by a key other than the record id).
fn wlcro_probes(log: &[LoggedRequest]) -> usize {
    log.iter()
        .filter(|r| {
            r.path.ends_with("/search") && !r.query.as_deref().is_some_and(|q| q.contains("client_id="))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_that_matched_nothing_is_probed_again_only_when_its_keys_change() {
    let link_only = |p: &mut PairMapping| p.create_right_to_left = crosswalk::mapping::CreationRule::LinkOnly;
    let h = Harness::new(pair(HUBSPOT, link_only), 0).await;
    let id = contacts(&h, 1, "alone")[0];
    let hubspot = &h.sims().hubspot;
    let edit = |pairs: &[(&str, &str)]| {
        let props = pairs.iter().map(|(k, v)| ((*k).to_string(), serde_json::json!(v))).collect();
        hubspot.external_edit(sim_hubspot::ObjectType::Contacts, id, &props).expect("edit the contact");
    };
    let probes_of_a_run = || async {
        let marks = h.marks();
        h.run().await;
        let [wlcro, _, _] = h.since(marks);
        (wlcro_probes(&wlcro), describe(&wlcro))
    };

    let (first, log) = probes_of_a_run().await;
    assert!(first > 0, "the new contact is probed: {log}");
    let (again, log) = probes_of_a_run().await;
    assert_eq!(again, 0, "re-read in the overlap, same keys: not probed again: {log}");
    edit(&[("firstname", "Renamed")]);
    let (renamed, log) = probes_of_a_run().await;
    assert_eq!(renamed, 0, "a new first name is no new identity: {log}");

    edit(&[("email", "found@example.test")]);
    let (moved, log) = probes_of_a_run().await;
    assert!(moved > 0, "a new email is probed: {log}");
    assert_eq!(
        h.sims().wlcro.records()["clients"].as_array().map_or(0, Vec::len),
        0,
        "link only: nothing created"
    );

    let r = sim_whitelabelcro::SeedRecord {
        first_name: "Found".into(),
        last_name: "Later".into(),
        email: "found@example.test".into(),
        ..Default::default()
    };
    let client = h.sims().wlcro.seed_at(r, false, true, None).expect("seed the matching client");
    h.run().await;
    let all = hubspot.records(sim_hubspot::ObjectType::Contacts);
    let contact = all.iter().find(|r| r.id == id).expect("the contact");
    assert_eq!(
        contact.properties.get("wlcro_client_id"),
        Some(&client.to_string()),
        "the client that appeared with its email was linked to it"
    );
}

/// Salesforce takes 200 records per collection call; the feed gives 20 changes per page here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_spread_over_many_feed_pages_fill_the_targets_batches() {
    let n = n_or(1_000);
    let h = Harness::with(pair(SALESFORCE, |_| {}), 0, 20, true).await;
    let clients = h.clients(n, "spread");
    h.run().await;
    h.run().await;
    assert_eq!(h.sims().salesforce.records().len(), n, "one Salesforce contact per client");
    for id in &clients {
        h.sims().wlcro.ui_status(*id, "On Hold", None).expect("status change");
    }

    let marks = h.marks();
    h.run().await;
    let [wlcro, _, salesforce] = h.since(marks);
    let feed = wlcro.iter().filter(|r| r.path == "/api/v1/events").count();
    assert!(feed >= n / 20, "the changes came on {feed} feed pages: {}", describe(&wlcro));
    let collections: Vec<&LoggedRequest> = salesforce
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/composite/sobjects"))
        .collect();
    assert!(
        collections.len() <= n.div_ceil(200) + 1,
        "{n} updates in {} collection calls: {}",
        collections.len(),
        describe(&salesforce)
    );
    let held: Vec<String> = h
        .sims()
        .salesforce
        .records()
        .iter()
        .filter(|r| r.fields.get("WLCRO_Status__c").map(String::as_str) != Some("On Hold"))
        .map(|r| r.id.clone())
        .collect();
    assert!(held.is_empty(), "{} contacts missed the change, e.g. {:?}", held.len(), held.first());

    // Settled: the next run writes nothing.
    let marks = h.marks();
    h.run().await;
    let [wlcro, _, salesforce] = h.since(marks);
    assert_eq!(writes(&wlcro) + writes(&salesforce), 0, "{} | {}", describe(&wlcro), describe(&salesforce));
}
