//! The run loop end to end on two in-memory systems and a real SQLite store. Outcomes are judged
//! from the fake systems' own records and write logs, never from the engine's counters.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use connector_api::{Clock, Connector, ConnectorError, FieldMap, ManualClock};
use connector_memory::{MemoryConnector, MemoryHandle, ObjectConfig};
use crosswalk::ids::IdGen;
use crosswalk::mapping::{self, PairMapping};
use crosswalk::store::{
    self, Resolution, ResolveAction, ReviewFilter, ReviewKind, ReviewState, RunKind, Store,
};
use crosswalk::sync::{Engine, SyncOptions};
use serde_json::{Value, json};

pub const PEOPLE: &str = r#"
version = 1
name = "people"
default_region = "US"
skew_tolerance_secs = 30
deletes = "unlink_and_review"
left = { system = "crm_a", object = "clients" }
right = { system = "crm_b", object = "contacts" }

[identity]
left_external_id = { field = "external_id", prefix = "b_" }
right_external_id = { field = "a_id" }
email = { left = "email", right = "email" }

[creation]
left_to_right = "create"
right_to_left = "create"

[fields.email]
rule = "two_way"
left = "email"
right = "email"
transform = { kind = "email" }

[fields.first_name]
rule = "two_way"
left = "first_name"
right = "firstname"

[fields.status]
rule = "left"
left = "status"
right = "stage"

[fields.city]
rule = "two_way"
on_conflict = "newest"
left = "city"
right = "city"

[fields.zip]
rule = "prefer_left_unless_blank"
left = "zip"
right = "zip"
"#;

/// Two fake systems, a store and an engine over them.
pub struct World {
    pub clock: ManualClock,
    pub a: MemoryHandle,
    pub b: MemoryHandle,
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub pair: PairMapping,
    /// The two fake systems as connectors (unwrapped), for a second engine on the same store.
    pub conn_a: Arc<dyn Connector>,
    pub conn_b: Arc<dyn Connector>,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn new(seed: u64) -> Self {
        Self::with(seed, |_| {}, SyncOptions::default().creating_on_first_sync()).await
    }

    pub async fn with(seed: u64, tweak_a: impl FnOnce(&mut ObjectConfig), opts: SyncOptions) -> Self {
        Self::build(seed, tweak_a, opts, |c, _| c).await
    }

    /// A world over another mapping text (same systems and objects).
    pub async fn with_mapping(seed: u64, mapping_text: &str) -> Self {
        Self::build_with(
            seed,
            mapping_text,
            |_| {},
            SyncOptions::default().creating_on_first_sync(),
            |c, _| c,
        )
        .await
    }

    /// A world whose connectors the engine sees through `wrap` (called with 0 for the left
    /// system and 1 for the right).
    pub async fn build(
        seed: u64,
        tweak_a: impl FnOnce(&mut ObjectConfig),
        opts: SyncOptions,
        wrap: impl Fn(Arc<dyn Connector>, u64) -> Arc<dyn Connector>,
    ) -> Self {
        Self::build_with(seed, PEOPLE, tweak_a, opts, wrap).await
    }

    async fn build_with(
        seed: u64,
        mapping_text: &str,
        tweak_a: impl FnOnce(&mut ObjectConfig),
        opts: SyncOptions,
        wrap: impl Fn(Arc<dyn Connector>, u64) -> Arc<dyn Connector>,
    ) -> Self {
        let clock = ManualClock::at_epoch();
        let mut clients = ObjectConfig::new("clients");
        tweak_a(&mut clients);
        let a = MemoryConnector::new(clock.shared(), vec![clients]);
        let b = MemoryConnector::new(clock.shared(), vec![ObjectConfig::new("contacts")]);
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = store::open(&url).await.expect("open store");
        store.migrate().await.expect("migrate");
        let pair = mapping::load_str(mapping_text, Path::new("people.toml")).expect("valid mapping");
        let mut systems: BTreeMap<String, Arc<dyn Connector>> = BTreeMap::new();
        systems.insert("crm_a".into(), wrap(Arc::new(a.clone()), 0));
        systems.insert("crm_b".into(), wrap(Arc::new(b.clone()), 1));
        let ids = Arc::new(IdGen::new(clock.shared(), seed));
        let engine = Engine::new(store.clone(), systems, vec![pair.clone()], clock.shared(), ids, opts);
        let (conn_a, conn_b): (Arc<dyn Connector>, Arc<dyn Connector>) =
            (Arc::new(a.clone()), Arc::new(b.clone()));
        Self { clock, a: a.handle(), b: b.handle(), store, engine, pair, conn_a, conn_b, _dir: dir }
    }

    /// Five minutes pass, then one scheduled run.
    pub async fn run(&self) -> crosswalk::sync::RunReport {
        self.clock.advance(Duration::from_secs(300));
        self.engine.run(RunKind::Scheduled, &[], false).await.expect("run")
    }

    /// Writes both fake systems received so far.
    pub fn writes(&self) -> usize {
        self.a.write_log().len() + self.b.write_log().len()
    }

    pub async fn open_items(&self) -> Vec<crosswalk::store::ReviewItem> {
        let filter = ReviewFilter { state: Some(ReviewState::Open), ..ReviewFilter::default() };
        self.store.list_review(&filter).await.expect("list review")
    }
}

pub fn fields(pairs: &[(&str, &str)]) -> FieldMap {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

fn text<'a>(map: &'a FieldMap, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

#[tokio::test]
async fn links_by_email_creates_the_unmatched_and_never_duplicates() {
    let w = World::new(1).await;
    let ana = w.a.seed(
        "clients",
        fields(&[("email", "Ana@Example.test "), ("first_name", "Ana"), ("status", "active")]),
    );
    let bo = w
        .a
        .seed("clients", fields(&[("email", "bo@example.test"), ("first_name", "Bo"), ("status", "lead")]));
    let ana_b = w.b.seed("contacts", fields(&[("email", "ana@example.test"), ("firstname", "Ana")]));

    w.run().await;
    w.run().await;

    let contacts = w.b.live_records("contacts");
    assert_eq!(contacts.len(), 2, "Ana was linked, not re-created; Bo was created once");
    let ana_rec = contacts.iter().find(|r| r.id == ana_b).expect("Ana's contact is still there");
    assert_eq!(text(&ana_rec.fields, "stage"), Some("active"), "the left-owned status flowed right");
    let bo_rec = contacts.iter().find(|r| r.id != ana_b).expect("Bo's contact");
    assert_eq!(text(&bo_rec.fields, "a_id"), Some(bo.as_str()), "the create carries the back-link");
    assert_eq!(text(&bo_rec.fields, "firstname"), Some("Bo"));
    let ana_a = w.a.stored("clients", &ana).expect("Ana");
    assert_eq!(
        text(&ana_a.record.fields, "email"),
        Some("Ana@Example.test "),
        "equal after normalisation: no write"
    );
}

#[tokio::test]
async fn an_edit_flows_across_and_our_own_write_coming_back_costs_nothing() {
    let w = World::new(2).await;
    let id =
        w.a.seed("clients", fields(&[("email", "cy@example.test"), ("first_name", "Cy"), ("city", "Oslo")]));
    w.run().await;
    w.run().await;
    let settled = w.writes();

    w.a.edit("clients", &id, fields(&[("city", "Bergen")]));
    w.run().await;
    let contact = w.b.live_records("contacts").pop().expect("created");
    assert_eq!(text(&contact.fields, "city"), Some("Bergen"));
    assert_eq!(w.writes(), settled + 1, "exactly one update for one edit");

    let after_edit = w.writes();
    for _ in 0..3 {
        w.run().await;
    }
    assert_eq!(w.writes(), after_edit, "the echo of our write and later runs write nothing");
}

#[tokio::test]
async fn a_true_conflict_goes_to_review_and_the_other_fields_still_sync() {
    let w = World::new(3).await;
    let a_id = w
        .a
        .seed("clients", fields(&[("email", "di@example.test"), ("first_name", "Di"), ("status", "lead")]));
    w.run().await;
    w.run().await;
    let b_id = w.b.live_records("contacts").pop().expect("created").id;

    w.a.edit("clients", &a_id, fields(&[("first_name", "Diana"), ("status", "active")]));
    w.b.edit("contacts", &b_id, fields(&[("firstname", "Dee")]));
    w.run().await;
    w.run().await;

    let contact = w.b.stored("contacts", &b_id).expect("contact").record;
    let client = w.a.stored("clients", &a_id).expect("client").record;
    assert_eq!(text(&contact.fields, "firstname"), Some("Dee"), "a conflict overwrites nothing");
    assert_eq!(text(&client.fields, "first_name"), Some("Diana"));
    assert_eq!(text(&contact.fields, "stage"), Some("active"), "the non-conflicting field synced");
    let items = w.open_items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].kind, ReviewKind::FieldConflict);
    assert_eq!(items[0].field.as_deref(), Some("first_name"));
    assert_eq!(
        (items[0].left_value.as_deref(), items[0].right_value.as_deref()),
        (Some("Diana"), Some("Dee"))
    );
}

#[tokio::test]
async fn a_dry_run_writes_nothing_anywhere_and_shows_the_plan() {
    let w = World::new(4).await;
    w.a.seed("clients", fields(&[("email", "ed@example.test"), ("first_name", "Ed")]));
    w.clock.advance(Duration::from_secs(300));
    let report = w.engine.run(RunKind::Manual, &[], true).await.expect("dry run");
    assert_eq!(w.writes(), 0);
    assert!(w.b.live_records("contacts").is_empty());
    assert!(w.store.recent_runs(10).await.expect("runs").is_empty(), "a dry run records no run");
    assert!(
        report.pairs[0].plan.contains("ed@example.test") || report.pairs[0].plan.contains("create"),
        "{}",
        report.pairs[0].plan
    );
}

#[tokio::test]
async fn an_ambiguous_email_match_is_reviewed_not_guessed() {
    let w = World::new(5).await;
    w.a.seed("clients", fields(&[("email", "fay@example.test"), ("first_name", "Fay")]));
    w.b.seed("contacts", fields(&[("email", "fay@example.test"), ("firstname", "Fay")]));
    w.b.seed("contacts", fields(&[("email", "FAY@example.test"), ("firstname", "Faye")]));
    w.run().await;
    assert_eq!(w.b.live_records("contacts").len(), 2, "nothing created, nothing merged");
    let items = w.open_items().await;
    assert!(items.iter().any(|i| i.kind == ReviewKind::AmbiguousIdentity), "{items:?}");
}

#[tokio::test]
async fn a_permanent_rejection_is_parked_and_the_rest_of_the_page_proceeds() {
    let w = World::new(6).await;
    w.b.reject_value(
        "contacts",
        "firstname",
        json!("Bad"),
        ConnectorError::Invalid {
            message: "firstname: not allowed".into(),
            code: Some("INVALID".into()),
            field: Some("firstname".into()),
        },
    );
    w.a.seed("clients", fields(&[("email", "gus@example.test"), ("first_name", "Bad")]));
    w.a.seed("clients", fields(&[("email", "hal@example.test"), ("first_name", "Hal")]));
    w.run().await;
    let contacts = w.b.live_records("contacts");
    assert_eq!(contacts.len(), 1, "the good record was created");
    assert_eq!(text(&contacts[0].fields, "firstname"), Some("Hal"));
    let items = w.open_items().await;
    assert!(
        items.iter().any(|i| i.kind == ReviewKind::WriteRejected && i.reason.contains("not allowed")),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_transient_failure_leaves_the_checkpoint_and_the_next_run_recovers() {
    let w = World::new(7).await;
    w.a.seed("clients", fields(&[("email", "ida@example.test"), ("first_name", "Ida")]));
    w.b.fail_next_apply_with(ConnectorError::Transient { message: "503".into(), retry_after: None });
    w.run().await;
    assert!(w.b.live_records("contacts").is_empty());
    w.run().await;
    let contacts = w.b.live_records("contacts");
    assert_eq!(contacts.len(), 1, "created on the retry run, once");
}

#[tokio::test]
async fn edits_that_emit_no_change_are_found_by_the_verification_sweep() {
    let opts = SyncOptions { sweep_budget: 1, ..SyncOptions::default().creating_on_first_sync() };
    let w = World::with(8, |o| o.pull_sees_every_edit = false, opts).await;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            w.a.seed("clients", fields(&[("email", &format!("p{i}@example.test")), ("first_name", "P")]))
        })
        .collect();
    w.run().await;
    w.run().await;
    w.a.edit("clients", &ids[1], fields(&[("first_name", "Quiet")]));
    // Budget 1 per run over 3 links: found within ceil(3 / 1) = 3 runs.
    for _ in 0..3 {
        w.run().await;
    }
    let found =
        w.b.live_records("contacts").into_iter().any(|r| text(&r.fields, "firstname") == Some("Quiet"));
    assert!(found, "the silent edit reached the other side within the stated bound");
}

/// Seeds one linked record and makes a first-name conflict; returns (left id, right id, item id).
async fn conflicted(w: &World) -> (String, String, i64) {
    let a_id = w.a.seed("clients", fields(&[("email", "jo@example.test"), ("first_name", "Jo")]));
    w.run().await;
    w.run().await;
    let b_id = w.b.live_records("contacts").pop().expect("created").id;
    w.a.edit("clients", &a_id, fields(&[("first_name", "Joanna")]));
    w.b.edit("contacts", &b_id, fields(&[("firstname", "Joe")]));
    w.run().await;
    let items = w.open_items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    (a_id, b_id, items[0].id)
}

fn resolution(action: ResolveAction, value: Option<&str>, at: chrono::DateTime<chrono::Utc>) -> Resolution {
    Resolution { action, value: value.map(str::to_string), by: "alice".into(), at, note: None }
}

#[tokio::test]
async fn a_resolution_is_written_by_the_next_run_exactly_once_with_provenance() {
    let w = World::new(9).await;
    let (a_id, b_id, item) = conflicted(&w).await;
    w.store.resolve_review(item, &resolution(ResolveAction::TakeRight, None, w.clock.now())).await.unwrap();
    let before = w.a.write_log().len();
    w.run().await;
    w.run().await;
    w.run().await;
    let client = w.a.stored("clients", &a_id).unwrap().record;
    assert_eq!(text(&client.fields, "first_name"), Some("Joe"), "the right value was taken");
    assert_eq!(w.a.write_log().len(), before + 1, "written exactly once across three runs");
    assert_eq!(text(&w.b.stored("contacts", &b_id).unwrap().record.fields, "firstname"), Some("Joe"));
    let stored = w.store.review_item(item).await.unwrap().unwrap();
    assert_eq!(stored.state, ReviewState::Applied);
    let log = w.store.decisions_for("crm_a", &a_id, 10).await.unwrap();
    assert!(
        log.iter().any(|d| d.provenance.as_deref() == Some(&format!("review:{item} by alice")[..])),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_typed_value_goes_to_both_sides() {
    let w = World::new(10).await;
    let (a_id, b_id, item) = conflicted(&w).await;
    w.store
        .resolve_review(item, &resolution(ResolveAction::Value, Some("Johanna"), w.clock.now()))
        .await
        .unwrap();
    w.run().await;
    w.run().await;
    assert_eq!(text(&w.a.stored("clients", &a_id).unwrap().record.fields, "first_name"), Some("Johanna"));
    assert_eq!(text(&w.b.stored("contacts", &b_id).unwrap().record.fields, "firstname"), Some("Johanna"));
    assert!(w.open_items().await.is_empty());
}

#[tokio::test]
async fn an_item_whose_sides_agree_by_themselves_is_superseded_not_written() {
    let w = World::new(11).await;
    let (a_id, _b_id, item) = conflicted(&w).await;
    w.store.resolve_review(item, &resolution(ResolveAction::TakeLeft, None, w.clock.now())).await.unwrap();
    w.a.edit("clients", &a_id, fields(&[("first_name", "Joe")]));
    let before = w.writes();
    w.clock.advance(Duration::from_secs(300));
    w.engine.run(RunKind::Manual, &[], false).await.unwrap();
    assert_eq!(w.store.review_item(item).await.unwrap().unwrap().state, ReviewState::Superseded);
    assert_eq!(w.writes(), before, "nothing written for a superseded item");
}

#[tokio::test]
async fn a_delete_unlinks_and_asks_a_person_instead_of_deleting_the_other_side() {
    let w = World::new(12).await;
    let a_id = w.a.seed("clients", fields(&[("email", "kai@example.test"), ("first_name", "Kai")]));
    w.run().await;
    w.run().await;
    let b_id = w.b.live_records("contacts").pop().expect("created").id;
    w.a.delete("clients", &a_id);
    w.run().await;
    assert!(w.b.stored("contacts", &b_id).is_some_and(|s| !s.record.deleted), "the other side is untouched");
    let items = w.open_items().await;
    assert!(
        items.iter().any(|i| i.kind == ReviewKind::Deleted && i.right_id.as_deref() == Some(b_id.as_str())),
        "{items:?}"
    );
    let link = w.store.link_by_record("people", crosswalk::mapping::Side::Right, &b_id).await.unwrap();
    assert!(link.is_none(), "the link was removed");
}

#[tokio::test]
async fn a_merge_repoints_the_link_to_the_survivor_instead_of_recreating_the_loser() {
    let w = World::new(13).await;
    w.a.seed("clients", fields(&[("email", "lea@example.test"), ("first_name", "Lea")]));
    w.run().await;
    w.run().await;
    let loser = w.b.live_records("contacts").pop().expect("created").id;
    let survivor = w.b.seed("contacts", fields(&[("email", "lea2@example.test"), ("firstname", "Lea")]));
    w.b.merge("contacts", &loser, &survivor);
    w.run().await;
    w.run().await;
    let link = w.store.link_by_record("people", crosswalk::mapping::Side::Right, &survivor).await.unwrap();
    assert!(link.is_some(), "the link follows the survivor");
    assert_eq!(w.b.live_records("contacts").len(), 1, "the merged-away record was not re-created");
    assert_eq!(w.a.live_records("clients").len(), 1, "and nothing was created on the left either");
}

#[tokio::test]
async fn a_run_over_a_safety_cap_writes_nothing_and_holds_the_page_for_review() {
    let capped = PEOPLE.replace("[fields.email]", "[caps]\nmax_creates = 2\n\n[fields.email]");
    let w = World::with_mapping(14, &capped).await;
    for i in 0..3 {
        w.a.seed("clients", fields(&[("email", &format!("m{i}@example.test")), ("first_name", "M")]));
    }
    w.run().await;
    w.run().await;
    assert_eq!(w.writes(), 0, "no create went out past the cap");
    let items = w.open_items().await;
    assert!(
        items.iter().any(|i| i.kind == ReviewKind::HeldBack && i.reason.contains("safety cap")),
        "{items:?}"
    );
}
