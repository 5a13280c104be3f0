//! The page commit: everything one page of a run produced, in one transaction, behind the
//! lease's fencing check. Either all of it is written or none of it.

use super::db::{Db, Tx};
use super::{PageCommit, PageCommitResult, StoreError, journal, leases, links, review, runs};

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
    for id in &page.unlinks {
        links::unlink(tx, *id).await?;
    }
    for (id, side, record_id) in &page.link_repoints {
        links::repoint(tx, *id, *side, record_id, at).await?;
    }
    let mut result = PageCommitResult::default();
    for link in &page.link_upserts {
        match link.id {
            Some(id) => links::update(tx, id, link, at).await?,
            None => result.created_links.push(links::insert(tx, link, at).await?),
        }
    }
    for item in &page.review_items {
        result.review_items.push(review::open(tx, item, at).await?);
    }
    for (id, transition) in &page.review_transitions {
        review::transition(tx, *id, transition, at).await?;
    }
    for letter in &page.dead_letters {
        journal::add_dead_letter(tx, letter, at).await?;
    }
    for decision in &page.decisions {
        journal::add_decision(tx, decision).await?;
    }
    for (source, event_id) in &page.seen_events {
        journal::mark_event(tx, source, event_id, at).await?;
    }
    for key in &page.intents_done {
        journal::finish_intent(tx, key, at).await?;
    }
    journal::add_freshness(tx, &page.freshness).await?;
    if let Some((stream, checkpoint, from, to)) = &page.checkpoint {
        runs::save_checkpoint(tx, stream, checkpoint, (*from, *to), at).await?;
    }
    Ok(result)
}
