//! The mapping table: link lookups (the writes are in `link_writes.rs`).

use sqlx::AssertSqlSafe;

use super::batch::{Backend, Batch, Kind, Val, on_batch_db};
use super::db::{Db, limit_arg, on_db, to_u64};
use super::{Link, Side, StoreError};

/// `SELECT <every link column> FROM links l`, as a literal for `concat!`.
macro_rules! select_links {
    () => {
        "SELECT l.id, l.pair, l.left_id, l.right_id, l.base, l.left_hash, l.right_hash, \
         l.low_confidence, l.created_at, l.updated_at, l.left_verified_at, l.right_verified_at \
         FROM links l"
    };
}

/// The record ids a lookup names, as the table `u`.
const RECORD: &[(&str, Kind)] = &[("rid", Kind::Text)];

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
    let mut batch = Batch::new(RECORD);
    for id in record_ids {
        batch.push(vec![Val::text(id)]);
    }
    let backend = Backend::from(db);
    let mut links = Vec::new();
    for chunk in batch.chunks(backend) {
        let sql = format!(
            "{}{} WHERE l.pair = ${} AND {} IN (SELECT rid FROM u)",
            chunk.with_u(backend),
            select_links!(),
            chunk.next_param(backend),
            id_column(side)
        );
        let found: Vec<Link> = on_batch_db!(db, chunk, sqlx::query_as(AssertSqlSafe(sql)),
            (q, p) => q.bind(pair).fetch_all(p).await?);
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
