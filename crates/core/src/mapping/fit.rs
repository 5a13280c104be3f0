//! How the pairs fit the systems they connect, beyond what one mapping file can say on its own:
//! a rule that needs to read a field its system never returns, and two pairs that sync the same
//! records against the same object (each would link the same person on its own and the other
//! would create a duplicate).
//!
//! What a system can read comes from its connector ([`ObjectProfile`]): `check` asks the
//! registry for it without contacting anything, the engine asks the built connectors, so both
//! refuse the same configurations.

use std::collections::BTreeSet;

use super::{PairMapping, RuleKind, Side};

/// What the checks need to know about one object of one configured system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectProfile {
    /// Objects of one system with the same record space hold the same records.
    pub record_space: String,
    /// Remote fields the system takes in writes but never returns in reads.
    pub unreadable: BTreeSet<String>,
}

/// One problem: the pair, the dotted key in its mapping file, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitProblem {
    /// The pair (its mapping file is `<pair>.toml`).
    pub pair: String,
    /// Dotted key (`fields.city.rule`, `left`).
    pub key: String,
    /// For an admin to read.
    pub message: String,
}

impl std::fmt::Display for FitProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pair `{}`: `{}`: {}", self.pair, self.key, self.message)
    }
}

/// Every problem of `pairs` against the systems `profile` describes (`profile(system, object)`;
/// `None` for a system that is not configured, which `check` reports on its own).
pub fn check(
    pairs: &[PairMapping],
    profile: &dyn Fn(&str, &str) -> Option<ObjectProfile>,
) -> Vec<FitProblem> {
    let mut out = Vec::new();
    for pair in pairs {
        unreadable_rules(pair, profile, &mut out);
    }
    overlapping_pairs(pairs, profile, &mut out);
    out
}

fn unreadable_rules(
    pair: &PairMapping,
    profile: &dyn Fn(&str, &str) -> Option<ObjectProfile>,
    out: &mut Vec<FitProblem>,
) {
    for side in [Side::Left, Side::Right] {
        let ep = pair.endpoint(side);
        let Some(p) = profile(&ep.system, &ep.object) else { continue };
        for field in &pair.fields {
            if !field.unreadable_on(side, &p.unreadable) {
                continue;
            }
            let remote = field.remote(side);
            let needs_read = match field.rule.kind {
                RuleKind::TwoWay(_) => {
                    Some("edits flow both ways, so its unknown value would be taken for blank")
                }
                RuleKind::SystemOfRecord(owner) if owner == side => {
                    Some("it would own a value nobody can read, so nothing could ever flow from it")
                }
                RuleKind::PreferUnlessBlank(preferred) if preferred == side => {
                    Some("the rule asks whether its value is blank, which nobody can tell")
                }
                _ => None,
            };
            if let Some(why) = needs_read {
                out.push(FitProblem {
                    pair: pair.name.clone(),
                    key: format!("fields.{}.rule", field.name),
                    message: format!(
                        "{} never returns `{}` of {} (it takes it in writes only), and `{}` needs to read it: {why}; \
                         use `rule = \"{}\"` (the {} side owns the value and writes it through) or `rule = \"none\"`",
                        ep.system,
                        remote.join("`, `"),
                        ep.object,
                        field.rule.kind.name(),
                        side.other().as_str(),
                        side.other().as_str(),
                    ),
                });
            }
        }
    }
}

fn overlapping_pairs(
    pairs: &[PairMapping],
    profile: &dyn Fn(&str, &str) -> Option<ObjectProfile>,
    out: &mut Vec<FitProblem>,
) {
    let space = |pair: &PairMapping, side: Side| {
        let ep = pair.endpoint(side);
        let space = profile(&ep.system, &ep.object).map_or_else(|| ep.object.clone(), |p| p.record_space);
        (ep.system.clone(), if space.is_empty() { ep.object.clone() } else { space })
    };
    for (i, a) in pairs.iter().enumerate() {
        let ends_a: BTreeSet<_> = [space(a, Side::Left), space(a, Side::Right)].into();
        for b in &pairs[i + 1..] {
            let ends_b: BTreeSet<_> = [space(b, Side::Left), space(b, Side::Right)].into();
            if ends_a != ends_b {
                continue;
            }
            out.push(FitProblem {
                pair: b.name.clone(),
                key: "left".into(),
                message: format!(
                    "pairs `{}` ({}/{} ⇄ {}/{}) and `{}` ({}/{} ⇄ {}/{}) sync the same records on both sides: \
                     each would link a person on its own and the other would create a second copy; \
                     keep one pair per record space (e.g. WhiteLabelCRO `people` for leads and clients)",
                    a.name,
                    a.left.system,
                    a.left.object,
                    a.right.system,
                    a.right.object,
                    b.name,
                    b.left.system,
                    b.left.object,
                    b.right.system,
                    b.right.object,
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn pair(name: &str, left_object: &str, city_rule: &str) -> PairMapping {
        let src = format!(
            "version = 1\nname = \"{name}\"\nleft = {{ system = \"wlcro\", object = \"{left_object}\" }}\n\
             right = {{ system = \"hubspot\", object = \"contacts\" }}\n[identity]\n\
             email = {{ left = \"email\", right = \"email\" }}\n[creation]\nleft_to_right = \"create\"\n\
             right_to_left = \"link_only\"\n[fields.email]\nrule = \"two_way\"\nleft = \"email\"\nright = \"email\"\n\
             [fields.city]\nrule = \"{city_rule}\"\nleft = \"city\"\nright = \"city\"\n"
        );
        super::super::load_str(&src, Path::new("t.toml")).unwrap()
    }

    fn profile(system: &str, _object: &str) -> Option<ObjectProfile> {
        match system {
            "wlcro" => {
                Some(ObjectProfile { record_space: "client".into(), unreadable: ["city".to_string()].into() })
            }
            "hubspot" => Some(ObjectProfile { record_space: "contacts".into(), unreadable: BTreeSet::new() }),
            _ => None,
        }
    }

    #[test]
    fn rules_that_read_an_unreadable_field_are_refused() {
        for rule in ["two_way", "left", "prefer_left_unless_blank"] {
            let problems = check(&[pair("p", "people", rule)], &profile);
            assert_eq!(problems.len(), 1, "{rule}: {problems:?}");
            assert_eq!(problems[0].key, "fields.city.rule");
            assert!(problems[0].message.contains("never returns `city`"), "{}", problems[0].message);
        }
        for rule in ["right", "none", "prefer_right_unless_blank", "create_only"] {
            assert_eq!(check(&[pair("p", "people", rule)], &profile), Vec::new(), "{rule}");
        }
    }

    #[test]
    fn two_pairs_over_one_record_space_are_refused() {
        let problems = check(&[pair("a", "clients", "right"), pair("b", "leads", "right")], &profile);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].pair, "b");
        assert!(problems[0].message.contains("second copy"));
        let other_crm = {
            let mut p = pair("c", "people", "right");
            p.right.system = "salesforce".into();
            p
        };
        assert_eq!(check(&[pair("a", "people", "right"), other_crm], &profile), Vec::new());
    }
}
