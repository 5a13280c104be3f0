//! `pull`: one page of the events feed (`GET /api/v1/events` with only `types`, `cursor`,
//! `limit`, §3) turned into [`Change`]s, with the overlapping checkpoint of [`FeedState`].
//!
//! Each run rewinds to the overlap behind the horizon the last finished pull read to (not the
//! newest event), so a quiet feed re-reads only its tail page and delivers nothing from it
//! (see [`FeedState`]).
//!
//! Every change is partial: a create event's payload lacks fields the record has (address,
//! `external_id`, §2.2), so reading it as the whole record would look like those fields were
//! cleared. The engine fetches the full record where it needs one. `client.status_changed`
//! carries only `status`, routed to `leads` or `clients` by the new status name (a lead
//! is a record whose status matches `'Lead%'`, §9). Malformed events are quarantined while the
//! rest of the page proceeds. Events after `min(horizon, until)` are left for a later run.
//! The checkpoint carries the pull's [`PullTrail`](connector_api::PullTrail): a cursor read from
//! before in this pull, an empty page handing back its own cursor, or more requests than a tenth
//! of a day's read quota is [`ConnectorError::NoProgress`], never a loop.

use chrono::{DateTime, Utc};
use connector_api::http::RequestSpec;
use connector_api::{Change, ChangeKind, ConnectorError, FieldMap, PullPage, PullRequest, Quarantined};
use serde_json::Value;

use crate::checkpoint::FeedState;
use crate::wire::{self, Envelope, WireError};
use crate::{Object, WlcroConnector};

/// The response header carrying the next-page cursor (§2.3).
pub const CURSOR_HEADER: &str = "x-paging-cursor";
/// The most events the feed returns per page (§3).
pub const MAX_LIMIT: usize = 200;
/// The most characters of a raw event kept with a quarantined item.
const RAW_KEEP: usize = 2000;

impl Object {
    /// The `types` filter of this object's feed.
    fn types(self) -> &'static str {
        match self {
            Object::People => "client.created,lead.created,client.status_changed",
            Object::Clients => "client.created,client.status_changed",
            Object::Leads => "lead.created,client.status_changed",
        }
    }

    /// The change an event means for this object; `None` when it belongs elsewhere.
    pub(crate) fn change_of(self, e: &Envelope) -> Result<Option<Change>, WireError> {
        let (fields, partial) = match e.kind.as_str() {
            "client.created" if self != Object::Leads => (payload_fields(e), true),
            "lead.created" if self != Object::Clients => (payload_fields(e), true),
            "client.status_changed" => {
                let status = e.new_status()?;
                if !self.holds(wire::is_lead_status(&status)) {
                    return Ok(None);
                }
                (FieldMap::from([("status".to_string(), Value::String(status))]), true)
            }
            _ => return Ok(None),
        };
        Ok(Some(Change {
            object: self.name().to_string(),
            id: e.client_id()?.to_string(),
            kind: ChangeKind::Upsert,
            modified_at: e.created,
            fields,
            partial,
            event_id: Some(e.id.to_string()),
        }))
    }
}

fn payload_fields(e: &Envelope) -> FieldMap {
    e.payload.iter().filter(|(k, _)| k.as_str() != "client_id").map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A cursor header, strictly: visible ASCII, non-empty, bounded.
fn read_cursor(headers: &http::HeaderMap) -> Result<Option<String>, ConnectorError> {
    let Some(v) = headers.get(CURSOR_HEADER) else { return Ok(None) };
    let bad = || ConnectorError::Protocol { message: "malformed X-Paging-Cursor header".into() };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s.is_empty() || s.len() > 4096 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

fn quarantine(item: &Value, id: Option<i64>, why: &WireError) -> Quarantined {
    let raw = item.to_string();
    let mut end = raw.len().min(RAW_KEEP);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    Quarantined {
        id: id.map(|i| i.to_string()),
        reason: format!("whitelabelcro event: {why}"),
        raw: raw[..end].into(),
    }
}

/// Reads one page for `object`. See the module docs.
pub(crate) async fn pull(
    c: &WlcroConnector,
    object: Object,
    req: PullRequest<'_>,
) -> Result<PullPage, ConnectorError> {
    let mut st = FeedState::from_checkpoint(req.checkpoint)?;
    if let Some(overlap) = req.rewind {
        st.rewind(overlap);
        st.trail.restart();
    }
    let start = st.cursor.clone();
    let stream = format!("whitelabelcro {} pull", object.name());
    // A tenth of a day's read quota per stream and run.
    let daily = u64::from(c.cfg.read_per_minute) * 60 * 24;
    st.trail.request(connector_api::progress::ceiling_from_daily(daily, 100), &stream)?;
    st.trail.visit(start.as_deref().unwrap_or_default(), &stream)?;
    let limit = req.limit.min(c.cfg.page_limit).clamp(1, MAX_LIMIT);
    let mut url = format!("{}/api/v1/events?types={}&limit={limit}", c.base(), object.types());
    if let Some(cur) = &start {
        url.push_str("&cursor=");
        url.push_str(&encode(cur));
    }
    let spec = c.authed(RequestSpec::get(url).bucket("read").log_as("GET /api/v1/events"));
    let resp = c.http.send(spec).await?;
    let next_cursor = read_cursor(resp.headers())?;
    let items = wire::event_items(resp.body())
        .map_err(|e| ConnectorError::Protocol { message: format!("GET /api/v1/events: {e}") })?;
    if items.is_empty() && next_cursor.is_some() && next_cursor == start {
        return Err(connector_api::progress::stalled(
            &stream,
            "an empty page handed back the cursor it was read with",
        ));
    }

    let cut_at = req.until.map_or(req.horizon, |u| u.min(req.horizon));
    let mut page = Page::default();
    for item in &items {
        let env = match Envelope::parse(item) {
            Ok(e) => e,
            Err(why) => {
                page.quarantined.push(quarantine(item, wire::strict_id(item.get("id")), &why));
                continue;
            }
        };
        if env.created > cut_at {
            page.cut = true;
            break;
        }
        page.max_at = page.max_at.max(Some(env.created));
        if st.already_delivered(env.id, env.created) {
            continue;
        }
        st.delivered(env.id, env.created);
        page.fresh = true;
        if req.since.is_some_and(|s| env.created < s) {
            continue;
        }
        match object.change_of(&env) {
            Ok(Some(ch)) => {
                page.newest = page.newest.max(Some(ch.modified_at));
                page.changes.push(ch);
            }
            Ok(None) => {}
            Err(why) => page.quarantined.push(quarantine(item, Some(env.id), &why)),
        }
    }

    let done = match next_cursor {
        Some(cur) if !page.cut => {
            st.advance(cur, page.max_at, page.fresh, c.cfg.ring_keep);
            false
        }
        // End of the feed (or of this run's horizon): re-poll from the page start next time,
        // skipping what `last`/`seen` say was delivered (§2.3 suggestion).
        _ => {
            st.cursor = start;
            st.read_through(cut_at);
            st.trail = connector_api::PullTrail::default();
            true
        }
    };
    tracing::debug!(
        object = object.name(),
        changes = page.changes.len(),
        quarantined = page.quarantined.len(),
        done,
        "pulled whitelabelcro events"
    );
    Ok(PullPage {
        changes: page.changes,
        quarantined: page.quarantined,
        next: st.to_checkpoint(),
        newest: page.newest,
        done,
    })
}

#[derive(Default)]
struct Page {
    changes: Vec<Change>,
    quarantined: Vec<Quarantined>,
    newest: Option<DateTime<Utc>>,
    max_at: Option<DateTime<Utc>>,
    cut: bool,
    /// Something on the page was delivered for the first time.
    fresh: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(kind: &str, payload: Value) -> Envelope {
        Envelope::parse(
            &json!({"id": 9, "type": kind, "createdUtc": "2026-02-03T14:05:09Z", "payload": payload}),
        )
        .unwrap()
    }

    #[test]
    fn events_map_to_partial_changes_per_object() {
        let created = env("lead.created", json!({"client_id": 4, "first_name": "Ana", "email": "a@x.test"}));
        let ch = Object::Leads.change_of(&created).unwrap().unwrap();
        assert_eq!((ch.id.as_str(), ch.partial, ch.event_id.as_deref()), ("4", true, Some("9")));
        assert!(ch.fields.contains_key("first_name") && !ch.fields.contains_key("client_id"));
        assert_eq!(Object::Clients.change_of(&created).unwrap(), None);

        let to_client = env("client.status_changed", json!({"client_id": 4, "new_status": "Active Client"}));
        let ch = Object::Clients.change_of(&to_client).unwrap().unwrap();
        assert!(ch.partial);
        assert_eq!(ch.fields, FieldMap::from([("status".into(), json!("Active Client"))]));
        assert_eq!(Object::Leads.change_of(&to_client).unwrap(), None);
        let to_lead = env("client.status_changed", json!({"client_id": 4, "new_status": "Lead - Contacted"}));
        assert!(Object::Leads.change_of(&to_lead).unwrap().is_some());

        let invoice = env("invoice.created", json!({"invoice_id": 1, "client_id": 4}));
        assert_eq!(Object::Clients.change_of(&invoice).unwrap(), None);
        let bad = env("client.created", json!({"client_id": "4"}));
        assert_eq!(Object::Clients.change_of(&bad), Err(WireError::Field("client_id")));
        let no_status = env("client.status_changed", json!({"client_id": 4}));
        assert_eq!(Object::Clients.change_of(&no_status), Err(WireError::Field("new_status")));
    }

    #[test]
    fn cursor_is_read_strictly_and_encoded() {
        let mut h = http::HeaderMap::new();
        assert_eq!(read_cursor(&h).unwrap(), None);
        h.insert(CURSOR_HEADER, "MTc3:NDA=".parse().unwrap());
        assert_eq!(read_cursor(&h).unwrap().as_deref(), Some("MTc3:NDA="));
        h.insert(CURSOR_HEADER, "a b".parse().unwrap());
        assert!(read_cursor(&h).is_err());
        h.insert(CURSOR_HEADER, "".parse().unwrap());
        assert!(read_cursor(&h).is_err());
        assert_eq!(encode("ab-_~.=+/ "), "ab-_~.%3D%2B%2F%20");
    }
}
