//! Incremental pulls on `SystemModstamp` (spec §4) over `queryAll`, so deletes and merges come
//! in the same ordered stream as edits.
//!
//! Each page is its own query, `WHERE SystemModstamp > T OR (SystemModstamp = T AND Id > 'I')
//! ORDER BY SystemModstamp, Id LIMIT n`, rather than a walk of `nextRecordsUrl`: the position is
//! then fully described by the checkpoint `(ts, id)`, survives a restart, never depends on a
//! server cursor that can expire, and a batch the server cut short ("sometimes fewer") simply
//! ends the page early. Ties on one second are broken by id, so a page boundary inside a tie
//! neither drops nor repeats rows. A rewind (first page of a run) restarts at `ts − overlap`
//! inclusive, which re-reads rows a late-committing transaction stamped behind the watermark.
//!
//! Undeletes carry no marker in Salesforce, so the checkpoint remembers recently deleted ids
//! (`tombs`, bounded): a live row for a remembered id is reported as `Undeleted`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Timelike, Utc};
use connector_api::{
    Change, ChangeKind, Checkpoint, ConnectorError, FieldMap, PullPage, PullRequest, PullTrail, Quarantined,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::soql::{datetime_literal, normalize_id, parse_datetime, quote};

/// Most deleted ids a checkpoint remembers for undelete detection.
pub const MAX_TOMBS: usize = 1000;
/// How long a delete is remembered: the recycle bin keeps records about 15 days (spec §4).
pub const TOMB_TTL_DAYS: i64 = 15;
/// Largest page: one SOQL batch.
pub const MAX_PAGE: usize = 2000;

/// The connector's checkpoint: the last (SystemModstamp, Id) delivered, plus recent deletes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// SystemModstamp of the last row delivered.
    pub ts: Option<DateTime<Utc>>,
    /// Id (18-char) of the last row delivered; empty means "every row at `ts`".
    #[serde(default)]
    pub id: String,
    /// Recently deleted ids → delete stamp.
    #[serde(default)]
    pub tombs: BTreeMap<String, DateTime<Utc>>,
    /// The pull in progress: requests sent and positions visited since its rewound first page.
    #[serde(default, skip_serializing_if = "is_fresh")]
    pub trail: PullTrail,
    /// The stream was last read completely up to here (the run's horizon, to the second): the
    /// next run's overlap is measured back from here, not from the last row, so a quiet stream
    /// re-reads only the recent past instead of its last write burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_to: Option<DateTime<Utc>>,
    /// The pull in progress: the server's `latestDateCovered` when it started (its own horizon:
    /// an open transaction holds it back), which bounds what the pull may claim as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered: Option<DateTime<Utc>>,
}

fn is_fresh(t: &PullTrail) -> bool {
    *t == PullTrail::default()
}

impl Position {
    /// Reads a checkpoint this connector made.
    pub fn from_checkpoint(c: Option<&Checkpoint>) -> Result<Self, ConnectorError> {
        match c {
            None => Ok(Self::default()),
            Some(c) => serde_json::from_value(c.0.clone()).map_err(|e| ConnectorError::Protocol {
                message: format!("not a Salesforce checkpoint: {e}"),
            }),
        }
    }

    /// As an opaque checkpoint.
    pub fn to_checkpoint(&self) -> Checkpoint {
        Checkpoint(serde_json::to_value(self).expect("a position serialises"))
    }

    /// The position a run starts from after rewinding by `overlap` (inclusive of that second)
    /// from the later of the last row and the horizon the stream was last read to.
    pub fn rewound(&self, overlap: std::time::Duration) -> Self {
        let back = Duration::from_std(overlap).unwrap_or(Duration::MAX);
        let anchor = self.ts.max(self.read_to);
        let ts = anchor.map(|t| t.checked_sub_signed(back).unwrap_or(DateTime::<Utc>::MIN_UTC));
        Self {
            ts,
            id: String::new(),
            tombs: self.tombs.clone(),
            trail: PullTrail::default(),
            read_to: self.read_to,
            covered: None,
        }
    }

    /// Text naming where this position reads from, for the pull's trail.
    pub fn mark(&self) -> String {
        format!("{}|{}", self.ts.map(|t| t.to_rfc3339()).unwrap_or_default(), self.id)
    }
}

/// The page query for `object` from `pos`.
pub fn page_query(
    object: &str,
    select: &[String],
    pos: &Position,
    req: &PullRequest<'_>,
    limit: usize,
) -> String {
    let mut conds = Vec::new();
    match (&pos.ts, pos.id.is_empty()) {
        (Some(t), true) => conds.push(format!("SystemModstamp >= {}", datetime_literal(*t))),
        (Some(t), false) => {
            let t = datetime_literal(*t);
            conds.push(format!(
                "(SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > {}))",
                quote(&pos.id)
            ));
        }
        (None, _) => {}
    }
    if let Some(since) = req.since {
        conds.push(format!("SystemModstamp >= {}", datetime_literal(since)));
    }
    // Truncating the upper bounds to the second keeps them inclusive of whole-second stamps
    // without ever claiming a second not yet complete.
    let upper = upper_bound(req);
    conds.push(format!("SystemModstamp <= {}", datetime_literal(upper)));
    format!(
        "SELECT {} FROM {object} WHERE {} ORDER BY SystemModstamp ASC, Id ASC LIMIT {limit}",
        select.join(", "),
        conds.join(" AND ")
    )
}

/// The upper bound of a pull's pages: the horizon, or the backfill range's end if sooner.
pub fn upper_bound(req: &PullRequest<'_>) -> DateTime<Utc> {
    req.until.map_or(req.horizon, |u| u.min(req.horizon))
}

/// The fields every pull selects besides the configured ones.
pub const SYSTEM_FIELDS: &[&str] =
    &["Id", "SystemModstamp", "LastModifiedDate", "IsDeleted", "MasterRecordId"];

/// Turns the rows of one page into changes and the next position. `upper` is the page query's
/// upper bound: a page that ends the pull has read everything up to it.
pub fn to_page(
    object: &str,
    fields: &[String],
    mut pos: Position,
    resume: Option<&Position>,
    rows: Vec<Map<String, Value>>,
    full_page: bool,
    upper: DateTime<Utc>,
) -> PullPage {
    let mut changes = Vec::with_capacity(rows.len());
    let mut quarantined = Vec::new();
    let mut newest = None;
    for row in rows {
        let id = row.get("Id").and_then(Value::as_str).and_then(normalize_id);
        let stamp = row.get("SystemModstamp").and_then(Value::as_str).and_then(parse_datetime);
        let (Some(id), Some(stamp)) = (id, stamp) else {
            quarantined.push(Quarantined {
                id: row.get("Id").and_then(Value::as_str).map(str::to_string),
                reason: "row without a readable Id or SystemModstamp".into(),
                raw: truncate(&Value::Object(row).to_string()),
            });
            continue;
        };
        // Rows arrive ordered by (stamp, id): the position only moves forward.
        pos.ts = Some(stamp);
        pos.id = id.clone();
        newest = Some(stamp);
        let deleted = row.get("IsDeleted").and_then(Value::as_bool).unwrap_or(false);
        let master = row.get("MasterRecordId").and_then(Value::as_str).and_then(normalize_id);
        let kind = if deleted {
            pos.tombs.insert(id.clone(), stamp);
            match master {
                Some(survivor_id) => ChangeKind::Merged { survivor_id },
                None => ChangeKind::Deleted,
            }
        } else if pos.tombs.remove(&id).is_some() {
            ChangeKind::Undeleted
        } else {
            ChangeKind::Upsert
        };
        let mut values = FieldMap::new();
        for f in fields {
            values.insert(f.clone(), row.get(f).cloned().unwrap_or(Value::Null));
        }
        changes.push(Change {
            object: object.to_string(),
            id,
            kind,
            modified_at: stamp,
            fields: values,
            partial: false,
            event_id: None,
        });
    }
    // A finished rewound page never moves the position behind where the run started, or an
    // idle stream would drift backwards by one overlap per run.
    if !full_page
        && let Some(r) = resume
        && r.ts > pos.ts
    {
        pos.ts = r.ts;
        pos.id = r.id.clone();
    }
    prune_tombs(&mut pos);
    if !full_page {
        // The pull ends here: whatever reads from this checkpoint next is a new pull.
        pos.trail = PullTrail::default();
        // Read to the horizon, but never past what the server says is visible (a transaction
        // still open when the pull started commits rows stamped before it); unknown: not moved.
        let second = upper.with_nanosecond(0).unwrap_or(upper);
        if let Some(covered) = pos.covered.take() {
            pos.read_to = pos.read_to.max(Some(second.min(covered)));
        }
    }
    PullPage { changes, quarantined, next: pos.to_checkpoint(), newest, done: !full_page }
}

fn prune_tombs(pos: &mut Position) {
    if let Some(ts) = pos.ts {
        let cutoff = ts - Duration::days(TOMB_TTL_DAYS);
        pos.tombs.retain(|_, t| *t >= cutoff);
    }
    while pos.tombs.len() > MAX_TOMBS {
        let oldest = pos.tombs.iter().min_by_key(|(_, t)| **t).map(|(id, _)| id.clone());
        if let Some(id) = oldest {
            pos.tombs.remove(&id);
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(2000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn req(h: DateTime<Utc>) -> PullRequest<'static> {
        PullRequest {
            object: "Contact",
            checkpoint: None,
            rewind: None,
            horizon: h,
            since: None,
            until: None,
            limit: 10,
        }
    }

    #[test]
    fn query_breaks_ties_by_id_and_caps_at_the_horizon() {
        let pos = Position {
            ts: Some(t("2026-01-01T00:00:05Z")),
            id: "003000000000001AAA".into(),
            ..Default::default()
        };
        let q = page_query("Contact", &["Id".into()], &pos, &req(t("2026-01-01T00:10:00.700Z")), 10);
        assert!(q.contains("(SystemModstamp > 2026-01-01T00:00:05Z OR (SystemModstamp = 2026-01-01T00:00:05Z AND Id > '003000000000001AAA'))"), "{q}");
        assert!(q.contains("SystemModstamp <= 2026-01-01T00:10:00Z"), "{q}");
        assert!(q.ends_with("ORDER BY SystemModstamp ASC, Id ASC LIMIT 10"), "{q}");
        let r = pos.rewound(std::time::Duration::from_secs(120));
        assert_eq!(r.ts, Some(t("2025-12-31T23:58:05Z")));
        let q = page_query("Contact", &["Id".into()], &r, &req(t("2026-01-01T00:10:00Z")), 10);
        assert!(q.contains("SystemModstamp >= 2025-12-31T23:58:05Z"), "{q}");
    }

    #[test]
    fn rows_become_changes_with_merges_deletes_and_undeletes() {
        let row = |id: &str, ts: &str, deleted: bool, master: Option<&str>| {
            let v = serde_json::json!({"Id": id, "SystemModstamp": ts, "IsDeleted": deleted,
                "MasterRecordId": master, "Email": "x"});
            v.as_object().unwrap().clone()
        };
        let a = "003000000000001AAA";
        let b = "003000000000002AAA";
        let rows = vec![
            row(a, "2026-01-01T00:00:01.000+0000", true, None),
            row(b, "2026-01-01T00:00:02.000+0000", true, Some("003000000000003")),
        ];
        let page = to_page(
            "Contact",
            &["Email".into()],
            Position::default(),
            None,
            rows,
            true,
            t("2026-01-02T00:00:00Z"),
        );
        assert_eq!(page.changes[0].kind, ChangeKind::Deleted);
        assert_eq!(page.changes[1].kind, ChangeKind::Merged { survivor_id: "003000000000003AAA".into() });
        assert!(!page.done);
        let pos = Position::from_checkpoint(Some(&page.next)).unwrap();
        assert_eq!(pos.id, b);
        let rows = vec![row(a, "2026-01-01T00:01:00.000+0000", false, None)];
        let page = to_page("Contact", &[], pos, None, rows, false, t("2026-01-02T00:00:00Z"));
        assert_eq!(page.changes[0].kind, ChangeKind::Undeleted);
        assert!(page.done);
        let pos = Position::from_checkpoint(Some(&page.next)).unwrap();
        assert!(!pos.tombs.contains_key(a));
    }
}
