//! The review pages' bodies: the queue (counts per kind, filters, a table with checkboxes for
//! bulk decisions) and one item (base / left / right side by side, the diff, the decision form).
//! Every value from the store is escaped with [`esc`].

use chrono::{DateTime, Utc};

use super::html::{esc, url_enc};
use crate::review::diff::{SegmentKind, ValueDiff, diff};
use crate::review::render::truncate;
use crate::review::{QueueStatus, ReviewPage, candidate_ids, candidate_side};
use crate::store::{ResolveAction, ReviewFilter, ReviewItem, ReviewKind, ReviewState};

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn value_cell(v: Option<&str>) -> String {
    match v {
        Some(v) => esc(&truncate(v, 40)),
        None => r#"<span class="blank">(blank)</span>"#.to_string(),
    }
}

fn badge(state: ReviewState) -> String {
    format!(r#"<span class="badge {0}">{0}</span>"#, state.as_str())
}

fn hidden_csrf(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// The query string for `filter` (without paging) — used by links on the list page.
pub fn filter_query(filter: &ReviewFilter) -> String {
    let mut parts = vec![format!("state={}", filter.state.map_or("all", |s| s.as_str()))];
    if let Some(p) = &filter.pair {
        parts.push(format!("pair={}", url_enc(p)));
    }
    if let Some(k) = filter.kind {
        parts.push(format!("kind={k}"));
    }
    if let Some(f) = &filter.field {
        parts.push(format!("field={}", url_enc(f)));
    }
    parts.join("&")
}

fn select(name: &str, current: Option<&str>, options: &[&str], any: Option<&str>) -> String {
    let mut s = format!(r#"<select name="{name}">"#);
    if let Some(any) = any {
        s.push_str(&format!(r#"<option value="">{any}</option>"#));
    }
    for o in options {
        let sel = if current == Some(*o) { " selected" } else { "" };
        s.push_str(&format!(r#"<option value="{o}"{sel}>{}</option>"#, o.replace('_', " ")));
    }
    s + "</select>"
}

/// The queue page's body.
pub fn list(
    page: &ReviewPage,
    filter: &ReviewFilter,
    status: &QueueStatus,
    csrf: &str,
    flash: Option<&str>,
) -> String {
    let mut out = String::from("<h1>Review queue</h1>");
    if let Some(f) = flash {
        out.push_str(&format!(r#"<p class="flash">{}</p>"#, esc(f)));
    }
    out.push_str(&format!(
        r#"<div class="chips"><a class="chip{}" href="/review?state=open">all open<b>{}</b></a>"#,
        if filter.kind.is_none() { " on" } else { "" },
        status.open_total
    ));
    for (kind, n) in &status.open_by_kind {
        let on = if filter.kind.map(|k| k.as_str()) == Some(kind.as_str()) { " on" } else { "" };
        out.push_str(&format!(
            r#"<a class="chip{on}" href="/review?state=open&amp;kind={}">{}<b>{n}</b></a>"#,
            esc(kind),
            esc(&kind.replace('_', " "))
        ));
    }
    out.push_str("</div>");

    let states: Vec<&str> = ReviewState::ALL.iter().map(|s| s.as_str()).collect();
    let kinds: Vec<&str> = ReviewKind::ALL.iter().map(|k| k.as_str()).collect();
    let state = filter.state.map_or("all", |s| s.as_str());
    out.push_str(&format!(
        r#"<form class="card filters" method="get" action="/review">
<label>State {}</label><label>Kind {}</label>
<label>Pair <input type="text" name="pair" value="{}"></label>
<label>Field <input type="text" name="field" value="{}"></label>
<button type="submit">Filter</button></form>"#,
        select("state", Some(state), &[states.as_slice(), &["all"]].concat(), None),
        select("kind", filter.kind.map(|k| k.as_str()), &kinds, Some("any")),
        esc(filter.pair.as_deref().unwrap_or_default()),
        esc(filter.field.as_deref().unwrap_or_default()),
    ));

    if page.items.is_empty() {
        out.push_str(r#"<section class="card"><p>Nothing to review here.</p></section>"#);
        return out;
    }
    out.push_str(&format!(r#"<form method="post" action="/review/bulk">{}"#, hidden_csrf(csrf)));
    out.push_str(
        r#"<div class="bulk"><span>With the selected items:</span>
<button type="submit" name="action" value="take_left" class="take-left">Take left</button>
<button type="submit" name="action" value="take_right" class="take-right">Take right</button>
<button type="submit" name="action" value="ignore">Ignore</button></div>
<table><thead><tr><th></th><th>#</th><th>Pair</th><th>Kind</th><th>Field</th><th>Left</th><th>Right</th><th>State</th><th>Detected</th></tr></thead><tbody>"#,
    );
    for i in &page.items {
        let check = if i.state == ReviewState::Open {
            format!(r#"<input type="checkbox" name="id" value="{}" aria-label="select item {0}">"#, i.id)
        } else {
            String::new()
        };
        out.push_str(&format!(
            r#"<tr><td>{check}</td><td><a href="/review/{id}">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="val">{}</td><td class="val">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&i.pair),
            i.kind.as_str().replace('_', " "),
            esc(i.field.as_deref().unwrap_or("—")),
            value_cell(i.left_value.as_deref()),
            value_cell(i.right_value.as_deref()),
            badge(i.state),
            when(Some(i.detected_at)),
            id = i.id,
        ));
    }
    out.push_str("</tbody></table></form>");
    out.push_str(&pager(page, filter));
    out
}

fn pager(page: &ReviewPage, filter: &ReviewFilter) -> String {
    let q = esc(&filter_query(filter));
    let last = page.offset + page.items.len();
    let mut out = format!(r#"<div class="pager"><span>{}–{last} of {}</span>"#, page.offset + 1, page.total);
    if page.offset > 0 {
        let prev = page.offset.saturating_sub(page.limit);
        out.push_str(&format!(r#"<a href="/review?{q}&amp;offset={prev}">← previous</a>"#));
    }
    if (last as u64) < page.total {
        out.push_str(&format!(r#"<a href="/review?{q}&amp;offset={last}">next →</a>"#));
    }
    out + "</div>"
}

fn side_card(
    class: &str,
    title: &str,
    value: Option<&str>,
    modified: Option<DateTime<Utc>>,
    source: &str,
) -> String {
    let shown = match value {
        Some(v) => esc(v),
        None => r#"<span class="blank">(blank)</span>"#.to_string(),
    };
    format!(
        r#"<div class="side {class}" id="side-{class}"><h3>{title}</h3><div class="value">{shown}</div><div class="src">{}<br>modified {}</div></div>"#,
        esc(source),
        when(modified)
    )
}

/// Renders a diff as HTML: `<del>` for left-only text, `<ins>` for right-only.
pub fn diff_html(d: &ValueDiff) -> String {
    let mut out = String::new();
    for s in &d.segments {
        let text = esc(&s.text);
        match s.kind {
            SegmentKind::Same => out.push_str(&text),
            SegmentKind::Left => out.push_str(&format!("<del>{text}</del>")),
            SegmentKind::Right => out.push_str(&format!("<ins>{text}</ins>")),
        }
    }
    out
}

/// One item's page body.
pub fn item(item: &ReviewItem, csrf: &str, flash: Option<&str>) -> String {
    let title = match &item.field {
        Some(f) => format!("{} · {}", item.kind.as_str().replace('_', " "), f),
        None => item.kind.as_str().replace('_', " "),
    };
    let mut out = format!(
        r#"<p><a href="/review">← queue</a></p><h1>#{} {} {}</h1>"#,
        item.id,
        esc(&title),
        badge(item.state)
    );
    if let Some(f) = flash {
        out.push_str(&format!(r#"<p class="flash" id="flash">{}</p>"#, esc(f)));
    }
    out.push_str(&format!(
        r#"<section class="card"><dl class="meta"><dt>Pair</dt><dd>{}</dd><dt>Rule</dt><dd>{}</dd><dt>Why</dt><dd>{}</dd><dt>Detected</dt><dd>{} by run <code>{}</code></dd></dl></section>"#,
        esc(&item.pair),
        esc(item.rule.as_deref().unwrap_or("—")),
        esc(&item.reason),
        when(Some(item.detected_at)),
        esc(&item.run_id),
    ));
    let record = |side: &str, id: &Option<String>| {
        id.as_deref().map_or_else(|| format!("{side} record —"), |id| format!("{side} record {id}"))
    };
    out.push_str(r#"<section class="sides">"#);
    out.push_str(&side_card("base", "Base (last agreed)", item.base_value.as_deref(), None, "both sides"));
    out.push_str(&side_card(
        "left",
        "Left",
        item.left_value.as_deref(),
        item.left_modified_at,
        &record("left", &item.left_id),
    ));
    out.push_str(&side_card(
        "right",
        "Right",
        item.right_value.as_deref(),
        item.right_modified_at,
        &record("right", &item.right_id),
    ));
    out.push_str("</section>");
    if item.left_value.is_some() || item.right_value.is_some() {
        let d = diff(item.left_value.as_deref(), item.right_value.as_deref());
        out.push_str(&format!(
            r#"<section class="card"><h2>Difference <small>(<del>left only</del> <ins>right only</ins>)</small></h2><div class="diff" id="diff">{}</div></section>"#,
            diff_html(&d)
        ));
    }
    out.push_str(&decision(item, csrf));
    out
}

/// The decision form. The value input and its button come first in the document (and are moved
/// after the take buttons by CSS) so that pressing Enter in the input submits the value.
fn decision(item: &ReviewItem, csrf: &str) -> String {
    if let Some(r) = &item.resolution {
        let value = r.value.as_deref().map(|v| format!(" <code>{}</code>", esc(v))).unwrap_or_default();
        let note = r.note.as_deref().map(|n| format!("<br>Note: {}", esc(n))).unwrap_or_default();
        let mut out = format!(
            r#"<section class="card" id="decision"><h2>Decision</h2><p><b id="decided-action">{}</b>{value} by {} at {}{note}</p>"#,
            r.action.as_str().replace('_', " "),
            esc(&r.by),
            when(Some(r.at)),
        );
        if matches!(item.state, ReviewState::Resolved | ReviewState::Ignored) {
            out.push_str(&format!(
                r#"<p>The next sync run of the pair writes it.</p><form method="post" action="/review/{}/reopen">{}<button type="submit" id="reopen">Reopen</button></form>"#,
                item.id,
                hidden_csrf(csrf)
            ));
        }
        return out + "</section>";
    }
    if item.state != ReviewState::Open {
        return format!(
            r#"<section class="card"><p>This item is {} and needs no decision.</p></section>"#,
            item.state
        );
    }
    let mut buttons = String::new();
    match item.kind {
        ReviewKind::FieldConflict => {
            buttons.push_str(r#"<button type="submit" name="action" value="take_left" id="take-left" class="take-left">Take left</button>
<button type="submit" name="action" value="take_right" id="take-right" class="take-right">Take right</button>
<button type="submit" name="action" value="take_base" id="take-base">Keep base</button>"#);
        }
        ReviewKind::AmbiguousIdentity => {}
        _ => buttons.push_str(
            r#"<button type="submit" name="action" value="take_left" id="take-left">Acknowledge</button>"#,
        ),
    }
    let value_input = match item.kind {
        ReviewKind::FieldConflict => r#"<label class="grow later">Or enter a value <input type="text" name="value" id="value"></label>
<button type="submit" name="action" value="value" id="use-value" class="primary later">Use this value</button>"#.to_string(),
        ReviewKind::AmbiguousIdentity => {
            let side = candidate_side(item).unwrap_or("other");
            let mut s = format!(r#"<label class="grow">Link to which {} record? <select name="value" id="value">"#, esc(side));
            for c in candidate_ids(item) {
                s.push_str(&format!(r#"<option value="{0}">{0}</option>"#, esc(&c)));
            }
            s + r#"</select></label><button type="submit" name="action" value="value" id="use-value" class="primary">Link</button>"#
        }
        _ => String::new(),
    };
    format!(
        r#"<section class="card" id="decide"><h2>Decide</h2><form method="post" action="/review/{}/resolve" class="stack">{}
<div class="actions">{value_input}{buttons}</div>
<label>Note <small>(optional, kept with the decision)</small><input type="text" name="note" id="note" maxlength="500"></label>
<div class="actions"><button type="submit" name="action" value="{}" id="ignore">Ignore (leave both sides)</button></div></form></section>"#,
        item.id,
        hidden_csrf(csrf),
        ResolveAction::Ignore.as_str(),
    )
}
