//! The review queue in the business's words: each pair's two systems by the names people know
//! them by ("WhiteLabelCRO", "HubSpot") instead of left / right, and a link to a record's page
//! in its own system, from a per-system URL template (`[review.systems.NAME]`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::mapping::PairMapping;
use crate::settings::{ReviewSettings, SystemSettings};
use crate::store::Side;

/// HubSpot's record page for a contact (`0-1`); `{portal}` is the hub id.
pub const HUBSPOT_RECORD_URL: &str = "https://app.hubspot.com/contacts/{portal}/record/0-1/{id}";
/// Salesforce Lightning's record page.
pub const SALESFORCE_RECORD_URL: &str = "{instance}/lightning/r/{object}/{id}/view";

/// One configured system as the review pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemName {
    /// The name in the config (`hubspot`); the decision log and `explain` use it.
    pub name: String,
    /// What people call it (`HubSpot`).
    pub label: String,
    /// The record-page template with `{portal}`/`{instance}` filled in; `None` when there is none
    /// or a placeholder has no configured value.
    #[serde(skip)]
    template: Option<String>,
}

/// One side of a pair: its system and object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideName {
    #[serde(flatten)]
    pub system: SystemName,
    /// The object (`contacts`, `Contact`).
    pub object: String,
}

impl SideName {
    /// The page of record `id` in its system, if the system has a record URL.
    pub fn record_url(&self, id: &str) -> Option<String> {
        let t = self.system.template.as_deref()?;
        Some(t.replace("{object}", &url_part(&self.object)).replace("{id}", &url_part(id)))
    }
}

/// Percent-encodes one path segment.
fn url_part(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every system and pair the review pages may name.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    systems: BTreeMap<String, SystemName>,
    pairs: BTreeMap<String, (SideName, SideName)>,
}

/// The product name of a connector kind.
fn kind_label(kind: &str, name: &str) -> String {
    match kind {
        "whitelabelcro" => "WhiteLabelCRO".into(),
        "hubspot" => "HubSpot".into(),
        "salesforce" => "Salesforce".into(),
        _ => name.into(),
    }
}

impl Directory {
    /// Names from the configured systems, the `[review]` settings and the pair mappings.
    pub fn new(
        systems: &BTreeMap<String, SystemSettings>,
        review: &ReviewSettings,
        pairs: &[PairMapping],
    ) -> Directory {
        let mut dir = Directory::default();
        for (name, settings) in systems {
            let extra = review.systems.get(name).cloned().unwrap_or_default();
            let default = match settings.kind() {
                "hubspot" => Some(HUBSPOT_RECORD_URL),
                "salesforce" => Some(SALESFORCE_RECORD_URL),
                _ => None,
            };
            let template = extra.record_url.as_deref().or(default).and_then(|t| {
                let t = fill(t, "{portal}", extra.portal.as_deref())?;
                fill(&t, "{instance}", extra.instance.as_deref().map(|i| i.trim_end_matches('/')))
            });
            let label = extra.label.unwrap_or_else(|| kind_label(settings.kind(), name));
            dir.systems.insert(name.clone(), SystemName { name: name.clone(), label, template });
        }
        for pair in pairs {
            let side = |s: Side| {
                let ep = pair.endpoint(s);
                SideName { system: dir.system(&ep.system), object: ep.object.clone() }
            };
            dir.pairs.insert(pair.name.clone(), (side(Side::Left), side(Side::Right)));
        }
        dir
    }

    /// Declares `pair` between `left` and `right`, each `(config name, label, object)` — for
    /// callers that know their pairs without mapping files (tests, benchmarks). A system seen
    /// before keeps its label and record link.
    pub fn with_pair(mut self, pair: &str, left: (&str, &str, &str), right: (&str, &str, &str)) -> Self {
        let mut side = |(name, label, object): (&str, &str, &str)| {
            let system = self
                .systems
                .entry(name.to_string())
                .or_insert_with(|| SystemName { name: name.into(), label: label.into(), template: None })
                .clone();
            SideName { system, object: object.into() }
        };
        let sides = (side(left), side(right));
        self.pairs.insert(pair.to_string(), sides);
        self
    }

    /// Names from `settings` and the mapping files in `sync.mappings_dir` (a mapping that does
    /// not load is left out here; `crosswalk check` reports it).
    pub fn from_settings(settings: &crate::settings::Settings) -> Directory {
        let pairs = crate::mapping::load_dir(&settings.sync.mappings_dir).unwrap_or_default();
        Directory::new(&settings.systems, &settings.review, &pairs)
    }

    /// A configured system by its config name; an unknown one is shown by that name.
    pub fn system(&self, name: &str) -> SystemName {
        self.systems.get(name).cloned().unwrap_or_else(|| SystemName {
            name: name.into(),
            label: name.into(),
            template: None,
        })
    }

    /// The system on `side` of `pair`; a pair no mapping declares says "left system" / "right
    /// system" rather than guessing.
    pub fn side(&self, pair: &str, side: Side) -> SideName {
        match (self.pairs.get(pair), side) {
            (Some((l, _)), Side::Left) => l.clone(),
            (Some((_, r)), Side::Right) => r.clone(),
            (None, s) => SideName {
                system: SystemName { name: s.to_string(), label: format!("{s} system"), template: None },
                object: String::new(),
            },
        }
    }

    /// Both sides of `pair`.
    pub fn sides(&self, pair: &str) -> (SideName, SideName) {
        (self.side(pair, Side::Left), self.side(pair, Side::Right))
    }

    /// Every pair a mapping declares, by name.
    pub fn pair_names(&self) -> Vec<String> {
        self.pairs.keys().cloned().collect()
    }

    /// The (pair, side) of every pair whose `side` is `system`.
    pub fn pairs_with(&self, system: &str) -> Vec<(String, Side)> {
        let mut out = Vec::new();
        for (pair, (l, r)) in &self.pairs {
            for (s, side) in [(l, Side::Left), (r, Side::Right)] {
                if s.system.name == system {
                    out.push((pair.clone(), side));
                }
            }
        }
        out
    }

    /// The page of `record_id` in `system` (for the decision log, which names the system).
    pub fn record_url(&self, system: &str, record_id: &str) -> Option<String> {
        let object = self
            .pairs
            .values()
            .flat_map(|(l, r)| [l, r])
            .find(|s| s.system.name == system)
            .map(|s| s.object.clone())
            .unwrap_or_default();
        SideName { system: self.system(system), object }.record_url(record_id)
    }
}

/// `template` with `key` replaced by `value`; `None` if it needs the key and has no value.
fn fill(template: &str, key: &str, value: Option<&str>) -> Option<String> {
    match (template.contains(key), value) {
        (false, _) => Some(template.to_string()),
        (true, Some(v)) if !v.is_empty() => Some(template.replace(key, v)),
        (true, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{MemorySettings, ReviewSystemSettings};

    fn memory() -> SystemSettings {
        SystemSettings::Memory(MemorySettings { max_batch: 100 })
    }

    #[test]
    fn a_template_is_filled_with_the_portal_and_an_encoded_id() {
        let review = ReviewSettings {
            systems: [(
                "hs".to_string(),
                ReviewSystemSettings {
                    record_url: Some(HUBSPOT_RECORD_URL.into()),
                    portal: Some("4242".into()),
                    label: Some("HubSpot".into()),
                    ..Default::default()
                },
            )]
            .into(),
        };
        let dir = Directory::new(&[("hs".to_string(), memory())].into(), &review, &[]);
        assert_eq!(dir.system("hs").label, "HubSpot");
        assert_eq!(
            dir.record_url("hs", "90/1 x").as_deref(),
            Some("https://app.hubspot.com/contacts/4242/record/0-1/90%2F1%20x")
        );
    }

    #[test]
    fn a_missing_placeholder_value_means_no_link_and_unknown_pairs_say_their_side() {
        let review = ReviewSettings {
            systems: [(
                "sf".to_string(),
                ReviewSystemSettings { record_url: Some(SALESFORCE_RECORD_URL.into()), ..Default::default() },
            )]
            .into(),
        };
        let dir = Directory::new(&[("sf".to_string(), memory())].into(), &review, &[]);
        assert_eq!(dir.record_url("sf", "003x"), None, "no instance configured");
        assert_eq!(dir.side("nope", Side::Right).system.label, "right system");
    }
}
