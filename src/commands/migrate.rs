//! `crosswalk migrate`: applies the embedded migrations to the configured store.

use crate::settings::Settings;
use crate::store;

use super::Outcome;

/// Opens the store and applies what is missing; running it again applies nothing.
pub async fn run(settings: &Settings) -> Outcome {
    let store = match store::open(&settings.store.url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::ActionNeeded;
        }
    };
    match store.migrate().await {
        Ok(report) => {
            println!("{}: {report}", store::redact_url(&settings.store.url));
            Outcome::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::ActionNeeded
        }
    }
}
