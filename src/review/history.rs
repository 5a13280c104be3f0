//! A record's history as a person reads it: the decision log (every field change with the
//! system it came from, the rule, old → new, the run, and the review decision behind it), for
//! one record (`crosswalk explain`, `/record/{system}/{id}`) or for both records of an item.

use serde::Serialize;

use super::names::Directory;
use super::{ReviewError, ReviewService};
use crate::store::{Decision, Person, ReviewItem, Side};

/// One entry of the decision log with its systems named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub decision: Decision,
    /// The written system's label (`HubSpot`).
    pub system_label: String,
    /// The system whose value was taken: config name and label.
    pub source_system: String,
    pub source_label: String,
    /// The review item whose decision made this write, and who decided.
    pub review_item: Option<i64>,
    pub decided_by: Option<String>,
}

impl HistoryEntry {
    /// `d` with its systems named through `dir`.
    pub fn new(d: Decision, dir: &Directory) -> Self {
        let source = dir.side(&d.pair, d.source_side);
        let (review_item, decided_by) = provenance(d.provenance.as_deref());
        Self {
            system_label: dir.system(&d.system).label,
            source_system: source.system.name,
            source_label: source.system.label,
            review_item,
            decided_by,
            decision: d,
        }
    }
}

/// Reads `review:<id> by <who>`, the provenance the engine writes for a review decision.
fn provenance(p: Option<&str>) -> (Option<i64>, Option<String>) {
    let Some(rest) = p.and_then(|p| p.strip_prefix("review:")) else { return (None, None) };
    let (id, by) = rest.split_once(" by ").unwrap_or((rest, ""));
    (id.trim().parse().ok(), Some(by.trim().to_string()).filter(|b| !b.is_empty()))
}

impl ReviewService {
    /// The history of one record, newest first.
    pub async fn record_history(
        &self,
        system: &str,
        record_id: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ReviewError> {
        let decisions = self.store().decisions_for(system, record_id, limit).await?;
        Ok(decisions.into_iter().map(|d| HistoryEntry::new(d, self.directory())).collect())
    }

    /// The history of both records of `item` (those it names), newest first.
    pub async fn item_history(
        &self,
        item: &ReviewItem,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, ReviewError> {
        let mut all = Vec::new();
        for side in Side::ALL {
            let id = match side {
                Side::Left => item.left_id.as_deref(),
                Side::Right => item.right_id.as_deref(),
            };
            if let Some(id) = id {
                let system = self.directory().side(&item.pair, *side).system.name;
                all.extend(self.record_history(&system, id, limit).await?);
            }
        }
        all.sort_by_key(|e| std::cmp::Reverse((e.decision.at, e.decision.id)));
        all.truncate(limit);
        Ok(all)
    }

    /// Who record `record_id` of `system` is, from the last agreed record of its link in any
    /// pair that syncs the system.
    pub async fn record_person(&self, system: &str, record_id: &str) -> Result<Option<Person>, ReviewError> {
        for (pair, side) in self.directory().pairs_with(system) {
            if let Some(link) = self.store().link_by_record(&pair, side, record_id).await? {
                let base = serde_json::to_value(&link.base).unwrap_or_default();
                return Ok(Person::from_canon(&base));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::provenance;

    #[test]
    fn provenance_names_the_item_and_who_decided() {
        assert_eq!(provenance(Some("review:42 by Alice Admin")), (Some(42), Some("Alice Admin".into())));
        assert_eq!(provenance(Some("backfill")), (None, None));
        assert_eq!(provenance(None), (None, None));
    }
}
