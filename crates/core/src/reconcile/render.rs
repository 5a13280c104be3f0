//! Human-readable rendering of a [`Plan`] for `--dry-run` on stdout. It shows field values (old →
//! new, with an inline diff of changed text), so it must never be sent to logs.

use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use super::plan::{CreatePlan, LinkPlan, Plan};
use crate::mapping::Side;

fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "(blank)".to_owned(), |s| format!("{s:?}"))
}

/// `[-old-]{+new+}` marks over the characters that differ.
pub fn inline_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::from_chars(old, new);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let text = change.value();
        match change.tag() {
            ChangeTag::Equal => out.push_str(text),
            ChangeTag::Delete => {
                let _ = write!(out, "[-{text}-]");
            }
            ChangeTag::Insert => {
                let _ = write!(out, "{{+{text}+}}");
            }
        }
    }
    // Merge adjacent marks of one kind so a word reads as one change.
    out.replace("-][-", "").replace("+}{+", "")
}

fn render_create(out: &mut String, c: &CreatePlan) {
    let _ = writeln!(out, "  create (from {} {})", c.target.other(), c.source_id);
    for (field, value) in &c.canon {
        let _ = writeln!(out, "    {field} = {}", shown(value.as_deref()));
    }
    if let Some(key) = &c.external_id {
        let _ = writeln!(out, "    back-link {} = {:?}", key.field, key.value);
    }
}

fn render_update(out: &mut String, link: &LinkPlan, side: Side) {
    let id = if side == Side::Left { &link.left_id } else { &link.right_id };
    let _ = writeln!(out, "  update {id} (linked {} / {})", link.left_id, link.right_id);
    for w in link.writes_to(side) {
        let (old, new) = (w.old.as_deref(), w.new.as_deref());
        let _ = writeln!(
            out,
            "    {}: {} -> {}  [{}, {}]",
            w.field,
            shown(old),
            shown(new),
            w.rule.name(),
            w.reason.as_str()
        );
        if let (Some(o), Some(n)) = (old, new) {
            let _ = writeln!(out, "      diff: {}", inline_diff(o, n));
        }
    }
}

/// The dry-run text of a plan: counts, then per target system its creates and updates, then
/// the conflicts that would go to review.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let c = plan.counts();
    let _ = writeln!(out, "pair {}: {} <-> {}", plan.pair, plan.systems.0, plan.systems.1);
    let _ = writeln!(
        out,
        "  creates {}/{}  updates {}/{}  field writes {}/{}  conflicts {}  drift {}  (left/right)",
        c.creates.0,
        c.creates.1,
        c.updates.0,
        c.updates.1,
        c.field_writes.0,
        c.field_writes.1,
        c.conflicts,
        c.drift
    );
    for side in [Side::Left, Side::Right] {
        let system = if side == Side::Left { &plan.systems.0 } else { &plan.systems.1 };
        let _ = writeln!(out, "{side} {system}:");
        for create in plan.creates_on(side) {
            render_create(&mut out, create);
        }
        for link in plan.updates_on(side) {
            render_update(&mut out, link, side);
        }
    }
    let conflicts: Vec<_> = plan.links.iter().flat_map(|l| l.conflicts.iter().map(move |c| (l, c))).collect();
    if !conflicts.is_empty() {
        let _ = writeln!(out, "review:");
    }
    for (link, c) in conflicts {
        let _ = writeln!(
            out,
            "  {} / {} {}: base {} left {} right {}  [{}: {}]",
            link.left_id,
            link.right_id,
            c.field,
            shown(c.base.as_deref()),
            shown(c.left.as_deref()),
            shown(c.right.as_deref()),
            c.rule.name(),
            c.why.as_str()
        );
    }
    for link in &plan.links {
        for d in &link.drift {
            let _ = writeln!(
                out,
                "  drift {} / {} {}: {} edit overwritten",
                link.left_id, link.right_id, d.field, d.side
            );
        }
    }
    out
}
