//! The shared conformance suite against the in-process WhiteLabelCRO simulator, for both
//! objects, over real loopback HTTP.

mod common;

use common::world;
use connector_conformance as suite;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod leads {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let w = world(true).await;
                suite::$name(&w.driver, &w.connector).await;
            })*
        }
        mod clients {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                let w = world(false).await;
                suite::$name(&w.driver, &w.connector).await;
            })*
        }
    };
}

conformance!(
    paging_exactly_once,
    future_checkpoint_returns_nothing,
    idempotent_create_replay,
    tie_at_page_boundary,
    rewind_rereads_overlap,
    duplicate_and_reordered_events,
    throttle_storm_is_polite,
    maintenance_503_recovers,
    silent_edit_found_by_fetch,
    find_many_agrees_with_find,
);
