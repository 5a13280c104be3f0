//! The review pages' bodies as maud templates (every interpolated value is escaped): the queue
//! (`list`), one item (`item`), a record's history (`history`) and the bulk preview (`bulk`).
//! Systems are named as people know them ("HubSpot says"), never left / right.

mod bulk;
pub mod dead_letters;
mod history;
mod item;
mod list;

pub use bulk::preview as bulk_preview;
pub use history::record as record_page;
pub use item::item;
pub use list::{ListPage, list};

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::review::render::truncate;
use crate::store::{Person, ReviewState};

/// A time as `2026-11-12 10:00 UTC`, or a dash.
pub(crate) fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// How long ago `t` was, in the largest whole unit: `3 days ago`, `5 min ago`, `just now`.
pub(crate) fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    let (n, unit) = match secs {
        s if s < 60 => return "just now".into(),
        s if s < 3600 => (s / 60, "min"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if n == 1 || unit == "min" { "" } else { "s" };
    format!("{n} {unit}{plural} ago")
}

/// A value, or `(blank)` in grey.
pub(crate) fn value(v: Option<&str>, max: usize) -> Markup {
    html! {
        @match v {
            Some(v) => (truncate(v, max)),
            None => span.blank { "(blank)" },
        }
    }
}

pub(crate) fn badge(state: ReviewState) -> Markup {
    html! { span class={ "badge " (state.as_str()) } { (state.as_str()) } }
}

pub(crate) fn hidden_csrf(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// The person's name over their email (either may be missing).
pub(crate) fn person(p: Option<&Person>) -> Markup {
    html! {
        @match p {
            Some(p) => {
                span.person-name { (p.name.as_deref().unwrap_or("(no name)")) }
                @if let Some(e) = &p.email { br; span.email { (e) } }
            }
            None => span.blank { "unknown person" },
        }
    }
}

/// A page-level message after a POST.
pub(crate) fn flash(message: Option<&str>) -> Markup {
    html! { @if let Some(m) = message { p.flash id="flash" role="status" { (m) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let t = DateTime::parse_from_rfc3339("2026-11-12T10:00:00Z").unwrap().to_utc();
        assert_eq!(age(t, t), "just now");
        assert_eq!(age(t + chrono::Duration::minutes(5), t), "5 min ago");
        assert_eq!(age(t + chrono::Duration::hours(1), t), "1 hour ago");
        assert_eq!(age(t + chrono::Duration::days(3), t), "3 days ago");
    }
}
