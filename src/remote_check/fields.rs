//! One object's needs against its schema: every mapped field exists, is writable where a rule
//! writes it, and can take what the transform produces (enumeration options, picklist values,
//! lengths, types); back-links and the connector's upsert key are unique / external ids; the
//! pull cursor is filterable. Pure: the schemas were read before.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{FieldSchema, FieldType, ObjectSchema};

use super::Problem;
use super::needs::{FieldNeed, ObjectNeeds, Role};
use crate::mapping::{Side, Transform};

type Schemas = BTreeMap<(String, String), ObjectSchema>;

/// Appends the problems of `need` (on `system`) against `schema`; `all` holds the schemas of
/// every probed object, for the values a field's source can hold.
pub fn check(system: &str, need: &ObjectNeeds, schema: &ObjectSchema, all: &Schemas, out: &mut Vec<Problem>) {
    let object = &need.object;
    let p = |field: &str, message: String| Problem::field(system, object, field, message);
    let mut by_field: BTreeMap<&str, Vec<&FieldNeed>> = BTreeMap::new();
    for use_ in &need.fields {
        by_field.entry(use_.field.as_str()).or_default().push(use_);
    }
    for (name, uses) in &by_field {
        let Some(field) = schema.field(name) else {
            out.push(p(name, missing_field(system, uses)));
            continue;
        };
        let links: Vec<&FieldNeed> = uses.iter().copied().filter(|u| u.role == Role::BackLink).collect();
        if !links.is_empty() && !field.unique && !field.external_id {
            out.push(p(&field.name, not_unique(&links)));
        }
        for use_ in uses {
            if let Some(m) = writability(use_, field) {
                out.push(p(&field.name, m));
            }
            if let Role::Mapped { transform, source, .. } = &use_.role
                && (use_.update || use_.create)
            {
                let source =
                    all.get(&(source.0.clone(), source.1.clone())).and_then(|s| s.field(source.2.first()?));
                out.extend(values(use_, transform, field, source).into_iter().map(|m| p(&field.name, m)));
            }
        }
    }
    let links = need.fields.iter().filter(|f| f.role == Role::BackLink);
    let linked: BTreeSet<String> = links.map(|f| f.field.clone()).collect();
    connector_fields(system, schema, &linked, out);
}

/// The connector's own needs: its upsert key (unless a pair's back-link, checked as such) and its
/// pull cursor.
fn connector_fields(system: &str, schema: &ObjectSchema, links: &BTreeSet<String>, out: &mut Vec<Problem>) {
    let object = &schema.object;
    let is_link = |key: &str| links.iter().any(|l| l.eq_ignore_ascii_case(key));
    if let Some(key) = schema.upsert_key.as_ref().filter(|k| !is_link(k)) {
        match schema.field(key) {
            None => out.push(Problem::field(
                system,
                object,
                key,
                format!(
                    "the field creates upsert on does not exist; create it as a unique / external-id field \
                     (README \"Setting up the CRMs\") or fix the key setting under [systems.{system}]"
                ),
            )),
            Some(f) if !f.unique && !f.external_id => out.push(Problem::field(
                system,
                object,
                key,
                "creates upsert on this field but it is not unique / an external id; mark it unique \
                 (HubSpot: \"unique value\", Salesforce: \"External ID\" + \"Unique\")"
                    .into(),
            )),
            _ => {}
        }
    }
    if let Some(cursor) = &schema.cursor {
        match schema.field(cursor) {
            Some(f) if f.filterable => {}
            found => out.push(Problem::field(
                system,
                object,
                cursor,
                format!(
                    "pulls filter on this field but it {}; this object cannot be synced incrementally, \
                     map another object",
                    if found.is_some() { "is not filterable" } else { "does not exist" }
                ),
            )),
        }
    }
}

fn missing_field(system: &str, uses: &[&FieldNeed]) -> String {
    format!(
        "does not exist ({}); create it in {system} (README \"Setting up the CRMs\") or fix the mapping",
        used_by(uses)
    )
}

/// `pair `a` uses it as the back-link; pair `b` as field `email``.
fn used_by(uses: &[&FieldNeed]) -> String {
    let mut seen = BTreeSet::new();
    let parts: Vec<String> = uses
        .iter()
        .filter(|u| seen.insert((u.pair.clone(), role_name(u))))
        .map(|u| format!("pair `{}` uses it as {}", u.pair, role_name(u)))
        .collect();
    parts.join("; ")
}

fn role_name(n: &FieldNeed) -> String {
    match &n.role {
        Role::Mapped { canonical, .. } => format!("field `{canonical}`"),
        Role::BackLink => "the back-link".into(),
        Role::Email => "the email identity key".into(),
    }
}

fn not_unique(links: &[&FieldNeed]) -> String {
    let mut pairs: Vec<String> = links.iter().map(|l| format!("`{}`", l.pair)).collect();
    pairs.dedup();
    let (s, verb) = if pairs.len() == 1 { ("", "keeps") } else { ("s", "keep") };
    format!(
        "is not unique / an external id, but pair{s} {} {verb} the back-link in it and creates upsert on it, \
         so a retried create can duplicate records; mark it unique (HubSpot: \"unique value\", Salesforce: \
         \"External ID\" + \"Unique\")",
        pairs.join(", ")
    )
}

/// A written field the remote does not let us write.
fn writability(n: &FieldNeed, f: &FieldSchema) -> Option<String> {
    let (what, blocked) = if n.update && !f.updatable {
        ("updates", true)
    } else if n.create && !f.creatable {
        ("creates", true)
    } else {
        ("", false)
    };
    blocked.then(|| {
        format!(
            "is read-only for the integration user but pair `{}` {what} it ({}); make it writable \
             (field-level security, property settings) or change the rule so this side is not written",
            n.pair,
            role_name(n)
        )
    })
}

/// What a transform writes to this side vs what the field takes.
fn values(n: &FieldNeed, t: &Transform, f: &FieldSchema, source: Option<&FieldSchema>) -> Vec<String> {
    let mut out = Vec::new();
    let produced = produced_values(t, n.side, source);
    let enumerated = matches!(f.field_type, FieldType::Enumeration | FieldType::MultiEnumeration);
    if let Some(values) = &produced
        && enumerated
        && (f.restricted || !f.options.is_empty())
    {
        let lacking: Vec<&String> = values.iter().filter(|v| !f.options.contains(v)).collect();
        if !lacking.is_empty() {
            let list = lacking.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ");
            out.push(format!(
                "pair `{}` writes {list}, which the {} `{}` does not offer (it has {}); add the value(s) in \
                 the CRM or change the value map",
                n.pair,
                f.remote_type,
                f.name,
                options(f)
            ));
        }
    }
    if let (Some(max), Some(values)) = (f.length, &produced)
        && let Some(long) = values.iter().find(|v| v.chars().count() > max as usize)
    {
        out.push(format!("pair `{}` writes \"{long}\", longer than the field's {max} characters; shorten the value map or lengthen the field", n.pair));
    } else if let (Some(max), Some(src_max)) = (f.length, source.and_then(|s| s.length))
        && src_max > max
    {
        out.push(format!(
            "holds {max} characters but its source `{}` holds {src_max}; longer values will be refused: lengthen the field",
            source.map_or("", |s| s.name.as_str())
        ));
    }
    out.extend(kind_mismatch(n, t, f, source));
    out
}

fn options(f: &FieldSchema) -> String {
    if f.options.is_empty() {
        return "no options".into();
    }
    let shown: Vec<String> = f.options.iter().take(12).map(|o| format!("\"{o}\"")).collect();
    let more = if f.options.len() > 12 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The values a transform can write to `side`, when they are a known set: a value map's targets
/// (its keys towards the left), or the options of an enumerated source carried unchanged.
fn produced_values(t: &Transform, side: Side, source: Option<&FieldSchema>) -> Option<BTreeSet<String>> {
    match (t, side) {
        (Transform::ValueMap { map, default, .. }, Side::Right) => {
            Some(map.values().chain(default).cloned().collect())
        }
        (Transform::ValueMap { inverse: Some(inverse), .. }, Side::Left) => {
            Some(inverse.values().cloned().collect())
        }
        (Transform::Identity, _) => {
            let s =
                source.filter(|s| matches!(s.field_type, FieldType::Enumeration) && !s.options.is_empty())?;
            Some(s.options.iter().cloned().collect())
        }
        _ => None,
    }
}

/// A transform whose output type the field cannot hold.
fn kind_mismatch(
    n: &FieldNeed,
    t: &Transform,
    f: &FieldSchema,
    source: Option<&FieldSchema>,
) -> Option<String> {
    let ok = match t {
        Transform::Email | Transform::Phone { .. } | Transform::Join { .. } | Transform::Split { .. } => {
            f.field_type.takes_text()
        }
        Transform::ValueMap { .. } => f.field_type.takes_text() || f.field_type == FieldType::Bool,
        Transform::CentsToDecimal | Transform::DecimalToCents => {
            matches!(f.field_type, FieldType::Number | FieldType::Text | FieldType::Other)
        }
        Transform::Date { .. } => {
            matches!(
                f.field_type,
                FieldType::Date | FieldType::DateTime | FieldType::Text | FieldType::Number
            )
        }
        // A rename carries the source's text as it is: a typed target needs a same-typed source.
        Transform::Identity => match source {
            Some(s) if !f.field_type.takes_text() && f.field_type != FieldType::Id => {
                s.field_type == f.field_type
            }
            _ => true,
        },
    };
    (!ok).then(|| {
        format!(
            "is a {} field, which the `{}` transform of pair `{}` cannot produce; change the transform or the field type",
            f.remote_type,
            t.kind(),
            n.pair
        )
    })
}
