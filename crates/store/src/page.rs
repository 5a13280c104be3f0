//! The page commit: everything one page of a run produced, in one transaction, behind the
//! lease's fencing check. Either all of it is written or none of it. Each table is written by
//! a few batched statements (`batch.rs`), not one per row: on PostgreSQL a statement is a
//! round trip.

use super::db::{Db, Tx};
use super::{PageCommit, PageCommitResult, StoreError, journal, leases, link_writes, review, runs};

pub(crate) async fn commit(db: &Db, page: &PageCommit) -> Result<PageCommitResult, StoreError> {
    let mut tx = db.begin_write().await?;
    // On error the transaction is dropped unfinished, which rolls it back.
    let result = apply(&mut tx, page).await?;
    tx.commit().await?;
    Ok(result)
}

/// Applies `page` in the order documented on [`PageCommit`]: unlinks before re-points before
/// upserts, so a merge survivor or a re-created link never collides with the row it replaces.
async fn apply(tx: &mut Tx, page: &PageCommit) -> Result<PageCommitResult, StoreError> {
    let at = page.at;
    leases::fence(tx, &page.lease).await?;
    link_writes::unlink_all(tx, &page.unlinks).await?;
    for (id, side, record_id) in &page.link_repoints {
        link_writes::repoint(tx, *id, *side, record_id, at).await?;
    }
    let mut result = PageCommitResult {
        created_links: link_writes::upsert_all(tx, &page.link_upserts, at).await?,
        ..PageCommitResult::default()
    };
    for item in &page.review_items {
        result.review_items.push(review::open(tx, item, at).await?);
    }
    for (id, transition) in &page.review_transitions {
        review::transition(tx, *id, transition, at).await?;
    }
    journal::add_dead_letters(tx, &page.dead_letters, at).await?;
    journal::add_decisions(tx, &page.decisions).await?;
    journal::mark_events(tx, &page.seen_events, at).await?;
    journal::finish_intents(tx, &page.intents_done, at).await?;
    journal::add_freshness(tx, &page.freshness).await?;
    if let Some((stream, checkpoint, from, to)) = &page.checkpoint {
        runs::save_checkpoint(tx, stream, checkpoint, (*from, *to), at).await?;
    }
    Ok(result)
}
