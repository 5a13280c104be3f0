//! Identity misses: records whose probes matched nothing, by the hash of the keys probed.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::db::{Arg, Db, Ts, Where, bind_args, on_db, on_tx};
use super::{Side, StoreError};

/// Ids per `IN (...)` list.
const IN_CHUNK: usize = 500;

/// `(record id, keys hash)` of the misses remembered for `record_ids` of `side`.
pub(crate) async fn misses(
    db: &Db,
    pair: &str,
    side: Side,
    record_ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    for chunk in record_ids.chunks(IN_CHUNK) {
        let mut filter = Where::default();
        filter.push("pair", "=", Arg::Text(pair.to_owned()));
        filter.push("side", "=", Arg::Text(side.as_str().to_owned()));
        filter.push_in("record_id", chunk.iter().map(|id| Arg::Text(id.clone())));
        let sql = format!("SELECT record_id, keys_hash FROM identity_misses{}", filter.sql());
        let found: Vec<(String, String)> = on_db!(db, p => {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &filter.args).fetch_all(p).await?
        });
        out.extend(found);
    }
    Ok(out)
}

/// Remembers (or refreshes) the misses `(record id, keys hash)` of `side`.
pub(crate) async fn remember(
    db: &Db,
    pair: &str,
    side: Side,
    misses: &[(String, String)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO identity_misses (pair, side, record_id, keys_hash, checked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pair, side, record_id) \
         DO UPDATE SET keys_hash = excluded.keys_hash, checked_at = excluded.checked_at";
    if misses.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for (id, hash) in misses {
        on_tx!(&mut tx, c => sqlx::query(SQL)
            .bind(pair)
            .bind(side.as_str())
            .bind(id)
            .bind(hash)
            .bind(Ts::from(at))
            .execute(c)
            .await?
            .rows_affected());
    }
    tx.commit().await
}

/// Forgets the misses of `record_ids` of `side` (they were linked).
pub(crate) async fn forget(db: &Db, pair: &str, side: Side, record_ids: &[String]) -> Result<(), StoreError> {
    for chunk in record_ids.chunks(IN_CHUNK) {
        let mut filter = Where::default();
        filter.push("pair", "=", Arg::Text(pair.to_owned()));
        filter.push("side", "=", Arg::Text(side.as_str().to_owned()));
        filter.push_in("record_id", chunk.iter().map(|id| Arg::Text(id.clone())));
        let sql = format!("DELETE FROM identity_misses{}", filter.sql());
        on_db!(db, p => bind_args!(sqlx::query(AssertSqlSafe(sql)), &filter.args).execute(p).await?.rows_affected());
    }
    Ok(())
}
