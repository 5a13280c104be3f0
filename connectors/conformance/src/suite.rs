//! The generic conformance checks. Each takes the driver and the connector, panics with a
//! readable message when the connector breaks the contract, and prints a note and returns early
//! when the driver says the system cannot do what the check needs.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{Change, Checkpoint, Connector, ErrorClass, IdentityKey, PullRequest, Write, WriteOp};
use serde_json::Value;

use crate::{ConformanceDriver, DriverError, Fault};

/// The most pages one drain may take before the check calls it a loop.
const MAX_PAGES: usize = 10_000;

/// Pulls until `done`: `rewind` on the first page only, as the engine does. Returns every
/// change and the final checkpoint.
pub async fn drain(
    c: &dyn Connector,
    object: &str,
    from: Option<&Checkpoint>,
    rewind: Option<Duration>,
    limit: usize,
    horizon: DateTime<Utc>,
) -> Result<(Vec<Change>, Checkpoint), connector_api::ConnectorError> {
    let mut cp = from.cloned();
    let mut all = Vec::new();
    for page_no in 0..MAX_PAGES {
        let req = PullRequest {
            object,
            checkpoint: cp.as_ref(),
            rewind: if page_no == 0 { rewind } else { None },
            horizon,
            since: None,
            until: None,
            limit,
        };
        let page = c.pull(req).await?;
        if let Some(newest) = page.newest {
            assert!(newest <= horizon, "page newest {newest} is past the horizon {horizon}");
        }
        all.extend(page.changes);
        cp = Some(page.next);
        if page.done {
            return Ok((all, cp.expect("set above")));
        }
    }
    panic!("pull did not finish within {MAX_PAGES} pages (a loop?)");
}

async fn drain_ok(
    c: &dyn Connector,
    d: &impl ConformanceDriver,
    from: Option<&Checkpoint>,
    rewind: Option<Duration>,
    limit: usize,
) -> (Vec<Change>, Checkpoint) {
    drain(c, d.object(), from, rewind, limit, d.now()).await.expect("pull")
}

/// How many times each of `ids` appears among `changes`.
fn counts(changes: &[Change], ids: &[String]) -> BTreeMap<String, usize> {
    ids.iter().map(|id| (id.clone(), changes.iter().filter(|c| &c.id == id).count())).collect()
}

fn exactly_once(changes: &[Change], ids: &[String], what: &str) {
    let got = counts(changes, ids);
    assert!(got.values().all(|n| *n == 1), "{what}: each record exactly once, got {got:?}");
}

async fn seed_n(d: &impl ConformanceDriver, from: u32, n: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for i in from..from + n {
        ids.push(d.seed(d.sample(i)).await.expect("seed"));
    }
    ids
}

/// `Some(value)` when the driver did it; `None` (with a printed note) when the system cannot.
fn supported<T>(check: &str, r: Result<T, DriverError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(DriverError::Unsupported(why)) => {
            println!("conformance: {check} skipped: {why}");
            None
        }
        Err(DriverError::Failed(why)) => panic!("{check}: driver failed: {why}"),
    }
}

/// Paging from the beginning with a small page returns every record exactly once, in source
/// order; re-polling from the final checkpoint returns none of them again; later records arrive
/// exactly once from that checkpoint.
pub async fn paging_exactly_once(d: &impl ConformanceDriver, c: &dyn Connector) {
    let ids = seed_n(d, 100, 7).await;
    let (changes, cp) = drain_ok(c, d, None, None, 3).await;
    exactly_once(&changes, &ids, "first drain");
    assert!(changes.windows(2).all(|w| w[0].modified_at <= w[1].modified_at), "source order");
    let (again, cp) = drain_ok(c, d, Some(&cp), None, 3).await;
    assert!(counts(&again, &ids).values().all(|n| *n == 0), "re-poll returned records again: {again:?}");
    d.advance(Duration::from_secs(30)).await;
    let more = seed_n(d, 200, 2).await;
    let (later, _) = drain_ok(c, d, Some(&cp), None, 3).await;
    exactly_once(&later, &more, "later drain");
    assert!(counts(&later, &ids).values().all(|n| *n == 0), "old records came back");
}

/// A pull whose horizon is before the new records returns none of them and claims nothing past
/// the horizon; the next pull returns them exactly once; a checkpoint at the end returns
/// nothing, however far time moves.
pub async fn future_checkpoint_returns_nothing(d: &impl ConformanceDriver, c: &dyn Connector) {
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    d.advance(Duration::from_secs(60)).await;
    let before = d.now() - chrono::Duration::seconds(1);
    let ids = seed_n(d, 300, 3).await;
    let (early, cp) = drain(c, d.object(), Some(&base), None, 50, before).await.expect("pull");
    assert!(counts(&early, &ids).values().all(|n| *n == 0), "changes past the horizon were returned");
    let (got, end) = drain_ok(c, d, Some(&cp), None, 50).await;
    exactly_once(&got, &ids, "after the horizon moved");
    d.advance(Duration::from_secs(3600)).await;
    let (none, _) = drain_ok(c, d, Some(&end), None, 50).await;
    assert!(none.is_empty(), "a checkpoint at the end returned {} changes", none.len());
}

/// A create carrying an external id, replayed, makes one record: the second answer is the same
/// id with `created: false`, and the system holds exactly one record with that key.
pub async fn idempotent_create_replay(d: &impl ConformanceDriver, c: &dyn Connector) {
    let key = IdentityKey { field: "external_id".into(), value: "conformance-replay-1".into() };
    let write = Write {
        key: "w-replay-1".into(),
        op: WriteOp::Create { fields: d.sample(400), external_id: Some(key.clone()) },
    };
    let first = c.apply(d.object(), vec![write.clone()]).await.expect("apply");
    let second = c.apply(d.object(), vec![write]).await.expect("apply replay");
    let (a, b) = (first[0].result.clone().expect("first create"), second[0].result.clone().expect("replay"));
    assert!(a.created, "first create reports created");
    assert!(!b.created, "replay reports the existing record");
    assert_eq!(a.id, b.id, "replay returned another record");
    assert_eq!(first[0].key, "w-replay-1");
    let held = d.records_with("external_id", &key.value).await.expect("ground truth");
    assert_eq!(held, vec![a.id.clone()], "the system holds exactly one record for the key");
    let caps = c.capabilities();
    if caps.object(d.object()).is_some_and(|o| o.identity_fields.iter().any(|f| f == "external_id")) {
        let found = c.find(d.object(), &key).await.expect("find");
        assert_eq!(found.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![a.id]);
    }
}

/// Records sharing one timestamp across page boundaries are each returned exactly once.
pub async fn tie_at_page_boundary(d: &impl ConformanceDriver, c: &dyn Connector) {
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    let Some(ids) = supported("tie_at_page_boundary", d.same_timestamp_burst(5).await) else { return };
    let (got, _) = drain_ok(c, d, Some(&base), None, 2).await;
    exactly_once(&got, &ids, "same-timestamp burst over pages of 2");
    let times: Vec<_> = got.iter().filter(|ch| ids.contains(&ch.id)).map(|ch| ch.modified_at).collect();
    assert!(times.windows(2).all(|w| w[0] == w[1]), "the burst shares one timestamp: {times:?}");
}

/// Rewinding by the overlap re-reads every change at or after `newest − overlap`, with the same
/// event ids (so the engine recognises them), and a long overlap re-reads older ones too.
pub async fn rewind_rereads_overlap(d: &impl ConformanceDriver, c: &dyn Connector) {
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    let a = seed_n(d, 500, 1).await;
    d.advance(Duration::from_secs(600)).await;
    let b = seed_n(d, 501, 1).await;
    let (first, cp) = drain_ok(c, d, Some(&base), None, 1).await;
    exactly_once(&first, &[a[0].clone(), b[0].clone()], "first read");
    let (short, _) = drain_ok(c, d, Some(&cp), Some(Duration::from_secs(300)), 1).await;
    assert!(counts(&short, &b)[&b[0]] >= 1, "a 5-minute rewind did not re-read the newest change");
    let original = first.iter().find(|ch| ch.id == b[0]).and_then(|ch| ch.event_id.clone());
    let reread = short.iter().find(|ch| ch.id == b[0]).and_then(|ch| ch.event_id.clone());
    assert_eq!(original, reread, "a re-read carries the same event id");
    let (long, cp2) = drain_ok(c, d, Some(&cp), Some(Duration::from_secs(3600)), 1).await;
    assert!(counts(&long, &a)[&a[0]] >= 1 && counts(&long, &b)[&b[0]] >= 1, "a 1-hour rewind re-reads both");
    let (after, _) = drain_ok(c, d, Some(&cp2), None, 1).await;
    assert!(counts(&after, &[a[0].clone(), b[0].clone()]).values().all(|n| *n == 0), "rewind state leaked");
}

/// With duplicated and reordered deliveries, every record is seen, and de-duplicated by event id
/// each create appears once.
pub async fn duplicate_and_reordered_events(d: &impl ConformanceDriver, c: &dyn Connector) {
    if supported("duplicate_and_reordered_events", d.duplicate_and_reorder(true).await).is_none() {
        return;
    }
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    let ids = seed_n(d, 600, 4).await;
    let (got, _) = drain_ok(c, d, Some(&base), None, 50).await;
    d.duplicate_and_reorder(false).await.expect("turn duplicates off");
    let mut unique: BTreeMap<String, &Change> = BTreeMap::new();
    for ch in &got {
        let key = ch.event_id.clone().unwrap_or_else(|| format!("{}@{}", ch.id, ch.modified_at));
        unique.entry(key).or_insert(ch);
    }
    let deduped: Vec<Change> = unique.values().map(|c| (*c).clone()).collect();
    exactly_once(&deduped, &ids, "after de-duplication by event id");
}

/// Under a 429 storm the connector never sends before the server's `Retry-After` deadline, gives
/// up with a throttled (retryable) error, and reads normally once the storm ends.
pub async fn throttle_storm_is_polite(d: &impl ConformanceDriver, c: &dyn Connector) {
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    let ids = seed_n(d, 700, 1).await;
    d.clear_log().await;
    let retry_after = Duration::from_secs(7);
    if supported("throttle_storm_is_polite", d.set_fault(Fault::ThrottleStorm { retry_after }).await)
        .is_none()
    {
        return;
    }
    let err = drain_ok_err(c, d, &base).await;
    d.set_fault(Fault::None).await.expect("clear fault");
    assert_eq!(err.class(), ErrorClass::Throttled, "{err}");
    let (got, _) = drain_ok(c, d, Some(&base), None, 50).await;
    exactly_once(&got, &ids, "after the storm");
    let log = d.request_log().await;
    let throttled = log.iter().filter(|l| l.status == 429).count();
    assert!(throttled >= 2, "the client retried the 429 at least once: {log:?}");
    for w in log.windows(2) {
        if let (429, Some(ra)) = (w[0].status, w[0].retry_after) {
            let earliest = w[0].at + chrono::Duration::from_std(ra).expect("small");
            assert!(w[1].at >= earliest, "request at {} before the Retry-After deadline {earliest}", w[1].at);
        }
    }
}

async fn drain_ok_err(
    c: &dyn Connector,
    d: &impl ConformanceDriver,
    base: &Checkpoint,
) -> connector_api::ConnectorError {
    match drain(c, d.object(), Some(base), None, 50, d.now()).await {
        Ok((got, _)) => panic!("pull succeeded during the fault with {} changes", got.len()),
        Err(e) => e,
    }
}

/// During maintenance (503) a pull fails with a transient error after spaced retries; afterwards
/// the next pull returns what was missed, exactly once.
pub async fn maintenance_503_recovers(d: &impl ConformanceDriver, c: &dyn Connector) {
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    let ids = seed_n(d, 800, 2).await;
    d.clear_log().await;
    if supported("maintenance_503_recovers", d.set_fault(Fault::Maintenance).await).is_none() {
        return;
    }
    let err = drain_ok_err(c, d, &base).await;
    d.set_fault(Fault::None).await.expect("clear fault");
    assert!(err.is_retryable() && err.class() == ErrorClass::Transient, "{err}");
    let log = d.request_log().await;
    let unavailable: Vec<_> = log.iter().filter(|l| l.status == 503).collect();
    assert!(unavailable.len() >= 2, "503 was retried: {log:?}");
    assert!(unavailable.windows(2).all(|w| w[1].at > w[0].at), "retries were spaced, not hammered");
    let (got, _) = drain_ok(c, d, Some(&base), None, 50).await;
    exactly_once(&got, &ids, "after maintenance");
}

/// An edit the pull does not report (where the system has such edits) is found by `fetch`;
/// unknown ids are left out of the answer.
pub async fn silent_edit_found_by_fetch(d: &impl ConformanceDriver, c: &dyn Connector) {
    let (_, base) = drain_ok(c, d, None, None, 50).await;
    let id = seed_n(d, 900, 1).await.remove(0);
    let (_, cp) = drain_ok(c, d, Some(&base), None, 50).await;
    d.advance(Duration::from_secs(60)).await;
    let field = d.edit_field();
    let value = Value::String("Edited-By-Hand".into());
    d.external_edit(&id, [(field.clone(), value.clone())].into()).await.expect("edit");
    let (seen, _) = drain_ok(c, d, Some(&cp), None, 50).await;
    let sees_all = c.capabilities().object(d.object()).is_some_and(|o| o.pull_sees_every_edit);
    if !sees_all {
        assert!(seen.iter().all(|ch| ch.id != id), "this edit kind was declared invisible to pulls");
    }
    let got = c.fetch(d.object(), &[id.clone(), "987654321".into()]).await.expect("fetch");
    assert_eq!(got.len(), 1, "unknown ids are left out: {got:?}");
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].fields.get(&field), Some(&value), "fetch returns the edited value");
    let truth = d.record(&id).await.expect("ground truth").expect("record exists");
    assert_eq!(truth.get(&field), Some(&value));
}

/// `find_many` answers, per value, the records `find` answers for it (the same ids with the
/// same fields), for `external_id` and every identity field the connector declares, over the
/// values of three created records, their upper-case variants, a repeat, a miss and a
/// quote-looking value; every created record is found under its own values; and the batch
/// sends no more requests than the per-value `find`s.
pub async fn find_many_agrees_with_find(d: &impl ConformanceDriver, c: &dyn Connector) {
    let keys: Vec<String> = (0..3).map(|n| format!("conformance-many-{n}")).collect();
    let mut ids = Vec::new();
    for (n, key) in (1000..).zip(&keys) {
        let op = WriteOp::Create {
            fields: d.sample(n),
            external_id: Some(IdentityKey { field: "external_id".into(), value: key.clone() }),
        };
        let out = c.apply(d.object(), vec![Write { key: format!("w-many-{n}"), op }]).await.expect("apply");
        ids.push(out[0].result.clone().expect("create").id);
    }
    let records = c.fetch(d.object(), &ids).await.expect("fetch");
    assert_eq!(records.len(), ids.len(), "the created records can be read");
    let declared = c.capabilities().object(d.object()).map(|o| o.identity_fields.clone()).unwrap_or_default();
    let mut checked = 0;
    for field in std::iter::once("external_id".to_string()).chain(declared) {
        // (value, the record it must find)
        let own: Vec<(String, String)> = if field == "external_id" {
            keys.iter().cloned().zip(ids.iter().cloned()).collect()
        } else {
            records
                .iter()
                .filter_map(|r| {
                    let v = r.fields.get(&field)?.as_str().filter(|s| !s.is_empty())?;
                    Some((v.to_string(), r.id.clone()))
                })
                .collect()
        };
        if own.is_empty() {
            println!("conformance: find_many_agrees_with_find: no created record carries {field}");
            continue;
        }
        let mut values: Vec<String> = own.iter().map(|(v, _)| v.clone()).collect();
        values.extend(own.iter().map(|(v, _)| v.to_uppercase()));
        values.extend(["conformance-nobody-1".to_string(), "x' OR '1'='1".to_string(), own[0].0.clone()]);

        d.clear_log().await;
        let many = c.find_many(d.object(), &field, &values).await.expect("find_many");
        let batched = d.request_log().await.len();
        d.clear_log().await;
        let sorted = |rs: &[connector_api::Record]| {
            let mut v: Vec<(String, connector_api::FieldMap)> =
                rs.iter().map(|r| (r.id.clone(), r.fields.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        for v in &values {
            let key = IdentityKey { field: field.clone(), value: v.clone() };
            let one = c.find(d.object(), &key).await.expect("find");
            let got = many.get(v).map(|rs| sorted(rs)).unwrap_or_default();
            assert_eq!(got, sorted(&one), "find_many and find disagree on {field} = {v}");
        }
        let single = d.request_log().await.len();
        assert!(batched <= single, "{field}: find_many sent {batched} requests, the finds {single}");
        for (v, id) in &own {
            let found = many.get(v).map(|rs| rs.iter().any(|r| &r.id == id)).unwrap_or(false);
            assert!(found, "{field} = {v} did not find its record {id}");
        }
        checked += 1;
    }
    assert!(checked > 0, "no identity field could be checked");
}
