//! Append-mostly tables: dead letters, the per-field decision log, the write-intent outbox and
//! persisted webhook events (deduplicated by source and event id).

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::batch::{Batch, Kind, Val, on_batch};
use super::db::{Arg, Db, Ts, Tx, bind_args, limit_arg, on_db, on_tx, to_u64};
use super::{
    DEAD_LETTER_PAYLOAD_MAX, DeadLetter, Decision, FRESHNESS_KEEP, FreshnessSample, Lease, NewDeadLetter,
    NewDecision, StoreError, StoredEvent, WriteIntent, leases,
};

const DEAD_LETTER: &[(&str, Kind)] = &[
    ("pair", Kind::Text),
    ("system", Kind::Text),
    ("object", Kind::Text),
    ("record_id", Kind::Text),
    ("reason", Kind::Text),
    ("payload", Kind::Text),
    ("run_id", Kind::Text),
    ("created_at", Kind::Ts),
    ("source", Kind::Text),
    ("event_id", Kind::Text),
];

pub(crate) async fn add_dead_letters(
    tx: &mut Tx,
    letters: &[NewDeadLetter],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut batch = Batch::new(DEAD_LETTER);
    for l in letters {
        batch.push(vec![
            Val::opt(l.pair.as_deref()),
            Val::text(&l.system),
            Val::text(&l.object),
            Val::opt(l.record_id.as_deref()),
            Val::text(&l.reason),
            Val::text(truncate(&l.payload, DEAD_LETTER_PAYLOAD_MAX)),
            Val::text(&l.run_id),
            Val::ts(at),
            Val::text(l.source.as_str()),
            Val::opt(l.event_id.as_deref()),
        ]);
    }
    insert_batch(tx, &batch, "dead_letters", "").await
}

/// `INSERT INTO table (<the batch's columns>) SELECT … FROM u` per chunk, then `suffix`
/// (`ON CONFLICT …`).
async fn insert_batch(tx: &mut Tx, batch: &Batch, table: &str, suffix: &str) -> Result<(), StoreError> {
    let db = tx.backend();
    let columns = batch.column_list();
    for chunk in batch.chunks(db) {
        let sql = format!(
            "{}INSERT INTO {table} ({columns}) SELECT {columns} FROM u WHERE true{suffix}",
            chunk.with_u(db)
        );
        on_batch!(&mut *tx, chunk, sqlx::query(AssertSqlSafe(sql)), (q, c) => q.execute(c).await?.rows_affected());
    }
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

const DECISION: &[(&str, Kind)] = &[
    ("run_id", Kind::Text),
    ("pair", Kind::Text),
    ("link_id", Kind::Int),
    ("system", Kind::Text),
    ("record_id", Kind::Text),
    ("field", Kind::Text),
    ("old_value", Kind::Text),
    ("new_value", Kind::Text),
    ("source_side", Kind::Text),
    ("rule", Kind::Text),
    ("reason", Kind::Text),
    ("echo", Kind::Bool),
    ("provenance", Kind::Text),
    ("at", Kind::Ts),
];

pub(crate) async fn add_decisions(tx: &mut Tx, decisions: &[NewDecision]) -> Result<(), StoreError> {
    let mut batch = Batch::new(DECISION);
    for d in decisions {
        batch.push(vec![
            Val::text(&d.run_id),
            Val::text(&d.pair),
            Val::Int(d.link_id),
            Val::text(&d.system),
            Val::text(&d.record_id),
            Val::text(&d.field),
            Val::opt(d.old_value.as_deref()),
            Val::opt(d.new_value.as_deref()),
            Val::text(d.source_side.as_str()),
            Val::text(&d.rule),
            Val::text(&d.reason),
            Val::Bool(d.echo),
            Val::opt(d.provenance.as_deref()),
            Val::ts(d.at),
        ]);
    }
    insert_batch(tx, &batch, "decisions", "").await
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

const INTENT: &[(&str, Kind)] = &[
    ("key", Kind::Text),
    ("pair", Kind::Text),
    ("system", Kind::Text),
    ("object", Kind::Text),
    ("op_json", Kind::Json),
    ("run_id", Kind::Text),
    ("created_at", Kind::Ts),
];

/// Records intents not recorded yet (by key), behind the fence; returns how many were new.
pub(crate) async fn record_intents(
    db: &Db,
    lease: &Lease,
    intents: &[WriteIntent],
) -> Result<usize, StoreError> {
    let mut batch = Batch::new(INTENT);
    for i in intents {
        batch.push(vec![
            Val::text(&i.key),
            Val::text(&i.pair),
            Val::text(&i.system),
            Val::text(&i.object),
            Val::json(&i.op_json),
            Val::text(&i.run_id),
            Val::ts(i.created_at),
        ]);
    }
    let mut tx = db.begin_write().await?;
    leases::fence(&mut tx, lease).await?;
    let backend = tx.backend();
    let columns = batch.column_list();
    let mut new = 0;
    for chunk in batch.chunks(backend) {
        // A key twice in one batch is inserted once (DO NOTHING skips the second copy).
        let sql = format!(
            "{}INSERT INTO write_intents ({columns}) SELECT {columns} FROM u WHERE true \
             ON CONFLICT (key) DO NOTHING",
            chunk.with_u(backend)
        );
        let done = on_batch!(&mut tx, chunk, sqlx::query(AssertSqlSafe(sql)),
            (q, c) => q.execute(c).await?.rows_affected());
        new += usize::try_from(done).unwrap_or_default();
    }
    tx.commit().await?;
    Ok(new)
}

pub(crate) async fn pending_intents(db: &Db, pair: &str) -> Result<Vec<WriteIntent>, StoreError> {
    const SQL: &str = "SELECT key, pair, system, object, op_json, run_id, created_at \
         FROM write_intents WHERE pair = $1 AND done_at IS NULL ORDER BY created_at, key";
    Ok(on_db!(db, p => sqlx::query_as(SQL).bind(pair).fetch_all(p).await?))
}

const KEY: &[(&str, Kind)] = &[("k", Kind::Text)];

/// Marks the intents of `keys` done (those not done yet).
pub(crate) async fn finish_intents(
    tx: &mut Tx,
    keys: &[String],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut batch = Batch::new(KEY);
    for k in keys {
        batch.push(vec![Val::text(k)]);
    }
    let db = tx.backend();
    for chunk in batch.chunks(db) {
        let sql = format!(
            "{}UPDATE write_intents SET done_at = ${} WHERE key IN (SELECT k FROM u) AND done_at IS NULL",
            chunk.with_u(db),
            chunk.next_param(db)
        );
        on_batch!(&mut *tx, chunk, sqlx::query(AssertSqlSafe(sql)),
            (q, c) => q.bind(Ts::from(at)).execute(c).await?.rows_affected());
    }
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

const EVENT: &[(&str, Kind)] = &[("source", Kind::Text), ("event_id", Kind::Text), ("at", Kind::Ts)];

/// Marks events processed, recording first those never persisted (events read from a feed
/// rather than received by webhook). An event named twice is marked once.
pub(crate) async fn mark_events(
    tx: &mut Tx,
    events: &[(String, String)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut batch = Batch::new(EVENT);
    let mut seen = std::collections::HashSet::new();
    for (source, id) in events.iter().filter(|e| seen.insert(*e)) {
        batch.push(vec![Val::text(source), Val::text(id), Val::ts(at)]);
    }
    insert_batch_as(
        tx,
        &batch,
        "seen_events (source, event_id, received_at, payload, processed_at)",
        "source, event_id, at, '', at",
        " ON CONFLICT (source, event_id) DO UPDATE \
         SET processed_at = COALESCE(seen_events.processed_at, excluded.processed_at)",
    )
    .await
}

/// [`insert_batch`] with the target's column list and the select list written out.
async fn insert_batch_as(
    tx: &mut Tx,
    batch: &Batch,
    target: &str,
    select: &str,
    suffix: &str,
) -> Result<(), StoreError> {
    let db = tx.backend();
    for chunk in batch.chunks(db) {
        let sql =
            format!("{}INSERT INTO {target} SELECT {select} FROM u WHERE true{suffix}", chunk.with_u(db));
        on_batch!(&mut *tx, chunk, sqlx::query(AssertSqlSafe(sql)), (q, c) => q.execute(c).await?.rows_affected());
    }
    Ok(())
}

const FRESHNESS: &[(&str, Kind)] =
    &[("pair", Kind::Text), ("path", Kind::Text), ("millis", Kind::Int), ("at", Kind::Ts)];

/// Inserts freshness samples and prunes each pair's samples older than [`FRESHNESS_KEEP`].
pub(crate) async fn add_freshness(tx: &mut Tx, samples: &[FreshnessSample]) -> Result<(), StoreError> {
    const PRUNE: &str = "DELETE FROM freshness WHERE pair = $1 AND at < $2";
    let mut batch = Batch::new(FRESHNESS);
    let mut newest: std::collections::BTreeMap<&str, DateTime<Utc>> = std::collections::BTreeMap::new();
    for s in samples {
        batch.push(vec![Val::text(&s.pair), Val::text(&s.path), Val::Int(Some(s.millis)), Val::ts(s.at)]);
        let at = newest.entry(s.pair.as_str()).or_insert(s.at);
        *at = (*at).max(s.at);
    }
    insert_batch(tx, &batch, "freshness", "").await?;
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
