//! Logging: human-readable lines by default, JSON lines with `--log-format json`.
//!
//! Logs carry ids and counts, never field values (PII) or secrets. Each run opens one span with
//! its `run_id`, so every line it logs can be traced back to the run. In JSON mode every line on
//! stderr is one object: `timestamp`, `level`, `target`, `message`, the event's fields, and the
//! fields of the spans it happened in (`run_id`, `pair`) lifted to the top level, so a log
//! pipeline can filter by run without parsing span lists. Colour is used only when stderr is a
//! terminal and `NO_COLOR` is not set.
//!
//! What the commands say to the operator outside a run's log (`stopping: …`, `error: …`) goes
//! through [`say`] and [`fail`]: plain text in human mode, a log event in JSON mode, so the JSON
//! stream stays one object per line.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;

use connector_api::Clock;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::settings::LogFormat;

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Installs the global subscriber. `RUST_LOG` overrides `level` when set. Logs go to stderr so
/// stdout stays clean for command output (`--json`, plans, tables).
pub fn init(format: LogFormat, level: &str) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let writer = BoxMakeWriter::new(std::io::stderr);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let result = match format {
        LogFormat::Human => {
            builder.with_target(false).with_ansi(colour(std::env::var_os("NO_COLOR"))).try_init()
        }
        LogFormat::Json => {
            builder.with_ansi(false).fmt_fields(JsonFields::new()).event_format(JsonLines).try_init()
        }
    };
    // A second init (tests, embedded use) keeps the first subscriber.
    drop(result);
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything but empty
/// (<https://no-color.org>).
fn colour(no_color: Option<std::ffi::OsString>) -> bool {
    std::io::stderr().is_terminal() && no_color.is_none_or(|v| v.is_empty())
}

/// True when logs are JSON lines (so a command prints nothing else on stderr).
pub fn json() -> bool {
    matches!(FORMAT.get(), Some(LogFormat::Json))
}

/// Tells the operator something: `message` as a line on stderr in human mode, an info event in
/// JSON mode.
pub fn say(message: &str) {
    if json() {
        tracing::info!("{message}");
    } else {
        eprintln!("{message}");
    }
}

/// Reports an error the operator must act on: `error: {message}` on stderr in human mode, an
/// error event in JSON mode.
pub fn fail(message: &str) {
    if json() {
        tracing::error!("{message}");
    } else {
        eprintln!("error: {message}");
    }
}

/// One JSON object per event, with the fields of its spans at the top level.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = connector_api::SystemClock.now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.insert("timestamp".into(), Value::String(now));
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_string()));
        // Outer spans first, so an inner span's field of the same name wins.
        if let Some(scope) = ctx.event_scope() {
            let mut names = Vec::new();
            for span in scope.from_root() {
                names.push(Value::String(span.name().to_string()));
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else { continue };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields.as_str()) {
                    line.extend(map);
                }
            }
            line.insert("spans".into(), Value::Array(names));
        }
        let mut visitor = Fields(Map::new());
        event.record(&mut visitor);
        line.extend(visitor.0);
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buf").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[test]
    fn a_json_line_has_the_run_id_and_pair_of_its_spans_at_the_top_level() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("run", run_id = "r-1", dry_run = false);
            let _r = run.enter();
            let pair = tracing::info_span!("pair", pair = "a__b");
            let _p = pair.enter();
            tracing::warn!(pulled = 3u64, "pair done");
            drop(_p);
            tracing::info!("outside the pair");
        });
        let text = String::from_utf8(buf.0.lock().expect("buf").clone()).expect("utf-8");
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["run_id"], "r-1");
        assert_eq!(lines[0]["pair"], "a__b");
        assert_eq!(lines[0]["pulled"], 3);
        assert_eq!(lines[0]["dry_run"], false);
        assert_eq!(lines[0]["message"], "pair done");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[1]["run_id"], "r-1");
        assert!(lines[1].get("pair").is_none(), "{text}");
    }

    #[test]
    fn no_color_set_to_anything_turns_colour_off() {
        // The test's stderr is captured, not a terminal: never colour here, whatever NO_COLOR says.
        assert!(!colour(None));
        assert!(!colour(Some("1".into())));
    }
}
