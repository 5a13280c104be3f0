//! The command line: global options and one subcommand per use of the product.
//!
//! Per-invocation choices (`--dry-run`, `--pair`) are flags here; standing configuration lives
//! in the config file (see [`crate::settings`]).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::LogFormat;

/// crosswalk keeps WhiteLabelCRO and HubSpot / Salesforce in agreement, both ways.
#[derive(Debug, Parser)]
#[command(name = "crosswalk", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The config file. Defaults to ./crosswalk.toml when it exists; built-in defaults otherwise.
    #[arg(long, short = 'c', global = true, value_name = "FILE", env = "CROSSWALK_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format: `human` lines or `json` lines (logs go to stderr).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// More log output (-v: debug, -vv: trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config file and every mapping file; list each problem with file, line and key.
    Check {
        /// Then probe each configured system with read-only requests: credentials and scopes, and
        /// that every mapped field exists, is writable where a rule writes it and takes what the
        /// transform produces (enumeration options, picklist values, lengths); back-links and
        /// upsert keys unique / external ids; the pull cursor filterable. One line per problem.
        #[arg(long)]
        remote: bool,
    },
    /// Start a configuration: write a commented crosswalk.toml for WhiteLabelCRO and the CRM
    /// chosen, and copy the shipped mapping for that pair into DIR/mappings.
    Init {
        /// The sales CRM to pair WhiteLabelCRO with.
        #[arg(long, value_enum, default_value = "hubspot")]
        crm: crate::commands::init::Crm,
        /// Where to write crosswalk.toml and mappings/.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Replace files that already exist.
        #[arg(long)]
        force: bool,
    },
    /// Apply the state store's migrations (safe to run again; applies only what is missing).
    Migrate,
    /// Run one sync cycle of every pair (or the named ones), then exit.
    Sync {
        /// Only this pair (repeatable); all pairs when absent.
        #[arg(long = "pair", value_name = "PAIR")]
        pairs: Vec<String>,
        /// Print the plan (creates, updates with old → new values, conflicts) and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the summary as one JSON document on stdout (the shape is in the README).
        #[arg(long)]
        json: bool,
    },
    /// Run the sync cycle every interval until SIGINT/SIGTERM (the scheduler as one process).
    ///
    /// With --serve the same process also serves what `crosswalk serve` does (the admin pages,
    /// the JSON API, the webhook receivers, /healthz and /metrics) over one store connection
    /// pool and one metrics registry: a small deployment needs one process. A signal stops both
    /// cleanly. Separate `run` and `serve` processes on one store work as before.
    Run {
        /// How often a cycle starts, e.g. `5m` (default: `sync.interval`); a tick while a cycle
        /// still runs is skipped.
        #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
        every: Option<std::time::Duration>,
        /// Only this pair (repeatable); all pairs when absent.
        #[arg(long = "pair", value_name = "PAIR")]
        pairs: Vec<String>,
        /// Print each cycle's summary as one line of JSON on stdout (the shape is in the README).
        #[arg(long)]
        json: bool,
        /// Serve Prometheus metrics at http://ADDR/metrics while running (e.g. 127.0.0.1:9464).
        #[arg(long, value_name = "ADDR", conflicts_with = "serve")]
        metrics_listen: Option<String>,
        /// Also run the admin server in this process (pages, API, webhook receivers, /healthz,
        /// /metrics), as `crosswalk serve` would; needs `serve.admin_token`.
        #[arg(long)]
        serve: bool,
        /// Where --serve listens, e.g. 0.0.0.0:8080 (default: `serve.listen`).
        #[arg(long, value_name = "ADDR", requires = "serve")]
        listen: Option<String>,
    },
    /// Close a system's circuit breaker by hand: its paused pairs run again from the next run.
    ///
    /// A breaker opens after `breaker.failures` failed runs against the system (or at once when
    /// it refused the credentials) and closes by itself when the system answers the probe of a
    /// later run; `crosswalk status` shows which are open and why. Resume after fixing the cause.
    Resume {
        /// The configured system name (as under `[systems.NAME]`).
        system: String,
    },
    /// Read a pair's whole history (or a range) through the reconciler, resumably.
    Backfill {
        /// The pair to backfill.
        #[arg(long, value_name = "PAIR")]
        pair: String,
        /// Only changes at or after this time (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE", value_parser = crate::commands::backfill::parse_date)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only changes at or before this time (default: when the backfill first started).
        #[arg(long, value_name = "DATE", value_parser = crate::commands::backfill::parse_date)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Print counts and a sample of the changes; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop before creating more than N records in this attempt (run again to continue).
        #[arg(long, value_name = "N")]
        max_creates: Option<u64>,
        /// Read a finished backfill's range again instead of reporting it finished.
        #[arg(long)]
        restart: bool,
        /// Split the range into N slices with a lease each, so several workers started with the
        /// same arguments share them (needs --since and --until).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        slices: Option<u32>,
        /// Print the summary as one JSON document on stdout (one line per slice with --slices;
        /// the shape is in the README).
        #[arg(long)]
        json: bool,
    },
    /// Serve one of the bundled API simulators on 127.0.0.1 until Ctrl-C.
    #[cfg(feature = "sim")]
    #[command(after_long_help = crate::commands::sim::HELP)]
    Sim {
        /// Which API.
        #[arg(value_enum)]
        system: crate::commands::sim::SimKind,
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Custom properties (HubSpot) or fields (Salesforce) to host instead of the default
        /// set-up of the shipped mappings; the JSON format is shown by `crosswalk sim --help`.
        #[arg(long, value_name = "FILE")]
        schema: Option<std::path::PathBuf>,
    },
    /// The review queue: list, show, resolve (one or in bulk), reopen, apply.
    Review {
        #[command(subcommand)]
        command: crate::commands::review::ReviewCommand,
    },
    /// Dead letters (unreadable records and webhook deliveries): list, show, retry, discard.
    DeadLetters {
        #[command(subcommand)]
        command: crate::commands::dead_letters::DeadLetterCommand,
    },
    /// Serve the admin web page, JSON API, /healthz and /metrics (needs `serve.admin_token`).
    Serve {
        /// Address to listen on, instead of `serve.listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Run two sync cycles against the three bundled simulators, seeded, with a throw-away store.
    #[cfg(feature = "sim")]
    Demo,
    /// Not in this build (built without the `sim` feature): says so instead of "unrecognized
    /// subcommand", since the README's quick start begins with `crosswalk demo`.
    #[cfg(not(feature = "sim"))]
    #[command(hide = true, disable_help_flag = true)]
    Sim {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Not in this build (built without the `sim` feature); see `Sim` above.
    #[cfg(not(feature = "sim"))]
    #[command(hide = true, disable_help_flag = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Show the last runs, the lag per stream, the review queue, dead letters and each system's
    /// health and remaining API budgets.
    Status(crate::commands::status::StatusArgs),
    /// Show why a record's fields changed: the decision log, newest first.
    Explain {
        /// The configured system the record lives in (e.g. `hubspot`).
        system: String,
        /// The record's id in that system.
        record_id: String,
        /// How many decisions to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON (the decisions with their systems named) instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// The config file to read and whether the user named it.
    pub fn config_path(&self) -> (PathBuf, bool) {
        match &self.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("crosswalk.toml"), false),
        }
    }
}

/// Parses `--every` values like `5m`, `90s`, `1h`.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not an interval ({e}); use e.g. 5m, 90s or 1h"))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    fn listed(name: &str) -> bool {
        Cli::command().get_subcommands().any(|c| c.get_name() == name && !c.is_hide_set())
    }

    #[cfg(feature = "sim")]
    #[test]
    fn with_the_sim_feature_sim_and_demo_are_listed() {
        assert!(listed("sim") && listed("demo"));
        assert!(matches!(Cli::try_parse_from(["crosswalk", "demo"]).map(|c| c.command), Ok(Command::Demo)));
    }

    #[cfg(not(feature = "sim"))]
    #[test]
    fn without_the_sim_feature_sim_and_demo_are_hidden_but_still_parse() {
        assert!(!listed("sim") && !listed("demo"), "help must not offer what the build lacks");
        let parsed = Cli::try_parse_from(["crosswalk", "sim", "hubspot", "--port", "1"]).map(|c| c.command);
        assert!(matches!(parsed, Ok(Command::Sim { ref args }) if args == &["hubspot", "--port", "1"]));
        assert!(matches!(
            Cli::try_parse_from(["crosswalk", "demo"]).map(|c| c.command),
            Ok(Command::Demo { .. })
        ));
        assert!(crate::commands::NO_SIMULATORS.contains("without the `sim` feature"));
    }
}
