//! `crosswalk explain <system> <record-id>`: why did this record's fields change? Prints the
//! decision log, newest first: the field, old → new, the rule and reason, the source side, the
//! run, and whether a person's review decision was behind it; `--json` for scripts.

use connector_api::SystemClock;

use crate::review::ReviewService;
use crate::review::names::Directory;
use crate::settings::Settings;
use crate::store::{self, Decision};

use super::Outcome;

/// Prints the history of one record as the decision log tells it (`json`: as JSON, each
/// decision with its systems named and the review item behind it).
pub async fn run(settings: &Settings, system: &str, record_id: &str, limit: usize, json: bool) -> Outcome {
    let store = match store::open(&settings.store.url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::ActionNeeded;
        }
    };
    let directory = Directory::from_settings(settings);
    let service = ReviewService::new(store, SystemClock::shared()).with_directory(directory);
    match service.record_history(system, record_id, limit).await {
        Ok(entries) if json => {
            let label = service.directory().system(system).label;
            let body = serde_json::json!({
                "system": system, "system_label": label, "record_id": record_id, "decisions": entries
            });
            println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
            Outcome::Ok
        }
        Ok(entries) if entries.is_empty() => {
            println!("no recorded decisions for {system} record {record_id}");
            Outcome::Ok
        }
        Ok(entries) => {
            let decisions: Vec<Decision> = entries.into_iter().map(|e| e.decision).collect();
            print!("{}", render(system, record_id, &decisions));
            Outcome::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::ActionNeeded
        }
    }
}

/// The history as text, newest first.
pub fn render(system: &str, record_id: &str, decisions: &[Decision]) -> String {
    let mut out = format!("{system} record {record_id}: {} decision(s), newest first\n", decisions.len());
    for d in decisions {
        let show =
            |v: &Option<String>| v.as_deref().map_or_else(|| "(blank)".to_string(), |s| format!("{s:?}"));
        out.push_str(&format!(
            "{}  {:<16} {} -> {}\n    rule {} ({}), value from the {} side, pair {}, run {}{}{}\n",
            d.at.format("%Y-%m-%d %H:%M:%S"),
            d.field,
            show(&d.old_value),
            show(&d.new_value),
            d.rule,
            d.reason,
            d.source_side,
            d.pair,
            d.run_id,
            if d.echo { ", echo of our own write" } else { "" },
            d.provenance.as_deref().map(|p| format!(", decided by {p}")).unwrap_or_default(),
        ));
    }
    out
}
