//! The queue page: counts per kind, a search box with filters and sort (all kept in the URL), a
//! table of items with the person, the systems and their values, and bulk decisions that fit
//! every item shown (each goes through a preview first).

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::{age, badge, flash, hidden_csrf, person, value, when};
use crate::review::explain::field_words;
use crate::review::names::Directory;
use crate::review::{QueueStatus, ReviewPage, bulk_choices, kind_label};
use crate::serve::html::url_enc;
use crate::store::{ReviewFilter, ReviewItem, ReviewKind, ReviewSort, ReviewState};

/// Everything the queue page shows.
pub struct ListPage<'a> {
    pub page: &'a ReviewPage,
    pub filter: &'a ReviewFilter,
    pub status: &'a QueueStatus,
    pub csrf: &'a str,
    pub flash: Option<&'a str>,
    pub now: DateTime<Utc>,
    pub dir: &'a Directory,
    /// The open circuit breakers (their systems' pairs are paused).
    pub paused: &'a [crate::store::BreakerState],
}

/// The query string of `filter` (without paging), with `kind` in place of the filter's.
pub fn query(filter: &ReviewFilter, kind: Option<ReviewKind>) -> String {
    let mut parts = vec![format!("state={}", filter.state.map_or("all", |s| s.as_str()))];
    let mut text = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={}", url_enc(v)));
        }
    };
    text("q", &filter.search);
    text("pair", &filter.pair);
    text("field", &filter.field);
    if let Some(k) = kind {
        parts.push(format!("kind={k}"));
    }
    if filter.sort != ReviewSort::Id {
        parts.push(format!("sort={}", filter.sort));
    }
    if let Some(limit) = filter.limit {
        parts.push(format!("limit={limit}"));
    }
    parts.join("&")
}

fn sort_label(s: ReviewSort) -> &'static str {
    match s {
        ReviewSort::Id => "Order found",
        ReviewSort::Oldest => "Oldest first",
        ReviewSort::Newest => "Newest first",
        ReviewSort::Pair => "By systems",
        ReviewSort::Kind => "By kind",
    }
}

/// The queue page's body.
pub fn list(p: &ListPage<'_>) -> Markup {
    html! {
        h1 { "Review queue" }
        (flash(p.flash))
        @for b in p.paused {
            section.card.paused role="status" {
                p {
                    strong { "Paused: " (b.system) }
                    " — its circuit breaker is open"
                    @if let Some(reason) = &b.reason { " (" (reason) ")" }
                    ". Its pairs are skipped until it answers again or "
                    code { "crosswalk resume " (b.system) } " is run."
                }
            }
        }
        (chips(p))
        (filters(p))
        @if p.page.items.is_empty() {
            section.card { p { "Nothing to review here." } }
        } @else {
            (table(p))
            (pager(p))
        }
    }
}

fn chips(p: &ListPage<'_>) -> Markup {
    let open = ReviewFilter { state: Some(ReviewState::Open), ..p.filter.clone() };
    html! {
        nav.chips aria-label="Open items by kind" {
            a.chip.on[p.filter.kind.is_none()] href={ "/review?" (query(&open, None)) } {
                "All open" b { (p.status.open_total) }
            }
            @for kind in ReviewKind::ALL {
                @let n = p.status.open_by_kind.get(kind.as_str()).copied().unwrap_or(0);
                a.chip.on[p.filter.kind == Some(*kind)] href={ "/review?" (query(&open, Some(*kind))) } {
                    (kind_label(*kind)) b { (n) }
                }
            }
        }
    }
}

fn filters(p: &ListPage<'_>) -> Markup {
    let f = p.filter;
    let state = f.state.map_or("all", |s| s.as_str());
    html! {
        form.card.filters method="get" action="/review" role="search" {
            div.grow {
                label for="q" { "Search " small { "(name, email, record id, field)" } }
                input type="search" name="q" id="q" value=(f.search.as_deref().unwrap_or_default())
                    placeholder="e.g. grace@example.com";
            }
            div {
                label for="state" { "State" }
                select name="state" id="state" {
                    @for s in ReviewState::ALL.iter().map(|s| s.as_str()).chain(["all"]) {
                        option value=(s) selected[s == state] { (s) }
                    }
                }
            }
            div {
                label for="kind" { "Kind" }
                select name="kind" id="kind" {
                    option value="" { "any" }
                    @for k in ReviewKind::ALL {
                        option value=(k.as_str()) selected[f.kind == Some(*k)] { (kind_label(*k)) }
                    }
                }
            }
            div {
                label for="pair" { "Systems" }
                select name="pair" id="pair" {
                    option value="" { "any" }
                    @for name in p.dir.pair_names() {
                        @let (l, r) = p.dir.sides(&name);
                        option value=(name) selected[f.pair.as_deref() == Some(name.as_str())] {
                            (l.system.label) " " (l.object) " ⇄ " (r.system.label) " " (r.object)
                        }
                    }
                }
            }
            div {
                label for="field" { "Field" }
                input type="text" name="field" id="field" value=(f.field.as_deref().unwrap_or_default()) size="12";
            }
            div {
                label for="sort" { "Sort" }
                select name="sort" id="sort" {
                    @for s in ReviewSort::ALL {
                        option value=(s.as_str()) selected[f.sort == *s] { (sort_label(*s)) }
                    }
                }
            }
            button.primary type="submit" id="search" { "Search" }
        }
    }
}

fn table(p: &ListPage<'_>) -> Markup {
    let open: Vec<&ReviewItem> = p.page.items.iter().filter(|i| i.state == ReviewState::Open).collect();
    let choices = bulk_choices(&open, p.dir);
    html! {
        form method="post" action="/review/bulk" {
            (hidden_csrf(p.csrf))
            @if !open.is_empty() {
                fieldset.bulk {
                    legend { "With the selected items " small { "(you see a preview before anything is recorded)" } }
                    @for (action, label) in &choices {
                        button type="submit" name="action" value=(action.as_str()) id={ "bulk-" (action.as_str()) } { (label) }
                    }
                }
            }
            div.table-wrap {
                table.queue {
                    caption { "Items " (p.page.offset + 1) "–" (p.page.offset + p.page.items.len()) " of " (p.page.total) }
                    thead { tr {
                        th scope="col" { span.sr { "Select" } }
                        th scope="col" { "Person" } th scope="col" { "What" } th scope="col" { "Systems" }
                        th scope="col" { "Values" } th scope="col" { "State" } th scope="col" { "Age" }
                    } }
                    tbody { @for i in &p.page.items { (row(p, i)) } }
                }
            }
        }
    }
}

fn row(p: &ListPage<'_>, i: &ReviewItem) -> Markup {
    let (l, r) = p.dir.sides(&i.pair);
    let who = i.person.as_ref().and_then(|p| p.name.clone().or(p.email.clone()));
    let what = match &i.field {
        Some(f) => format!("{} · {}", kind_label(i.kind), field_words(f)),
        None => kind_label(i.kind).to_string(),
    };
    html! {
        tr {
            td data-label="Select" {
                @if i.state == ReviewState::Open {
                    input type="checkbox" name="id" value=(i.id) id={ "select-" (i.id) }
                        aria-label={ "Select item " (i.id) " (" (who.as_deref().unwrap_or("unknown person")) ")" };
                }
            }
            td data-label="Person" {
                a href={ "/review/" (i.id) } id={ "item-" (i.id) } { (person(i.person.as_ref())) }
            }
            td data-label="What" { (what) }
            td data-label="Systems" { (l.system.label) " ⇄ " (r.system.label) }
            td.val data-label="Values" { (values(i, &l.system.label, &r.system.label)) }
            td data-label="State" { (badge(i.state)) }
            td data-label="Age" { span title=(when(Some(i.detected_at))) { (age(p.now, i.detected_at)) } }
        }
    }
}

fn values(i: &ReviewItem, l: &str, r: &str) -> Markup {
    html! {
        @if i.kind == ReviewKind::WriteRejected || i.kind == ReviewKind::HeldBack {
            @if let Some(m) = &i.remote_message { (crate::review::render::truncate(m, 60)) }
            @else if let Some(f) = &i.remote_field { "field " code { (f) } }
        } @else if i.left_value.is_some() || i.right_value.is_some() || i.kind == ReviewKind::FieldConflict {
            span.says { (l) ": " } (value(i.left_value.as_deref(), 40)) br;
            span.says { (r) ": " } (value(i.right_value.as_deref(), 40))
        }
    }
}

fn pager(p: &ListPage<'_>) -> Markup {
    let q = query(p.filter, p.filter.kind);
    let last = p.page.offset + p.page.items.len();
    let prev = p.page.offset.saturating_sub(p.page.limit);
    html! {
        nav.pager aria-label="Pages" {
            span { (p.page.offset + 1) "–" (last) " of " (p.page.total) }
            @if p.page.offset > 0 { a href={ "/review?" (q) "&offset=" (prev) } rel="prev" { "← previous" } }
            @if (last as u64) < p.page.total { a href={ "/review?" (q) "&offset=" (last) } rel="next" { "next →" } }
        }
    }
}
