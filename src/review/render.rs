//! Plain-text renderings of the review queue for the CLI: the list as a table and one item
//! (`review show`) with base / left / right side by side, their times and sources, the rule,
//! why it could not decide, the diff and, for an ambiguous identity, the candidates.

use chrono::{DateTime, Utc};

use super::{ReviewPage, candidate_ids, candidate_side, diff};
use crate::store::{ReviewItem, ReviewKind};

/// Longest value shown in a table cell before it is cut with `…`.
const CELL_MAX: usize = 28;

/// Shortens `s` to `max` characters, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn value(v: Option<&str>) -> String {
    v.map_or_else(|| "(blank)".to_string(), |s| format!("{s:?}"))
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// The page as a table, with a footer saying which rows of how many are shown.
pub fn table(page: &ReviewPage) -> String {
    if page.items.is_empty() {
        return format!("no review items match (total {})\n", page.total);
    }
    let header = ["ID", "PAIR", "KIND", "FIELD", "STATE", "LEFT", "RIGHT", "DETECTED"];
    let rows: Vec<[String; 8]> = page
        .items
        .iter()
        .map(|i| {
            [
                i.id.to_string(),
                i.pair.clone(),
                i.kind.to_string(),
                i.field.clone().unwrap_or_else(|| "-".into()),
                i.state.to_string(),
                truncate(&value(i.left_value.as_deref()), CELL_MAX),
                truncate(&value(i.right_value.as_deref()), CELL_MAX),
                i.detected_at.format("%Y-%m-%d %H:%M").to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            s.push_str(cell);
            s.push_str(&" ".repeat(w - cell.chars().count() + 2));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    let first = page.offset + 1;
    let last = page.offset + page.items.len();
    out.push_str(&format!("rows {first}-{last} of {}\n", page.total));
    out
}

/// One item in full, for `review show`.
pub fn show(item: &ReviewItem) -> String {
    let mut out = format!(
        "review item {} — {} in pair {}, {}\n",
        item.id,
        item.kind,
        item.pair,
        item.field.as_deref().map(|f| format!("field {f}")).unwrap_or_else(|| "no field".into())
    );
    out.push_str(&format!("detected {} by run {}\n", time(Some(item.detected_at)), item.run_id));
    out.push_str(&format!("rule:   {}\n", item.rule.as_deref().unwrap_or("-")));
    out.push_str(&format!("reason: {}\n\n", item.reason));

    let rows = [
        ("base", item.base_value.as_deref(), None, None),
        ("left", item.left_value.as_deref(), item.left_modified_at, item.left_id.as_deref()),
        ("right", item.right_value.as_deref(), item.right_modified_at, item.right_id.as_deref()),
    ];
    let width = rows.iter().map(|r| value(r.1).chars().count()).max().unwrap_or(0).clamp(5, 60);
    out.push_str(&format!("  {:<6} {:<width$}  {:<19}  {}\n", "SIDE", "VALUE", "MODIFIED", "RECORD"));
    for (name, v, modified, record) in rows {
        let record = match (name, record) {
            ("base", _) => "last agreed".to_string(),
            (_, Some(id)) => format!("{name} record {id}"),
            (_, None) => "-".to_string(),
        };
        let shown = truncate(&value(v), 60);
        out.push_str(&format!("  {name:<6} {shown:<width$}  {:<19}  {record}\n", time(modified)));
    }

    if item.kind == ReviewKind::FieldConflict || item.left_value.is_some() || item.right_value.is_some() {
        let d = diff::diff(item.left_value.as_deref(), item.right_value.as_deref());
        out.push_str("\ndiff left → right ([-only left-] {+only right+}):\n");
        for line in d.to_text().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    let candidates = candidate_ids(item);
    if !candidates.is_empty() {
        let side = candidate_side(item).unwrap_or("other");
        out.push_str(&format!("\ncandidates on the {side} side (resolve with --value ID):\n"));
        for id in candidates {
            out.push_str(&format!("  {id}\n"));
        }
    }
    out.push_str(&format!("\nstate: {}\n", item.state));
    if let Some(r) = &item.resolution {
        out.push_str(&format!(
            "decision: {}{} by {} at {}{}\n",
            r.action,
            r.value.as_deref().map(|v| format!(" {v:?}")).unwrap_or_default(),
            r.by,
            time(Some(r.at)),
            r.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default(),
        ));
    }
    if let Some(run) = &item.applied_run_id {
        out.push_str(&format!("settled by run {run}\n"));
    }
    out
}
