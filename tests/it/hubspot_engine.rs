//! The real engine over the WhiteLabelCRO and HubSpot simulators (loopback HTTP, the shipped
//! `wlcro-people__hubspot-contacts` mapping, a SQLite store): HubSpot merges, echoes of our own
//! writes, and search-index lag. Time is virtual: the engine runs on the world's linked clock,
//! whose advances move every simulator's frozen clock too, so the HubSpot connector's pacing
//! sleeps are seen by the simulators. Outcomes are judged from the
//! simulators' own records and request logs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::Clock;
use connector_api::testsuite::LinkedClock;
use crosswalk::demo::report::is_write;
use crosswalk::demo::{SimWorld, WorldConfig};
use crosswalk::ids::IdGen;
use crosswalk::store::{ReviewFilter, ReviewKind, ReviewState, RunKind};
use crosswalk::sync::{Engine, PairStatus, RunReport, SyncOptions};
use serde_json::{Map, Value, json};
use sim_core::LoggedRequest;
use sim_hubspot::{ObjectType, Record};

use crate::support::TestStore;

const SEED: u64 = 5;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00.000Z").expect("fixed time").to_utc()
}

/// One client and the HubSpot contact it is linked to (both back-links set, values agreeing).
pub(crate) struct Linked {
    pub(crate) client: i64,
    pub(crate) contact: u64,
}

pub(crate) struct Env {
    pub(crate) world: SimWorld,
    pub(crate) clock: LinkedClock,
    pub(crate) engine: Arc<Engine>,
    pub(crate) test_store: TestStore,
    _dir: tempfile::TempDir,
}

impl Env {
    pub(crate) async fn start() -> Env {
        Self::start_with(SyncOptions::default().creating_on_first_sync()).await
    }

    /// The shipped pair, except that HubSpot contacts are never created on WhiteLabelCRO (for
    /// tests about an unlinked HubSpot duplicate, which the shipped pair would make a lead of).
    async fn start_link_only() -> Env {
        Self::start_mapped(SyncOptions::default().creating_on_first_sync(), true).await
    }

    pub(crate) async fn start_with(opts: SyncOptions) -> Env {
        Self::start_mapped(opts, false).await
    }

    async fn start_mapped(opts: SyncOptions, link_only: bool) -> Env {
        Self::start_custom(opts, link_only, 6000, |e| e).await
    }

    /// The shipped pair with WhiteLabelCRO (simulator and connector) limited to
    /// `wlcro_per_minute` requests per minute, and the engine as `build` makes it.
    pub(crate) async fn start_custom(
        opts: SyncOptions,
        link_only: bool,
        wlcro_per_minute: u32,
        build: impl FnOnce(Engine) -> Engine,
    ) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = WorldConfig::demo(SEED, wlcro_per_minute).starting_at(t0());
        let world = SimWorld::start(cfg, dir.path()).await.expect("simulators start");
        let clock = world.linked_clock(t0());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/wlcro-people__hubspot-contacts.toml");
        let mut pair = crosswalk::mapping::load_file(&path).expect("shipped mapping loads");
        if link_only {
            pair.create_right_to_left = crosswalk::mapping::CreationRule::LinkOnly;
        }
        let pairs = vec![pair];
        let connectors = world.connectors(&pairs, clock.shared(), SEED).expect("connectors");
        let test_store = TestStore::sqlite().await;
        let ids = Arc::new(IdGen::new(clock.shared(), SEED));
        let opts = SyncOptions { owner: "hubspot-engine-test".into(), ..opts };
        let engine = Engine::new(test_store.store.clone(), connectors, pairs, clock.shared(), ids, opts);
        let engine = Arc::new(build(engine));
        Env { world, clock, engine, test_store, _dir: dir }
    }

    pub(crate) fn hubspot(&self) -> &sim_hubspot::SimState {
        &self.world.sims.hubspot
    }

    pub(crate) fn wlcro(&self) -> &sim_whitelabelcro::SimState {
        &self.world.sims.wlcro
    }

    /// Moves the engine's clock and every simulator's clock.
    pub(crate) fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Seeds client `Ann Lee #i` on WhiteLabelCRO and its HubSpot contact, linked both ways.
    /// With `event`, the client's creation is in the WhiteLabelCRO events feed.
    pub(crate) fn seed_linked(&self, i: usize, event: bool) -> Linked {
        let email = format!("ann.lee{i}@example.test");
        let contact = self
            .hubspot()
            .seed(ObjectType::Contacts, &[props(&contact_fields(&email))])
            .expect("seed contact")[0];
        let r = sim_whitelabelcro::SeedRecord {
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            email,
            phone: Some(format!("(415) 555-{:04}", 100 + i)),
            city: Some("Austin".into()),
            state: Some("TX".into()),
            zip: Some("78701".into()),
            status: Some("Active Client".into()),
            external_id: Some(format!("hubspot_{contact}")),
            ..Default::default()
        };
        let client = self.wlcro().seed_at(r, false, event, None).expect("seed client");
        let phone = format!("+1415555{:04}", 100 + i);
        let back = props(&[("wlcro_client_id", client.to_string().as_str()), ("phone", phone.as_str())]);
        self.hubspot().external_edit(ObjectType::Contacts, contact, &back).expect("back-link");
        Linked { client, contact }
    }

    pub(crate) async fn run(&self) -> RunReport {
        let report = self.engine.run(RunKind::Manual, &[], false).await.expect("run");
        for p in &report.pairs {
            assert!(matches!(p.status, PairStatus::Done), "pair {} did not finish: {:?}", p.pair, p.status);
        }
        report
    }

    pub(crate) fn contact(&self, id: u64) -> Record {
        let all = self.hubspot().records(ObjectType::Contacts);
        all.into_iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no contact {id}"))
    }

    pub(crate) fn client(&self, id: i64) -> Value {
        let truth = self.wlcro().records();
        let clients = truth["clients"].as_array().expect("clients").clone();
        clients.into_iter().find(|c| c["client_id"] == json!(id)).unwrap_or_else(|| panic!("no client {id}"))
    }

    /// Request-log lengths now (HubSpot, WhiteLabelCRO).
    pub(crate) fn marks(&self) -> (usize, usize) {
        (self.hubspot().requests().len(), self.wlcro().requests().len())
    }

    /// Writes each simulator received since `marks`.
    pub(crate) fn writes_since(&self, marks: (usize, usize)) -> (Vec<LoggedRequest>, Vec<LoggedRequest>) {
        let since = |log: Vec<LoggedRequest>, from: usize| -> Vec<LoggedRequest> {
            log.into_iter().skip(from).filter(is_write).collect()
        };
        (since(self.hubspot().requests(), marks.0), since(self.wlcro().requests(), marks.1))
    }

    pub(crate) async fn finish(self) {
        self.world.stop().await;
        self.test_store.finish().await;
    }
}

fn contact_fields(email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("email", email.to_string()),
        ("firstname", "Ann".into()),
        ("lastname", "Lee".into()),
        ("city", "Austin".into()),
        ("state", "TX".into()),
        ("zip", "78701".into()),
        ("lifecyclestage", "customer".into()),
    ]
}

pub(crate) fn props<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.as_ref().to_string(), json!(v.as_ref()))).collect()
}

pub(crate) fn prop(r: &Record, name: &str) -> Option<String> {
    r.properties.get(name).cloned()
}

/// Creates on HubSpot: batch create/upsert or a single-object create.
fn hubspot_creates(writes: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    writes
        .iter()
        .filter(|r| {
            r.path.ends_with("/batch/upsert")
                || r.path.ends_with("/batch/create")
                || (r.method == "POST" && r.path.trim_end_matches('/').ends_with("/objects/contacts"))
        })
        .collect()
}

/// HubSpot merges the linked contact into another: the link moves to the survivor, the loser is
/// not re-created, and a later WhiteLabelCRO edit lands on the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_merge_repoints_the_link_instead_of_recreating_the_loser() {
    let env = Env::start_link_only().await;
    let ann = env.seed_linked(0, true);
    // A duplicate of the same person, unlinked, under a work address.
    let dup = env
        .hubspot()
        .seed(ObjectType::Contacts, &[props(&contact_fields("ann.work@example.test"))])
        .expect("seed duplicate")[0];
    env.advance(60);
    env.run().await;
    assert_eq!(env.hubspot().records(ObjectType::Contacts).len(), 2);

    env.advance(60);
    let survivor = env.hubspot().merge(ObjectType::Contacts, dup, ann.contact).expect("merge");
    assert_eq!(survivor.id, dup, "the simulator keeps the primary's id");
    env.advance(30);
    let marks = env.marks();
    env.run().await;
    let (hs_writes, _) = env.writes_since(marks);
    assert!(hubspot_creates(&hs_writes).is_empty(), "the merged-away contact was re-created: {hs_writes:?}");
    let contacts = env.hubspot().records(ObjectType::Contacts);
    assert_eq!(contacts.len(), 2, "no contact created by the merge run");
    assert!(env.contact(ann.contact).archived(), "the loser stays merged away");

    env.advance(60);
    let edit = props(&[("last_name", "Lee-Smith")]);
    env.wlcro().ui_edit(ann.client, &edit).expect("ui edit");
    env.advance(30);
    let marks = env.marks();
    env.run().await;
    let (hs_writes, _) = env.writes_since(marks);
    assert!(hubspot_creates(&hs_writes).is_empty(), "a contact was created for the edit: {hs_writes:?}");
    assert_eq!(env.hubspot().records(ObjectType::Contacts).len(), 2, "still two contacts");
    let survivor = env.contact(dup);
    assert_eq!(prop(&survivor, "lastname").as_deref(), Some("Lee-Smith"), "the edit lands on the survivor");
    assert_eq!(prop(&survivor, "wlcro_client_id"), Some(ann.client.to_string()), "survivor carries the link");
    let loser = env.contact(ann.contact);
    assert!(loser.archived());
    assert_eq!(prop(&loser, "lastname").as_deref(), Some("Lee"), "the loser is not written to");
    env.finish().await;
}

/// A run writes to both systems; the next run re-reads those changes (our own writes bumped the
/// records' modified times) and writes nothing anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_of_our_own_write_costs_no_write() {
    let env = Env::start().await;
    let a = env.seed_linked(1, true);
    let b = env.seed_linked(2, true);
    env.advance(60);
    env.run().await;

    env.advance(60);
    env.wlcro().ui_edit(a.client, &props(&[("first_name", "Annie")])).expect("ui edit");
    env.hubspot()
        .external_edit(ObjectType::Contacts, b.contact, &props(&[("firstname", "Bobbie")]))
        .expect("hubspot edit");
    env.advance(30);
    let marks = env.marks();
    let second_start = env.clock.now();
    env.run().await;
    let (hs_writes, wl_writes) = env.writes_since(marks);
    assert!(!hs_writes.is_empty() && !wl_writes.is_empty(), "the edits were written across");
    assert_eq!(prop(&env.contact(a.contact), "firstname").as_deref(), Some("Annie"));
    assert_eq!(env.client(b.client)["first_name"], "Bobbie");
    let ours = env.contact(a.contact).updated_ms;
    // Our write to HubSpot lies after that run's horizon (start − 5 s): the next run reads it.
    assert!(ours > (second_start - chrono::Duration::seconds(5)).timestamp_millis());

    env.advance(30);
    let marks = env.marks();
    let third_start = env.clock.now();
    env.run().await;
    assert!(ours <= (third_start - chrono::Duration::seconds(5)).timestamp_millis(), "inside the window");
    let searched =
        env.hubspot().requests().iter().skip(marks.0).filter(|r| r.path.ends_with("/search")).count();
    assert!(searched > 0, "the echo run pulled HubSpot");
    let (hs_writes, wl_writes) = env.writes_since(marks);
    assert!(hs_writes.is_empty(), "HubSpot got writes in the echo run: {hs_writes:?}");
    assert!(wl_writes.is_empty(), "WhiteLabelCRO got writes in the echo run: {wl_writes:?}");
    assert_eq!(env.contact(a.contact).updated_ms, ours, "the contact was not touched again");
    env.finish().await;
}

/// A HubSpot edit hidden from search by index lag when a run pulls (while a later, visible change
/// moves that run's window past it) is picked up by the next run, through the overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_search_index_lag_is_picked_up_by_the_next_run() {
    let env = Env::start().await;
    // No creation event: WhiteLabelCRO's feed re-reads its last events in every run's overlap,
    // and the engine answers such a (partial) re-read by fetching the HubSpot contact by batch
    // read, which would find the edit without search. The link comes from HubSpot's side.
    let ann = env.seed_linked(3, false);
    env.advance(60);
    env.run().await;
    // Search answers with live values, so the contact's older index entry would surface the edit
    // while it is inside a run's overlap: move the HubSpot window well past it first.
    env.advance(300);
    env.hubspot().seed(ObjectType::Contacts, &[visible("early")]).expect("seed");
    env.advance(10);
    env.run().await;

    env.advance(300);
    env.hubspot().set_search_lag(30_000, 0);
    let edit = props(&[("firstname", "Anya")]);
    env.hubspot().external_edit(ObjectType::Contacts, ann.contact, &edit).expect("hubspot edit");
    env.advance(1);
    // Seeds are indexed at once: this record is visible and newer than the lagging edit.
    env.hubspot().seed(ObjectType::Contacts, &[visible("late")]).expect("seed");
    env.advance(10);
    let marks = env.marks();
    env.run().await;
    let searched =
        env.hubspot().requests().iter().skip(marks.0).filter(|r| r.path.ends_with("/search")).count();
    assert!(searched > 0, "the run pulled HubSpot");
    assert_eq!(env.client(ann.client)["first_name"], "Ann", "the lagging edit was not visible yet");

    env.advance(60);
    env.run().await;
    assert_eq!(env.client(ann.client)["first_name"], "Anya", "the next run picked the edit up");
    env.finish().await;
}

/// A HubSpot-only contact (the pair never creates clients from HubSpot).
fn visible(tag: &str) -> Map<String, Value> {
    props(&[("email", format!("{tag}@example.test").as_str()), ("firstname", "Vis")])
}

/// Regression (found by the cycle benchmark): a record whose older status event is re-read in
/// the overlap on one page and whose newer status event comes on a later page of the same run
/// must get the newer status. The once-per-run plan used to count the newer event as a re-read
/// and let the checkpoint pass it, so the change was never applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_change_after_an_overlap_reread_of_the_same_record_is_applied() {
    // No verification sweep: it re-reads every linked client of a small test within one run and
    // would hide the skipped change.
    let opts =
        SyncOptions { page_size: 1, sweep_budget: 0, ..SyncOptions::default().creating_on_first_sync() };
    let env = Env::start_with(opts).await;
    let ann = env.seed_linked(0, true);
    env.advance(60);
    env.run().await;

    env.advance(10);
    env.wlcro().ui_status(ann.client, "On Hold", None).expect("status t1");
    env.advance(30);
    env.run().await;
    assert_eq!(prop(&env.contact(ann.contact), "lifecyclestage").as_deref(), Some("customer"));

    // t2: the next run re-reads the t1 event inside its overlap (page 1), then reads t2 (page 2).
    env.advance(10);
    env.wlcro().ui_status(ann.client, "Cancelled", None).expect("status t2");
    env.advance(30);
    env.run().await;
    assert_eq!(
        prop(&env.contact(ann.contact), "lifecyclestage").as_deref(),
        Some("other"),
        "the newer status reached HubSpot"
    );
    env.finish().await;
}

/// A status move HubSpot refuses (lifecyclestage only moves forward: a cancelled client made
/// active again is `other` → `customer`, which the shipped mapping itself predicts) does not stop
/// the first-name edit made with it: the rest of the record's changes go through in the same
/// run, the refused field alone goes to review (one item naming the field and the remote's
/// code), and the next run does not send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_lifecyclestage_does_not_stop_the_first_name_edit_of_the_same_record() {
    let env = Env::start().await;
    let ann = env.seed_linked(0, true);
    env.advance(60);
    env.run().await;
    env.wlcro().ui_status(ann.client, "Cancelled", None).expect("cancel");
    env.advance(60);
    env.run().await;
    assert_eq!(prop(&env.contact(ann.contact), "lifecyclestage").as_deref(), Some("other"));

    env.advance(60);
    env.wlcro().ui_edit(ann.client, &props(&[("first_name", "Annie")])).expect("ui edit");
    env.wlcro().ui_status(ann.client, "Active Client", None).expect("re-activate");
    env.advance(60);
    env.run().await;
    let contact = env.contact(ann.contact);
    let filter = ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() };
    let open = env.test_store.store.list_review(&filter).await.expect("review");
    assert_eq!(prop(&contact, "firstname").as_deref(), Some("Annie"), "the first name arrived: {open:#?}");
    assert_eq!(prop(&contact, "lifecyclestage").as_deref(), Some("other"), "HubSpot kept its stage");

    let rejected: Vec<_> = open.iter().filter(|i| i.kind == ReviewKind::WriteRejected).collect();
    assert_eq!(rejected.len(), 1, "one item for the refused field: {open:#?}");
    assert_eq!(rejected[0].field.as_deref(), Some("status"), "{:?}", rejected[0]);
    assert!(rejected[0].reason.contains("lifecyclestage"), "{}", rejected[0].reason);
    assert!(!rejected[0].reason.contains("Annie"), "no value in the reason: {}", rejected[0].reason);
    assert!(
        open.iter().all(|i| i.kind != ReviewKind::FieldConflict),
        "no drift item for an overwrite that did not happen: {open:#?}"
    );

    // The next run holds the refused write back instead of sending it again.
    env.advance(60);
    let marks = env.marks();
    env.run().await;
    let (hs_writes, _) = env.writes_since(marks);
    assert!(hs_writes.is_empty(), "the refused stage was sent again: {hs_writes:?}");
}

/// Two HubSpot contacts holding one email (an import artefact the API itself would refuse) and
/// one unlinked WhiteLabelCRO client with that email: the run opens exactly one
/// ambiguous-identity item naming both contacts and links nothing. Judged from the store's
/// review items and the simulators' records and request logs: no create, no write anywhere,
/// no back-link on either side. Fails if the email probe can see only one of the contacts
/// (the lowest id would be linked and back-linked, a guess).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubspot_contacts_with_one_email_open_one_ambiguous_item_and_link_nothing() {
    let env = Env::start().await;
    let email = "twin.person@example.test";
    let first = env.hubspot().seed(ObjectType::Contacts, &[props(&contact_fields(email))]).expect("seed")[0];
    let mut dup = props(&contact_fields(email));
    dup.insert("firstname".into(), json!("Annie"));
    let second = env.hubspot().import_duplicate(ObjectType::Contacts, &dup).expect("import duplicate");
    let r = sim_whitelabelcro::SeedRecord {
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        email: email.into(),
        status: Some("Active Client".into()),
        ..Default::default()
    };
    let client = env.wlcro().seed_at(r, false, true, None).expect("seed client");
    env.advance(60);
    let marks = env.marks();
    env.run().await;

    let filter = ReviewFilter { kind: Some(ReviewKind::AmbiguousIdentity), ..ReviewFilter::default() };
    let items = env.test_store.store.list_review(&filter).await.expect("list review");
    assert_eq!(items.len(), 1, "one ambiguous item: {items:?}");
    assert_eq!(items[0].state, ReviewState::Open);
    let candidates = items[0].candidates.to_string();
    for id in [first, second] {
        assert!(candidates.contains(&format!("\"{id}\"")), "candidate {id} named: {candidates}");
    }

    let (hs_writes, wl_writes) = env.writes_since(marks);
    assert!(hs_writes.is_empty(), "HubSpot was written to: {hs_writes:?}");
    assert!(wl_writes.is_empty(), "WhiteLabelCRO was written to: {wl_writes:?}");
    let contacts = env.hubspot().records(ObjectType::Contacts);
    assert_eq!(contacts.len(), 2, "no contact created");
    assert!(contacts.iter().all(|c| prop(c, "wlcro_client_id").is_none()), "no back-link in HubSpot");
    let truth = env.wlcro().records();
    assert_eq!(truth["clients"].as_array().map(Vec::len), Some(1), "no client created");
    let external = &env.client(client)["external_id"];
    assert!(external.is_null() || external == "", "no back-link in WhiteLabelCRO: {external}");
    env.finish().await;
}
