//! Logging: human-readable lines by default, JSON lines with `--log-format json`.
//!
//! Logs carry ids and counts, never field values (PII) or secrets. Each run opens one span with
//! its `run_id`, so every line it logs can be traced back to the run.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::settings::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides `level` when set. Logs go to stderr so
/// stdout stays clean for command output (`--json`, plans, tables).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let writer = BoxMakeWriter::new(std::io::stderr);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = match format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    // A second init (tests, embedded use) keeps the first subscriber.
    drop(result);
}
