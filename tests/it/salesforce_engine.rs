//! The engine over the WhiteLabelCRO and Salesforce simulators (real connectors, loopback HTTP,
//! a real SQLite store, the shipped `wlcro-people__salesforce-contacts` mapping): merges,
//! delete + undelete, partly failed collections and late-committing transactions. Judged from
//! the simulators' stored records and request logs. Every clock — the engine's, the connectors'
//! waits and the three simulators' — is one virtual clock moved by the test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::testsuite::LinkedClock;
use crosswalk::demo::{SimWorld, Sims, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping;
use crosswalk::store::{ReviewFilter, ReviewItem, ReviewKind, ReviewState, RunKind};
use crosswalk::sync::{Engine, PairStatus, RunReport, SyncOptions};
use serde_json::{Map, Value, json};
use sim_salesforce::store::Record;
use sim_salesforce::{DuplicateMode, DuplicateRule, ExternalEdit, ObjectKind, SeedRecord};

use crate::support::TestStore;

const MAPPING: &str = "mappings/wlcro-people__salesforce-contacts.toml";
const EXT: &str = "WLCRO_Id__c";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").expect("valid time").to_utc()
}

struct Harness {
    world: SimWorld,
    /// One virtual clock for the engine, the connectors and the three simulators: whatever
    /// moves it (the test, or a connector's pacing and backoff) moves all of them.
    clock: LinkedClock,
    store: TestStore,
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WorldConfig::demo(5, 6000).starting_at(t0());
        config.wlcro.webhook_jitter = false;
        let world = SimWorld::start(config, dir.path()).await.expect("simulators start");
        let clock = world.linked_clock(t0());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MAPPING);
        let pair = mapping::load_file(&path).expect("the shipped mapping loads");
        let shared = clock.shared();
        let connectors =
            world.connectors(std::slice::from_ref(&pair), shared.clone(), 5).expect("connectors");
        let store = TestStore::sqlite().await;
        let ids = Arc::new(IdGen::new(shared.clone(), 5));
        let opts = SyncOptions {
            owner: "salesforce-engine-test".into(),
            ..SyncOptions::default().creating_on_first_sync()
        };
        let engine = Engine::new(store.store.clone(), connectors, vec![pair], shared, ids, opts);
        Harness { world, clock, store, engine, _dir: dir }
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

    /// Seeds a WhiteLabelCRO client the way the platform creates one (with its event).
    fn client(&self, first: &str, last: &str, email: &str, phone: Option<&str>) -> i64 {
        let r = sim_whitelabelcro::SeedRecord {
            first_name: first.into(),
            last_name: last.into(),
            email: email.into(),
            phone: phone.map(str::to_string),
            ..Default::default()
        };
        self.sims().wlcro.seed_at(r, false, true, None).expect("seed client")
    }

    fn client_record(&self, id: i64) -> Value {
        let truth = self.sims().wlcro.records();
        let clients = truth["clients"].as_array().cloned().unwrap_or_default();
        clients.into_iter().find(|c| c["client_id"].as_i64() == Some(id)).expect("client exists")
    }

    /// A person edits a client in the WhiteLabelCRO web UI (no event: the sweep finds it).
    fn ui_edit(&self, id: i64, fields: Value) {
        let fields: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
        self.sims().wlcro.ui_edit(id, &fields).expect("ui edit");
    }

    fn seed_contact(&self, fields: Value) -> String {
        let rec = SeedRecord {
            object: Some(ObjectKind::Contact),
            fields: fields.as_object().cloned().unwrap_or_default(),
            ..SeedRecord::default()
        };
        self.sims().salesforce.seed(vec![rec]).expect("seed contact").remove(0)
    }

    /// Live (not deleted) Contacts.
    fn live_contacts(&self) -> Vec<Record> {
        let all = self.sims().salesforce.records();
        all.into_iter().filter(|r| r.object == ObjectKind::Contact && r.deleted_at.is_none()).collect()
    }

    /// Live Contacts whose back-link names client `id`.
    fn contacts_of(&self, id: i64) -> Vec<Record> {
        let id = id.to_string();
        self.live_contacts().into_iter().filter(|r| r.fields.get(EXT) == Some(&id)).collect()
    }

    fn only_contact_of(&self, id: i64) -> Record {
        let mut found = self.contacts_of(id);
        assert_eq!(found.len(), 1, "client {id} has {} live Contacts: {found:?}", found.len());
        found.remove(0)
    }

    fn contact(&self, id: &str) -> Record {
        self.sims().salesforce.record(id).expect("contact exists")
    }

    /// Write calls Salesforce has received so far (sObject Collections).
    fn sf_collection_writes(&self) -> usize {
        let log = self.sims().salesforce.log.entries();
        log.iter().filter(|e| e.method != "GET" && e.path.contains("/composite/sobjects")).count()
    }

    async fn open_items(&self) -> Vec<ReviewItem> {
        let filter = ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() };
        self.store.store.list_review(&filter).await.expect("list review")
    }

    async fn items(&self, kind: ReviewKind) -> Vec<ReviewItem> {
        let filter = ReviewFilter { kind: Some(kind), ..ReviewFilter::default() };
        self.store.store.list_review(&filter).await.expect("list review")
    }
}

fn field<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
    r.fields.get(name).map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_repoints_the_link_to_the_master_and_later_edits_land_there() {
    let h = Harness::new().await;
    let ada = h.client("Ada", "Lovelace", "ada@example.test", None);
    h.run().await;
    let loser = h.only_contact_of(ada).id;

    // A salesperson enters the same person again by hand, then merges the synced Contact into it.
    h.advance(60);
    let master = h.seed_contact(json!({
        "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.test", "Title": "Countess"
    }));
    h.run().await;
    assert_eq!(h.live_contacts().len(), 2, "an unlinked Salesforce Contact is never linked twice");
    h.advance(30);
    h.sims().salesforce.merge(&master, std::slice::from_ref(&loser)).expect("merge");
    let merged_at = h.contact(&loser).last_modified;
    h.run().await;

    let live = h.live_contacts();
    assert_eq!(live.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![master.clone()]);
    // The loser was not re-created from WhiteLabelCRO; the master now carries the back-link.
    let carrying: Vec<String> = h.contacts_of(ada).into_iter().map(|r| r.id).collect();
    assert_eq!(carrying, vec![master.clone()], "the back-link moved to the master, nothing was re-created");
    assert!(h.items(ReviewKind::Deleted).await.is_empty(), "a merge is not a delete");

    // The link follows the master: a WhiteLabelCRO edit lands there and nowhere else.
    h.ui_edit(ada, json!({"first_name": "Augusta"}));
    h.run().await;
    let master_now = h.contact(&master);
    assert_eq!(field(&master_now, "FirstName"), Some("Augusta"));
    assert_eq!(field(&master_now, "Title"), Some("Countess"), "the master keeps its own fields");
    let loser_now = h.contact(&loser);
    assert!(loser_now.deleted_at.is_some());
    assert_eq!(loser_now.last_modified, merged_at, "the merged-away Contact was never written");
    assert_eq!(h.live_contacts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_unlinks_for_review_and_an_undelete_restores_the_link_without_a_duplicate() {
    let h = Harness::new().await;
    let ada = h.client("Ada", "Lovelace", "ada@example.test", None);
    let bob = h.client("Bob", "Babbage", "bob@example.test", None);
    h.run().await;
    let contact = h.only_contact_of(ada).id;
    h.only_contact_of(bob);

    h.advance(10);
    h.sims().salesforce.delete(&contact).expect("delete");
    h.run().await;
    let deleted = h.items(ReviewKind::Deleted).await;
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].state, ReviewState::Open);
    assert_eq!(deleted[0].right_id.as_deref(), Some(contact.as_str()));
    assert_eq!(deleted[0].left_id.as_deref(), Some(ada.to_string().as_str()));
    assert!(h.contacts_of(ada).is_empty(), "the delete was not undone by the engine");
    assert_eq!(h.client_record(ada)["first_name"], json!("Ada"), "WhiteLabelCRO is left as it is");

    // While the delete waits for a person, the client changes (an event-carrying status change
    // and a plain edit): the deleted Contact must not be re-created behind the reviewer's back.
    h.sims().wlcro.ui_status(ada, "On Hold", None).expect("status change");
    h.ui_edit(ada, json!({"phone": "(415) 555-0101"}));
    h.run().await;
    h.run().await;
    assert!(h.contacts_of(ada).is_empty(), "re-created while the delete is in review");
    assert_eq!(h.live_contacts().len(), 1);

    // Someone restores the Contact from the recycle bin: the link comes back, no duplicate.
    h.sims().salesforce.undelete(&contact).expect("undelete");
    h.run().await;
    assert_eq!(h.only_contact_of(ada).id, contact);
    assert_eq!(h.live_contacts().len(), 2);
    let item = h.items(ReviewKind::Deleted).await.remove(0);
    assert_eq!(item.state, ReviewState::Superseded, "the undelete settled the delete item by itself");

    // The restored link carries edits again, both ways.
    h.ui_edit(ada, json!({"first_name": "Augusta"}));
    h.run().await;
    let restored = h.contact(&contact);
    assert_eq!(field(&restored, "FirstName"), Some("Augusta"));
    assert_eq!(field(&restored, "WLCRO_Status__c"), Some("On Hold"), "the edit made meanwhile arrived");
    assert_eq!(h.contacts_of(ada).len(), 1);
    assert_eq!(h.live_contacts().len(), 2);
    assert!(h.open_items().await.iter().all(|i| i.kind != ReviewKind::Deleted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_failed_collection_writes_the_successes_once_and_retries_or_parks_the_failures() {
    let h = Harness::new().await;
    let ada = h.client("Ada", "Lovelace", "ada@example.test", Some("(415) 555-0101"));
    let bob = h.client("Bob", "Babbage", "bob@example.test", Some("(415) 555-0102"));
    let cy = h.client("Cy", "Young", "cy@example.test", Some("(415) 555-0103"));
    // A Salesforce-only Contact (no client) holding a phone number the duplicate rule guards.
    let other =
        h.seed_contact(json!({"LastName": "Other", "Email": "other@example.test", "Phone": "+14155550199"}));
    h.run().await;
    let (ca, cb, cc) = (h.only_contact_of(ada).id, h.only_contact_of(bob).id, h.only_contact_of(cy).id);

    // Salesforce now blocks duplicate phone numbers, and a long-running transaction (a data
    // loader job) holds Bob's row.
    h.sims().salesforce.set_duplicate_rules(vec![DuplicateRule {
        object: ObjectKind::Contact,
        field: "Phone".into(),
        mode: DuplicateMode::Block,
    }]);
    let txn = h.sims().salesforce.open_transaction();
    let mut locked = ExternalEdit { id: cb.clone(), txn: Some(txn), ..ExternalEdit::default() };
    locked.fields.insert("Title".into(), json!("Engineer"));
    h.sims().salesforce.edit(locked).expect("edit inside the transaction");

    h.advance(30);
    h.ui_edit(ada, json!({"first_name": "Augusta"}));
    h.ui_edit(bob, json!({"first_name": "Charles"}));
    h.ui_edit(cy, json!({"phone": "(415) 555-0199"}));
    let eve = h.client("Eve", "Easy", "eve@example.test", Some("(415) 555-0105"));
    let fay = h.client("Fay", "Dupe", "fay@example.test", Some("(415) 555-0199"));
    let writes_before = h.sf_collection_writes();
    let report = h.run().await;
    assert!(
        matches!(report.pairs[0].status, PairStatus::Incomplete { .. }),
        "the locked row leaves work for the next run: {:?}",
        report.pairs[0].status
    );
    assert_eq!(h.sf_collection_writes() - writes_before, 2, "one upsert call, one update call");

    // Each row got its own outcome.
    let a1 = h.contact(&ca);
    assert_eq!(field(&a1, "FirstName"), Some("Augusta"));
    assert_eq!(field(&h.contact(&cb), "FirstName"), Some("Bob"), "locked: not written yet");
    assert_eq!(field(&h.contact(&cc), "Phone"), Some("+14155550103"), "duplicate phone: refused");
    let e1 = h.only_contact_of(eve);
    assert!(h.contacts_of(fay).is_empty(), "duplicate phone: the create was refused");
    let rejected: Vec<ReviewItem> =
        h.open_items().await.into_iter().filter(|i| i.kind == ReviewKind::WriteRejected).collect();
    let mut parked: Vec<String> = rejected.iter().filter_map(|i| i.left_id.clone()).collect();
    parked.sort();
    let mut expected = vec![cy.to_string(), fay.to_string()];
    expected.sort();
    assert_eq!(parked, expected, "the refusals wait in review: {rejected:?}");
    assert!(rejected.iter().all(|i| i.reason.contains("DUPLICATES_DETECTED")), "{rejected:?}");

    // The transaction ends; the next run retries only what failed for now.
    h.advance(30);
    h.sims().salesforce.commit_transaction(txn).expect("commit");
    let report = h.run().await;
    assert_eq!(report.pairs[0].status, PairStatus::Done);
    assert_eq!(field(&h.contact(&cb), "FirstName"), Some("Charles"), "the retry landed");
    assert_eq!(field(&h.contact(&cb), "Title"), Some("Engineer"), "and kept the transaction's edit");
    assert_eq!(h.contact(&ca).last_modified, a1.last_modified, "a success is written once");
    assert_eq!(h.contact(&e1.id).last_modified, e1.last_modified, "a create is made once");
    assert_eq!(field(&h.contact(&cc), "Phone"), Some("+14155550103"));
    assert!(h.contacts_of(fay).is_empty());
    assert_eq!(h.contacts_of(eve).len(), 1);
    assert_eq!(h.live_contacts().len(), 5, "Ada, Bob, Cy, Eve and the other one; no duplicates");
    assert!(h.contact(&other).deleted_at.is_none());

    // Quiet afterwards: nothing more is written.
    let before = h.sf_collection_writes();
    h.run().await;
    h.run().await;
    assert_eq!(h.sf_collection_writes(), before, "no write is retried in a loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transaction_behind_the_watermark_is_picked_up_by_the_next_run() {
    let h = Harness::new().await;
    let ada = h.client("Ada", "Lovelace", "ada@example.test", None);
    let bob = h.client("Bob", "Babbage", "bob@example.test", None);
    h.run().await;
    let (ca, cb) = (h.only_contact_of(ada).id, h.only_contact_of(bob).id);

    // A transaction starts (its writes are stamped now) and commits only after the next run,
    // which meanwhile reads a later, quick edit and moves the watermark past the early stamp.
    h.advance(10);
    let txn = h.sims().salesforce.open_transaction();
    let mut late = ExternalEdit { id: ca.clone(), txn: Some(txn), ..ExternalEdit::default() };
    late.fields.insert("FirstName".into(), json!("Augusta"));
    h.sims().salesforce.edit(late).expect("edit inside the transaction");
    h.advance(30);
    let mut quick = ExternalEdit { id: cb.clone(), ..ExternalEdit::default() };
    quick.fields.insert("FirstName".into(), json!("Charles"));
    h.sims().salesforce.edit(quick).expect("quick edit");
    let stamped = h.contact(&ca).modstamp;

    h.run().await;
    assert_eq!(h.client_record(bob)["first_name"], json!("Charles"));
    assert_eq!(h.client_record(ada)["first_name"], json!("Ada"), "not visible yet");

    h.advance(20);
    h.sims().salesforce.commit_transaction(txn).expect("commit");
    let committed = h.contact(&ca);
    assert_eq!(committed.modstamp, stamped, "stamped at the transaction's start");
    assert!(committed.modstamp < h.contact(&cb).modstamp, "behind the watermark");

    h.run().await;
    assert_eq!(h.client_record(ada)["first_name"], json!("Augusta"), "the overlap re-read found it");
    assert_eq!(h.live_contacts().len(), 2);
}
