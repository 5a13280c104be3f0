//! `crosswalk dead-letters list / show / retry / discard`: the redrive procedure from the command
//! line, over [`crate::dead_letters::DeadLetters`]. The payload is printed by `show` only (to
//! stdout, never to the log).

use std::fmt::Write as _;

use clap::Subcommand;
use connector_api::{Clock, SystemClock};

use crate::dead_letters::{DeadLetterError, DeadLetters, Done};
use crate::settings::Settings;
use crate::store::{DeadLetter, DeadLetterFilter, DeadLetterSource, DeadLetterStatus};

use super::Outcome;

/// The `dead-letters` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// List dead letters, newest first (open ones unless `--status` says otherwise).
    List {
        /// open, retried, discarded or all.
        #[arg(long, default_value = "open")]
        status: String,
        /// Only those whose reason contains this text (any case).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Only those from this configured system (e.g. `wlcro`).
        #[arg(long, value_name = "SYSTEM")]
        system: Option<String>,
        /// Only those from a `pull` or a `webhook` delivery.
        #[arg(long, value_name = "pull|webhook")]
        source: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON (without payloads) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its payload.
    Show {
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send it back through the normal path: the next run re-reads the record it names from its
    /// system (fix the cause at the source first). Safe to repeat.
    Retry {
        id: i64,
        /// Who decided, for the record.
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Mark it discarded: kept as a record, never re-processed.
    Discard {
        id: i64,
        /// Who decided, for the record.
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

/// Runs one `dead-letters` subcommand.
pub async fn run(settings: &Settings, command: &DeadLetterCommand) -> Outcome {
    let store = match super::open_store(settings).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let service = DeadLetters::new(store);
    match execute(&service, command, SystemClock.now()).await {
        Ok(text) => {
            print!("{text}");
            Outcome::Ok
        }
        Err(e) => fail(&e),
    }
}

fn fail(reason: &str) -> Outcome {
    eprintln!("error: {reason}");
    Outcome::ActionNeeded
}

/// Runs `command` and returns what to print.
pub async fn execute(
    service: &DeadLetters,
    command: &DeadLetterCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    let err = |e: DeadLetterError| e.to_string();
    match command {
        DeadLetterCommand::List { status, reason, system, source, limit, json } => {
            let filter = DeadLetterFilter {
                status: parse_status(status)?,
                system: system.clone(),
                source: source.as_deref().map(parse_source).transpose()?,
                reason: reason.clone(),
                limit: *limit,
            };
            let letters = service.list(&filter).await.map_err(err)?;
            if *json {
                let rows: Vec<serde_json::Value> = letters.iter().map(summary_json).collect();
                return Ok(format!("{}\n", serde_json::Value::Array(rows)));
            }
            Ok(table(&letters))
        }
        DeadLetterCommand::Show { id, json } => {
            let d = service.get(*id).await.map_err(err)?;
            if *json {
                let mut v = summary_json(&d);
                v["payload"] = d.payload.clone().into();
                return Ok(format!("{v}\n"));
            }
            Ok(detail(&d))
        }
        DeadLetterCommand::Retry { id, by } => Ok(match service.retry(*id, by, now).await.map_err(err)? {
            Done::Now => {
                format!("dead letter {id} retried: the next run re-reads its record from its system\n")
            }
            Done::Already => format!("dead letter {id} was already retried; nothing changed\n"),
        }),
        DeadLetterCommand::Discard { id, by } => {
            Ok(match service.discard(*id, by, now).await.map_err(err)? {
                Done::Now => format!("dead letter {id} discarded\n"),
                Done::Already => format!("dead letter {id} was already discarded; nothing changed\n"),
            })
        }
    }
}

fn parse_status(s: &str) -> Result<Option<DeadLetterStatus>, String> {
    if s == "all" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| format!("--status `{s}`: use open, retried, discarded or all"))
}

fn parse_source(s: &str) -> Result<DeadLetterSource, String> {
    s.parse().map_err(|_| format!("--source `{s}`: use pull or webhook"))
}

fn summary_json(d: &DeadLetter) -> serde_json::Value {
    serde_json::json!({
        "id": d.id, "status": d.status, "source": d.source, "system": d.system, "object": d.object,
        "record_id": d.record_id, "event_id": d.event_id, "pair": d.pair, "reason": d.reason,
        "run_id": d.run_id, "created_at": d.created_at, "status_at": d.status_at, "status_by": d.status_by,
    })
}

fn table(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "no dead letters match\n".into();
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>6}  {:<9}  {:<7}  {:<20}  {:<16}  {:<20}  reason",
        "id", "status", "source", "system/object", "record", "time (UTC)"
    );
    for d in letters {
        let _ = writeln!(
            s,
            "{:>6}  {:<9}  {:<7}  {:<20}  {:<16}  {:<20}  {}",
            d.id,
            d.status,
            d.source,
            format!("{}/{}", d.system, d.object),
            d.record_id.as_deref().unwrap_or("-"),
            d.created_at.format("%Y-%m-%d %H:%M:%S"),
            d.reason
        );
    }
    s
}

fn detail(d: &DeadLetter) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "dead letter {} ({})", d.id, d.status);
    let _ = writeln!(s, "source:  {} from {} / {}", d.source, d.system, d.object);
    let _ = writeln!(s, "record:  {}", d.record_id.as_deref().unwrap_or("(none read)"));
    if let Some(e) = &d.event_id {
        let _ = writeln!(s, "event:   {e}");
    }
    let _ = writeln!(s, "pair:    {}", d.pair.as_deref().unwrap_or("-"));
    let _ = writeln!(s, "time:    {} (run {})", d.created_at.format("%Y-%m-%d %H:%M:%S UTC"), d.run_id);
    if let (Some(at), Some(by)) = (d.status_at, &d.status_by) {
        let _ = writeln!(s, "{}: {} by {by}", d.status, at.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    let _ = writeln!(s, "reason:  {}", d.reason);
    let _ = writeln!(s, "payload:\n{}", d.payload);
    s
}
