//! `crosswalk demo`: runs [`crate::demo`] and prints its account to stdout. Exit 0 when both
//! cycles ran; otherwise one line saying why, and exit 1. Needs no config file.

use super::Outcome;
use crate::demo::{self, DemoOptions};

/// Runs the demo.
pub async fn run() -> Outcome {
    let mut out = std::io::stdout();
    match demo::run(&DemoOptions::default(), &mut out).await {
        Ok(_) => Outcome::Ok,
        Err(e) => {
            eprintln!("error: demo failed: {e}");
            Outcome::ActionNeeded
        }
    }
}
