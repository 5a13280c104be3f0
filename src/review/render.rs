//! Plain-text renderings of the review queue for the CLI, with the systems named: the list as
//! a table and one item (`review show`) with the last agreed value and what each system says,
//! their times and records, why in plain words with the rule, what the remote said, the diff
//! and, for an ambiguous identity, the candidates.

use chrono::{DateTime, Utc};

use super::explain::field_words;
use super::names::Directory;
use super::{ItemView, ReviewPage, action_label, candidate_ids, candidate_side, diff, kind_label};
use crate::store::{Person, ReviewItem, ReviewKind};

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

/// The page as a table (the person, the systems by name and what each says), with a footer
/// saying which rows of how many are shown.
pub fn table(page: &ReviewPage, dir: &Directory) -> String {
    if page.items.is_empty() {
        return format!("no review items match (total {})\n", page.total);
    }
    let header = ["ID", "PERSON", "KIND", "FIELD", "STATE", "SYSTEMS", "VALUES", "DETECTED"];
    let rows: Vec<[String; 8]> = page
        .items
        .iter()
        .map(|i| {
            let (l, r) = dir.sides(&i.pair);
            let (ll, rl) = (&l.system.label, &r.system.label);
            let values = match i.kind {
                ReviewKind::WriteRejected | ReviewKind::HeldBack => {
                    i.remote_message.clone().or(i.remote_field.clone()).unwrap_or_else(|| "-".into())
                }
                _ => format!(
                    "{ll}: {} / {rl}: {}",
                    value(i.left_value.as_deref()),
                    value(i.right_value.as_deref())
                ),
            };
            [
                i.id.to_string(),
                truncate(&person_line(i.person.as_ref()), CELL_MAX),
                i.kind.to_string(),
                i.field.clone().unwrap_or_else(|| "-".into()),
                i.state.to_string(),
                format!("{ll} ⇄ {rl}"),
                truncate(&values, CELL_MAX * 2),
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

/// `Name <email>`, either part, or `-`.
fn person_line(p: Option<&Person>) -> String {
    match p {
        Some(Person { name: Some(n), email: Some(e) }) => format!("{n} <{e}>"),
        Some(Person { name: Some(n), email: None }) => n.clone(),
        Some(Person { name: None, email: Some(e) }) => e.clone(),
        _ => "-".into(),
    }
}

/// One item in full, for `review show`: who, where (with links), why in plain words, what the
/// remote said, the values by system, the diff, the candidates and the decision.
pub fn show(view: &ItemView, dir: &Directory) -> String {
    let item = &view.item;
    let (l, r) = dir.sides(&item.pair);
    let (ll, rl) = (l.system.label.as_str(), r.system.label.as_str());
    let mut out = format!(
        "review item {} — {}{} — {}\n",
        item.id,
        kind_label(item.kind),
        item.field.as_deref().map(|f| format!(" · {}", field_words(f))).unwrap_or_default(),
        person_line(item.person.as_ref()),
    );
    out.push_str(&format!("pair {} ({ll} {} ⇄ {rl} {})\n", item.pair, l.object, r.object));
    for (side, id) in [(&view.left_system, &item.left_id), (&view.right_system, &item.right_id)] {
        if let Some(id) = id {
            let link = side.record_url.as_deref().map(|u| format!("  {u}")).unwrap_or_default();
            out.push_str(&format!("{} record {id}{link}\n", side.label));
        }
    }
    out.push_str(&format!("detected {} by run {}\n\n", time(Some(item.detected_at)), item.run_id));
    let e = &view.explanation;
    out.push_str(&format!("why:   {}\n", e.summary));
    if let (Some(rule), Some(code)) = (&e.rule, &item.rule) {
        out.push_str(&format!("rule:  {rule} ({code})\n"));
    }
    out.push_str(&format!("to do: {}\n", e.todo));
    if matches!(item.kind, ReviewKind::WriteRejected | ReviewKind::HeldBack) {
        out.push_str(&format!(
            "\nremote field:   {}\nremote code:    {}\nremote message: {}\n",
            item.remote_field.as_deref().unwrap_or("-"),
            item.remote_code.as_deref().unwrap_or("-"),
            item.remote_message.as_deref().unwrap_or(&item.reason),
        ));
    }
    out.push('\n');
    out.push_str(&values(item, ll, rl));
    out.push_str(&decision(item, ll, rl));
    out
}

fn values(item: &ReviewItem, ll: &str, rl: &str) -> String {
    let mut out = String::new();
    let rows = [
        ("Last agreed".to_string(), item.base_value.as_deref(), None),
        (format!("{ll} says"), item.left_value.as_deref(), item.left_modified_at),
        (format!("{rl} says"), item.right_value.as_deref(), item.right_modified_at),
    ];
    let label_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let width = rows.iter().map(|r| value(r.1).chars().count()).max().unwrap_or(0).clamp(5, 60);
    out.push_str(&format!("  {:<label_w$}  {:<width$}  CHANGED\n", "", "VALUE"));
    for (name, v, modified) in rows {
        let shown = truncate(&value(v), 60);
        out.push_str(&format!("  {name:<label_w$}  {shown:<width$}  {}\n", time(modified)));
    }
    if item.kind == ReviewKind::FieldConflict || item.left_value.is_some() || item.right_value.is_some() {
        let d = diff::diff(item.left_value.as_deref(), item.right_value.as_deref());
        out.push_str(&format!("\ndiff {ll} → {rl} ([-only {ll}-] {{+only {rl}+}}):\n"));
        for line in d.to_text().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    let candidates = candidate_ids(item);
    if !candidates.is_empty() {
        let other = if candidate_side(item) == Some("left") { ll } else { rl };
        out.push_str(&format!("\ncandidates in {other} (resolve with --value ID):\n"));
        for id in candidates {
            out.push_str(&format!("  {id}\n"));
        }
    }
    out
}

fn decision(item: &ReviewItem, ll: &str, rl: &str) -> String {
    let mut out = format!("\nstate: {}\n", item.state);
    if let Some(r) = &item.resolution {
        out.push_str(&format!(
            "decision: {}{} by {} at {}{}\n",
            action_label(r.action, item.kind, ll, rl),
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
