//! A record's history (the web face of `crosswalk explain`): every field change with the system
//! its value came from, the rule, old → new, the run and the review decision behind it.

use maud::{Markup, html};

use super::{person, value, when};
use crate::review::explain::field_words;
use crate::review::history::HistoryEntry;
use crate::review::names::SystemName;
use crate::store::{Person, ReviewItem};

/// The decision log as a table, newest first.
pub fn table(entries: &[HistoryEntry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p.muted { "No field of these records has been changed by crosswalk yet." }
        } @else {
            div.table-wrap {
                table.history {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Written to" } th scope="col" { "Field" }
                        th scope="col" { "Old → new" } th scope="col" { "Value from" } th scope="col" { "Rule" }
                        th scope="col" { "Run" } th scope="col" { "Decision" }
                    } }
                    tbody { @for e in entries { (row(e)) } }
                }
            }
        }
    }
}

fn row(e: &HistoryEntry) -> Markup {
    let d = &e.decision;
    html! {
        tr {
            td data-label="When" { (when(Some(d.at))) }
            td data-label="Written to" { (e.system_label) " " code { (d.record_id) } }
            td data-label="Field" { (field_words(&d.field)) }
            td.val data-label="Old → new" { (value(d.old_value.as_deref(), 60)) " → " (value(d.new_value.as_deref(), 60)) }
            td data-label="Value from" { (e.source_label) @if d.echo { " " small { "(echo of our own write)" } } }
            td data-label="Rule" { code { (d.rule) } @if !d.reason.is_empty() { " " small { (d.reason) } } }
            td data-label="Run" { code { (d.run_id) } }
            td data-label="Decision" {
                @match (e.review_item, &e.decided_by) {
                    (Some(id), by) => { a href={ "/review/" (id) } { "review item " (id) } @if let Some(by) = by { " by " (by) } }
                    (None, _) => span.blank { "automatic" },
                }
            }
        }
    }
}

/// The `/record/{system}/{id}` page: who the record is, its link, its history and the review
/// items that name it.
pub fn record(
    system: &SystemName,
    record_id: &str,
    url: Option<&str>,
    who: Option<&Person>,
    entries: &[HistoryEntry],
    items: &[ReviewItem],
) -> Markup {
    html! {
        p { a href="/review" { "← Review queue" } }
        h1 { (system.label) " record " code { (record_id) } }
        section.card aria-label="Who and where" {
            dl.meta {
                dt { "Person" } dd id="record-person" { (person(who)) }
                @if let Some(u) = url {
                    dt { "In " (system.label) } dd { a href=(u) rel="noopener noreferrer" target="_blank" { "Open in " (system.label) } }
                }
                dt { "Review items" }
                dd {
                    @if items.is_empty() { span.blank { "none" } }
                    @for i in items { a href={ "/review/" (i.id) } { "#" (i.id) " " (crate::review::kind_label(i.kind)) " (" (i.state) ")" } " " }
                }
            }
        }
        section.card id="history" aria-labelledby="history-title" {
            h2 id="history-title" { "History" }
            (table(entries))
        }
    }
}
