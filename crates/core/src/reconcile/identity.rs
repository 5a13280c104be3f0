//! Identity decisions for a record with no link yet (sync-model §5): which keys to search on the
//! other side, in order, and what the candidates found mean. Pure; the caller does the lookups.

use std::collections::BTreeSet;

use connector_model::{FieldMap, IdentityKey};

use crate::mapping::transform::{normalise_email, value_text};
use crate::mapping::{PairMapping, Side};

/// The pseudo-field name of a probe that is a direct get-by-id on the other side.
pub const RECORD_ID_FIELD: &str = "id";

/// What kind of key a probe is, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeKind {
    /// Our back-link field holds the other side's id: get it by id (field [`RECORD_ID_FIELD`]).
    BackLink,
    /// The other side's back-link field holds our id.
    ExternalId,
    /// Normalised email.
    Email,
    /// A company key (VAT, registration number).
    CompanyKey,
    /// Name + country (normalised, joined with `|`).
    NameCountry,
}

/// How much a match can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// An id, email or company key matched.
    High,
    /// Only name + country matched; the caller should route it to review or mark it.
    Low,
}

/// One key to search the other side on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Kind of key.
    pub kind: ProbeKind,
    /// The other side's field and the normalised value.
    pub key: IdentityKey,
}

impl Probe {
    /// Confidence of a match found by this probe.
    pub fn confidence(&self) -> Confidence {
        if self.kind == ProbeKind::NameCountry { Confidence::Low } else { Confidence::High }
    }
}

/// The result of matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Exactly one candidate on the strongest key that found any.
    Linked(String, Confidence),
    /// Several candidates: review, never guess.
    Ambiguous(Vec<String>),
    /// Nothing found: the creation rule decides.
    None,
}

fn text(fields: &FieldMap, name: &str) -> Option<String> {
    fields.get(name).and_then(value_text).map(|s| s.trim().to_owned())
}

fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn pick(side: Side, pair: &(String, String)) -> (&str, &str) {
    match side {
        Side::Left => (&pair.0, &pair.1),
        Side::Right => (&pair.1, &pair.0),
    }
}

/// The ordered keys to search the other side for a record `id` with `fields` on `side`.
pub fn identity_probes(pair: &PairMapping, side: Side, id: &str, fields: &FieldMap) -> Vec<Probe> {
    let mut out = Vec::new();
    let rules = &pair.identity;
    let mut push = |kind, field: &str, value: String| {
        out.push(Probe { kind, key: IdentityKey { field: field.to_owned(), value } });
    };
    if let Some(own) = rules.external_id(side)
        && let Some(value) = text(fields, &own.field)
        && let Some(other_id) = value.strip_prefix(own.prefix.as_str()).filter(|v| !v.is_empty())
    {
        push(ProbeKind::BackLink, RECORD_ID_FIELD, other_id.to_owned());
    }
    if let Some(theirs) = rules.external_id(side.other()) {
        push(ProbeKind::ExternalId, &theirs.field, format!("{}{id}", theirs.prefix));
    }
    if let Some(email) = &rules.email {
        let (ours, theirs) = pick(side, email);
        if let Some(value) = text(fields, ours).as_deref().and_then(normalise_email) {
            push(ProbeKind::Email, theirs, value);
        }
    }
    for key in &rules.company_keys {
        let (ours, theirs) = pick(side, key);
        if let Some(value) = text(fields, ours) {
            let value: String =
                value.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_uppercase();
            push(ProbeKind::CompanyKey, theirs, value);
        }
    }
    if let Some((name, country)) = &rules.name_country {
        let ((n_ours, n_theirs), (c_ours, c_theirs)) = (pick(side, name), pick(side, country));
        if let (Some(n), Some(c)) = (text(fields, n_ours), text(fields, c_ours)) {
            push(
                ProbeKind::NameCountry,
                &format!("{n_theirs}|{c_theirs}"),
                format!("{}|{}", fold(&n), fold(&c)),
            );
        }
    }
    out
}

/// Decides from the candidates each probe found (in probe order). Candidates already linked to
/// another record are excluded. The first probe with any remaining candidate decides: one is a
/// link, several are ambiguous. A stronger key always wins over a weaker one.
pub fn decide_match(candidates: &[(Probe, Vec<String>)], already_linked: &BTreeSet<String>) -> Match {
    for (probe, ids) in candidates {
        let ids: BTreeSet<&String> = ids.iter().filter(|id| !already_linked.contains(*id)).collect();
        match ids.len() {
            0 => continue,
            1 => {
                return Match::Linked(
                    ids.into_iter().next().cloned().unwrap_or_default(),
                    probe.confidence(),
                );
            }
            _ => return Match::Ambiguous(ids.into_iter().cloned().collect()),
        }
    }
    Match::None
}
