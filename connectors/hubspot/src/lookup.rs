//! Batched identity lookups (`find_many`), answering per value exactly what `find` would, in as
//! few requests as the API allows (spec §4, §5):
//!
//! - record ids (`id`, `hs_object_id`): one `batch/read` per 100 ids, as `fetch`;
//! - `email` (contacts) and the unique property: `batch/read` with `idProperty`, 100 inputs per
//!   call, where an unknown value comes back as a 207 `OBJECT_NOT_FOUND` error;
//! - any other property: search with one `IN` filter (values lowercase, spec §5) per request
//!   body of at most 3,000 characters.
//!
//! Neither answer says which requested value a record was found for, so records are matched to
//! the values here: by `email` or `hs_additional_emails` case-insensitively (emails are unique
//! across both, spec §3), by the unique property exactly, by a searched property
//! case-insensitively (search filter values are, spec §5). A value this matching cannot settle
//! (the answer neither matched it nor reported it missing) is looked up alone with `find`, so a
//! matching that disagrees with the server costs requests, never a wrong answer.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{ConnectorError, IdentityKey, Record};

use crate::client::Api;
use crate::read::{FIND_LIMIT, fetch, find, to_record};
use crate::wire::{BatchRead, BatchResponse, Collection, Filter, FilterGroup, IdInput, SearchRequest};
use crate::{HubspotConnector, MAX_BATCH, MAX_SEARCH_PAGE, Object};

/// Records found per requested value.
pub(crate) type Found = BTreeMap<String, Vec<Record>>;

/// Search request bodies are limited to 3,000 characters (spec §5); the margin leaves room for
/// the `after` of a later page.
const MAX_SEARCH_BODY: usize = 3_000 - 32;
/// Values per `IN` filter. The spec names no limit of its own; the body limit binds first for
/// all but very short values, and this keeps a search to the size of a batch.
const MAX_IN_VALUES: usize = MAX_BATCH;
/// Results one search query can reach (spec §5).
const RESULT_CAP: usize = 10_000;
/// `hs_additional_emails` holds the other emails of a contact, `;`-separated.
const ADDITIONAL_EMAILS: &str = "hs_additional_emails";

/// How a property's values compare.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Matching {
    /// Exactly (record ids, the unique property through `idProperty`).
    Exact,
    /// Case-insensitively (emails; search filter values).
    Folded,
}

impl Matching {
    fn key(self, v: &str) -> String {
        match self {
            Self::Exact => v.to_string(),
            Self::Folded => v.to_lowercase(),
        }
    }
}

pub(crate) async fn find_many(
    c: &HubspotConnector,
    object: Object,
    field: &str,
    values: &[String],
) -> Result<Found, ConnectorError> {
    let prop = c.identity_property(field).to_string();
    let values: BTreeSet<&String> = values.iter().collect();
    if prop == "id" || prop == "hs_object_id" {
        let ids: Vec<String> = values.iter().map(|v| (*v).clone()).collect();
        let records = fetch(c, object, &ids).await?;
        return Ok(ids
            .into_iter()
            .map(|v| {
                let found = records.iter().filter(|r| r.id == v).cloned().collect();
                (v, found)
            })
            .collect());
    }
    let by_id_property = (prop == "email" && object == Object::Contacts) || prop == c.config.unique_property;
    let matching = if by_id_property && prop != "email" { Matching::Exact } else { Matching::Folded };
    // Values that compare equal are looked up once, under their matching key.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in values {
        groups.entry(matching.key(v)).or_default().push(v.clone());
    }
    let (mut found, unsettled) = if by_id_property {
        read_by_id_property(c, object, &prop, matching, &groups).await?
    } else {
        search_in(c, object, &prop, &groups).await?
    };
    for key in unsettled {
        let value = groups[&key][0].clone();
        let records = find(c, object, &IdentityKey { field: field.to_string(), value }).await?;
        found.insert(key, records);
    }
    Ok(groups
        .into_iter()
        .flat_map(|(key, values)| {
            let records = found.remove(&key).unwrap_or_default();
            values.into_iter().map(move |v| (v, records.clone()))
        })
        .collect())
}

/// The properties to ask for: those `find` reads plus `extra` (needed to match records to
/// values), and a function that removes the extra ones from a record again.
fn with_extra(
    c: &HubspotConnector,
    object: Object,
    extra: &[&str],
) -> (Vec<String>, impl Fn(&mut Record) + use<>) {
    let read = c.read_properties(object);
    let added: Vec<String> =
        extra.iter().filter(|p| !read.iter().any(|r| r == *p)).map(|p| p.to_string()).collect();
    let props = read.into_iter().chain(added.iter().cloned()).collect();
    let strip = move |r: &mut Record| {
        for p in &added {
            r.fields.remove(p);
        }
    };
    (props, strip)
}

fn push_once(found: &mut Found, key: &str, record: &Record) {
    let list = found.entry(key.to_string()).or_default();
    if !list.iter().any(|r| r.id == record.id) {
        list.push(record.clone());
    }
}

/// `batch/read` with `idProperty`; answers the records per key and the keys it cannot settle.
async fn read_by_id_property(
    c: &HubspotConnector,
    object: Object,
    prop: &str,
    matching: Matching,
    groups: &BTreeMap<String, Vec<String>>,
) -> Result<(Found, Vec<String>), ConnectorError> {
    let email = prop == "email";
    let (props, strip) = with_extra(c, object, if email { &[ADDITIONAL_EMAILS] } else { &[] });
    let mut found = Found::new();
    let mut unsettled = Vec::new();
    let keys: Vec<&String> = groups.keys().collect();
    for chunk in keys.chunks(MAX_BATCH) {
        let inputs = chunk.iter().map(|k| IdInput { id: groups[*k][0].as_str() }).collect();
        let body = BatchRead { inputs, properties: &props, id_property: Some(prop) };
        let (_, bytes) = c.api.post(c.api.url(object.name(), "/batch/read"), &body, false, true).await?;
        let resp: BatchResponse = Api::decode("batch read", &bytes)?;
        let missing: BTreeSet<String> = resp
            .errors
            .iter()
            .filter(|e| e.category.as_deref() == Some("OBJECT_NOT_FOUND"))
            .flat_map(|e| e.context.get("ids").into_iter().flatten())
            .map(|v| matching.key(v))
            .collect();
        for raw in &resp.results {
            // As `find`: an unreadable record fails the lookup (it cannot be judged a non-match).
            let (mut record, o) =
                to_record(object, raw).map_err(|q| ConnectorError::Protocol { message: q.reason })?;
            let mut own: BTreeSet<String> = o
                .properties
                .get(prop)
                .and_then(|v| v.as_deref())
                .map(|v| matching.key(v))
                .into_iter()
                .collect();
            if email {
                let extra =
                    o.properties.get(ADDITIONAL_EMAILS).and_then(|v| v.as_deref()).unwrap_or_default();
                own.extend(extra.split(';').filter(|e| !e.trim().is_empty()).map(|e| matching.key(e.trim())));
            }
            strip(&mut record);
            for key in chunk.iter().filter(|k| own.contains(**k)) {
                push_once(&mut found, key, &record);
            }
        }
        for key in chunk {
            if found.contains_key(*key) {
                continue;
            }
            if missing.contains(*key) {
                found.insert((*key).clone(), Vec::new());
            } else {
                unsettled.push((*key).clone());
            }
        }
    }
    Ok((found, unsettled))
}

/// Splits `keys` into `IN` lists whose search request stays within the body limit.
fn in_chunks<'a>(props: &[String], prop: &str, keys: &[&'a String]) -> Vec<Vec<&'a String>> {
    let size = |chunk: &[&String]| {
        let values = chunk.iter().map(|k| (*k).clone()).collect();
        let req = search_request(prop, values, props, None);
        serde_json::to_string(&req).map_or(usize::MAX, |s| s.chars().count())
    };
    let mut out: Vec<Vec<&String>> = Vec::new();
    let mut current: Vec<&String> = Vec::new();
    for key in keys {
        current.push(key);
        if current.len() > 1 && (current.len() > MAX_IN_VALUES || size(&current) > MAX_SEARCH_BODY) {
            current.pop();
            out.push(std::mem::replace(&mut current, vec![key]));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn search_request(prop: &str, values: Vec<String>, props: &[String], after: Option<String>) -> SearchRequest {
    SearchRequest {
        filter_groups: vec![FilterGroup { filters: vec![Filter::any_of(prop, values)] }],
        sorts: Vec::new(),
        properties: props.to_vec(),
        limit: MAX_SEARCH_PAGE,
        after,
    }
}

/// Search with `prop IN (keys)` (keys are lowercase); answers the records per key, at most
/// `find`'s one page per key, and the keys it cannot settle.
async fn search_in(
    c: &HubspotConnector,
    object: Object,
    prop: &str,
    groups: &BTreeMap<String, Vec<String>>,
) -> Result<(Found, Vec<String>), ConnectorError> {
    let (props, strip) = with_extra(c, object, &[prop]);
    let keys: Vec<&String> = groups.keys().collect();
    let mut found = Found::new();
    // A result whose value matches no key means the server compares differently from here.
    let mut stray = false;
    for chunk in in_chunks(&props, prop, &keys) {
        let values: Vec<String> = chunk.iter().map(|k| (*k).clone()).collect();
        let mut after = None;
        let mut seen = 0;
        loop {
            let req = search_request(prop, values.clone(), &props, after.take());
            let (_, bytes) = c.api.post(c.api.url(object.name(), "/search"), &req, true, true).await?;
            let page: Collection = Api::decode("search", &bytes)?;
            seen += page.results.len();
            for raw in &page.results {
                let (mut record, o) =
                    to_record(object, raw).map_err(|q| ConnectorError::Protocol { message: q.reason })?;
                strip(&mut record);
                let key = o.properties.get(prop).and_then(|v| v.as_deref()).map(str::to_lowercase);
                match key.filter(|k| groups.contains_key(k)) {
                    Some(k) if found.get(&k).is_none_or(|l| l.len() < FIND_LIMIT) => {
                        push_once(&mut found, &k, &record)
                    }
                    Some(_) => {}
                    None => stray = true,
                }
            }
            match page.paging.and_then(|p| p.next) {
                Some(next) if seen + MAX_SEARCH_PAGE <= RESULT_CAP => after = Some(next.after),
                _ => break,
            }
        }
    }
    let unsettled = if stray {
        keys.into_iter().filter(|k| !found.contains_key(*k)).cloned().collect()
    } else {
        Vec::new()
    };
    Ok((found, unsettled))
}
