//! The mapping table: link lookups, and the link writes a page commit makes (create, update,
//! re-point, unlink, identity keys).

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::db::{Arg, Db, Ts, Tx, Where, bind_args, limit_arg, on_db, on_tx, to_u64, ts};
use super::{Link, LinkUpsert, Side, StoreError};

/// `SELECT <every link column> FROM links l`, as a literal for `concat!`.
macro_rules! select_links {
    () => {
        "SELECT l.id, l.pair, l.left_id, l.right_id, l.base, l.left_hash, l.right_hash, \
         l.low_confidence, l.created_at, l.updated_at, l.left_verified_at, l.right_verified_at \
         FROM links l"
    };
}

/// Ids per `IN (…)` list, well under SQLite's and PostgreSQL's bind-parameter limits.
const IN_CHUNK: usize = 500;

pub(crate) async fn by_record(
    db: &Db,
    pair: &str,
    side: Side,
    record_id: &str,
) -> Result<Option<Link>, StoreError> {
    let sql = match side {
        Side::Left => concat!(select_links!(), " WHERE l.pair = $1 AND l.left_id = $2"),
        Side::Right => concat!(select_links!(), " WHERE l.pair = $1 AND l.right_id = $2"),
    };
    Ok(on_db!(db, p => sqlx::query_as(sql).bind(pair).bind(record_id).fetch_optional(p).await?))
}

pub(crate) async fn by_records(
    db: &Db,
    pair: &str,
    side: Side,
    record_ids: &[String],
) -> Result<Vec<Link>, StoreError> {
    let mut links = Vec::new();
    for chunk in record_ids.chunks(IN_CHUNK) {
        let mut filter = Where::default();
        filter.push("l.pair", "=", Arg::Text(pair.to_owned()));
        filter.push_in(id_column(side), chunk.iter().map(|id| Arg::Text(id.clone())));
        let sql = format!("{}{}", select_links!(), filter.sql());
        let found: Vec<Link> = on_db!(db, p => {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &filter.args).fetch_all(p).await?
        });
        links.extend(found);
    }
    Ok(links)
}

fn id_column(side: Side) -> &'static str {
    match side {
        Side::Left => "l.left_id",
        Side::Right => "l.right_id",
    }
}

pub(crate) async fn by_key(
    db: &Db,
    pair: &str,
    side: Side,
    field: &str,
    value: &str,
) -> Result<Vec<Link>, StoreError> {
    const SQL: &str = concat!(
        select_links!(),
        " WHERE l.id IN (SELECT k.link_id FROM link_keys k",
        " WHERE k.pair = $1 AND k.side = $2 AND k.field = $3 AND k.value = $4)",
        " ORDER BY l.id"
    );
    Ok(on_db!(db, p => sqlx::query_as(SQL)
        .bind(pair)
        .bind(side.as_str())
        .bind(field)
        .bind(value)
        .fetch_all(p)
        .await?))
}

pub(crate) async fn least_recently_verified(
    db: &Db,
    pair: &str,
    side: Side,
    limit: usize,
) -> Result<Vec<Link>, StoreError> {
    let sql = match side {
        Side::Left => concat!(
            select_links!(),
            " WHERE l.pair = $1 ORDER BY l.left_verified_at ASC NULLS FIRST, l.id LIMIT $2"
        ),
        Side::Right => concat!(
            select_links!(),
            " WHERE l.pair = $1 ORDER BY l.right_verified_at ASC NULLS FIRST, l.id LIMIT $2"
        ),
    };
    Ok(on_db!(db, p => sqlx::query_as(sql).bind(pair).bind(limit_arg(limit)).fetch_all(p).await?))
}

pub(crate) async fn count(db: &Db, pair: &str) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT COUNT(*) FROM links WHERE pair = $1";
    let n: i64 = on_db!(db, p => sqlx::query_scalar(SQL).bind(pair).fetch_one(p).await?);
    Ok(to_u64(n))
}

/// Creates a link and its keys; returns its id.
pub(crate) async fn insert(tx: &mut Tx, link: &LinkUpsert, at: DateTime<Utc>) -> Result<i64, StoreError> {
    const SQL: &str = "INSERT INTO links (pair, left_id, right_id, base, left_hash, right_hash, \
         low_confidence, created_at, updated_at, left_verified_at, right_verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING id";
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(SQL)
        .bind(&link.pair)
        .bind(&link.left_id)
        .bind(&link.right_id)
        .bind(Json(&link.base))
        .bind(link.left_hash.as_deref())
        .bind(link.right_hash.as_deref())
        .bind(link.low_confidence)
        .bind(Ts::from(at))
        .bind(ts(link.left_verified_at))
        .bind(ts(link.right_verified_at))
        .fetch_one(c)
        .await?);
    replace_keys(tx, id, &link.pair, &link.keys).await?;
    Ok(id)
}

/// Writes new base/hashes/verified times (a `None` hash or time keeps the stored one).
pub(crate) async fn update(
    tx: &mut Tx,
    id: i64,
    link: &LinkUpsert,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Returns the stored link's pair, which owns the keys (the upsert's `pair` is ignored).
    const SQL: &str = "UPDATE links SET base = $1, \
         left_hash = COALESCE($2, left_hash), right_hash = COALESCE($3, right_hash), \
         low_confidence = $4, \
         left_verified_at = COALESCE($5, left_verified_at), \
         right_verified_at = COALESCE($6, right_verified_at), \
         updated_at = $7 WHERE id = $8 RETURNING pair";
    let pair: Option<String> = on_tx!(tx, c => sqlx::query_scalar(SQL)
        .bind(Json(&link.base))
        .bind(link.left_hash.as_deref())
        .bind(link.right_hash.as_deref())
        .bind(link.low_confidence)
        .bind(ts(link.left_verified_at))
        .bind(ts(link.right_verified_at))
        .bind(Ts::from(at))
        .bind(id)
        .fetch_optional(c)
        .await?);
    let pair = pair.ok_or_else(|| StoreError::not_found(format!("link {id}")))?;
    replace_keys(tx, id, &pair, &link.keys).await
}

/// Replaces the identity keys of every side present in `keys`.
async fn replace_keys(
    tx: &mut Tx,
    link_id: i64,
    pair: &str,
    keys: &[(Side, String, String)],
) -> Result<(), StoreError> {
    for side in Side::ALL.iter().filter(|s| keys.iter().any(|(k, _, _)| k == *s)) {
        delete_keys(tx, link_id, *side).await?;
    }
    const SQL: &str = "INSERT INTO link_keys (link_id, pair, side, field, value) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
    for (side, field, value) in keys {
        on_tx!(tx, c => sqlx::query(SQL)
            .bind(link_id)
            .bind(pair)
            .bind(side.as_str())
            .bind(field)
            .bind(value)
            .execute(c)
            .await?
            .rows_affected());
    }
    Ok(())
}

async fn delete_keys(tx: &mut Tx, link_id: i64, side: Side) -> Result<(), StoreError> {
    const SQL: &str = "DELETE FROM link_keys WHERE link_id = $1 AND side = $2";
    on_tx!(tx, c => sqlx::query(SQL).bind(link_id).bind(side.as_str()).execute(c).await?.rows_affected());
    Ok(())
}

/// Points `side` of a link at another record (a merge's survivor) and drops that side's keys.
pub(crate) async fn repoint(
    tx: &mut Tx,
    id: i64,
    side: Side,
    record_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = match side {
        Side::Left => "UPDATE links SET left_id = $1, updated_at = $2 WHERE id = $3",
        Side::Right => "UPDATE links SET right_id = $1, updated_at = $2 WHERE id = $3",
    };
    let done = on_tx!(tx, c => sqlx::query(sql)
        .bind(record_id)
        .bind(Ts::from(at))
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    if done == 0 {
        return Err(StoreError::not_found(format!("link {id}")));
    }
    delete_keys(tx, id, side).await
}

/// Removes a link and its keys; a link already gone is not an error.
pub(crate) async fn unlink(tx: &mut Tx, id: i64) -> Result<(), StoreError> {
    on_tx!(tx, c => sqlx::query("DELETE FROM links WHERE id = $1").bind(id).execute(c).await?.rows_affected());
    Ok(())
}
