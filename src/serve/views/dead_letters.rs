//! The dead-letter pages' bodies (maud; every value escaped): the list with its filters and one
//! letter with its payload and the retry / discard forms.

use maud::{Markup, html};

use super::{flash, hidden_csrf, when};
use crate::store::{DeadLetter, DeadLetterFilter, DeadLetterStatus};

/// `/dead-letters`: the filter form, the counts by reason, and the matching letters.
pub fn list(letters: &[DeadLetter], filter: &DeadLetterFilter, by_reason: &[(String, u64)]) -> Markup {
    let status = filter.status.map_or("all", DeadLetterStatus::as_str);
    html! {
        section.card {
            h1 { "Dead letters" }
            p.muted { "Records and webhook deliveries crosswalk could not read. Fix the cause at the source, then retry: the next run re-reads the record from its system." }
            @if !by_reason.is_empty() {
                h2 { "Open, by reason" }
                ul.reasons { @for (reason, n) in by_reason { li { strong { (n) } " " (reason) } } }
            }
            form.filters method="get" action="/dead-letters" {
                label { "Status " select name="status" {
                    @for s in ["open", "retried", "discarded", "all"] {
                        option value=(s) selected[s == status] { (s) }
                    }
                } }
                label { "Reason contains " input type="search" name="reason" value=(filter.reason.clone().unwrap_or_default()); }
                label { "System " input type="text" name="system" value=(filter.system.clone().unwrap_or_default()); }
                label { "Source " select name="source" {
                    option value="" selected[filter.source.is_none()] { "any" }
                    @for s in ["pull", "webhook"] {
                        option value=(s) selected[filter.source.is_some_and(|f| f.as_str() == s)] { (s) }
                    }
                } }
                button type="submit" { "Filter" }
            }
            @if letters.is_empty() {
                p.muted id="empty" { "No dead letters match." }
            } @else {
                div.table-wrap { table.dead-letters {
                    thead { tr {
                        th scope="col" { "Id" } th scope="col" { "Status" } th scope="col" { "Source" }
                        th scope="col" { "System / object" } th scope="col" { "Record" } th scope="col" { "Time" }
                        th scope="col" { "Reason" }
                    } }
                    tbody { @for d in letters { tr {
                        td data-label="Id" { a href={ "/dead-letters/" (d.id) } { (d.id) } }
                        td data-label="Status" { span class={ "badge " (d.status.as_str()) } { (d.status.as_str()) } }
                        td data-label="Source" { (d.source.as_str()) }
                        td data-label="System / object" { (d.system) " / " (d.object) }
                        td data-label="Record" { code { (d.record_id.as_deref().unwrap_or("—")) } }
                        td data-label="Time" { (when(Some(d.created_at))) }
                        td data-label="Reason" { (d.reason) }
                    } } }
                } }
            }
        }
    }
}

/// `/dead-letters/{id}`: everything about one letter, its payload, and what can be done.
pub fn item(d: &DeadLetter, csrf: &str, message: Option<&str>) -> Markup {
    html! {
        (flash(message))
        section.card {
            h1 { "Dead letter " (d.id) " " span class={ "badge " (d.status.as_str()) } { (d.status.as_str()) } }
            dl {
                dt { "Reason" } dd id="reason" { (d.reason) }
                dt { "Source" } dd { (d.source.as_str()) " from " (d.system) " / " (d.object) }
                dt { "Record" } dd { code { (d.record_id.as_deref().unwrap_or("(none read)")) } }
                @if let Some(e) = &d.event_id { dt { "Webhook event" } dd { code { (e) } } }
                dt { "Pair" } dd { (d.pair.as_deref().unwrap_or("—")) }
                dt { "Time" } dd { (when(Some(d.created_at))) " (run " code { (d.run_id) } ")" }
                @if let (Some(at), Some(by)) = (d.status_at, &d.status_by) {
                    dt { "Decided" } dd { (d.status.as_str()) " " (when(Some(at))) " by " (by) }
                }
            }
            h2 { "Payload" }
            pre.payload id="payload" { (d.payload) }
            @if d.status == DeadLetterStatus::Open {
                div.actions {
                    form method="post" action={ "/dead-letters/" (d.id) "/retry" } {
                        (hidden_csrf(csrf))
                        button type="submit" { "Retry: re-read the record on the next run" }
                    }
                    form method="post" action={ "/dead-letters/" (d.id) "/discard" } {
                        (hidden_csrf(csrf))
                        button type="submit" { "Discard" }
                    }
                }
            }
            p { a href="/dead-letters" { "All dead letters" } }
        }
    }
}
