//! C14: the pure reconciler is idempotent (property test over the shipped pair's rules, plus
//! the rule kinds it does not use). Seeded from `SIM_SEED` / `CROSSWALK_SEEDS` like the rest.

use chrono::{DateTime, Duration, Utc};
use crosswalk::mapping::{CanonMap, OnConflict, RuleKind, Side};
use crosswalk::reconcile::{SideView, plan_link};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const VALUES: [Option<&str>; 5] = [None, Some("Ann"), Some("Bob"), Some(""), Some("Cyd")];

fn canon(fields: &[String], picks: &[usize]) -> CanonMap {
    fields.iter().zip(picks).map(|(f, i)| (f.clone(), VALUES[*i % VALUES.len()].map(String::from))).collect()
}

fn apply(side: &CanonMap, plan: &crosswalk::reconcile::LinkPlan, target: Side) -> CanonMap {
    let mut out = side.clone();
    for w in plan.writes_to(target) {
        out.insert(w.field.clone(), w.new.clone());
    }
    out
}

/// C14: for any base, left and right values (blanks and missing values included) and any
/// record times, applying a plan's writes and planning again writes nothing and leaves the same
/// base (applying twice equals applying once; a rerun with no source changes makes no writes).
#[test]
fn c14_reconciliation_is_idempotent() {
    let mut pair = crosswalk::demo::pairs().expect("pairs").remove(0);
    // Cover the rule kinds the shipped pair does not use.
    let extra = [
        RuleKind::SystemOfRecord(Side::Right),
        RuleKind::PreferUnlessBlank(Side::Right),
        RuleKind::CreateOnly,
    ];
    for (f, kind) in
        pair.fields.iter_mut().filter(|f| f.rule.kind == RuleKind::TwoWay(OnConflict::Review)).zip(extra)
    {
        f.rule.kind = kind;
    }
    let fields: Vec<String> = pair.fields.iter().map(|f| f.name.clone()).collect();
    let n = fields.len();
    let t0: DateTime<Utc> = crate::world::t0();
    for seed in crate::harness::seeds(8, 1414) {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        let mut runner = TestRunner::new_with_rng(Config { cases, ..Config::default() }, rng);
        let strategy = (
            proptest::collection::vec(0..5usize, n),
            proptest::collection::vec(0..5usize, n),
            proptest::collection::vec(0..5usize, n),
            -60i64..60,
        );
        let result = runner.run(&strategy, |(b, l, r, skew)| {
            let (base, left, right) = (canon(&fields, &b), canon(&fields, &l), canon(&fields, &r));
            let lt = t0;
            let rt = t0 + Duration::seconds(skew);
            let plan = plan_link(
                &pair,
                &base,
                &SideView { id: "l", values: &left, modified_at: Some(lt) },
                &SideView { id: "r", values: &right, modified_at: Some(rt) },
            );
            let (left2, right2) = (apply(&left, &plan, Side::Left), apply(&right, &plan, Side::Right));
            let again = plan_link(
                &pair,
                &plan.new_base,
                &SideView { id: "l", values: &left2, modified_at: Some(lt) },
                &SideView { id: "r", values: &right2, modified_at: Some(rt) },
            );
            prop_assert!(
                again.writes.is_empty(),
                "second plan writes {:?} (first {:?})",
                again.writes,
                plan.writes
            );
            prop_assert_eq!(&again.new_base, &plan.new_base);
            let same = plan_link(
                &pair,
                &base,
                &SideView { id: "l", values: &left, modified_at: Some(lt) },
                &SideView { id: "r", values: &right, modified_at: Some(rt) },
            );
            prop_assert_eq!(same.writes, plan.writes);
            Ok(())
        });
        if let Err(e) = result {
            panic!(
                "C14, seed {seed}: {e}\n  replay: SIM_SEED={seed} cargo test --test reliability c14_reconciliation_is_idempotent"
            );
        }
    }
}
