//! The reconciler as data: merge and plan case tables from `tests/it/cases/`, the shipped
//! mapping files, identity decisions and the dry-run rendering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use connector_api::FieldMap;
use crosswalk::mapping::{self, CanonMap, FieldRule, OnConflict, PairMapping, RuleKind, Side};
use crosswalk::reconcile::{
    self, FieldOutcome, Match, MergeCtx, Plan, ProbeKind, SideView, decide_match, identity_probes,
    merge_field, plan_create, plan_link,
};
use serde::Deserialize;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_cases<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = root().join("tests/it/cases").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Panics with a readable line diff between expected and actual.
fn assert_same(name: &str, expected: &str, actual: &str) {
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected, actual);
        panic!("case `{name}`:\n{}", diff.unified_diff().header("expected", "actual"));
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000, 0).unwrap_or_default()
}

/// The two modified times a case's `newer` implies; `left_unknown` / `right_unknown`: that
/// side's system reports none (WhiteLabelCRO), while the other side is a minute newer.
fn times(newer: Option<&str>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let later = Some(t0() + Duration::seconds(60));
    match newer {
        Some("left") => (later, Some(t0())),
        Some("right") => (Some(t0()), later),
        Some("left_unknown") => (None, later),
        Some("right_unknown") => (later, None),
        _ => (Some(t0()), Some(t0())),
    }
}

#[derive(Deserialize)]
struct MergeTable {
    case: Vec<MergeCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeCase {
    rule: String,
    b: Option<String>,
    l: Option<String>,
    r: Option<String>,
    #[serde(default)]
    allow_blank: bool,
    #[serde(default)]
    flag_drift: bool,
    newer: Option<String>,
    skew: Option<i64>,
    expect: String,
}

fn rule_kind(name: &str) -> RuleKind {
    match name {
        "left" => RuleKind::SystemOfRecord(Side::Left),
        "right" => RuleKind::SystemOfRecord(Side::Right),
        "prefer_left_unless_blank" => RuleKind::PreferUnlessBlank(Side::Left),
        "prefer_right_unless_blank" => RuleKind::PreferUnlessBlank(Side::Right),
        "two_way" => RuleKind::TwoWay(OnConflict::Review),
        "two_way_newest" => RuleKind::TwoWay(OnConflict::Newest),
        "create_only" => RuleKind::CreateOnly,
        "none" => RuleKind::None,
        other => panic!("unknown rule `{other}` in merge.toml"),
    }
}

fn outcome_text(outcome: &FieldOutcome) -> String {
    let v = |v: &Option<String>| v.clone().unwrap_or_default();
    match outcome {
        FieldOutcome::NotSynced => "not_synced".into(),
        FieldOutcome::InSync { value } => format!("in_sync:{}", v(value)),
        FieldOutcome::Write { target, value, reason, drift } => {
            format!("write_{target}:{}/{}{}", v(value), reason.as_str(), if *drift { "+drift" } else { "" })
        }
        FieldOutcome::Keep { reason } => format!("keep/{}", reason.as_str()),
        FieldOutcome::Conflict { why } => format!("conflict/{}", why.as_str()),
    }
}

#[test]
fn merge_table() {
    let table: MergeTable = read_cases("merge.toml");
    let mut rules_seen = BTreeSet::new();
    let (mut expected, mut actual) = (String::new(), String::new());
    for c in &table.case {
        rules_seen.insert(c.rule.clone());
        let rule = FieldRule {
            kind: rule_kind(&c.rule),
            allow_blank_overwrite: c.allow_blank,
            flag_drift: c.flag_drift,
        };
        let (left_modified, right_modified) = times(c.newer.as_deref());
        let ctx = MergeCtx {
            left_modified,
            right_modified,
            skew_tolerance: Duration::seconds(c.skew.unwrap_or(0)),
        };
        let got = merge_field(&rule, c.b.as_deref(), c.l.as_deref(), c.r.as_deref(), &ctx);
        let row = format!("{} b={:?} l={:?} r={:?}", c.rule, c.b, c.l, c.r);
        expected.push_str(&format!("{row} => {}\n", c.expect));
        actual.push_str(&format!("{row} => {}\n", outcome_text(&got)));
    }
    assert_eq!(rules_seen.len(), 8, "every rule has rows");
    assert!(table.case.len() >= 60);
    assert_same("merge.toml", &expected, &actual);
}

#[derive(Deserialize)]
struct PlanTable {
    case: Vec<PlanCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanCase {
    name: String,
    mapping: String,
    base: BTreeMap<String, String>,
    left: FieldMap,
    right: FieldMap,
    newer: Option<String>,
    #[serde(default)]
    expect_left: FieldMap,
    #[serde(default)]
    expect_right: FieldMap,
    #[serde(default)]
    conflicts: Vec<String>,
    #[serde(default)]
    drift: Vec<String>,
    #[serde(default)]
    noop: bool,
}

fn load(name: &str) -> PairMapping {
    mapping::load_file(&root().join("mappings").join(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// `""` in a table means "written as blank", which a plan carries as JSON null.
fn blank_as_null(map: &FieldMap) -> FieldMap {
    map.iter().map(|(k, v)| (k.clone(), if v == "" { serde_json::Value::Null } else { v.clone() })).collect()
}

fn dump(
    writes_left: &FieldMap,
    writes_right: &FieldMap,
    conflicts: &[String],
    drift: &[String],
    noop: bool,
) -> String {
    format!(
        "left  <- {}\nright <- {}\nconflicts {conflicts:?}\ndrift {drift:?}\nnoop {noop}\n",
        serde_json::to_string(writes_left).unwrap_or_default(),
        serde_json::to_string(writes_right).unwrap_or_default(),
    )
}

#[test]
fn plan_table() {
    let table: PlanTable = read_cases("plan.toml");
    assert!(table.case.len() >= 8);
    for c in &table.case {
        let pair = load(&c.mapping);
        let base: CanonMap =
            c.base.iter().map(|(k, v)| (k.clone(), (!v.is_empty()).then(|| v.clone()))).collect();
        let (lc, rc) = (pair.canonical(Side::Left, &c.left), pair.canonical(Side::Right, &c.right));
        let (lt, rt) = times(c.newer.as_deref());
        let left = SideView { id: "901", values: &lc, modified_at: lt };
        let right = SideView { id: "5001", values: &rc, modified_at: rt };
        let plan = plan_link(&pair, &base, &left, &right);
        let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
        let actual = dump(
            &plan.remote_writes(&pair, Side::Left),
            &plan.remote_writes(&pair, Side::Right),
            &names(plan.conflicts.iter().map(|c| &c.field).collect()),
            &names(plan.drift.iter().map(|d| &d.field).collect()),
            plan.is_noop(),
        );
        let expected = dump(
            &blank_as_null(&c.expect_left),
            &blank_as_null(&c.expect_right),
            &c.conflicts,
            &c.drift,
            c.noop,
        );
        assert_same(&c.name, &expected, &actual);

        // Echo suppression: apply the writes, read both sides back, plan again: nothing new.
        let mut left_after = c.left.clone();
        left_after.extend(plan.remote_writes(&pair, Side::Left));
        let mut right_after = c.right.clone();
        right_after.extend(plan.remote_writes(&pair, Side::Right));
        let (lc2, rc2) = (pair.canonical(Side::Left, &left_after), pair.canonical(Side::Right, &right_after));
        let again = plan_link(
            &pair,
            &plan.new_base,
            &SideView { id: "901", values: &lc2, modified_at: lt },
            &SideView { id: "5001", values: &rc2, modified_at: rt },
        );
        assert!(
            again.writes.is_empty() && !again.base_changed,
            "case `{}`: echo not suppressed: {again:#?}",
            c.name
        );
        assert_eq!(again.conflicts, plan.conflicts, "case `{}`: conflicts are stable", c.name);
    }
}

#[test]
fn every_shipped_mapping_file_is_valid() {
    let pairs = mapping::load_dir(&root().join("mappings")).unwrap_or_else(|e| {
        panic!("{}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    });
    assert_eq!(pairs.len(), 2, "one pair per CRM object over WhiteLabelCRO people");
    let wlcro = crosswalk::mapping::ObjectProfile {
        record_space: connector_whitelabelcro::RECORD_SPACE.into(),
        unreadable: connector_whitelabelcro::UNREADABLE_FIELDS.iter().map(|f| f.to_string()).collect(),
    };
    let problems = crosswalk::mapping::fit::check(&pairs, &|system, object| {
        Some(if system == "wlcro" {
            wlcro.clone()
        } else {
            crosswalk::mapping::ObjectProfile { record_space: object.into(), ..Default::default() }
        })
    });
    assert!(problems.is_empty(), "the shipped mappings fit the systems: {problems:?}");
    for pair in &pairs {
        let status = pair.field("status").unwrap_or_else(|| panic!("{}: status mapped", pair.name));
        assert_eq!(
            status.rule.kind,
            RuleKind::SystemOfRecord(Side::Left),
            "{}: WLCRO owns status",
            pair.name
        );
        for name in ["email", "first_name", "last_name", "phone"] {
            let f = pair.field(name).unwrap_or_else(|| panic!("{}: {name} mapped", pair.name));
            assert!(matches!(f.rule.kind, RuleKind::TwoWay(_)), "{}: {name} two-way", pair.name);
            assert!(f.transform.is_invertible());
        }
    }
}

#[test]
fn create_carries_the_back_link_and_skips_what_cannot_be_written() {
    let pair = load("wlcro-people__hubspot-contacts.toml");
    let remote: FieldMap = serde_json::from_value(serde_json::json!({
        "email": "New@Example.test", "firstname": "Nia", "lifecyclestage": "lead", "phone": "5550100123"
    }))
    .unwrap_or_default();
    let canon = pair.canonical(Side::Right, &remote);
    let source = SideView { id: "5002", values: &canon, modified_at: Some(t0()) };
    let create = plan_create(&pair, Side::Right, &source).expect("the people pair creates from HubSpot");
    assert_eq!(create.target, Side::Left);
    assert_eq!(create.fields.get("external_id"), Some(&serde_json::json!("hubspot_5002")));
    assert_eq!(create.fields.get("email"), Some(&serde_json::json!("new@example.test")));
    assert_eq!(create.fields.get("phone"), Some(&serde_json::json!("+15550100123")));
    assert!(!create.fields.contains_key("status"), "status map has no inverse");
    assert_eq!(create.initial_base, create.canon);
    let salesforce = load("wlcro-people__salesforce-contacts.toml");
    assert!(plan_create(&salesforce, Side::Right, &source).is_none(), "link_only");
    let back =
        plan_create(&pair, Side::Left, &SideView { id: "901", values: &canon, modified_at: Some(t0()) });
    let back = back.expect("the people pair creates in HubSpot");
    assert_eq!(back.external_id.map(|k| (k.field, k.value)), Some(("wlcro_client_id".into(), "901".into())));
}

#[test]
fn identity_probes_in_order_and_decisions() {
    let pair = load("wlcro-people__hubspot-contacts.toml");
    let fields: FieldMap = serde_json::from_value(serde_json::json!({
        "external_id": "hubspot_5001", "email": " Bob@Example.com "
    }))
    .unwrap_or_default();
    let probes = identity_probes(&pair, Side::Left, "901", &fields);
    let kinds: Vec<ProbeKind> = probes.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProbeKind::BackLink, ProbeKind::ExternalId, ProbeKind::Email]);
    assert_eq!(probes[0].key.value, "5001");
    assert_eq!((probes[1].key.field.as_str(), probes[1].key.value.as_str()), ("wlcro_client_id", "901"));
    assert_eq!(probes[2].key.value, "bob@example.com");

    let none = BTreeSet::new();
    let found = |ids: [&[&str]; 3]| -> Vec<(reconcile::Probe, Vec<String>)> {
        probes.iter().cloned().zip(ids.map(|i| i.iter().map(|s| s.to_string()).collect())).collect()
    };
    // The id wins over an email pointing elsewhere.
    let m = decide_match(&found([&["5001"], &[], &["7777"]]), &none);
    assert_eq!(m, Match::Linked("5001".into(), reconcile::Confidence::High));
    assert_eq!(
        decide_match(&found([&[], &[], &["a", "b"]]), &none),
        Match::Ambiguous(vec!["a".into(), "b".into()])
    );
    assert_eq!(decide_match(&found([&[], &[], &[]]), &none), Match::None);
    let linked: BTreeSet<String> = ["a".to_string()].into();
    assert_eq!(
        decide_match(&found([&[], &[], &["a", "b"]]), &linked),
        Match::Linked("b".into(), reconcile::Confidence::High)
    );
}

#[test]
fn dry_run_render_shows_old_new_and_a_diff() {
    let pair = load("wlcro-people__hubspot-contacts.toml");
    let base: CanonMap = [("first_name".to_string(), Some("Jon".to_string()))].into();
    let l: CanonMap = [("first_name".to_string(), Some("John".to_string()))].into();
    let plan_one = plan_link(
        &pair,
        &base,
        &SideView { id: "901", values: &l, modified_at: Some(t0()) },
        &SideView { id: "5001", values: &base, modified_at: Some(t0()) },
    );
    let mut plan = Plan::new(&pair);
    plan.push_link(plan_one);
    let text = reconcile::render(&plan);
    assert!(text.contains("first_name: \"Jon\" -> \"John\"  [two_way, changed]"), "{text}");
    assert!(text.contains("diff: Jo{+h+}n"), "{text}");
    assert_eq!(plan.counts().field_writes, (0, 1));
    assert!(plan.cap_breaches(&pair.caps, 100).is_empty());
}
