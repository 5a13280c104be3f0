//! The bulk preview: how many items a decision will touch, which ones (person, what, values),
//! and a confirm button — nothing is recorded before the person confirms.

use maud::{Markup, html};

use super::{hidden_csrf, person, value};
use crate::review::explain::field_words;
use crate::review::kind_label;
use crate::review::names::Directory;
use crate::store::{ResolveAction, ReviewItem};

/// The preview of applying `action` (with its button text `label`) to `items`.
pub fn preview(
    items: &[ReviewItem],
    action: ResolveAction,
    label: &str,
    dir: &Directory,
    csrf: &str,
) -> Markup {
    html! {
        p { a href="/review" { "← Review queue" } }
        h1 { "Preview: " (label) }
        p id="bulk-count" role="status" {
            "This records “" (label) "” for " b { (items.len()) } " item" @if items.len() != 1 { "s" } ". Nothing is written to any system until the next sync run."
        }
        form method="post" action="/review/bulk" {
            (hidden_csrf(csrf))
            input type="hidden" name="confirm" value="yes";
            @for i in items { input type="hidden" name="id" value=(i.id); }
            div.table-wrap {
                table.queue {
                    caption { "The selected items" }
                    thead { tr { th scope="col" { "#" } th scope="col" { "Person" } th scope="col" { "What" } th scope="col" { "Values" } } }
                    tbody {
                        @for i in items {
                            @let (l, r) = dir.sides(&i.pair);
                            tr {
                                td data-label="#" { a href={ "/review/" (i.id) } { (i.id) } }
                                td data-label="Person" { (person(i.person.as_ref())) }
                                td data-label="What" { (kind_label(i.kind)) @if let Some(f) = &i.field { " · " (field_words(f)) } }
                                td.val data-label="Values" {
                                    (l.system.label) ": " (value(i.left_value.as_deref(), 40)) br;
                                    (r.system.label) ": " (value(i.right_value.as_deref(), 40))
                                }
                            }
                        }
                    }
                }
            }
            div.actions {
                button.primary type="submit" name="action" value=(action.as_str()) id="confirm" { "Confirm: " (label) }
                a href="/review" id="cancel" { "Cancel" }
            }
        }
    }
}
