//! Many rows in one statement: a page commit writes dozens to hundreds of rows per table, and
//! one statement per row cost a round trip each on PostgreSQL (≈ 1,000 per page, most of the
//! PostgreSQL cycle's time) and a hop to sqlx's worker thread each on SQLite.
//!
//! A [`Batch`] holds rows of typed values and hands them to a statement as the common table
//! `u`: `WITH u(a, b) AS (…) INSERT … SELECT … FROM u` (or `UPDATE … FROM u`, `… IN (SELECT a
//! FROM u)`), so each statement is written once for both backends. The table is built
//! differently per backend:
//!
//! - PostgreSQL: `SELECT * FROM UNNEST($1::text[], $2::bigint[])`, one array per column. The
//!   statement's text does not depend on the row count, so it is prepared once per connection.
//!   A chunk is kept under [`PG_CHUNK_BYTES`]: sqlx 0.9 does not set `TCP_NODELAY`, and a
//!   message larger than the socket's send buffer goes out in two writes, the second held by
//!   Nagle until the server's delayed ACK (≈ 40 ms; BENCHMARKS.md, the webhook figures).
//! - SQLite: `VALUES ($1, $2), ($3, $4)`, at most [`SQLITE_CHUNK_ROWS`] rows and
//!   [`SQLITE_MAX_PARAMS`] parameters (SQLite's own limit is 32,766) per statement.
//!
//! Statements that update or upsert (`ON CONFLICT DO UPDATE`) must not see one key twice in a
//! batch (PostgreSQL refuses to change a row twice in one command): callers merge duplicates
//! first, in the order a row-by-row loop would have applied them.

use chrono::{DateTime, Utc};

use super::db::{Db, Ts, Tx};

/// Most rows per SQLite statement.
pub(crate) const SQLITE_CHUNK_ROWS: usize = 500;
/// Most bound parameters per SQLite statement (below SQLite's 32,766).
pub(crate) const SQLITE_MAX_PARAMS: usize = 30_000;
/// Most (approximate) bytes of bound values per PostgreSQL statement: well below the 16 KiB a
/// fresh loopback socket accepts in one write (see the module docs).
pub(crate) const PG_CHUNK_BYTES: usize = 8 * 1024;
/// Most rows per PostgreSQL statement, whatever their size.
pub(crate) const PG_CHUNK_ROWS: usize = 1_000;

/// A column's type: how PostgreSQL's array is declared and cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    /// JSON text, cast to `jsonb` on PostgreSQL (text on SQLite, as sqlx's `Json` writes it).
    Json,
    Int,
    Bool,
    Ts,
}

impl Kind {
    fn pg_array(self) -> &'static str {
        match self {
            Kind::Text | Kind::Json => "text[]",
            Kind::Int => "bigint[]",
            Kind::Bool => "boolean[]",
            Kind::Ts => "timestamptz[]",
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Ts(Option<Ts>),
}

impl Val {
    pub(crate) fn text(s: impl Into<String>) -> Val {
        Val::Text(Some(s.into()))
    }

    pub(crate) fn opt(s: Option<&str>) -> Val {
        Val::Text(s.map(str::to_owned))
    }

    /// `v` as JSON text (a map or value of strings, which always serialises).
    pub(crate) fn json(v: &impl serde::Serialize) -> Val {
        Val::Text(Some(serde_json::to_string(v).expect("JSON values serialise")))
    }

    pub(crate) fn ts(t: DateTime<Utc>) -> Val {
        Val::Ts(Some(Ts::from(t)))
    }

    pub(crate) fn opt_ts(t: Option<DateTime<Utc>>) -> Val {
        Val::Ts(t.map(Ts::from))
    }

    /// Roughly what the value costs in a PostgreSQL bind message (4 bytes of length each).
    fn bytes(&self) -> usize {
        4 + match self {
            Val::Text(s) => s.as_ref().map_or(0, String::len),
            Val::Int(_) | Val::Ts(_) => 8,
            Val::Bool(_) => 1,
        }
    }
}

/// Rows of typed values for one statement family; see the module docs.
#[derive(Debug)]
pub(crate) struct Batch {
    columns: &'static [(&'static str, Kind)],
    rows: Vec<Vec<Val>>,
}

impl Batch {
    /// An empty batch of `columns` (the names `u`'s columns get).
    pub(crate) fn new(columns: &'static [(&'static str, Kind)]) -> Self {
        Self { columns, rows: Vec::new() }
    }

    /// Adds a row; its values follow the column order.
    pub(crate) fn push(&mut self, row: Vec<Val>) {
        debug_assert_eq!(row.len(), self.columns.len(), "one value per column");
        self.rows.push(row);
    }

    /// `a, b`: the column names, for an `INSERT` whose columns are named like the batch's.
    pub(crate) fn column_list(&self) -> String {
        self.columns.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }

    /// The rows in statement-sized chunks for `db` (never an empty chunk; every chunk holds at
    /// least one row, however large).
    pub(crate) fn chunks(&self, db: Backend) -> Vec<Chunk<'_>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < self.rows.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < self.rows.len() {
                let n = end - start;
                let full = match db {
                    Backend::Sqlite => {
                        n >= SQLITE_CHUNK_ROWS || (n + 1) * self.columns.len() > SQLITE_MAX_PARAMS
                    }
                    Backend::Postgres => {
                        let row: usize = self.rows[end].iter().map(Val::bytes).sum();
                        let full = n >= PG_CHUNK_ROWS || (n > 0 && bytes + row > PG_CHUNK_BYTES);
                        bytes += row;
                        full
                    }
                };
                if full {
                    break;
                }
                end += 1;
            }
            out.push(Chunk { batch: self, rows: &self.rows[start..end] });
            start = end;
        }
        out
    }
}

/// The two dialects, as far as a batch cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl From<&Db> for Backend {
    fn from(db: &Db) -> Self {
        match db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }
}

/// The rows one statement carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk<'a> {
    batch: &'a Batch,
    pub(crate) rows: &'a [Vec<Val>],
}

impl Chunk<'_> {
    /// `WITH u(a, b) AS (…)` for this chunk on `db`, numbering its parameters from `$1`.
    pub(crate) fn with_u(&self, db: Backend) -> String {
        let names: Vec<&str> = self.batch.columns.iter().map(|(n, _)| *n).collect();
        let names = names.join(", ");
        let table = match db {
            Backend::Postgres => {
                let select: Vec<String> = self
                    .batch
                    .columns
                    .iter()
                    .map(|(n, k)| if *k == Kind::Json { format!("{n}::jsonb") } else { (*n).to_string() })
                    .collect();
                let arrays: Vec<String> = self
                    .batch
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, k))| format!("${}::{}", i + 1, k.pg_array()))
                    .collect();
                format!("SELECT {} FROM UNNEST({}) AS t({names})", select.join(", "), arrays.join(", "))
            }
            Backend::Sqlite => {
                let width = self.batch.columns.len();
                let rows: Vec<String> = (0..self.rows.len())
                    .map(|r| {
                        let marks: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
                        format!("({})", marks.join(", "))
                    })
                    .collect();
                format!("VALUES {}", rows.join(", "))
            }
        };
        format!("WITH u({names}) AS ({table}) ")
    }

    /// The first parameter number after the chunk's own (for the statement's scalars).
    pub(crate) fn next_param(&self, db: Backend) -> usize {
        match db {
            Backend::Postgres => self.batch.columns.len() + 1,
            Backend::Sqlite => self.batch.columns.len() * self.rows.len() + 1,
        }
    }

    /// Column `i` as PostgreSQL array values.
    pub(crate) fn texts(&self, i: usize) -> Vec<Option<String>> {
        self.rows.iter().map(|r| if let Val::Text(s) = &r[i] { s.clone() } else { None }).collect()
    }

    pub(crate) fn ints(&self, i: usize) -> Vec<Option<i64>> {
        self.rows.iter().map(|r| if let Val::Int(v) = &r[i] { *v } else { None }).collect()
    }

    pub(crate) fn bools(&self, i: usize) -> Vec<bool> {
        self.rows.iter().map(|r| matches!(r[i], Val::Bool(true))).collect()
    }

    pub(crate) fn times(&self, i: usize) -> Vec<Option<DateTime<Utc>>> {
        self.rows.iter().map(|r| if let Val::Ts(t) = &r[i] { t.map(|t| t.0) } else { None }).collect()
    }

    pub(crate) fn kinds(&self) -> impl Iterator<Item = (usize, Kind)> + '_ {
        self.batch.columns.iter().map(|(_, k)| *k).enumerate()
    }
}

/// Binds a chunk's values to `$q` (a query on the backend `$tx` names, see [`on_batch!`]).
macro_rules! bind_chunk {
    (Sqlite, $q:expr, $chunk:expr) => {{
        let mut q = $q;
        for row in $chunk.rows {
            for v in row {
                q = match v {
                    $crate::batch::Val::Text(s) => q.bind(s.clone()),
                    $crate::batch::Val::Int(i) => q.bind(*i),
                    $crate::batch::Val::Bool(b) => q.bind(*b),
                    $crate::batch::Val::Ts(t) => q.bind(*t),
                };
            }
        }
        q
    }};
    (Postgres, $q:expr, $chunk:expr) => {{
        let mut q = $q;
        for (i, kind) in $chunk.kinds() {
            q = match kind {
                $crate::batch::Kind::Text | $crate::batch::Kind::Json => q.bind($chunk.texts(i)),
                $crate::batch::Kind::Int => q.bind($chunk.ints(i)),
                $crate::batch::Kind::Bool => q.bind($chunk.bools(i)),
                $crate::batch::Kind::Ts => q.bind($chunk.times(i)),
            };
        }
        q
    }};
}

/// Runs `$body` with `$q` the query `$make` (given the chunk's SQL text `$sql`) with `$chunk`
/// bound, and `$c` the transaction's connection: like [`on_tx!`](crate::db::on_tx) for a batch.
/// Further scalars are bound by the body (`$q.bind(…)`), numbered from `next_param`.
macro_rules! on_batch {
    ($tx:expr, $chunk:expr, $make:expr, ($q:ident, $c:ident) => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                let $q = $crate::batch::bind_chunk!(Sqlite, $make, $chunk);
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                let $q = $crate::batch::bind_chunk!(Postgres, $make, $chunk);
                $body
            }
        }
    };
}

/// [`on_batch!`] on a pool (reads).
macro_rules! on_batch_db {
    ($db:expr, $chunk:expr, $make:expr, ($q:ident, $p:ident) => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($p) => {
                let $q = $crate::batch::bind_chunk!(Sqlite, $make, $chunk);
                $body
            }
            $crate::db::Db::Postgres($p) => {
                let $q = $crate::batch::bind_chunk!(Postgres, $make, $chunk);
                $body
            }
        }
    };
}

pub(crate) use {bind_chunk, on_batch, on_batch_db};

impl Tx {
    /// The dialect of this transaction.
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[(&str, Kind)] = &[("a", Kind::Text), ("b", Kind::Int)];

    fn batch(rows: usize, text: usize) -> Batch {
        let mut b = Batch::new(COLS);
        for i in 0..rows {
            b.push(vec![Val::text("x".repeat(text)), Val::Int(Some(i as i64))]);
        }
        b
    }

    #[test]
    fn sqlite_chunks_by_rows_and_numbers_placeholders_row_by_row() {
        let b = batch(SQLITE_CHUNK_ROWS + 1, 1);
        let chunks = b.chunks(Backend::Sqlite);
        assert_eq!(chunks.iter().map(|c| c.rows.len()).collect::<Vec<_>>(), [SQLITE_CHUNK_ROWS, 1]);
        let small = batch(2, 1);
        let c = small.chunks(Backend::Sqlite)[0];
        assert_eq!(c.with_u(Backend::Sqlite), "WITH u(a, b) AS (VALUES ($1, $2), ($3, $4)) ");
        assert_eq!(c.next_param(Backend::Sqlite), 5);
    }

    #[test]
    fn postgres_chunks_by_bytes_keep_at_least_one_row_and_text_is_constant() {
        let b = batch(10, 3_000);
        let sizes: Vec<usize> = b.chunks(Backend::Postgres).iter().map(|c| c.rows.len()).collect();
        assert_eq!(sizes, [2, 2, 2, 2, 2]);
        let huge = batch(2, 20_000);
        assert_eq!(huge.chunks(Backend::Postgres).len(), 2, "an oversized row still goes, alone");
        let c = b.chunks(Backend::Postgres)[0];
        assert_eq!(
            c.with_u(Backend::Postgres),
            "WITH u(a, b) AS (SELECT a, b FROM UNNEST($1::text[], $2::bigint[]) AS t(a, b)) "
        );
        assert_eq!(c.next_param(Backend::Postgres), 3);
        assert!(Batch::new(COLS).chunks(Backend::Postgres).is_empty());
    }
}
