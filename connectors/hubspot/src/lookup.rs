//! Batched identity lookups (`find_many`), answering per value exactly what `find` would, in as
//! few requests as the API allows (spec §4, §5):
//!
//! - record ids (`id`, `hs_object_id`): one `batch/read` per 100 ids, as `fetch`;
//! - `email` (contacts): search, `email IN (..)` OR `hs_additional_emails IN (..)` (two filter
//!   groups, spec §5), as many values per request as the 3,000-character body allows, so every
//!   matching contact comes back: two contacts holding one email (an import artefact; the API
//!   refuses a duplicate on create) are both candidates, never one guessed. `batch/read` with
//!   `idProperty=email` (100 per call), which answers at most one record per email, is asked
//!   only for the values search found nothing for: what search's index lag (spec §5) may hide,
//!   a contact created seconds ago. `find` by email is the same calls for one value;
//! - the unique property: `batch/read` with `idProperty`, 100 inputs per call, where an
//!   unknown value comes back as a 207 `OBJECT_NOT_FOUND` error (unique: one record at most);
//! - any other property: search with one `IN` filter (values lowercase, spec §5) per request
//!   body of at most 3,000 characters.
//!
//! Neither answer says which requested value a record was found for, so records are matched to
//! the values here: by `email` or a `;`-separated `hs_additional_emails` entry
//! case-insensitively, by the unique property exactly, by a searched property
//! case-insensitively (search filter values are, spec §5). A value this matching cannot settle
//! (a batch read neither matched it nor reported it missing; a search answered a record matching
//! no value) is looked up alone with `find`, so a matching that disagrees with the server costs
//! requests, never a wrong answer.

use std::collections::{BTreeMap, BTreeSet};

use connector_api::{ConnectorError, IdentityKey, Record};
use serde_json::Value;

use crate::client::Api;
use crate::read::{FIND_LIMIT, fetch, find, to_record};
use crate::wire::{
    BatchRead, BatchResponse, Collection, Filter, FilterGroup, IdInput, SearchRequest, SimpleObject,
};
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
    let emails = prop == "email" && object == Object::Contacts;
    let by_id_property = prop == c.config.unique_property;
    let matching = if by_id_property { Matching::Exact } else { Matching::Folded };
    // Values that compare equal are looked up once, under their matching key.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in values {
        groups.entry(matching.key(v)).or_default().push(v.clone());
    }
    let (mut found, unsettled) = if emails {
        let keys: Vec<&String> = groups.keys().collect();
        (find_emails(c, &keys).await?, Vec::new())
    } else if by_id_property {
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
    let (props, strip) = with_extra(c, object, &[]);
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
            .flat_map(|e| e.context("ids"))
            .map(|v| matching.key(&v))
            .collect();
        for raw in &resp.results {
            // As `find`: an unreadable record fails the lookup (it cannot be judged a non-match).
            let (mut record, o) =
                to_record(object, raw).map_err(|q| ConnectorError::Protocol { message: q.reason })?;
            let own: BTreeSet<String> = o
                .properties
                .get(prop)
                .and_then(|v| v.as_deref())
                .map(|v| matching.key(v))
                .into_iter()
                .collect();
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

/// Splits `keys` into lists whose search request (`build` of the list) stays within the body
/// limit and the `IN` value cap.
fn in_chunks<'a>(keys: &[&'a String], build: impl Fn(Vec<String>) -> SearchRequest) -> Vec<Vec<&'a String>> {
    let size = |chunk: &[&String]| {
        let req = build(chunk.iter().map(|k| (*k).clone()).collect());
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

fn search_request(groups: Vec<Filter>, props: &[String], after: Option<String>) -> SearchRequest {
    SearchRequest {
        filter_groups: groups.into_iter().map(|f| FilterGroup { filters: vec![f] }).collect(),
        sorts: Vec::new(),
        properties: props.to_vec(),
        limit: MAX_SEARCH_PAGE,
        after,
    }
}

/// Every result of one search (`build` of the `after` cursor), page by page, up to the
/// 10,000 results one query can reach (spec §5).
async fn search_all(
    c: &HubspotConnector,
    object: Object,
    build: impl Fn(Option<String>) -> SearchRequest,
) -> Result<Vec<Value>, ConnectorError> {
    let mut out = Vec::new();
    let mut after = None;
    // A search answering an empty page that names a next one, or a page cursor it handed out
    // before, would otherwise be asked again for ever.
    let mut trail = connector_api::PullTrail::default();
    let stream = format!("hubspot {} lookup search", object.name());
    loop {
        let req = build(after.take());
        let (_, bytes) = c.api.post(c.api.url(object.name(), "/search"), &req, true, true).await?;
        let page: Collection = Api::decode("search", &bytes)?;
        let empty = page.results.is_empty();
        out.extend(page.results);
        match page.paging.and_then(|p| p.next) {
            Some(_) if empty => {
                return Err(connector_api::progress::stalled(&stream, "an empty page named a next page"));
            }
            Some(next) if out.len() + MAX_SEARCH_PAGE <= RESULT_CAP => {
                trail.visit(&next.after, &stream)?;
                after = Some(next.after);
            }
            _ => return Ok(out),
        }
    }
}

/// A contact's emails, lowercase: `email` and each `hs_additional_emails` entry.
fn emails_of(o: &SimpleObject) -> BTreeSet<String> {
    let prop = |p: &str| o.properties.get(p).and_then(|v| v.as_deref()).unwrap_or_default();
    std::iter::once(prop("email"))
        .chain(prop(ADDITIONAL_EMAILS).split(';'))
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

/// Files a contact under each wanted key among its emails. As `find`: an unreadable record
/// fails the lookup (it cannot be judged a non-match).
fn add_by_email(
    found: &mut Found,
    wanted: &BTreeSet<&str>,
    strip: &impl Fn(&mut Record),
    raw: &Value,
) -> Result<(), ConnectorError> {
    let (mut record, o) =
        to_record(Object::Contacts, raw).map_err(|q| ConnectorError::Protocol { message: q.reason })?;
    strip(&mut record);
    for email in emails_of(&o).iter().filter(|e| wanted.contains(e.as_str())) {
        push_once(found, email, &record);
    }
    Ok(())
}

/// The contacts whose `email` or `hs_additional_emails` is one of `keys` (lowercase, as `IN`
/// wants them, spec §5), every one of them per key; a key nothing matched answers empty.
/// Search finds them all; a `batch/read` by `idProperty=email` of the keys it found nothing for
/// adds the one a lagging search index may not show yet (created or changed seconds ago, §5).
pub(crate) async fn find_emails(c: &HubspotConnector, keys: &[&String]) -> Result<Found, ConnectorError> {
    let object = Object::Contacts;
    let (props, strip) = with_extra(c, object, &["email", ADDITIONAL_EMAILS]);
    let wanted: BTreeSet<&str> = keys.iter().map(|k| k.as_str()).collect();
    let mut found: Found = keys.iter().map(|k| ((*k).clone(), Vec::new())).collect();
    let request = |values: Vec<String>, after| {
        let groups = vec![Filter::any_of("email", values.clone()), Filter::any_of(ADDITIONAL_EMAILS, values)];
        search_request(groups, &props, after)
    };
    for chunk in in_chunks(keys, |values| request(values, None)) {
        let values: Vec<String> = chunk.iter().map(|k| (*k).clone()).collect();
        for raw in search_all(c, object, |after| request(values.clone(), after)).await? {
            add_by_email(&mut found, &wanted, &strip, &raw)?;
        }
    }
    // Only for what search did not find: the API refuses a second contact with an email it
    // holds, so a lagging one is the only one. Unknown emails answer 207 `OBJECT_NOT_FOUND`.
    let unseen: Vec<&String> = keys.iter().copied().filter(|k| found[*k].is_empty()).collect();
    for chunk in unseen.chunks(MAX_BATCH) {
        let inputs = chunk.iter().map(|k| IdInput { id: k.as_str() }).collect();
        let body = BatchRead { inputs, properties: &props, id_property: Some("email") };
        let (_, bytes) = c.api.post(c.api.url(object.name(), "/batch/read"), &body, false, true).await?;
        let resp: BatchResponse = Api::decode("batch read", &bytes)?;
        for raw in &resp.results {
            add_by_email(&mut found, &wanted, &strip, raw)?;
        }
    }
    Ok(found)
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
    let request =
        |values: Vec<String>, after| search_request(vec![Filter::any_of(prop, values)], &props, after);
    let keys: Vec<&String> = groups.keys().collect();
    let mut found = Found::new();
    // A result whose value matches no key means the server compares differently from here.
    let mut stray = false;
    for chunk in in_chunks(&keys, |values| request(values, None)) {
        let values: Vec<String> = chunk.iter().map(|k| (*k).clone()).collect();
        for raw in search_all(c, object, |after| request(values.clone(), after)).await? {
            let (mut record, o) =
                to_record(object, &raw).map_err(|q| ConnectorError::Protocol { message: q.reason })?;
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
    }
    let unsettled = if stray {
        keys.into_iter().filter(|k| !found.contains_key(*k)).cloned().collect()
    } else {
        Vec::new()
    };
    Ok((found, unsettled))
}
