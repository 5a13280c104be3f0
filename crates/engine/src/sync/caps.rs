//! The pair's safety caps over one run, and the first sync of a pair in this store.
//!
//! Caps are measured per run against the population at the start of the run (the pair's links
//! then), summed over the run's pages — not per page against the links made so far, which
//! would stop a first sync after its first page. A page that would take the run past a cap is
//! held back whole (its checkpoint stays) with one `held_back` item naming exactly the creates
//! and updated links it held; resolving that item (any decision but ignore) releases exactly
//! those on the next run, without counting them against the caps again.
//!
//! A pair that has never synced in this store (no links and no checkpoints on either side) is
//! in **bootstrap**: a scheduled run links what identity finds but creates nothing, and says to
//! run a backfill. That protects a new or wrong store (a relative SQLite path started from
//! another directory) from taking every record for unlinked and creating it again. Backfills
//! are bounded by `--max-creates` and their dry-run plan, not by these caps.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::json;

use crate::mapping::{Caps, PairMapping};
use crate::reconcile::{CapBreach, Plan};
use crate::store::{
    NewReviewItem, ReviewFilter, ReviewItem, ReviewKind, ReviewState, ReviewTransition, Store, StoreError,
    StreamKey,
};

/// The key under which a cap's `held_back` item lists what it held.
const HELD: &str = "held";

/// What the caps allowed so far in this run, and what resolved items released.
#[derive(Debug, Default)]
pub(crate) struct RunCaps {
    /// The pair's links at the start of the run.
    population: u64,
    /// True when the pair has never synced in this store (see the module docs).
    pub bootstrap: bool,
    /// True in a backfill: caps do not apply.
    exempt: bool,
    used: Mutex<Used>,
    released: Released,
    /// Whether an open cap item exists already (one is enough until someone decides).
    open_item: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Used {
    creates: u64,
    overwrites: u64,
}

/// Creates (by source record) and updated links that resolved `held_back` items released.
#[derive(Debug, Default)]
struct Released {
    items: Vec<i64>,
    creates: BTreeSet<String>,
    links: BTreeSet<i64>,
}

/// A page the caps hold back: the reason and the item to open (none when one is open already).
pub(crate) struct Hold {
    pub reason: String,
    pub item: Option<NewReviewItem>,
}

impl RunCaps {
    /// The caps of `pair` for a run starting now. `streams` are the pair's two incremental
    /// streams; `backfill` exempts the run; `guard_first_sync` turns bootstrap on (the default;
    /// off only for callers that build their whole world themselves, such as tests).
    pub async fn load(
        store: &dyn Store,
        pair: &PairMapping,
        streams: [StreamKey; 2],
        backfill: bool,
        guard_first_sync: bool,
    ) -> Result<Self, StoreError> {
        let population = store.count_links(&pair.name).await?;
        let mut bootstrap = false;
        if population == 0 && !backfill && guard_first_sync {
            let [a, b] = streams;
            bootstrap =
                store.load_checkpoint(&a).await?.is_none() && store.load_checkpoint(&b).await?.is_none();
        }
        let filter = ReviewFilter {
            pair: Some(pair.name.clone()),
            kind: Some(ReviewKind::HeldBack),
            ..ReviewFilter::default()
        };
        let items = store.list_review(&filter).await?;
        let cap_items = || items.iter().filter(|i| i.candidates.get(HELD).is_some());
        let open_item = cap_items().any(|i| i.state == ReviewState::Open);
        let mut released = Released::default();
        for item in cap_items().filter(|i| i.state == ReviewState::Resolved) {
            if item.resolution.as_ref().is_some_and(|r| r.action == crate::store::ResolveAction::Ignore) {
                continue;
            }
            released.items.push(item.id);
            let held = &item.candidates[HELD];
            released.creates.extend(strings(held.get("creates")));
            released.links.extend(
                held.get("links").and_then(|v| v.as_array()).into_iter().flatten().filter_map(|v| v.as_i64()),
            );
        }
        Ok(Self { population, bootstrap, exempt: backfill, used: Mutex::default(), released, open_item })
    }

    /// Checks a page's plan against the caps and, when it fits, counts it as used. `None` when
    /// the page may go ahead.
    pub fn admit(&self, pair: &PairMapping, plan: &Plan, ctx: ItemCtx<'_>) -> Option<Hold> {
        if self.exempt {
            return None;
        }
        let creates: Vec<&str> = plan
            .creates
            .iter()
            .map(|c| c.source_id.as_str())
            .filter(|id| !self.released.creates.contains(*id))
            .collect();
        let link_ids: Vec<i64> =
            ctx.link_ids.iter().copied().filter(|id| !self.released.links.contains(id)).collect();
        let mut used = self.used.lock().expect("caps lock");
        let after = Used {
            creates: used.creates + creates.len() as u64,
            overwrites: used.overwrites + link_ids.len() as u64,
        };
        let breaches = breaches(&pair.caps, after, self.population);
        if breaches.is_empty() {
            *used = after;
            return None;
        }
        let reason = format!(
            "safety cap: this run would make {} create(s) and update {} record(s) against {} linked record(s) \
             at its start ({}); the page is held back — check the changes (`crosswalk sync --pair {} --dry-run`), \
             then resolve this item to release exactly these, or raise the caps in the mapping",
            after.creates,
            after.overwrites,
            self.population,
            breaches.iter().map(describe).collect::<Vec<_>>().join(", "),
            pair.name,
        );
        let item = (!self.open_item).then(|| NewReviewItem {
            pair: pair.name.clone(),
            kind: ReviewKind::HeldBack,
            reason: reason.clone(),
            candidates: json!({ HELD: { "creates": creates, "links": link_ids } }),
            detected_at: ctx.now,
            run_id: ctx.run_id.to_string(),
            ..NewReviewItem::default()
        });
        Some(Hold { reason, item })
    }

    /// The resolved cap items whose releases this run used, to mark applied once the pair's
    /// pull finished.
    pub fn applied(&self, run_id: &str) -> Vec<(i64, ReviewTransition)> {
        self.released
            .items
            .iter()
            .map(|id| (*id, ReviewTransition::Applied { run_id: run_id.to_string() }))
            .collect()
    }
}

/// What a cap item needs to know of the page.
pub(crate) struct ItemCtx<'a> {
    /// The store ids of the links the page's plan updates.
    pub link_ids: &'a [i64],
    pub now: chrono::DateTime<chrono::Utc>,
    pub run_id: &'a str,
}

fn breaches(caps: &Caps, used: Used, population: u64) -> Vec<CapBreach> {
    let mut out = Vec::new();
    if caps.creates.exceeded(used.creates, population) {
        out.push(CapBreach::Creates(used.creates));
    }
    if caps.overwrites.exceeded(used.overwrites, population) {
        out.push(CapBreach::Overwrites(used.overwrites));
    }
    out
}

fn describe(b: &CapBreach) -> String {
    match b {
        CapBreach::Creates(n) => format!("{n} creates is past `max_creates`/`max_creates_pct`"),
        CapBreach::Overwrites(n) => {
            format!("{n} updated records is past `max_overwrites`/`max_overwrites_pct`")
        }
    }
}

fn strings(v: Option<&serde_json::Value>) -> impl Iterator<Item = String> + '_ {
    v.and_then(|v| v.as_array()).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string))
}

/// Whether `item` is a cap's held-back item.
pub(crate) fn is_cap_item(item: &ReviewItem) -> bool {
    item.kind == ReviewKind::HeldBack && item.candidates.get(HELD).is_some()
}
