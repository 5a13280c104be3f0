//! Append-mostly tables: dead letters, the per-field decision log, the write-intent outbox and
//! persisted webhook events (deduplicated by source and event id).

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::db::{Arg, Db, Ts, Tx, bind_args, limit_arg, on_db, on_tx, to_u64};
use super::{
    DEAD_LETTER_PAYLOAD_MAX, DeadLetter, Decision, FRESHNESS_KEEP, FreshnessSample, Lease, NewDeadLetter,
    NewDecision, StoreError, StoredEvent, WriteIntent, leases,
};

pub(crate) async fn add_dead_letter(
    tx: &mut Tx,
    letter: &NewDeadLetter,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO dead_letters \
         (pair, system, object, record_id, reason, payload, run_id, created_at, source, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_tx!(tx, c => sqlx::query(SQL)
        .bind(letter.pair.as_deref())
        .bind(&letter.system)
        .bind(&letter.object)
        .bind(letter.record_id.as_deref())
        .bind(&letter.reason)
        .bind(truncate(&letter.payload, DEAD_LETTER_PAYLOAD_MAX))
        .bind(&letter.run_id)
        .bind(Ts::from(at))
        .bind(letter.source.as_str())
        .bind(letter.event_id.as_deref())
        .execute(c)
        .await?
        .rows_affected());
    Ok(())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub(crate) async fn list_dead_letters(db: &Db, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    const SQL: &str = "SELECT id, pair, system, object, record_id, reason, payload, run_id, \
         created_at, source, event_id, status, status_at, status_by FROM dead_letters \
         ORDER BY id DESC LIMIT $1";
    Ok(on_db!(db, p => sqlx::query_as(SQL).bind(limit_arg(limit)).fetch_all(p).await?))
}

pub(crate) async fn count_dead_letters(db: &Db) -> Result<u64, StoreError> {
    const SQL: &str = "SELECT COUNT(*) FROM dead_letters WHERE status = 'open'";
    let n: i64 = on_db!(db, p => sqlx::query_scalar(SQL).fetch_one(p).await?);
    Ok(to_u64(n))
}

pub(crate) async fn add_decision(tx: &mut Tx, d: &NewDecision) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO decisions (run_id, pair, link_id, system, record_id, field, \
         old_value, new_value, source_side, rule, reason, echo, provenance, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    on_tx!(tx, c => sqlx::query(SQL)
        .bind(&d.run_id)
        .bind(&d.pair)
        .bind(d.link_id)
        .bind(&d.system)
        .bind(&d.record_id)
        .bind(&d.field)
        .bind(d.old_value.as_deref())
        .bind(d.new_value.as_deref())
        .bind(d.source_side.as_str())
        .bind(&d.rule)
        .bind(&d.reason)
        .bind(d.echo)
        .bind(d.provenance.as_deref())
        .bind(Ts::from(d.at))
        .execute(c)
        .await?
        .rows_affected());
    Ok(())
}

pub(crate) async fn decisions_for(
    db: &Db,
    system: &str,
    record_id: &str,
    limit: usize,
) -> Result<Vec<Decision>, StoreError> {
    const SQL: &str = "SELECT id, run_id, pair, link_id, system, record_id, field, old_value, \
         new_value, source_side, rule, reason, echo, provenance, at FROM decisions \
         WHERE system = $1 AND record_id = $2 ORDER BY at DESC, id DESC LIMIT $3";
    Ok(on_db!(db, p => sqlx::query_as(SQL)
        .bind(system)
        .bind(record_id)
        .bind(limit_arg(limit))
        .fetch_all(p)
        .await?))
}

pub(crate) async fn record_intents(
    db: &Db,
    lease: &Lease,
    intents: &[WriteIntent],
) -> Result<usize, StoreError> {
    const SQL: &str = "INSERT INTO write_intents \
         (key, pair, system, object, op_json, run_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING";
    let mut tx = db.begin_write().await?;
    leases::fence(&mut tx, lease).await?;
    let mut new = 0;
    for intent in intents {
        let done = on_tx!(&mut tx, c => sqlx::query(SQL)
            .bind(&intent.key)
            .bind(&intent.pair)
            .bind(&intent.system)
            .bind(&intent.object)
            .bind(Json(&intent.op_json))
            .bind(&intent.run_id)
            .bind(Ts::from(intent.created_at))
            .execute(c)
            .await?
            .rows_affected());
        new += usize::from(done == 1);
    }
    tx.commit().await?;
    Ok(new)
}

pub(crate) async fn pending_intents(db: &Db, pair: &str) -> Result<Vec<WriteIntent>, StoreError> {
    const SQL: &str = "SELECT key, pair, system, object, op_json, run_id, created_at \
         FROM write_intents WHERE pair = $1 AND done_at IS NULL ORDER BY created_at, key";
    Ok(on_db!(db, p => sqlx::query_as(SQL).bind(pair).fetch_all(p).await?))
}

pub(crate) async fn finish_intent(tx: &mut Tx, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE write_intents SET done_at = $1 WHERE key = $2 AND done_at IS NULL";
    on_tx!(tx, c => sqlx::query(SQL).bind(Ts::from(at)).bind(key).execute(c).await?.rows_affected());
    Ok(())
}

pub(crate) async fn record_event(
    db: &Db,
    source: &str,
    event_id: &str,
    received_at: DateTime<Utc>,
    payload: &str,
) -> Result<bool, StoreError> {
    const SQL: &str = "INSERT INTO seen_events (source, event_id, received_at, payload) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (source, event_id) DO NOTHING";
    let mut tx = db.begin_write().await?;
    let done = on_tx!(&mut tx, c => sqlx::query(SQL)
        .bind(source)
        .bind(event_id)
        .bind(Ts::from(received_at))
        .bind(payload)
        .execute(c)
        .await?
        .rows_affected());
    tx.commit().await?;
    Ok(done == 1)
}

/// Rows per `INSERT` of [`record_events`] (two parameters each, plus two shared). Kept small:
/// one 100-row message (≈ 30 KB) stalled ≈ 40 ms on PostgreSQL over TCP (Nagle against the
/// server's delayed ACK; BENCHMARKS.md), four of 25 rows in the same transaction do not.
const EVENT_ROWS: usize = 25;

pub(crate) async fn record_events(
    db: &Db,
    source: &str,
    events: &[(String, String)],
    received_at: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    // The first copy of an id within the delivery is the one stored; later copies are replays.
    let mut first = std::collections::HashSet::new();
    let unique: Vec<&(String, String)> = events.iter().filter(|(id, _)| first.insert(id.as_str())).collect();
    let mut stored = std::collections::HashSet::new();
    let mut tx = db.begin_write().await?;
    for chunk in unique.chunks(EVENT_ROWS) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("($1, ${}, $2, ${})", 3 + 2 * i, 4 + 2 * i)).collect();
        let sql = format!(
            "INSERT INTO seen_events (source, event_id, received_at, payload) VALUES {} \
             ON CONFLICT (source, event_id) DO NOTHING RETURNING event_id",
            rows.join(", ")
        );
        let mut args = vec![Arg::Text(source.to_owned()), Arg::Ts(Ts::from(received_at))];
        for (id, payload) in chunk {
            args.push(Arg::Text(id.clone()));
            args.push(Arg::Text(payload.clone()));
        }
        let ids: Vec<String> = on_tx!(&mut tx, c => {
            bind_args!(sqlx::query_scalar(AssertSqlSafe(sql.clone())), &args).fetch_all(c).await?
        });
        stored.extend(ids);
    }
    tx.commit().await?;
    let mut seen = std::collections::HashSet::new();
    Ok(events.iter().map(|(id, _)| seen.insert(id.as_str()) && stored.contains(id)).collect())
}

pub(crate) async fn pending_events(
    db: &Db,
    source: &str,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    const SQL: &str = "SELECT source, event_id, received_at, payload FROM seen_events \
         WHERE source = $1 AND processed_at IS NULL ORDER BY received_at, event_id LIMIT $2";
    Ok(on_db!(db, p => sqlx::query_as(SQL).bind(source).bind(limit_arg(limit)).fetch_all(p).await?))
}

pub(crate) async fn count_pending_events(db: &Db, source: &str, cap: usize) -> Result<usize, StoreError> {
    const SQL: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM seen_events \
         WHERE source = $1 AND processed_at IS NULL LIMIT $2) AS pending";
    let n: i64 =
        on_db!(db, p => sqlx::query_scalar(SQL).bind(source).bind(limit_arg(cap)).fetch_one(p).await?);
    Ok(usize::try_from(n).unwrap_or_default())
}

/// Marks an event processed, recording it first if it was never persisted (events read from a
/// feed rather than received by webhook).
pub(crate) async fn mark_event(
    tx: &mut Tx,
    source: &str,
    event_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO seen_events \
         (source, event_id, received_at, payload, processed_at) VALUES ($1, $2, $3, '', $3) \
         ON CONFLICT (source, event_id) DO UPDATE \
         SET processed_at = COALESCE(seen_events.processed_at, excluded.processed_at)";
    on_tx!(tx, c => sqlx::query(SQL).bind(source).bind(event_id).bind(Ts::from(at)).execute(c).await?.rows_affected());
    Ok(())
}

/// Inserts freshness samples and prunes each pair's samples older than [`FRESHNESS_KEEP`].
pub(crate) async fn add_freshness(tx: &mut Tx, samples: &[FreshnessSample]) -> Result<(), StoreError> {
    const INSERT: &str = "INSERT INTO freshness (pair, path, millis, at) VALUES ($1, $2, $3, $4)";
    const PRUNE: &str = "DELETE FROM freshness WHERE pair = $1 AND at < $2";
    let mut newest: std::collections::BTreeMap<&str, DateTime<Utc>> = std::collections::BTreeMap::new();
    for s in samples {
        on_tx!(tx, c => sqlx::query(INSERT)
            .bind(&s.pair)
            .bind(&s.path)
            .bind(s.millis)
            .bind(Ts::from(s.at))
            .execute(c)
            .await?
            .rows_affected());
        let at = newest.entry(s.pair.as_str()).or_insert(s.at);
        *at = (*at).max(s.at);
    }
    for (pair, at) in newest {
        let cutoff = Ts::from(at - FRESHNESS_KEEP);
        on_tx!(tx, c => sqlx::query(PRUNE).bind(pair).bind(cutoff).execute(c).await?.rows_affected());
    }
    Ok(())
}

pub(crate) async fn freshness(db: &Db, pair: &str, limit: usize) -> Result<Vec<FreshnessSample>, StoreError> {
    const SQL: &str = "SELECT pair, path, millis, at FROM freshness WHERE pair = $1 \
         ORDER BY at DESC, id DESC LIMIT $2";
    Ok(on_db!(db, p => sqlx::query_as(SQL).bind(pair).bind(limit_arg(limit)).fetch_all(p).await?))
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("abc", 8), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        // 'é' is two bytes: cutting at 2 would split it.
        assert_eq!(truncate("aé", 2), "a");
    }
}
