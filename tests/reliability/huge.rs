//! Scenario B3 (huge fields). WhiteLabelCRO clients have no notes or multi-select field (spec
//! §6), so the huge values travel in the mapped text fields they would overflow in practice.

use std::sync::Arc;

use crosswalk::store::Backend;

use crate::harness::{Sim, run_scenario, sync_options};
use crate::oracle::Truth;

/// Every event the tracing subscriber formats on this thread, at TRACE (human and JSON lines).
#[derive(Clone, Default)]
pub(crate) struct Capture(crate::sentinels::Capture);

impl Capture {
    /// Captures this thread's events until the guard drops.
    pub(crate) fn install(&self) -> crate::sentinels::Installed {
        self.0.install()
    }

    pub(crate) fn text(&self) -> String {
        self.0.events().into_iter().map(|e| e.text).collect::<Vec<_>>().join("")
    }
}

/// Marks every huge value, so it can be looked for in logs and errors.
const SENTINEL: &str = "Bthreesentinel";

/// One huge value: where it is written, and where it must arrive (system, record, field).
struct Huge {
    what: &'static str,
    value: String,
    /// The canonical field (review items name it).
    field: &'static str,
    targets: Vec<(&'static str, String, &'static str)>,
}

fn field_of(truth: &Truth, system: &str, id: &str, field: &str) -> Option<String> {
    match system {
        "wlcro" => truth.clients.get(&id.parse().ok()?)?.get(field).cloned(),
        "hubspot" => truth.hubspot.iter().find(|r| r.id == id)?.fields.get(field).cloned(),
        _ => truth.salesforce.iter().find(|r| r.id == id)?.fields.get(field).cloned(),
    }
}

/// B3: a 1 MB notes-like value (a HubSpot last name), a 10,000-value multi-select-like value
/// (`;`-joined, as HubSpot writes multi-selects, in a HubSpot first name) and a 70,000-character
/// string typed into a WhiteLabelCRO first name, headed for HubSpot (whose string properties cap
/// at 65,536 characters) and Salesforce. Neither simulator caps text lengths here (the HubSpot
/// spec gives none; the Salesforce simulator's caps are switched off), so each value must either arrive intact on every system the mapping sends it to, or
/// leave an open review item, dead letter or run error that names the field and the size —
/// never arrive shortened, never vanish. The runs end (a steady state within 4 runs: no loop
/// re-sending the value), and the value itself appears in no log line (captured at TRACE), run
/// error, stored run record, review reason or dead-letter reason: logs carry sizes, not contents.
/// Webhook bodies over the cap get 413 before HMAC: `tests/it/webhooks.rs`
/// (`oversized_bodies_get_413_and_store_nothing`).
#[test]
fn b03_huge_fields() {
    run_scenario("b03_huge_fields", 1, 0, |seed, backend: Backend| async move {
        let capture = Capture::default();
        let _guard = capture.install();
        // This scenario's premise is a simulator without text caps; the Salesforce simulator caps
        // text at the field's length like Salesforce (STRING_TOO_LONG) unless told not to.
        let no_caps = |cfg: &mut crosswalk::demo::WorldConfig| cfg.salesforce.quirks.enforce_lengths = false;
        let mut sim = Sim::new(seed, backend, no_caps, sync_options()).await?;
        let linked = sim.populate_linked(6);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("B3: no steady state before the huge values".into());
        }
        let notes = format!(
            "{SENTINEL}notes {}",
            "lorem ipsum ".repeat(1 << 20).chars().take(1 << 20).collect::<String>()
        );
        let multi = (0..10_000).map(|i| format!("{SENTINEL}opt{i}")).collect::<Vec<_>>().join(";");
        let long = format!("{SENTINEL}long{}", "x".repeat(70_000 - SENTINEL.len() - 4));
        let (c0, h0, s0) = linked[0].clone();
        let (c1, h1, s1) = linked[1].clone();
        let (c2, h2, s2) = linked[2].clone();
        sim.world.clock.advance(std::time::Duration::from_secs(30));
        sim.hs_edit(h0, &[("lastname", &notes)]);
        sim.hs_edit(h1, &[("firstname", &multi)]);
        sim.wl_edit(c2, &[("first_name", &long)]);
        let huge = [
            Huge {
                what: "1 MB notes-like last name from HubSpot",
                value: notes,
                field: "last_name",
                targets: vec![("wlcro", c0.to_string(), "last_name"), ("salesforce", s0, "LastName")],
            },
            Huge {
                what: "10,000-value multi-select-like first name from HubSpot",
                value: multi,
                field: "first_name",
                targets: vec![("wlcro", c1.to_string(), "first_name"), ("salesforce", s1, "FirstName")],
            },
            Huge {
                what: "70,000-character first name from WhiteLabelCRO",
                value: long,
                field: "first_name",
                targets: vec![("hubspot", h2.to_string(), "firstname"), ("salesforce", s2, "FirstName")],
            },
        ];
        let _ = h0;
        if !sim.steady("huge", 4).await {
            v.push(
                "B3: the runs never reach a steady state after the huge values (a write repeats every run)"
                    .into(),
            );
        }
        let truth = Truth::read(&sim.world.sims);
        let items = sim.store().list_review(&Default::default()).await.unwrap_or_default();
        let dead = sim.store().list_dead_letters(1000).await.unwrap_or_default();
        for h in &huge {
            let size = h.value.len().to_string();
            let chars = h.value.chars().count().to_string();
            let names_it =
                |text: &str| text.contains(h.field) && (text.contains(&size) || text.contains(&chars));
            let explained = items.iter().any(|i| {
                i.field.as_deref() == Some(h.field) && (i.reason.contains(&size) || i.reason.contains(&chars))
            }) || dead.iter().any(|d| names_it(&d.reason))
                || sim.errors.iter().any(|e| names_it(e));
            for (system, id, field) in &h.targets {
                let got = field_of(&truth, system, id, field);
                match got {
                    Some(g) if g == h.value => {}
                    Some(g) if !g.is_empty() && h.value.starts_with(&g) && !explained => v.push(format!(
                        "B3: {}: silently truncated on {system} {id}.{field} to {} of {} bytes",
                        h.what,
                        g.len(),
                        h.value.len()
                    )),
                    _ if explained => {}
                    other => v.push(format!(
                        "B3: {}: {system} {id}.{field} holds {} bytes (want {}), and no review item, dead letter or error names `{}` and the size",
                        h.what,
                        other.map_or(0, |g| g.len()),
                        h.value.len(),
                        h.field
                    )),
                }
            }
        }
        let logs = capture.text();
        let mut leaks: Vec<String> = Vec::new();
        if logs.contains(SENTINEL) {
            leaks.push("the log".into());
        }
        leaks.extend(sim.errors.iter().filter(|e| e.contains(SENTINEL)).map(|_| "a run error".to_string()));
        leaks.extend(
            items
                .iter()
                .filter(|i| i.reason.contains(SENTINEL))
                .map(|i| format!("review item {}'s reason", i.id)),
        );
        leaks.extend(
            dead.iter()
                .filter(|d| d.reason.contains(SENTINEL))
                .map(|d| format!("dead letter {}'s reason", d.id)),
        );
        let runs = sim.store().recent_runs(100).await.unwrap_or_default();
        leaks.extend(
            runs.iter()
                .filter(|r| format!("{r:?}").contains(SENTINEL))
                .map(|r| format!("run {}'s record", r.id)),
        );
        if !leaks.is_empty() {
            v.push(format!("B3: a huge value's content reached {leaks:?} (sizes only, never contents)"));
        }
        if logs.is_empty() {
            v.push("B3: the tracing capture saw nothing (the check above proves nothing)".into());
        }
        eprintln!(
            "B3: {} bytes of log captured, {} review item(s), {} dead letter(s)",
            logs.len(),
            items.len(),
            dead.len()
        );
        sim.done(v).await
    });
}

/// B3, webhook part: a WhiteLabelCRO delivery over the receiver's body cap gets 413 even with a
/// wrong signature — with and without a declared `Content-Length` — so the size check runs before
/// any HMAC work; the same wrong signature on a body under the cap gets 401 (the signature is
/// checked, so the 413 really came first), and nothing is stored. (`tests/it/webhooks.rs`
/// covers an oversized body with a valid signature.)
#[test]
fn b03_webhook_body_over_the_cap_gets_413_before_hmac() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
    use crosswalk::serve::{self, AdminAuth};
    use rand::SeedableRng;
    use secrecy::SecretString;
    use tower::ServiceExt;

    const MAX_BODY: usize = 64 * 1024;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let ts = crate::support::TestStore::sqlite().await;
        let store = ts.store.clone();
        let clock = connector_api::ManualClock::new(crate::world::t0());
        let shared: connector_api::SharedClock = Arc::new(clock.clone());
        let secrets = vec![SecretString::from("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==".to_string())];
        let verifier = WebhookVerifier::new(SignatureScheme::default(), secrets);
        let rx = serve::webhooks::WlcroReceiver::new("wlcro", verifier, MAX_BODY, store.clone(), shared.clone());
        let auth = AdminAuth::new(&SecretString::from("admin-token-admin-token".to_string()), rand_chacha::ChaCha20Rng::seed_from_u64(3));
        let app = rx.attach(serve::router(store.clone(), auth, shared));
        let now = crate::world::t0().timestamp();
        let body = |payload: usize| {
            serde_json::json!({
                "id": 9001, "type": "client.created", "createdUtc": "2026-03-02T08:59:58Z", "companyId": 1,
                "payload": {"client_id": 1, "first_name": "x".repeat(payload)},
            })
            .to_string()
        };
        let send = |body: String, declare: bool| {
            let mut b = Request::builder()
                .method("POST")
                .uri("/webhooks/wlcro")
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-webhook-timestamp", now.to_string())
                .header("x-webhook-event-id", "9001")
                .header("x-webhook-signature", format!("sha256={}", "0".repeat(64)));
            if declare {
                b = b.header(header::CONTENT_LENGTH, body.len());
            }
            app.clone().oneshot(b.body(Body::from(body)).expect("request"))
        };
        let mut v = Vec::new();
        for declare in [true, false] {
            let status = send(body(1 << 20), declare).await.map(|r| r.status()).unwrap_or(StatusCode::IM_A_TEAPOT);
            if status != StatusCode::PAYLOAD_TOO_LARGE {
                v.push(format!("a 1 MB body with a wrong signature (Content-Length declared: {declare}) got {status}, want 413"));
            }
        }
        let status = send(body(100), true).await.map(|r| r.status()).unwrap_or(StatusCode::IM_A_TEAPOT);
        if status != StatusCode::UNAUTHORIZED {
            v.push(format!("a small body with the same wrong signature got {status}, want 401"));
        }
        if !store.pending_events("wlcro", 10).await.unwrap_or_default().is_empty() {
            v.push("a refused delivery was stored".into());
        }
        ts.finish().await;
        assert!(v.is_empty(), "B3 webhook: {v:#?}");
    });
}
