//! `crosswalk check --remote`: builds each configured system's connector, probes it
//! ([`crate::remote_check::probe`]) and prints one line per problem.

use connector_api::SystemClock;

use crate::mapping::PairMapping;
use crate::registry;
use crate::remote_check;
use crate::settings::Settings;

use super::Outcome;

/// Probes every system the pairs use and prints what each lacks.
pub async fn run(settings: &Settings, pairs: &[PairMapping]) -> Outcome {
    let clock = std::sync::Arc::new(SystemClock);
    let connectors = match registry::build_all(settings, pairs, clock, 0) {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e}");
            println!("1 problem(s) found; fix it and run `crosswalk check --remote` again");
            return Outcome::ActionNeeded;
        }
    };
    let report = remote_check::probe(pairs, &connectors).await;
    for object in &report.unchecked {
        println!("note: {object}; its fields were not checked");
    }
    if report.problems.is_empty() {
        println!("ok: {} system(s) accept the configuration and the mappings", report.systems);
        return Outcome::Ok;
    }
    for p in &report.problems {
        println!("error: {p}");
    }
    println!(
        "{} problem(s) found on the remote systems; fix them and run `crosswalk check --remote` again",
        report.problems.len()
    );
    Outcome::ActionNeeded
}
