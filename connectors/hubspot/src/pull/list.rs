//! A full backfill through the list API (spec §2, "Paging on list endpoints").
//!
//! `GET /crm/v3/objects/{object}?limit=100&after=…&properties=…` walks every record in id order
//! with an opaque cursor. It has no 10,000-result cap, no search index lag, and it is counted
//! only by the burst bucket (100 or 190 per 10 s), not by search's 5 a second. It has no
//! modified-since filter either, so it fits one kind of pull: a backfill of *everything* up to
//! its bound (`crosswalk backfill` without `--since`), which reads every record whichever API it
//! uses. There its throughput is `burst / 10 s × 100` records a second against search's
//! `5 × 200`: equal on the free tier (and the list walk needs no restarts or tie pages), 1.9×
//! on professional and enterprise. [`worth_listing`] compares the two from the limits in force;
//! a backfill with `--since`, and every incremental pull, use the search window, which reads
//! only what changed. The list costs twice the requests of search at 200 a page against the
//! daily quota (10,000 contacts: 100 requests instead of 50).
//!
//! Records modified after the pull's bound are left out, as search's `LTE bound` does: the
//! incremental stream reads them. When the walk ends, the cursor stands where a finished search
//! window would: at the newest change delivered, read completely up to the bound, with the
//! recycle-bin scan next (deletes are never in the list of live records).

use connector_api::{ConnectorError, PullPage};
use serde::{Deserialize, Serialize};

use super::{Cursor, advance, emit, empty_page, parse};
use crate::read::encode_segment;
use crate::wire::Collection;
use crate::{HubspotConnector, MAX_SEARCH_PAGE, Object};

/// Records per list page (spec §2: at most 100).
pub(super) const MAX_LIST_PAGE: usize = 100;

/// A list walk in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Listing {
    /// The list cursor (opaque); `None` before the first page.
    #[serde(default)]
    pub(super) after: Option<String>,
    /// The newest modified time delivered so far, epoch ms.
    #[serde(default)]
    pub(super) newest: i64,
}

/// Whether a pull of everything up to its bound reads faster through the list API than through
/// search, from the account's configured limits (its tier, or the numbers set). A tie (the free
/// tier: 1,000 records/s either way) goes to search, which costs half the requests against the
/// daily quota. Limits learned from the server's headers pace the walk but do not choose it: a
/// simulator or proxy stating a huge burst would otherwise switch every backfill to the list,
/// which costs more requests than search where search is not the bottleneck.
pub(super) fn worth_listing(c: &HubspotConnector, _search_page: usize) -> bool {
    let limits = &c.config.rate_limits;
    let list_per_s = f64::from(limits.burst_per_10s) / 10.0 * MAX_LIST_PAGE as f64;
    // Search at its full page (what a backfill could ask for), not at the engine's page: at
    // smaller pages the list's extra requests were measured to outweigh its speed (the
    // reliability harness's L1: 62 requests against search's 54 for 1,000 contacts).
    let search_per_s = f64::from(limits.search_per_second) * MAX_SEARCH_PAGE as f64;
    list_per_s > search_per_s
}

/// One list page: the records on it modified up to `bound` (later ones are the incremental
/// stream's); at the end of the walk the cursor moves on as after a finished search window.
pub(super) async fn page(
    c: &HubspotConnector,
    object: Object,
    cur: &mut Cursor,
    limit: usize,
    bound: i64,
) -> Result<PullPage, ConnectorError> {
    let mut listing = cur.listing.take().unwrap_or_default();
    let props = c.read_properties(object);
    let mut rest = format!("?limit={}&properties={}", limit.clamp(1, MAX_LIST_PAGE), props.join(","));
    if let Some(after) = &listing.after {
        rest.push_str(&format!("&after={}", encode_segment(after)));
    }
    let log_as = format!("GET /crm/v3/objects/{}", object.name());
    let list: Collection = c.api.get_json(c.api.url(object.name(), &rest), Some(log_as)).await?;
    c.note_properties(object, &props, &list.results);
    let mut page = empty_page(false);
    let parsed = parse(object, &list.results, &mut page);
    let newest = parsed.iter().map(|(t, ..)| *t).filter(|t| *t <= bound).max();
    listing.newest = listing.newest.max(newest.unwrap_or(0));
    emit(object, parsed, &mut page, |t, _| t > bound);
    match list.paging.and_then(|p| p.next) {
        Some(next) => {
            listing.after = Some(next.after);
            cur.listing = Some(listing);
        }
        None => {
            // Read completely up to the bound: claim the newest delivered, then the recycle bin.
            advance(cur, listing.newest.max(cur.ts), &[]);
            cur.reached = cur.reached.max(bound);
            cur.archived = true;
            cur.after = None;
            cur.del_to = bound.max(cur.del_ts);
        }
    }
    Ok(page)
}
