//! `crosswalk explain <system> <record-id>`: why did this record's fields change? Prints the
//! decision log, newest first: the field, old → new, the rule and reason, the source side, the
//! run, and whether a person's review decision was behind it.

use crate::settings::Settings;
use crate::store::{self, Decision};

use super::Outcome;

/// Prints the history of one record as the decision log tells it.
pub async fn run(settings: &Settings, system: &str, record_id: &str, limit: usize) -> Outcome {
    let store = match store::open(&settings.store.url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::ActionNeeded;
        }
    };
    match store.decisions_for(system, record_id, limit).await {
        Ok(decisions) if decisions.is_empty() => {
            println!("no recorded decisions for {system} record {record_id}");
            Outcome::Ok
        }
        Ok(decisions) => {
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
