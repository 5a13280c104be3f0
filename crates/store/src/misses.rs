//! Identity misses: records whose probes matched nothing, by the hash of the keys probed.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::batch::{Backend, Batch, Kind, Val, on_batch, on_batch_db};
use super::db::Db;
use super::{Side, StoreError};

const RECORD: &[(&str, Kind)] = &[("rid", Kind::Text)];
const MISS: &[(&str, Kind)] = &[("rid", Kind::Text), ("keys_hash", Kind::Text)];

fn records(record_ids: &[String]) -> Batch {
    let mut batch = Batch::new(RECORD);
    for id in record_ids {
        batch.push(vec![Val::text(id)]);
    }
    batch
}

/// `(record id, keys hash)` of the misses remembered for `record_ids` of `side`.
pub(crate) async fn misses(
    db: &Db,
    pair: &str,
    side: Side,
    record_ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let batch = records(record_ids);
    let backend = Backend::from(db);
    let mut out = Vec::new();
    for chunk in batch.chunks(backend) {
        let n = chunk.next_param(backend);
        let sql = format!(
            "{}SELECT record_id, keys_hash FROM identity_misses WHERE pair = ${n} AND side = ${} \
             AND record_id IN (SELECT rid FROM u)",
            chunk.with_u(backend),
            n + 1
        );
        let found: Vec<(String, String)> = on_batch_db!(db, chunk, sqlx::query_as(AssertSqlSafe(sql)),
            (q, p) => q.bind(pair).bind(side.as_str()).fetch_all(p).await?);
        out.extend(found);
    }
    Ok(out)
}

/// Remembers (or refreshes) the misses `(record id, keys hash)` of `side`; of a record named
/// twice the last hash is kept.
pub(crate) async fn remember(
    db: &Db,
    pair: &str,
    side: Side,
    misses: &[(String, String)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if misses.is_empty() {
        return Ok(());
    }
    let last: std::collections::HashMap<&str, usize> =
        misses.iter().enumerate().map(|(i, (id, _))| (id.as_str(), i)).collect();
    let mut batch = Batch::new(MISS);
    for (i, (id, hash)) in misses.iter().enumerate() {
        if last[id.as_str()] == i {
            batch.push(vec![Val::text(id), Val::text(hash)]);
        }
    }
    let mut tx = db.begin_write().await?;
    let backend = tx.backend();
    for chunk in batch.chunks(backend) {
        let n = chunk.next_param(backend);
        let sql = format!(
            "{}INSERT INTO identity_misses (pair, side, record_id, keys_hash, checked_at) \
             SELECT ${n}, ${}, rid, keys_hash, ${} FROM u WHERE true ON CONFLICT (pair, side, record_id) \
             DO UPDATE SET keys_hash = excluded.keys_hash, checked_at = excluded.checked_at",
            chunk.with_u(backend),
            n + 1,
            n + 2
        );
        on_batch!(&mut tx, chunk, sqlx::query(AssertSqlSafe(sql)),
            (q, c) => q.bind(pair).bind(side.as_str()).bind(super::db::Ts::from(at)).execute(c).await?.rows_affected());
    }
    tx.commit().await
}

/// Forgets the misses of `record_ids` of `side` (they were linked).
pub(crate) async fn forget(db: &Db, pair: &str, side: Side, record_ids: &[String]) -> Result<(), StoreError> {
    let batch = records(record_ids);
    let backend = Backend::from(db);
    for chunk in batch.chunks(backend) {
        let n = chunk.next_param(backend);
        let sql = format!(
            "{}DELETE FROM identity_misses WHERE pair = ${n} AND side = ${} AND record_id IN (SELECT rid FROM u)",
            chunk.with_u(backend),
            n + 1
        );
        on_batch_db!(db, chunk, sqlx::query(AssertSqlSafe(sql)),
            (q, p) => q.bind(pair).bind(side.as_str()).execute(p).await?.rows_affected());
    }
    Ok(())
}
