//! Unit and property tests for transforms.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn dec(t: &Transform, side: Side, v: Value) -> Option<String> {
    t.decode(side, &[Some(&v)])
}

fn value_map(one_to_one: bool) -> Transform {
    let mut map = BTreeMap::from([("Lead - New".to_owned(), "lead".to_owned())]);
    map.insert("Active Client".into(), "customer".into());
    if !one_to_one {
        map.insert("On Hold".into(), "customer".into());
    }
    let inverse = one_to_one.then(|| map.iter().map(|(l, r)| (r.clone(), l.clone())).collect());
    Transform::ValueMap { map, inverse, default: None }
}

#[test]
fn email_trims_and_lowercases() {
    assert_eq!(
        dec(&Transform::Email, Side::Left, json!("  Bob@Example.COM ")),
        Some("bob@example.com".into())
    );
    assert_eq!(dec(&Transform::Email, Side::Right, json!("   ")), None);
}

#[test]
fn phone_goes_to_e164_with_default_region() {
    let t = Transform::Phone { region: parse_region("US") };
    assert_eq!(dec(&t, Side::Left, json!("(555) 010-0123")), Some("+15550100123".into()));
    assert_eq!(dec(&t, Side::Right, json!("+1 555 010 0123")), Some("+15550100123".into()));
    assert_eq!(dec(&t, Side::Right, json!("call me")), Some("call me".into()), "unparseable kept as typed");
}

#[test]
fn value_map_decodes_left_and_inverts_only_when_one_to_one() {
    let t = value_map(true);
    assert_eq!(dec(&t, Side::Left, json!("Lead - New")), Some("lead".into()));
    assert_eq!(dec(&t, Side::Right, json!("lead")), Some("lead".into()));
    assert_eq!(t.encode(Side::Left, Some("customer"), 1), Ok(vec![json!("Active Client")]));
    let many = value_map(false);
    assert!(!many.is_invertible());
    assert_eq!(
        many.encode(Side::Left, Some("customer"), 1),
        Err(TransformError::NotInvertible { kind: "value_map", side: Side::Left })
    );
    assert_eq!(many.encode(Side::Right, Some("customer"), 1), Ok(vec![json!("customer")]));
}

#[test]
fn join_and_split_round_trip() {
    let t = Transform::Join { separator: " ".into() };
    let (first, last) = (json!("Ana"), json!("Ruiz"));
    assert_eq!(t.decode(Side::Left, &[Some(&first), Some(&last)]), Some("Ana Ruiz".into()));
    assert_eq!(t.decode(Side::Left, &[Some(&first), None]), Some("Ana".into()));
    assert_eq!(t.encode(Side::Left, Some("Ana Maria Ruiz"), 2), Ok(vec![json!("Ana"), json!("Maria Ruiz")]));
    assert_eq!(t.encode(Side::Left, None, 2), Ok(vec![Value::Null, Value::Null]));
    let s = Transform::Split { separator: " ".into() };
    assert_eq!(s.encode(Side::Right, Some("Cher"), 2), Ok(vec![json!("Cher"), Value::Null]));
}

#[test]
fn cents_and_decimal() {
    let t = Transform::CentsToDecimal;
    assert_eq!(dec(&t, Side::Left, json!(1234)), Some("12.34".into()));
    assert_eq!(dec(&t, Side::Left, json!(-5)), Some("-0.05".into()));
    assert_eq!(dec(&t, Side::Right, json!("12.3")), Some("12.30".into()));
    assert_eq!(dec(&t, Side::Right, json!(7)), Some("7.00".into()));
    assert_eq!(t.encode(Side::Left, Some("12.30"), 1), Ok(vec![json!(1230)]));
    assert_eq!(t.encode(Side::Right, Some("12.30"), 1), Ok(vec![json!("12.30")]));
    assert_eq!(dec(&t, Side::Right, json!("1.234")), Some("1.234".into()), "not money: kept");
}

#[test]
fn dates_between_formats() {
    let t = Transform::Date { left: "%m/%d/%Y".into(), right: "epoch_ms".into() };
    assert_eq!(dec(&t, Side::Left, json!("02/29/2024")), Some("2024-02-29".into()));
    assert_eq!(dec(&t, Side::Right, json!("1709164800000")), Some("2024-02-29".into()));
    assert_eq!(t.encode(Side::Right, Some("2024-02-29"), 1), Ok(vec![json!("1709164800000")]));
    assert_eq!(t.encode(Side::Left, Some("2024-02-29"), 1), Ok(vec![json!("02/29/2024")]));
    assert!(date_format_ok("%Y-%m-%d") && !date_format_ok("%H:%M"));
}

#[test]
fn blank_values_are_none() {
    assert_eq!(value_text(&Value::Null), None);
    assert_eq!(value_text(&json!(" \t")), None);
    assert_eq!(value_text(&json!(true)), Some("true".into()));
}

fn all_invertible() -> Vec<Transform> {
    vec![
        Transform::Identity,
        Transform::Email,
        Transform::Phone { region: parse_region("US") },
        value_map(true),
        Transform::CentsToDecimal,
        Transform::DecimalToCents,
        Transform::Date { left: "%d.%m.%Y".into(), right: "epoch_ms".into() },
    ]
}

proptest! {
    #[test]
    fn email_normalisation_is_idempotent(s in "[ a-zA-Z0-9@._+-]{0,30}") {
        let once = normalise_email(&s);
        prop_assert_eq!(once.as_deref().and_then(normalise_email), once.clone());
    }

    #[test]
    fn phone_normalisation_is_idempotent(s in "[+]?[0-9 ()-]{0,16}") {
        let region = parse_region("US");
        let once = normalise_phone(&s, region);
        prop_assert_eq!(once.as_deref().and_then(|p| normalise_phone(p, region)), once.clone());
    }

    /// decode(encode(c)) == c for canonical values of every invertible transform, on both sides.
    #[test]
    fn invertible_transforms_round_trip(cents in -10_000_000i64..10_000_000, days in 0i64..40_000, pick in 0usize..3) {
        let date = (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days))
            .format("%Y-%m-%d").to_string();
        let money = format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, cents.abs() / 100, cents.abs() % 100);
        let status = ["lead", "customer", "evangelist"][pick];
        for t in all_invertible() {
            let canon = match t {
                Transform::CentsToDecimal | Transform::DecimalToCents => money.clone(),
                Transform::Date { .. } => date.clone(),
                Transform::ValueMap { .. } => status.to_owned(),
                Transform::Phone { .. } => "+15550100123".to_owned(),
                Transform::Email => "ana@example.test".to_owned(),
                _ => money.clone(),
            };
            for side in [Side::Left, Side::Right] {
                let remote = t.encode(side, Some(&canon), 1).unwrap();
                let back = t.decode(side, &[remote.first()]);
                prop_assert_eq!(back.as_deref(), Some(canon.as_str()), "{} {}", t.kind(), side);
            }
        }
    }

    #[test]
    fn join_round_trips_canonical(first in "[A-Za-z]{1,8}", rest in "[A-Za-z ]{0,12}") {
        let t = Transform::Join { separator: " ".into() };
        let canon = format!("{first} {rest}").trim_end().to_owned();
        let remote = t.encode(Side::Left, Some(&canon), 2).unwrap();
        let refs: Vec<Option<&Value>> = remote.iter().map(Some).collect();
        prop_assert_eq!(t.decode(Side::Left, &refs), Some(canon));
    }
}
