//! One item's page: who it is about with links to the record in each system, why it waits in
//! plain words (and, for a refused write, the field and what the remote said), the last agreed
//! value and what each system says side by side, the diff, the decision form with the systems
//! named on its buttons, and the history of both records.

use maud::{Markup, html};

use super::history::table as history_table;
use super::{badge, flash, hidden_csrf, person, when};
use crate::review::diff::{SegmentKind, ValueDiff, diff};
use crate::review::explain::field_words;
use crate::review::history::HistoryEntry;
use crate::review::names::SideName;
use crate::review::{ItemView, action_label, candidate_ids, kind_label};
use crate::store::{ResolveAction, ReviewItem, ReviewKind, ReviewState};

/// One item's page body.
pub fn item(
    view: &ItemView,
    l: &SideName,
    r: &SideName,
    history: &[HistoryEntry],
    csrf: &str,
    message: Option<&str>,
) -> Markup {
    let i = &view.item;
    let who = i.person.as_ref().and_then(|p| p.name.clone().or(p.email.clone()));
    html! {
        p { a href="/review" { "← Review queue" } }
        h1 {
            span id="person-name" { (who.as_deref().unwrap_or("Unknown person")) }
            " — " (kind_label(i.kind))
            @if let Some(f) = &i.field { " · " (field_words(f)) }
            " " (badge(i.state))
        }
        (flash(message))
        (about(view, l, r))
        (why(view))
        @if matches!(i.kind, ReviewKind::WriteRejected | ReviewKind::HeldBack) { (remote(view)) }
        @if i.kind == ReviewKind::FieldConflict || i.left_value.is_some() || i.right_value.is_some() {
            (sides(i, l, r))
        }
        @if i.kind == ReviewKind::AmbiguousIdentity { (candidates(i, l, r)) }
        (decision(i, l, r, csrf))
        section.card id="history" aria-labelledby="history-title" {
            h2 id="history-title" { "History of these records" }
            (history_table(history))
        }
    }
}

fn record_links(side: &SideName, id: &str) -> Markup {
    html! {
        (side.system.label) " " (side.object) " " code { (id) }
        @if let Some(url) = side.record_url(id) {
            " · " a href=(url) rel="noopener noreferrer" target="_blank" id={ "open-" (side.system.name) } {
                "Open in " (side.system.label)
            }
        }
        " · " a href={ "/record/" (side.system.name) "/" (id) } id={ "history-" (side.system.name) } { "History" }
    }
}

fn about(view: &ItemView, l: &SideName, r: &SideName) -> Markup {
    let i = &view.item;
    html! {
        section.card aria-label="Who and where" {
            dl.meta {
                dt { "Person" } dd { (person(i.person.as_ref())) }
                @if let Some(id) = &i.left_id { dt { (l.system.label) } dd { (record_links(l, id)) } }
                @if let Some(id) = &i.right_id { dt { (r.system.label) } dd { (record_links(r, id)) } }
                dt { "Found" } dd { (when(Some(i.detected_at))) " by run " code { (i.run_id) } }
            }
        }
    }
}

fn why(view: &ItemView) -> Markup {
    let e = &view.explanation;
    html! {
        section.card id="why" aria-labelledby="why-title" {
            h2 id="why-title" { "Why this needs you" }
            p id="why-summary" { (e.summary) }
            @if let (Some(rule), Some(code)) = (&e.rule, &view.item.rule) {
                p id="why-rule" { "Rule: " (rule) " " small { "(" code { (code) } ")" } }
            }
            p id="todo" { b { "What to do: " } (e.todo) }
        }
    }
}

fn remote(view: &ItemView) -> Markup {
    let i = &view.item;
    let system = i.remote_system.as_deref().map(|s| {
        [&view.left_system, &view.right_system]
            .into_iter()
            .find(|x| x.name == s)
            .map_or(s.to_string(), |x| x.label.clone())
    });
    html! {
        section.card id="remote" aria-labelledby="remote-title" {
            h2 id="remote-title" { "What " (system.as_deref().unwrap_or("the remote system")) " said" }
            dl.meta {
                dt { "Field" }
                dd id="remote-field" {
                    @if let Some(f) = &i.field { (field_words(f)) " " }
                    @if let Some(f) = &i.remote_field { "(" code { (f) } " in " (system.as_deref().unwrap_or("the remote")) ")" }
                    @if i.field.is_none() && i.remote_field.is_none() { span.blank { "not named" } }
                }
                dt { "Code" } dd id="remote-code" { @match &i.remote_code { Some(c) => code { (c) }, None => span.blank { "none given" } } }
                dt { "Message" } dd id="remote-message" { @match &i.remote_message { Some(m) => (m), None => (i.reason) } }
            }
        }
    }
}

fn side_card(
    id: &str,
    title: &str,
    v: Option<&str>,
    modified: Option<chrono::DateTime<chrono::Utc>>,
) -> Markup {
    html! {
        div class={ "side " (id) } id={ "side-" (id) } {
            h3 { (title) }
            div.value { @match v { Some(v) => (v), None => span.blank { "(blank)" } } }
            @if id != "base" {
                div.src { @match modified { Some(t) => { "changed " (when(Some(t))) }, None => "change time not reported by this system" } }
            }
        }
    }
}

fn sides(i: &ReviewItem, l: &SideName, r: &SideName) -> Markup {
    let d = diff(i.left_value.as_deref(), i.right_value.as_deref());
    html! {
        section.sides aria-label="Values" {
            (side_card("base", "Last agreed", i.base_value.as_deref(), None))
            (side_card("left", &format!("{} says", l.system.label), i.left_value.as_deref(), i.left_modified_at))
            (side_card("right", &format!("{} says", r.system.label), i.right_value.as_deref(), i.right_modified_at))
        }
        section.card aria-labelledby="diff-title" {
            h2 id="diff-title" { "Difference " small { "(" del { "only " (l.system.label) } " " ins { "only " (r.system.label) } ")" } }
            div.diff id="diff" { (diff_markup(&d)) }
        }
    }
}

/// A diff: `<del>` for text only in the left value, `<ins>` for text only in the right one.
fn diff_markup(d: &ValueDiff) -> Markup {
    html! {
        @for s in &d.segments {
            @match s.kind {
                SegmentKind::Same => (s.text),
                SegmentKind::Left => del { (s.text) },
                SegmentKind::Right => ins { (s.text) },
            }
        }
    }
}

fn candidates(i: &ReviewItem, l: &SideName, r: &SideName) -> Markup {
    let other = if i.left_id.is_some() { r } else { l };
    html! {
        section.card aria-labelledby="cand-title" {
            h2 id="cand-title" { "Candidates in " (other.system.label) }
            ul { @for c in candidate_ids(i) { li { (record_links(other, &c)) } } }
        }
    }
}

fn decision(i: &ReviewItem, l: &SideName, r: &SideName, csrf: &str) -> Markup {
    let (ll, rl) = (l.system.label.as_str(), r.system.label.as_str());
    if let Some(res) = &i.resolution {
        let label = action_label(res.action, i.kind, ll, rl);
        return html! {
            section.card id="decision" aria-labelledby="decision-title" {
                h2 id="decision-title" { "Decision" }
                p { b id="decided-action" { (label) } @if let Some(v) = &res.value { " " code { (v) } } " by " (res.by) " at " (when(Some(res.at))) }
                @if let Some(n) = &res.note { p { "Note: " (n) } }
                @if matches!(i.state, ReviewState::Resolved | ReviewState::Ignored) {
                    @if i.state == ReviewState::Resolved { p { "The next sync run of this pair writes it." } }
                    form method="post" action={ "/review/" (i.id) "/reopen" } {
                        (hidden_csrf(csrf)) button type="submit" id="reopen" { "Reopen" }
                    }
                }
                @if let Some(run) = &i.applied_run_id { p { "Settled by run " code { (run) } } }
            }
        };
    }
    if i.state != ReviewState::Open {
        return html! { section.card { p { "This item is " (i.state) " and needs no decision." } } };
    }
    let button = |a: ResolveAction, id: &str, class: &str| {
        html! {
            button type="submit" name="action" value=(a.as_str()) id=(id) class=(class) { (action_label(a, i.kind, ll, rl)) }
        }
    };
    let action = format!("/review/{}/resolve", i.id);
    html! {
        section.card id="decide" aria-labelledby="decide-title" {
            h2 id="decide-title" { "Decide" }
            form.stack method="post" action=(action) {
                (hidden_csrf(csrf))
                // Pressing Enter in a text box submits a form's first button: this disabled one
                // makes that do nothing, so no decision is ever taken by accident.
                button type="submit" disabled hidden aria-hidden="true" tabindex="-1" { "" }
                @match i.kind {
                    ReviewKind::FieldConflict => {
                        div.actions {
                            (button(ResolveAction::TakeLeft, "take-left", "take-left"))
                            (button(ResolveAction::TakeRight, "take-right", "take-right"))
                            (button(ResolveAction::TakeBase, "take-base", ""))
                        }
                    }
                    ReviewKind::AmbiguousIdentity => {
                        @let other = if i.left_id.is_some() { r } else { l };
                        div.actions {
                            div.grow {
                                label for="value" { "Which " (other.system.label) " record is this person?" }
                                select name="value" id="value" { @for c in candidate_ids(i) { option value=(c) { (c) } } }
                            }
                            (button(ResolveAction::Value, "use-value", "primary"))
                        }
                    }
                    _ => { div.actions { (button(ResolveAction::TakeLeft, "acknowledge", "primary")) } }
                }
                label for="note" { "Note " small { "(optional, kept with the decision)" } }
                input type="text" name="note" id="note" maxlength="500";
                div.actions { (button(ResolveAction::Ignore, "ignore", "")) }
            }
            @if i.kind == ReviewKind::FieldConflict {
                form.stack.typed method="post" action=(action) {
                    (hidden_csrf(csrf))
                    input type="hidden" name="action" value=(ResolveAction::Value.as_str());
                    label for="value" { "Or type the right value " small { "(written to both systems)" } }
                    div.actions {
                        input.grow type="text" name="value" id="value" required;
                        button.primary type="submit" id="use-value" { (action_label(ResolveAction::Value, i.kind, ll, rl)) }
                    }
                    label for="value-note" { "Note " small { "(optional)" } }
                    input type="text" name="note" id="value-note" maxlength="500";
                }
            }
        }
    }
}
