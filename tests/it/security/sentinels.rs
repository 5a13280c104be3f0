//! Sentinel values and the capture of everything crosswalk says: tracing output at TRACE
//! (human and JSON lines, tagged with each event's level), plus any other text a test adds.
//! Shared by S4 (secrets) and S5 (PII).

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

/// Every secret sentinel starts with this, so a truncated or partial leak is found too.
pub const SECRET_MARK: &str = "SENTINEL-SECRET-7f3a";

/// The encodings a secret could leak in: raw, base64 (all four alphabets), hex (both cases)
/// and percent-encoded.
pub fn secret_forms(secret: &str) -> Vec<String> {
    let b = secret.as_bytes();
    let mut forms = vec![
        secret.to_string(),
        STANDARD.encode(b),
        STANDARD_NO_PAD.encode(b),
        URL_SAFE.encode(b),
        URL_SAFE_NO_PAD.encode(b),
        hex::encode(b),
        hex::encode_upper(b),
        percent_encode(secret),
        SECRET_MARK.to_string(),
        STANDARD_NO_PAD.encode(SECRET_MARK),
        hex::encode(SECRET_MARK),
    ];
    forms.sort();
    forms.dedup();
    forms
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Where `text` contains a form of one of `secrets`: (which output, which form, context).
pub fn secret_hits(outputs: &[(String, String)], secrets: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for secret in secrets {
        for form in secret_forms(secret) {
            for (name, text) in outputs {
                if let Some(at) = text.find(&form) {
                    let from = text[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
                    let to = (at + form.len() + 80).min(text.len());
                    let to = (to..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
                    hits.push(format!("{name}: {form:?} in …{}…", &text[from..to]));
                }
            }
        }
    }
    hits
}

/// One formatted tracing event.
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: Level,
    pub target: String,
    pub text: String,
}

/// A `MakeWriter` that keeps each event (one `write_all` per event) with its level.
#[derive(Clone, Default)]
pub struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
}

pub struct EventWriter {
    level: Level,
    target: String,
    buf: Vec<u8>,
    sink: Arc<Mutex<Vec<Captured>>>,
}

impl Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let event = Captured { level: self.level, target: std::mem::take(&mut self.target), text };
        self.sink.lock().expect("capture lock").push(event);
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { level: Level::TRACE, target: String::new(), buf: Vec::new(), sink: self.events.clone() }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EventWriter {
            level: *meta.level(),
            target: meta.target().to_string(),
            buf: Vec::new(),
            sink: self.events.clone(),
        }
    }
}

thread_local! {
    /// The capture this thread's events go to, if any.
    static SINK: std::cell::RefCell<Option<Capture>> = const { std::cell::RefCell::new(None) };
}

/// Writes each event into the capture installed on the thread that emitted it.
#[derive(Clone, Copy)]
struct Routed;

impl<'a> MakeWriter<'a> for Routed {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        SINK.with(|s| s.borrow().clone()).unwrap_or_default().make_writer()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        let capture = SINK.with(|s| s.borrow().clone()).unwrap_or_default();
        capture.make_writer_for(meta)
    }
}

fn capturing(_: &tracing::Metadata<'_>) -> bool {
    SINK.with(|s| s.borrow().is_some())
}

/// Installs, once per test process, the global subscriber that routes events to the capture of
/// the emitting thread: the human format (as `telemetry::init` configures it, without colours)
/// and JSON lines, at TRACE. One global subscriber, not a thread-scoped one per test: tracing
/// caches each callsite's interest process-wide, and scoped subscribers coming and going on
/// other test threads could leave a callsite disabled for this one (events silently lost).
fn route_globally() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::Layer as _;
        let human = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(false)
            .with_writer(Routed)
            .with_filter(tracing_subscriber::filter::filter_fn(capturing));
        let json = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(Routed)
            .with_filter(tracing_subscriber::filter::filter_fn(capturing));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(human)
            .with(json);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global tracing subscriber in the test process");
    });
}

/// While alive, this thread's tracing events go to a capture.
pub struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        SINK.with(|s| *s.borrow_mut() = None);
    }
}

impl Capture {
    /// Captures every tracing event this thread emits (TRACE and up, human and JSON formats)
    /// until the returned guard drops.
    pub fn install(&self) -> Installed {
        route_globally();
        SINK.with(|s| *s.borrow_mut() = Some(self.clone()));
        Installed
    }

    /// Everything captured so far.
    pub fn events(&self) -> Vec<Captured> {
        self.events.lock().expect("capture lock").clone()
    }
}
