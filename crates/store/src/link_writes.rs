//! The link writes of a page commit (create, update, re-point, unlink, identity keys), each
//! table written by a few batched statements (see `batch.rs`) instead of one per link.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::batch::{Batch, Kind, Val, on_batch};
use super::db::{Ts, Tx, on_tx};
use super::{LinkUpsert, Side, StoreError};

const NEW_LINK: &[(&str, Kind)] = &[
    ("pair", Kind::Text),
    ("left_id", Kind::Text),
    ("right_id", Kind::Text),
    ("base", Kind::Json),
    ("left_hash", Kind::Text),
    ("right_hash", Kind::Text),
    ("low_confidence", Kind::Bool),
    ("stamp", Kind::Ts),
    ("left_verified_at", Kind::Ts),
    ("right_verified_at", Kind::Ts),
];

const CHANGED_LINK: &[(&str, Kind)] = &[
    ("lid", Kind::Int),
    ("base", Kind::Json),
    ("lh", Kind::Text),
    ("rh", Kind::Text),
    ("lc", Kind::Bool),
    ("lv", Kind::Ts),
    ("rv", Kind::Ts),
    ("stamp", Kind::Ts),
];

const KEY: &[(&str, Kind)] = &[
    ("link", Kind::Int),
    ("pair", Kind::Text),
    ("side", Kind::Text),
    ("field", Kind::Text),
    ("value", Kind::Text),
];

const KEY_SIDE: &[(&str, Kind)] = &[("link", Kind::Int), ("side", Kind::Text)];

const ID: &[(&str, Kind)] = &[("id", Kind::Int)];

/// Identity keys (side, field, value), as an upsert carries them.
type Keys = Vec<(Side, String, String)>;

/// Writes `upserts` in the effect a loop over them would have: new links are created (their ids
/// returned in order), stored links get the new base, hashes and times (a `None` hash or time
/// keeps the stored one), and each side present in an upsert's keys has its keys replaced.
pub(crate) async fn upsert_all(
    tx: &mut Tx,
    upserts: &[LinkUpsert],
    at: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let (new, changed): (Vec<&LinkUpsert>, Vec<&LinkUpsert>) = upserts.iter().partition(|l| l.id.is_none());
    let mut keys = Vec::new();
    let updated = update_all(tx, &merge_updates(&changed), at).await?;
    for (link, pair) in &updated {
        keys.push((link.id.expect("an update has an id"), pair.clone(), &link.keys));
    }
    let created = insert_all(tx, &new, at).await?;
    for (link, id) in new.iter().zip(&created) {
        keys.push((*id, link.pair.clone(), &link.keys));
    }
    replace_keys(tx, &keys).await?;
    Ok(created)
}

/// Several updates of one link folded into one, as applying them in order would leave it: the
/// last base and flag, each hash and time from the last update that sets it, each side's keys
/// from the last update that names that side.
fn merge_updates(changed: &[&LinkUpsert]) -> Vec<LinkUpsert> {
    let mut order: Vec<i64> = Vec::new();
    let mut merged: HashMap<i64, LinkUpsert> = HashMap::new();
    for link in changed {
        let id = link.id.expect("an update has an id");
        let Some(prev) = merged.get_mut(&id) else {
            order.push(id);
            merged.insert(id, (*link).clone());
            continue;
        };
        let mut next = (*link).clone();
        next.left_hash = next.left_hash.or(prev.left_hash.take());
        next.right_hash = next.right_hash.or(prev.right_hash.take());
        next.left_verified_at = next.left_verified_at.or(prev.left_verified_at);
        next.right_verified_at = next.right_verified_at.or(prev.right_verified_at);
        for side in Side::ALL.iter().copied() {
            if !next.keys.iter().any(|(s, _, _)| *s == side) {
                next.keys.extend(prev.keys.iter().filter(|(s, _, _)| *s == side).cloned());
            }
        }
        *prev = next;
    }
    order.into_iter().map(|id| merged.remove(&id).expect("merged above")).collect()
}

/// Updates stored links; returns each with the stored link's pair (which owns its keys).
async fn update_all(
    tx: &mut Tx,
    links: &[LinkUpsert],
    at: DateTime<Utc>,
) -> Result<Vec<(LinkUpsert, String)>, StoreError> {
    let mut batch = Batch::new(CHANGED_LINK);
    for l in links {
        batch.push(vec![
            Val::Int(l.id),
            Val::json(&l.base),
            Val::opt(l.left_hash.as_deref()),
            Val::opt(l.right_hash.as_deref()),
            Val::Bool(l.low_confidence),
            Val::opt_ts(l.left_verified_at),
            Val::opt_ts(l.right_verified_at),
            Val::ts(at),
        ]);
    }
    let db = tx.backend();
    let mut pairs: HashMap<i64, String> = HashMap::new();
    for chunk in batch.chunks(db) {
        let sql = format!(
            "{}UPDATE links SET base = u.base, \
             left_hash = COALESCE(u.lh, links.left_hash), right_hash = COALESCE(u.rh, links.right_hash), \
             low_confidence = u.lc, left_verified_at = COALESCE(u.lv, links.left_verified_at), \
             right_verified_at = COALESCE(u.rv, links.right_verified_at), updated_at = u.stamp \
             FROM u WHERE links.id = u.lid RETURNING id, pair",
            chunk.with_u(db)
        );
        let rows: Vec<(i64, String)> = on_batch!(&mut *tx, chunk, sqlx::query_as(AssertSqlSafe(sql)),
            (q, c) => q.fetch_all(c).await?);
        pairs.extend(rows);
    }
    links
        .iter()
        .map(|l| {
            let id = l.id.expect("an update has an id");
            let pair = pairs.get(&id).cloned().ok_or_else(|| StoreError::not_found(format!("link {id}")))?;
            Ok((l.clone(), pair))
        })
        .collect()
}

/// Creates links; returns their ids in the order of `links`.
async fn insert_all(tx: &mut Tx, links: &[&LinkUpsert], at: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
    let mut batch = Batch::new(NEW_LINK);
    for l in links {
        batch.push(vec![
            Val::text(&l.pair),
            Val::text(&l.left_id),
            Val::text(&l.right_id),
            Val::json(&l.base),
            Val::opt(l.left_hash.as_deref()),
            Val::opt(l.right_hash.as_deref()),
            Val::Bool(l.low_confidence),
            Val::ts(at),
            Val::opt_ts(l.left_verified_at),
            Val::opt_ts(l.right_verified_at),
        ]);
    }
    let db = tx.backend();
    // (pair, left id) is unique, so it names the row RETURNING gives back.
    let mut ids: HashMap<(String, String), i64> = HashMap::new();
    for chunk in batch.chunks(db) {
        let sql = format!(
            "{}INSERT INTO links (pair, left_id, right_id, base, left_hash, right_hash, \
             low_confidence, created_at, updated_at, left_verified_at, right_verified_at) \
             SELECT pair, left_id, right_id, base, left_hash, right_hash, low_confidence, stamp, stamp, \
             left_verified_at, right_verified_at FROM u WHERE true RETURNING id, pair, left_id",
            chunk.with_u(db)
        );
        let rows: Vec<(i64, String, String)> = on_batch!(&mut *tx, chunk, sqlx::query_as(AssertSqlSafe(sql)),
            (q, c) => q.fetch_all(c).await?);
        ids.extend(rows.into_iter().map(|(id, pair, left)| ((pair, left), id)));
    }
    links
        .iter()
        .map(|l| {
            ids.get(&(l.pair.clone(), l.left_id.clone())).copied().ok_or_else(|| {
                StoreError::Conflict(format!("link {} / {} was not created", l.left_id, l.right_id))
            })
        })
        .collect()
}

/// Replaces, per link, the identity keys of every side present in its keys.
async fn replace_keys(tx: &mut Tx, links: &[(i64, String, &Keys)]) -> Result<(), StoreError> {
    let mut sides = Batch::new(KEY_SIDE);
    let mut keys = Batch::new(KEY);
    for (id, pair, link_keys) in links {
        let mut named = BTreeMap::new();
        for (side, field, value) in link_keys.iter() {
            named.insert(side.as_str(), ());
            keys.push(vec![
                Val::Int(Some(*id)),
                Val::text(pair),
                Val::text(side.as_str()),
                Val::text(field),
                Val::text(value),
            ]);
        }
        for side in named.keys() {
            sides.push(vec![Val::Int(Some(*id)), Val::text(*side)]);
        }
    }
    delete_keys(tx, &sides).await?;
    let db = tx.backend();
    for chunk in keys.chunks(db) {
        let sql = format!(
            "{}INSERT INTO link_keys (link_id, pair, side, field, value) \
             SELECT link, pair, side, field, value FROM u WHERE true ON CONFLICT DO NOTHING",
            chunk.with_u(db)
        );
        on_batch!(&mut *tx, chunk, sqlx::query(AssertSqlSafe(sql)), (q, c) => q.execute(c).await?.rows_affected());
    }
    Ok(())
}

/// Drops the keys of the (link, side) rows of `sides`.
async fn delete_keys(tx: &mut Tx, sides: &Batch) -> Result<(), StoreError> {
    let db = tx.backend();
    for chunk in sides.chunks(db) {
        let sql = format!(
            "{}DELETE FROM link_keys WHERE EXISTS \
             (SELECT 1 FROM u WHERE u.link = link_keys.link_id AND u.side = link_keys.side)",
            chunk.with_u(db)
        );
        on_batch!(&mut *tx, chunk, sqlx::query(AssertSqlSafe(sql)), (q, c) => q.execute(c).await?.rows_affected());
    }
    Ok(())
}

/// Points `side` of a link at another record (a merge's survivor) and drops that side's keys.
/// Merges are rare: one statement each.
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
    let mut sides = Batch::new(KEY_SIDE);
    sides.push(vec![Val::Int(Some(id)), Val::text(side.as_str())]);
    delete_keys(tx, &sides).await
}

/// Removes links and their keys; a link already gone is not an error.
pub(crate) async fn unlink_all(tx: &mut Tx, ids: &[i64]) -> Result<(), StoreError> {
    let mut batch = Batch::new(ID);
    for id in ids {
        batch.push(vec![Val::Int(Some(*id))]);
    }
    let db = tx.backend();
    for chunk in batch.chunks(db) {
        let sql = format!("{}DELETE FROM links WHERE id IN (SELECT id FROM u)", chunk.with_u(db));
        on_batch!(&mut *tx, chunk, sqlx::query(AssertSqlSafe(sql)), (q, c) => q.execute(c).await?.rows_affected());
    }
    Ok(())
}
