//! The review queue: opening items (deduplicated while open), listing with filters, an admin's
//! resolve / reopen, and the transitions a run makes (applied, superseded).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::db::{Arg, Db, Ts, Tx, Where, bind_args, limit_arg, on_db, on_tx, to_u64, ts};
use super::{
    NewReviewItem, Person, Resolution, ResolveAction, ResolveOutcome, ReviewFilter, ReviewItem, ReviewKind,
    ReviewSort, ReviewState, ReviewTransition, StoreError,
};

/// `SELECT <every review column> FROM review_items r LEFT JOIN links l`, as a literal for
/// `concat!`: the link's base names the person the item is about.
macro_rules! select_review {
    () => {
        "SELECT r.id, r.pair, r.link_id, r.kind, r.field, r.base_value, r.left_value, r.right_value, \
         r.left_modified_at, r.right_modified_at, r.left_id, r.right_id, r.rule, r.reason, r.candidates, \
         r.detected_at, r.run_id, r.state, r.resolution_action, r.resolution_value, r.resolved_by, \
         r.resolved_at, r.resolution_note, r.applied_run_id, r.updated_at, r.remote_system, r.remote_code, \
         r.remote_message, r.remote_field, l.base AS link_base \
         FROM review_items r LEFT JOIN links l ON l.id = r.link_id"
    };
}

#[derive(sqlx::FromRow)]
struct ReviewRow {
    id: i64,
    pair: String,
    link_id: Option<i64>,
    kind: String,
    field: Option<String>,
    base_value: Option<String>,
    left_value: Option<String>,
    right_value: Option<String>,
    left_modified_at: Option<DateTime<Utc>>,
    right_modified_at: Option<DateTime<Utc>>,
    left_id: Option<String>,
    right_id: Option<String>,
    rule: Option<String>,
    reason: String,
    candidates: Json<Value>,
    detected_at: DateTime<Utc>,
    run_id: String,
    state: String,
    resolution_action: Option<String>,
    resolution_value: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolution_note: Option<String>,
    applied_run_id: Option<String>,
    updated_at: DateTime<Utc>,
    remote_system: Option<String>,
    remote_code: Option<String>,
    remote_message: Option<String>,
    remote_field: Option<String>,
    link_base: Option<Json<Value>>,
}

impl TryFrom<ReviewRow> for ReviewItem {
    type Error = StoreError;

    fn try_from(r: ReviewRow) -> Result<Self, StoreError> {
        let resolution = match (r.resolution_action, r.resolved_by, r.resolved_at) {
            (Some(action), Some(by), Some(at)) => Some(Resolution {
                action: action.parse()?,
                value: r.resolution_value,
                by,
                at,
                note: r.resolution_note,
            }),
            _ => None,
        };
        Ok(ReviewItem {
            id: r.id,
            pair: r.pair,
            link_id: r.link_id,
            kind: r.kind.parse()?,
            field: r.field,
            base_value: r.base_value,
            left_value: r.left_value,
            right_value: r.right_value,
            left_modified_at: r.left_modified_at,
            right_modified_at: r.right_modified_at,
            left_id: r.left_id,
            right_id: r.right_id,
            rule: r.rule,
            reason: r.reason,
            candidates: r.candidates.0.clone(),
            detected_at: r.detected_at,
            run_id: r.run_id,
            state: r.state.parse()?,
            resolution,
            applied_run_id: r.applied_run_id,
            updated_at: r.updated_at,
            remote_system: r.remote_system,
            remote_code: r.remote_code,
            remote_message: r.remote_message,
            remote_field: r.remote_field,
            person: person(r.link_base.as_ref().map(|b| &b.0), &r.candidates.0),
        })
    }
}

/// The person an item is about: the link's last agreed record, else (an ambiguous identity)
/// the record that matched several candidates, as the engine noted it in `candidates.person`.
fn person(link_base: Option<&Value>, candidates: &Value) -> Option<Person> {
    link_base.and_then(Person::from_canon).or_else(|| candidates.get("person").and_then(Person::from_canon))
}

fn to_items(rows: Vec<ReviewRow>) -> Result<Vec<ReviewItem>, StoreError> {
    rows.into_iter().map(ReviewItem::try_from).collect()
}

/// The identity of an open item: (pair, kind, link, field), with the record ids standing in
/// for the link when there is none (an ambiguous match has no link yet).
fn dedupe_key(item: &NewReviewItem) -> String {
    let records = match item.link_id {
        Some(_) => (None, None),
        None => (item.left_id.as_deref(), item.right_id.as_deref()),
    };
    let key = (&item.pair, item.kind.as_str(), item.link_id, &item.field, records);
    serde_json::to_string(&key).expect("a tuple of strings and integers serialises")
}

fn filter_sql(db: &Db, filter: &ReviewFilter) -> Where {
    let mut w = Where::default();
    if let Some(pair) = &filter.pair {
        w.push("r.pair", "=", Arg::Text(pair.clone()));
    }
    if let Some(kind) = filter.kind {
        w.push("r.kind", "=", Arg::Text(kind.as_str().to_owned()));
    }
    if let Some(field) = &filter.field {
        w.push("r.field", "=", Arg::Text(field.clone()));
    }
    if let Some(state) = filter.state {
        w.push("r.state", "=", Arg::Text(state.as_str().to_owned()));
    }
    if let Some(before) = filter.older_than {
        w.push("r.detected_at", "<", Arg::Ts(Ts::from(before)));
    }
    if let Some(text) = filter.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        // One word without JSON-escaped characters: it must appear in the JSON's text as it is.
        let plain = !text.chars().any(|c| c == '"' || c == '\\' || c.is_control() || c.is_whitespace());
        w.push_with(Arg::Text(like_pattern(text)), |n| search_clause(db, n, plain));
    }
    w
}

/// `%text%` in lower case, with LIKE's wildcards in `text` escaped by `\`.
fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out + "%"
}

/// Matches `$n` against the person (the link's base, or an ambiguous item's `candidates.person`
/// and candidate ids), the record ids, the field and the remote field: values only, never the
/// JSON keys.
fn search_clause(db: &Db, n: usize, plain: bool) -> String {
    let get = |json: &str, path: &[&str]| match db {
        Db::Sqlite(_) => format!("COALESCE(json_extract({json}, '$.{}'), '')", path.join(".")),
        Db::Postgres(_) => {
            let (last, init) = path.split_last().expect("a path");
            let init: String = init.iter().map(|k| format!(" -> '{k}'")).collect();
            format!("COALESCE({json}{init} ->> '{last}', '')")
        }
    };
    let person = |json: &str, prefix: &[&str]| {
        let fields = Person::FIELDS.iter().map(|k| get(json, &[prefix, &[*k]].concat()));
        fields.collect::<Vec<_>>().join(" || ' ' || ")
    };
    let like = |expr: &str| format!("lower({expr}) LIKE ${n} ESCAPE '\\'");
    let columns = ["r.left_id", "r.right_id", "r.field", "r.remote_field"]
        .map(|c| like(&format!("COALESCE({c}, '')")))
        .join(" OR ");
    let ids = match db {
        Db::Sqlite(_) => "COALESCE(json_extract(r.candidates, '$.ids'), '')".to_string(),
        Db::Postgres(_) => "COALESCE(CAST(r.candidates -> 'ids' AS TEXT), '')".to_string(),
    };
    // SQLite: the JSON's text contains every value it holds, so for one plain word one LIKE on
    // it rejects most rows before the values are taken out one by one (each `json_extract`
    // parses the text again).
    let text = |json: &str| like(&format!("CAST({json} AS TEXT)"));
    // On PostgreSQL turning JSONB into text costs more than the `->>` lookups it would save.
    let plain = plain && matches!(db, Db::Sqlite(_));
    let (base_pre, cand_pre) = if plain {
        (format!("{} AND ", text("l.base")), format!("{} AND ", text("r.candidates")))
    } else {
        Default::default()
    };
    format!(
        "({columns} OR ({base_pre}{}) OR (r.kind = 'ambiguous_identity' AND {cand_pre}({} OR {})))",
        like(&person("l.base", &[])),
        like(&person("r.candidates", &["person"])),
        like(&ids)
    )
}

fn order_sql(sort: ReviewSort) -> &'static str {
    match sort {
        ReviewSort::Id => "r.id",
        ReviewSort::Oldest => "r.detected_at, r.id",
        ReviewSort::Newest => "r.detected_at DESC, r.id DESC",
        ReviewSort::Pair => "r.pair, r.id",
        ReviewSort::Kind => "r.kind, r.id",
    }
}

pub(crate) async fn list(db: &Db, filter: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError> {
    let mut w = filter_sql(db, filter);
    let n = w.next();
    let sql = format!(
        "{}{} ORDER BY {} LIMIT ${n} OFFSET ${}",
        select_review!(),
        w.sql(),
        order_sql(filter.sort),
        n + 1
    );
    w.args.push(Arg::Int(filter.limit.map_or(i64::MAX, limit_arg)));
    w.args.push(Arg::Int(limit_arg(filter.offset)));
    let rows: Vec<ReviewRow> = on_db!(db, p => {
        bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &w.args).fetch_all(p).await?
    });
    to_items(rows)
}

pub(crate) async fn count(db: &Db, filter: &ReviewFilter) -> Result<u64, StoreError> {
    let w = filter_sql(db, filter);
    let join = if filter.search.is_some() { " LEFT JOIN links l ON l.id = r.link_id" } else { "" };
    let sql = format!("SELECT COUNT(*) FROM review_items r{join}{}", w.sql());
    let n: i64 = on_db!(db, p => {
        bind_args!(sqlx::query_scalar(AssertSqlSafe(sql)), &w.args).fetch_one(p).await?
    });
    Ok(to_u64(n))
}

pub(crate) async fn get(db: &Db, id: i64) -> Result<Option<ReviewItem>, StoreError> {
    const SQL: &str = concat!(select_review!(), " WHERE r.id = $1");
    let row: Option<ReviewRow> = on_db!(db, p => sqlx::query_as(SQL).bind(id).fetch_optional(p).await?);
    row.map(ReviewItem::try_from).transpose()
}

async fn get_in(tx: &mut Tx, id: i64) -> Result<Option<ReviewItem>, StoreError> {
    const SQL: &str = concat!(select_review!(), " WHERE r.id = $1");
    let row: Option<ReviewRow> = on_tx!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await?);
    row.map(ReviewItem::try_from).transpose()
}

/// Opens `item`, or finds the open item with the same key; returns its id.
pub(crate) async fn open(tx: &mut Tx, item: &NewReviewItem, at: DateTime<Utc>) -> Result<i64, StoreError> {
    const INSERT: &str = "INSERT INTO review_items (pair, link_id, kind, field, base_value, \
         left_value, right_value, left_modified_at, right_modified_at, left_id, right_id, rule, \
         reason, candidates, detected_at, run_id, state, updated_at, dedupe_key, remote_system, \
         remote_code, remote_message, remote_field) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'open', \
         $17, $18, $19, $20, $21, $22) ON CONFLICT DO NOTHING RETURNING id";
    const EXISTING: &str = "SELECT id FROM review_items WHERE dedupe_key = $1 AND state = 'open'";
    let key = dedupe_key(item);
    let inserted: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(INSERT)
        .bind(&item.pair)
        .bind(item.link_id)
        .bind(item.kind.as_str())
        .bind(item.field.as_deref())
        .bind(item.base_value.as_deref())
        .bind(item.left_value.as_deref())
        .bind(item.right_value.as_deref())
        .bind(ts(item.left_modified_at))
        .bind(ts(item.right_modified_at))
        .bind(item.left_id.as_deref())
        .bind(item.right_id.as_deref())
        .bind(item.rule.as_deref())
        .bind(&item.reason)
        .bind(Json(&item.candidates))
        .bind(Ts::from(item.detected_at))
        .bind(&item.run_id)
        .bind(Ts::from(at))
        .bind(&key)
        .bind(item.remote_system.as_deref())
        .bind(item.remote_code.as_deref())
        .bind(item.remote_message.as_deref())
        .bind(item.remote_field.as_deref())
        .fetch_optional(c)
        .await?);
    if let Some(id) = inserted {
        return Ok(id);
    }
    let existing: Option<i64> =
        on_tx!(tx, c => sqlx::query_scalar(EXISTING).bind(&key).fetch_optional(c).await?);
    let id =
        existing.ok_or_else(|| StoreError::Conflict(format!("review item {key} could not be opened")))?;
    if item.kind == ReviewKind::WriteRejected && item.candidates.get(REFUSED).is_some() {
        remember_refusal(tx, id, item, at).await?;
    }
    Ok(id)
}

/// The key of a write-rejected item's `candidates` that lists the fingerprints of the refused
/// writes (the engine holds back a write whose fingerprint an open item lists).
const REFUSED: &str = "refused";
/// How many fingerprints one item keeps (the newest).
const MAX_REFUSALS: usize = 16;

/// A write refused again while its item is open (a different write to the same link, or the
/// same write to changed content): the item keeps the newest reason and adds the fingerprint.
async fn remember_refusal(
    tx: &mut Tx,
    id: i64,
    item: &NewReviewItem,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SELECT: &str = "SELECT candidates FROM review_items WHERE id = $1";
    const UPDATE: &str = "UPDATE review_items SET candidates = $1, reason = $2, updated_at = $3, remote_system = $5, \
         remote_code = $6, remote_message = $7, remote_field = $8 WHERE id = $4";
    let Json(mut candidates): Json<serde_json::Value> =
        on_tx!(tx, c => sqlx::query_scalar(SELECT).bind(id).fetch_one(c).await?);
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.get(REFUSED)
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut refused = strings(&candidates);
    for r in strings(&item.candidates) {
        refused.retain(|x| *x != r);
        refused.push(r);
    }
    let drop = refused.len().saturating_sub(MAX_REFUSALS);
    refused.drain(..drop);
    if !candidates.is_object() {
        candidates = serde_json::json!({});
    }
    candidates[REFUSED] = serde_json::json!(refused);
    on_tx!(tx, c => sqlx::query(UPDATE)
        .bind(Json(&candidates))
        .bind(&item.reason)
        .bind(Ts::from(at))
        .bind(id)
        .bind(item.remote_system.as_deref())
        .bind(item.remote_code.as_deref())
        .bind(item.remote_message.as_deref())
        .bind(item.remote_field.as_deref())
        .execute(c)
        .await?
        .rows_affected());
    Ok(())
}

/// Applies a run's transition; an item not in a state the transition leaves is left alone.
pub(crate) async fn transition(
    tx: &mut Tx,
    id: i64,
    transition: &ReviewTransition,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (sql, run_id) = match transition {
        ReviewTransition::Applied { run_id } => (
            "UPDATE review_items SET state = 'applied', applied_run_id = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'resolved'",
            run_id,
        ),
        ReviewTransition::Superseded { run_id } => (
            "UPDATE review_items SET state = 'superseded', applied_run_id = $1, updated_at = $2 \
             WHERE id = $3 AND state IN ('open', 'resolved')",
            run_id,
        ),
    };
    on_tx!(tx, c => sqlx::query(sql).bind(run_id).bind(Ts::from(at)).bind(id).execute(c).await?.rows_affected());
    Ok(())
}

pub(crate) async fn resolve(db: &Db, id: i64, resolution: &Resolution) -> Result<ResolveOutcome, StoreError> {
    const SQL: &str = "UPDATE review_items SET state = $1, resolution_action = $2, \
         resolution_value = $3, resolved_by = $4, resolved_at = $5, resolution_note = $6, \
         updated_at = $5 WHERE id = $7 AND state = 'open'";
    let state = match resolution.action {
        ResolveAction::Ignore => ReviewState::Ignored,
        _ => ReviewState::Resolved,
    };
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => sqlx::query(SQL)
        .bind(state.as_str())
        .bind(resolution.action.as_str())
        .bind(resolution.value.as_deref())
        .bind(&resolution.by)
        .bind(Ts::from(resolution.at))
        .bind(resolution.note.as_deref())
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    let outcome = if done == 1 {
        ResolveOutcome::Resolved
    } else {
        let item =
            get_in(&mut tx, id).await?.ok_or_else(|| StoreError::not_found(format!("review item {id}")))?;
        let decided =
            matches!(item.state, ReviewState::Resolved | ReviewState::Ignored | ReviewState::Applied);
        match item.resolution {
            Some(previous) if decided && previous.same_decision(resolution) => {
                ResolveOutcome::AlreadyResolvedSame
            }
            _ => ResolveOutcome::NotOpen(item.state),
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

pub(crate) async fn reopen(db: &Db, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
    const SQL: &str = "UPDATE review_items SET state = 'open', resolution_action = NULL, \
         resolution_value = NULL, resolved_by = NULL, resolved_at = NULL, \
         resolution_note = NULL, applied_run_id = NULL, updated_at = $1 \
         WHERE id = $2 AND state IN ('resolved', 'ignored')";
    let mut tx = db.begin_write().await?;
    let done =
        on_tx!(&mut tx, c => sqlx::query(SQL).bind(Ts::from(at)).bind(id).execute(c).await?.rows_affected());
    if done == 0 && get_in(&mut tx, id).await?.is_none() {
        return Err(StoreError::not_found(format!("review item {id}")));
    }
    tx.commit().await?;
    Ok(done == 1)
}
