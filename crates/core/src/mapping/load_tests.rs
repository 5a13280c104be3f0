//! Loader tests: valid files load, every problem is reported with file, line and key.

use std::path::Path;

use super::*;

const GOOD: &str = r#"version = 1
name = "t"
default_region = "US"
left = { system = "wlcro", object = "clients" }
right = { system = "hubspot", object = "contacts" }

[identity]
left_external_id = { field = "external_id", prefix = "hubspot_" }
email = { left = "email", right = "email" }

[creation]
left_to_right = "create"
right_to_left = "link_only"

[caps]
max_creates = 10

[fields.email]
rule = "two_way"
left = "email"
right = "email"
transform = { kind = "email" }

[fields.status]
rule = "left"
left = "status"
right = "lifecyclestage"
transform = { kind = "value_map", map = { "Lead - New" = "lead", "Lead - Contacted" = "lead" } }
"#;

fn load(src: &str) -> Result<PairMapping, Vec<MappingError>> {
    load_str(src, Path::new("t.toml"))
}

#[test]
fn a_good_file_loads() {
    let pair = load(GOOD).unwrap();
    assert_eq!(pair.fields.len(), 2);
    assert_eq!(pair.create_right_to_left, super::super::CreationRule::LinkOnly);
    assert_eq!(pair.caps.creates.max, Some(10));
    assert_eq!(pair.identity.left_external_id.as_ref().unwrap().prefix, "hubspot_");
}

#[test]
fn two_way_with_non_invertible_transform_is_rejected_at_its_line() {
    let src = GOOD.replace("rule = \"left\"\nleft = \"status\"", "rule = \"two_way\"\nleft = \"status\"");
    let errors = load(&src).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e.kind, MappingErrorKind::NotInvertible);
    assert_eq!(e.key, "fields.status.transform");
    assert_eq!(
        e.line,
        src.lines().position(|l| l.starts_with("transform = { kind = \"value_map\"")).unwrap() + 1
    );
    assert!(e.to_string().starts_with("t.toml:"), "{e}");
}

#[test]
fn right_rule_needs_the_inverse_too() {
    let src = GOOD.replace("rule = \"left\"\nleft = \"status\"", "rule = \"right\"\nleft = \"status\"");
    assert_eq!(load(&src).unwrap_err()[0].kind, MappingErrorKind::NotInvertible);
}

#[test]
fn every_problem_is_reported() {
    let src = GOOD
        .replace("max_creates = 10", "max_creates = 10\nmax_everything = 1")
        .replace(
            "rule = \"two_way\"\nleft = \"email\"",
            "rule = \"two_way\"\ncolour = \"red\"\nleft = \"email\"",
        )
        .replace("version = 1\n", "version = 1\nbogus = true\n");
    let errors = load(&src).unwrap_err();
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["bogus", "caps", "fields.email"], "{errors:#?}");
    assert!(errors.iter().all(|e| e.kind == MappingErrorKind::UnknownKey));
    assert_eq!(errors[0].line, 2);
    assert!(errors[2].message.contains("colour"), "{}", errors[2].message);
    assert_eq!(errors[2].line, src.lines().position(|l| l == "[fields.email]").unwrap() + 1);
}

#[test]
fn syntax_errors_have_a_line() {
    let errors = load("version = 1\nname = \n").unwrap_err();
    assert_eq!(errors[0].kind, MappingErrorKind::Syntax);
    assert_eq!(errors[0].line, 2);
}

#[test]
fn missing_keys_and_bad_version() {
    let errors = load("version = 2\n").unwrap_err();
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["version", "name", "left", "right", "identity", "creation"]);
}

#[test]
fn duplicate_remote_fields_are_rejected() {
    let src = format!("{GOOD}\n[fields.email2]\nrule = \"two_way\"\nleft = \"email\"\nright = \"email\"\n");
    let errors = load(&src).unwrap_err();
    assert!(
        errors.iter().any(|e| e.key == "fields.email2.left" || e.key == "fields.email.left"),
        "{errors:?}"
    );
}

#[test]
fn join_needs_several_left_fields() {
    let src = format!(
        "{GOOD}\n[fields.name]\nrule = \"two_way\"\nleft = \"first\"\nright = \"full\"\ntransform = {{ kind = \"join\" }}\n"
    );
    let errors = load(&src).unwrap_err();
    assert_eq!(errors[0].key, "fields.name.transform");
}

#[test]
fn a_pair_without_identity_is_refused() {
    let start = GOOD.find("[identity]").unwrap();
    let end = GOOD.find("[creation]").unwrap();
    let src = format!("{}{}", &GOOD[..start], &GOOD[end..]);
    let errors = load(&src).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].key.as_str(), errors[0].kind), ("identity", MappingErrorKind::Missing));
    assert!(errors[0].message.contains("second copy"), "{}", errors[0].message);

    let src = format!("{}[identity]\n\n{}", &GOOD[..start], &GOOD[end..]);
    let errors = load(&src).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "identity");
    assert_eq!(errors[0].line, src.lines().position(|l| l == "[identity]").unwrap() + 1);
}
