//! The run loop: one sync cycle of every pair (or the named ones).
//!
//! For each pair the engine takes the pair's lease, pulls each side page by page from its
//! checkpoint (rewound by the overlap on the first page), resolves identities, plans each linked
//! record with the pure planner, executes the writes in batches and commits everything the page
//! produced — links, bases, review items, decisions, dead letters and the new checkpoint — in one
//! fenced store transaction. A page whose writes could not all be applied or parked leaves the
//! checkpoint where it was, so the next run reads it again.
//!
//! The modules are layers; each imports only from the layers below it:
//!
//! | layer | modules | what they hold |
//! |---|---|---|
//! | 7 worker | `micro` | webhook-driven micro-syncs: debounced, batched, under the pair's lease |
//! | 6 run | `engine`, `backfill` | the [`Engine`]: leases, pair contexts, runs, backfills |
//! | 5 pair | `pull` | one pair's cycle: resolutions, pulls page by page, events, sweep |
//! | 4 page | `batch`, `page`, `resolutions`, `webhook_events` | pages waiting for each other's writes; one page through the stages below |
//! | 3 stages | `identity` → `link` → `plan` → `apply` → `creates` → `settle` | decide, commit links, plan, send, settle |
//! | 2 shared | `send`, `backlinks`, `review_items`, `misses` | writes to one side, back-links, review items, identity misses remembered |
//! | 1 context | `context`, `timebox` | [`PairContext`](context::PairContext): one pair's run as every stage sees it; the run's time box and each stream's backlog |
//! | 0 ground | `error`, `options`, `meter`, `report`, `keys`, `control`, `caps`, `lease` | types, hashes, keys, caps, leases, the work counted per system |

mod apply;
mod backfill;
mod backlinks;
mod batch;
mod caps;
mod context;
mod control;
mod creates;
mod engine;
mod error;
mod identity;
mod keys;
mod lease;
mod link;
pub mod meter;
pub mod micro;
mod misses;
mod options;
mod page;
mod plan;
mod pull;
mod report;
mod resolutions;
mod review_items;
mod send;
mod settle;
mod timebox;
pub mod webhook_events;

pub use backfill::{BackfillReport, BackfillSpec, backfill_id, slices, write_capacity};
pub use control::{BackfillState, PairGate, ProgressSink, StopSignal};
pub use engine::Engine;
pub use error::SyncError;
pub use options::{SyncOptions, SyncPath, TimeBox};
pub use report::{PageStats, PairReport, PairStatus, RunReport};
