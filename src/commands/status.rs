//! `crosswalk status [--runs N] [--json] [--no-probe]`: prints [`crate::status`]'s report of
//! the configured store and systems, as tables or as one JSON object.
//!
//! Exit 0 whenever the report could be made (unhealthy systems are reported, not failed on);
//! exit 1 with one line when the store cannot be reached.

use clap::Args;
use connector_api::SystemClock;

use crate::settings::Settings;
use crate::status::{gather, probe_configured, render};
use crate::store::{self, StoreError};

use super::Outcome;

/// `crosswalk status` flags.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// How many of the latest runs to show (the run history).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: usize,
    /// Print the report as one JSON object (documented in the README) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Do not contact the configured systems (no health, no budgets).
    #[arg(long)]
    pub no_probe: bool,
}

/// Prints the status of the configured store and systems.
pub async fn run(settings: &Settings, args: &StatusArgs) -> Outcome {
    let clock = SystemClock::shared();
    let opened = async {
        let store = store::open(&settings.store.url).await?;
        store.migrate().await?;
        Ok::<_, StoreError>(store)
    };
    let mut report = match opened.await {
        Ok(store) => match gather(&store, &clock, args.runs).await {
            Ok(r) => r,
            Err(e) => return store_failed(&e),
        },
        Err(e) => return store_failed(&e),
    };
    if !args.no_probe {
        report.systems = Some(probe_configured(settings, clock).await);
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: cannot encode the status as JSON: {e}");
                return Outcome::ActionNeeded;
            }
        }
    } else {
        print!("{}", render::text(&report));
    }
    Outcome::Ok
}

fn store_failed(e: &StoreError) -> Outcome {
    eprintln!("error: {e}");
    Outcome::ActionNeeded
}
