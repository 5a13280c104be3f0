//! S4 (secrets never leave) and S5 (PII not in INFO/WARN/ERROR logs, no forged log lines).
//!
//! One sweep drives the real engine and connectors over loopback HTTP against the three
//! simulators, configured with sentinel credentials (`SENTINEL-SECRET-7f3a…`) the way an
//! operator would (secret files), on contacts whose names, emails and phones are PII sentinels,
//! through faults that make errors: 429s with and without `Retry-After`, 500s and 503s,
//! per-record rejections, an expired Salesforce session, and 401s from revoked credentials. It
//! captures every tracing event at TRACE (human and JSON formats), every run report and error
//! string, the run journal, review items, dead letters and the decision log, the admin server's
//! `/metrics`, `/api/…` bodies and JSON errors, the webhook receiver's answers, and the SQLite
//! file itself. Time is virtual: one clock moves the engine and all three simulators together.
//!
//! Known limit: the capture takes what runs on the test's thread (the engine, the connectors and
//! the simulators all do, on the current-thread runtime); the SQLite driver's worker threads log
//! SQL text only, never bound values, and are not captured.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use connector_api::SharedClock;
use crosswalk::demo::world::{SimWorld, WorldConfig, secret_file};
use crosswalk::serve::{self, AdminAuth};
use crosswalk::settings::SystemSettings;
use crosswalk::store::{self, ReviewFilter, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use sim_core::FaultConfig;
use sim_hubspot::ObjectType;
use tokio::sync::OnceCell;
use tracing::Level;

use super::sentinels::{Capture, Captured, SECRET_MARK, secret_hits};
use super::sim_rig::{Rig, t0};
use crate::serve_api::call;

const WL_KEY: &str = "wlcro_live_17_SENTINEL-SECRET-7f3a-wlcro-api-key-91c2";
const WL_KEY_REVOKED: &str = "wlcro_live_17_SENTINEL-SECRET-7f3a-wlcro-revoked-0d1e";
const WL_HOOK: &str = "SENTINEL-SECRET-7f3a-wlcro-webhook-55aa";
const HS_TOKEN: &str = "pat-na1-SENTINEL-SECRET-7f3a-hubspot-token-3b4c";
const HS_TOKEN_REVOKED: &str = "pat-na1-SENTINEL-SECRET-7f3a-hubspot-revoked-9e8f";
const HS_CLIENT_SECRET: &str = "SENTINEL-SECRET-7f3a-hubspot-client-secret-77";
/// Has `+`, `/` and `=` so its form-encoded and base64 shapes differ from the raw one.
const SF_SECRET: &str = "SENTINEL-SECRET-7f3a+salesforce/secret=66";
const SF_SECRET_WRONG: &str = "SENTINEL-SECRET-7f3a+salesforce/wrong=00";
const ADMIN: &str = "SENTINEL-SECRET-7f3a-admin-token-12ab";
const ADMIN_WRONG: &str = "SENTINEL-SECRET-7f3a-admin-wrong-34cd";

const SECRETS: &[&str] = &[
    WL_KEY,
    WL_KEY_REVOKED,
    WL_HOOK,
    HS_TOKEN,
    HS_TOKEN_REVOKED,
    HS_CLIENT_SECRET,
    SF_SECRET,
    SF_SECRET_WRONG,
    ADMIN,
    ADMIN_WRONG,
];

/// A first name that tries to end the log line and start a forged one, with an ANSI escape.
const FORGER: &str = "Mallory\nERROR crosswalk: FORGED-LOG-LINE admin token accepted\u{1b}[2K\r";

/// PII sentinels: index → (first, last, email, phone as typed).
fn person(i: usize) -> (String, String, String, String) {
    (
        format!("Piisentinelfirst{i}"),
        format!("Piisentinellast{i}"),
        format!("pii-sentinel-mail-{i}@example.test"),
        format!("(212) 867-53{:02}", 10 + i),
    )
}

/// Lower-case markers of the PII above, in the forms they could take (E.164 phones too).
fn pii_marks() -> Vec<String> {
    let mut marks =
        vec!["piisentinel".to_string(), "pii-sentinel-mail".to_string(), "forged-log-line".into()];
    for i in 0..PEOPLE {
        marks.push(format!("867-53{:02}", 10 + i));
        marks.push(format!("86753{:02}", 10 + i));
    }
    marks
}

const PEOPLE: usize = 8;

/// What the sweep produced.
pub struct Sweep {
    /// Every tracing event.
    events: Vec<Captured>,
    /// Every other output, named.
    outputs: Vec<(String, String)>,
    /// Requests the simulators answered with 401/403 (the auth phase really happened).
    auth_failures: usize,
    /// Requests answered with an injected 429/500/503.
    injected: usize,
    /// The forged name arrived on HubSpot (so it went through the engine).
    forger_synced: bool,
}

static SWEEP: OnceCell<Sweep> = OnceCell::const_new();

async fn sweep() -> &'static Sweep {
    SWEEP.get_or_init(run_sweep).await
}

fn with_system<T>(world: &mut SimWorld, name: &str, f: impl FnOnce(&mut SystemSettings) -> T) -> T {
    f(world.systems.get_mut(name).expect("system"))
}

fn set_credentials(world: &mut SimWorld, dir: &Path, wl_key: &str, hs_token: &str, sf_secret: &str) {
    let file = |name: &str, v: &str| secret_file(dir, name, v).expect("secret file");
    let (wl, wl_hook) = (file("wl.key", wl_key), file("wl-hook.secret", WL_HOOK));
    let hs = file("hs.token", hs_token);
    let hs_client = file("hs-client.secret", HS_CLIENT_SECRET);
    let sf = file("sf.secret", sf_secret);
    with_system(world, "wlcro", |s| {
        if let SystemSettings::Whitelabelcro(w) = s {
            w.api_key = wl;
            w.webhook_secrets = vec![wl_hook];
        }
    });
    with_system(world, "hubspot", |s| {
        if let SystemSettings::Hubspot(h) = s {
            h.token = hs;
            h.webhook_secret = Some(hs_client);
        }
    });
    with_system(world, "salesforce", |s| {
        if let SystemSettings::Salesforce(f) = s {
            f.client_secret = sf;
        }
    });
}

fn props(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect()
}

fn seed(world: &SimWorld) {
    let sims = &world.sims;
    for i in 0..PEOPLE {
        let (first, last, email, phone) = person(i);
        let first = if i == 0 { FORGER.to_string() } else { first };
        let r = sim_whitelabelcro::SeedRecord {
            first_name: first,
            last_name: last,
            email,
            phone: Some(phone),
            city: Some("Austin".into()),
            state: Some("TX".into()),
            zip: Some("78701".into()),
            status: Some(if i % 2 == 0 { "Active Client" } else { "Lead - New" }.into()),
            ..Default::default()
        };
        sims.wlcro.seed_at(r, false, true, None).expect("seed client");
    }
    // Matched by email on HubSpot, further along the lifecycle than WhiteLabelCRO's status
    // maps to: writing `customer` over `evangelist` is refused (a per-record error on PII).
    // (Clients in a lead status belong to the leads object and are not synced by this pair.)
    let mut hs = Vec::new();
    for i in [2usize, 4] {
        let (first, last, email, _) = person(i);
        hs.push(props(&[
            ("email", &email),
            ("firstname", &format!("{first}-hs")),
            ("lastname", &last),
            ("lifecyclestage", "evangelist"),
        ]));
    }
    sims.hubspot.seed(ObjectType::Contacts, &hs).expect("seed hubspot");
    let (first, last, email, _) = person(2);
    let sf = sim_salesforce::SeedRecord {
        object: Some(sim_salesforce::ObjectKind::Contact),
        fields: props(&[("FirstName", &format!("{first}-sf")), ("LastName", &last), ("Email", &email)]),
        ..Default::default()
    };
    sims.salesforce.seed(vec![sf]).expect("seed salesforce");
}

async fn run_sweep() -> Sweep {
    let capture = Capture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = WorldConfig::demo(11, 6000);
    let start = t0() - chrono::Duration::minutes(10);
    cfg.wlcro.start_time = Some(start);
    cfg.wlcro.api_keys = vec![sim_whitelabelcro::ApiKeyConfig {
        key: WL_KEY.into(),
        scopes: sim_whitelabelcro::Scope::ALL.to_vec(),
    }];
    cfg.hubspot.start_time = Some(start);
    cfg.hubspot.tokens = vec![HS_TOKEN.into()];
    cfg.hubspot.client_secret = HS_CLIENT_SECRET.into();
    cfg.salesforce.start_time = Some(start);
    cfg.salesforce.client_secret = SF_SECRET.into();
    let mut world = SimWorld::start(cfg, dir.path()).await.expect("simulators start");
    set_credentials(&mut world, dir.path(), WL_KEY, HS_TOKEN, SF_SECRET);
    seed(&world);
    let rig = Rig::new(&world, dir.path()).await;
    let (store, clock) = (rig.store.clone(), rig.clock.clone());
    let shared: SharedClock = Arc::new(clock.clone());
    let mut outputs = Vec::new();

    // 1. A healthy run: links, creates, conflicts, the lifecycle rejections.
    let engine = rig.engine(&world);
    rig.run(&engine, &mut outputs, "run 1").await;

    // 2. Faults: 429 with and without Retry-After, 500s, 503s; edits keep writes flowing.
    let fault_plans = [
        (
            FaultConfig { rate_429: 0.3, retry_after_secs: Some(2), rate_500: 0.1, ..FaultConfig::default() },
            "429+RA",
        ),
        (
            FaultConfig { rate_429: 0.3, retry_after_secs: None, rate_503: 0.2, ..FaultConfig::default() },
            "429/503",
        ),
        (FaultConfig { rate_500: 0.6, ..FaultConfig::default() }, "500s"),
    ];
    for (n, (faults, name)) in fault_plans.into_iter().enumerate() {
        world.sims.wlcro.faults.set(faults.clone());
        world.sims.hubspot.faults.set(faults.clone());
        world.sims.salesforce.faults.set(faults);
        for c in world.sims.hubspot.records(ObjectType::Contacts).iter().filter(|c| !c.archived()) {
            let city = format!("Piisentinelcity{n}");
            let _ = world.sims.hubspot.external_edit(ObjectType::Contacts, c.id, &props(&[("city", &city)]));
        }
        rig.run(&engine, &mut outputs, &format!("faults {name}")).await;
    }
    for f in [&world.sims.wlcro.faults, &world.sims.hubspot.faults, &world.sims.salesforce.faults] {
        f.set(FaultConfig::default());
    }
    world.sims.salesforce.expire_tokens();
    rig.run(&engine, &mut outputs, "expired salesforce session").await;

    // 3. Revoked credentials, one system at a time (the first refusal ends a pair's run).
    let revocations = [
        (WL_KEY, HS_TOKEN_REVOKED, SF_SECRET, "revoked hubspot token"),
        (WL_KEY, HS_TOKEN, SF_SECRET_WRONG, "wrong salesforce secret"),
        (WL_KEY_REVOKED, HS_TOKEN, SF_SECRET, "revoked wlcro key"),
    ];
    for (wl, hs, sf, label) in revocations {
        set_credentials(&mut world, dir.path(), wl, hs, sf);
        let revoked = rig.engine(&world);
        rig.run(&revoked, &mut outputs, label).await;
    }
    set_credentials(&mut world, dir.path(), WL_KEY, HS_TOKEN, SF_SECRET);
    let engine = rig.engine(&world);
    rig.run(&engine, &mut outputs, "restored credentials").await;

    // 4. What the store holds, as the CLI and the admin server show it.
    let review = store.list_review(&ReviewFilter::default()).await.expect("review");
    outputs.push(("review items".into(), format!("{review:?}")));
    outputs
        .push(("dead letters".into(), format!("{:?}", store.list_dead_letters(1000).await.expect("dead"))));
    outputs.push(("runs".into(), format!("{:?}", store.recent_runs(100).await.expect("runs"))));
    outputs
        .push(("checkpoints".into(), format!("{:?}", store.list_checkpoints().await.expect("checkpoints"))));
    let truth = world.sims.wlcro.records();
    for c in truth["clients"].as_array().cloned().unwrap_or_default() {
        let id = c["client_id"].as_i64().unwrap_or_default().to_string();
        let d = store.decisions_for("wlcro", &id, 100).await.expect("decisions");
        outputs.push((format!("decisions wlcro {id}"), format!("{d:?}")));
    }
    for c in world.sims.hubspot.records(ObjectType::Contacts) {
        let d = store.decisions_for("hubspot", &c.id.to_string(), 100).await.expect("decisions");
        outputs.push((format!("decisions hubspot {}", c.id), format!("{d:?}")));
    }
    admin_outputs(&store, shared.clone(), &review, &mut outputs).await;
    webhook_outputs(&store, shared.clone(), &mut outputs).await;

    let logs: Vec<_> = world.sims.logs().into_iter().flat_map(|(_, l)| l).collect();
    let auth_failures = logs
        .iter()
        .filter(|r| matches!(r.status, 401 | 403) || r.status == 400 && r.path.contains("token"))
        .count();
    let injected = logs.iter().filter(|r| matches!(r.status, 429 | 500 | 503)).count();
    let forger_synced = world
        .sims
        .hubspot
        .records(ObjectType::Contacts)
        .iter()
        .any(|c| c.properties.get("firstname").is_some_and(|f| f.contains("FORGED-LOG-LINE")));
    world.stop().await;
    drop(engine);
    drop(rig);
    drop(store);
    for name in ["state.db", "state.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            outputs.push((format!("sqlite file {name}"), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Sweep { events: capture.events(), outputs, auth_failures, injected, forger_synced }
}

async fn admin_outputs(
    store: &Arc<dyn Store>,
    clock: SharedClock,
    review: &[store::ReviewItem],
    outputs: &mut Vec<(String, String)>,
) {
    let auth = AdminAuth::new(&SecretString::from(ADMIN), ChaCha20Rng::seed_from_u64(3));
    let app = serve::router(store.clone(), auth, clock);
    let get = |path: &str, token: &str| {
        Request::builder()
            .uri(path)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    let mut paths = vec![
        "/metrics".to_string(),
        "/healthz".into(),
        "/api/status".into(),
        "/api/review?limit=1000".into(),
        "/api/review/999999".into(),
        "/api/review?state=bogus".into(),
    ];
    paths.extend(review.iter().map(|i| format!("/api/review/{}", i.id)));
    for p in paths {
        let reply = call(&app, get(&p, ADMIN)).await;
        outputs.push((format!("GET {p} ({})", reply.status), reply.body));
    }
    let reply = call(&app, get("/api/review", ADMIN_WRONG)).await;
    assert_eq!(reply.status.as_u16(), 401, "{}", reply.body);
    outputs.push(("GET /api/review with the wrong token".into(), reply.body));
    let bad = Request::builder()
        .method("POST")
        .uri("/api/review/1/resolve")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"action":"drop_tables"}"#))
        .expect("request");
    let reply = call(&app, bad).await;
    outputs.push((format!("POST resolve with a bad body ({})", reply.status), reply.body));
    let login = Request::builder()
        .method("POST")
        .uri("/login")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "http://127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={ADMIN_WRONG}&name=eve")))
        .expect("request");
    let reply = call(&app, login).await;
    outputs.push((format!("POST /login with the wrong token ({})", reply.status), reply.body));
}

async fn webhook_outputs(store: &Arc<dyn Store>, clock: SharedClock, outputs: &mut Vec<(String, String)>) {
    use connector_whitelabelcro::webhook::{SignatureScheme, WebhookVerifier};
    use crosswalk::serve::webhooks::WlcroReceiver;
    let verifier = WebhookVerifier::new(SignatureScheme::default(), vec![SecretString::from(WL_HOOK)]);
    let now = clock.now();
    let rx = WlcroReceiver::new("wlcro", verifier, 64 * 1024, store.clone(), clock.clone());
    let auth = AdminAuth::new(&SecretString::from(ADMIN), ChaCha20Rng::seed_from_u64(4));
    let app = rx.attach(serve::router(store.clone(), auth, clock));
    let (first, last, email, _) = person(5);
    let body =
        json!({"id": 777001, "type": "client.updated", "createdUtc": "2026-02-03T12:00:00Z", "companyId": 17,
        "payload": {"client_id": 1, "first_name": first, "last_name": last, "email": email}})
        .to_string();
    let good = super::s1_forged_webhooks::wl_signature(WL_HOOK, body.as_bytes());
    for (name, sig, body) in [
        ("valid", good.clone(), body.clone()),
        ("tampered", good.clone(), body.replace("Piisentinelfirst5", "Eve")),
        (
            "unreadable but signed",
            super::s1_forged_webhooks::wl_signature(WL_HOOK, b"{not json"),
            "{not json".into(),
        ),
    ] {
        let req = Request::builder()
            .method("POST")
            .uri("/webhooks/wlcro")
            .header("x-webhook-signature", sig)
            .header("x-webhook-timestamp", now.timestamp().to_string())
            .body(Body::from(body))
            .expect("request");
        let reply = call(&app, req).await;
        outputs.push((format!("webhook {name} ({})", reply.status), reply.body));
    }
}

fn all_text(s: &Sweep) -> Vec<(String, String)> {
    let mut out = s.outputs.clone();
    out.extend(s.events.iter().map(|e| (format!("log {} {}", e.level, e.target), e.text.clone())));
    out
}

#[tokio::test]
async fn s4_no_secret_in_logs_errors_metrics_audit_api_bodies_or_the_database() {
    let s = sweep().await;
    assert!(s.events.len() > 50, "the sweep logged ({} events)", s.events.len());
    assert!(s.injected > 5, "faults were injected ({})", s.injected);
    assert!(s.auth_failures > 0, "revoked credentials were refused");
    let errors = s.outputs.iter().filter(|(n, t)| n.contains("report") && t.contains("Failed")).count();
    assert!(errors > 0, "some runs failed, so error strings were produced");
    let text = all_text(s);
    assert!(text.iter().any(|(n, _)| n.starts_with("sqlite file")), "the database file was read");
    eprintln!(
        "sweep: {} events ({} at INFO and above), {} outputs, {} injected faults, {} auth refusals",
        s.events.len(),
        s.events.iter().filter(|e| e.level <= Level::INFO).count(),
        s.outputs.len(),
        s.injected,
        s.auth_failures
    );
    let hits = secret_hits(&text, SECRETS);
    assert!(hits.is_empty(), "{} secret leak(s):\n{}", hits.len(), hits.join("\n"));
    assert!(!text.iter().any(|(_, t)| t.contains(SECRET_MARK)));
}

#[tokio::test]
async fn s5_pii_not_in_info_warn_error_logs_and_values_cannot_forge_log_lines() {
    let s = sweep().await;
    assert!(s.forger_synced, "the forging first name went through the engine to HubSpot");
    let marks = pii_marks();
    let mut leaks = Vec::new();
    for e in s.events.iter().filter(|e| e.level <= Level::INFO && !e.target.starts_with("sim_")) {
        let lower = e.text.to_lowercase();
        if let Some(m) = marks.iter().find(|m| lower.contains(m.as_str())) {
            leaks.push(format!("{} {}: {m:?} in {}", e.level, e.target, e.text.trim_end()));
        }
    }
    assert!(leaks.is_empty(), "{} PII leak(s) at INFO and above:\n{}", leaks.len(), leaks.join("\n"));
    let mut forged = Vec::new();
    for e in &s.events {
        let body = e.text.strip_suffix('\n').unwrap_or(&e.text);
        if body.contains('\n') || body.contains('\r') || body.contains('\u{1b}') {
            forged.push(format!("{} {}: {body:?}", e.level, e.target));
        }
    }
    assert!(forged.is_empty(), "events that break or colour the line:\n{}", forged.join("\n"));
}

/// The detector itself: each encoded form of a secret is found, an unrelated text is not.
#[test]
fn s4_the_sentinel_detector_finds_every_encoded_form() {
    let forms = super::sentinels::secret_forms(SF_SECRET);
    assert!(forms.len() >= 8, "{forms:?}");
    for form in &forms {
        let outputs = vec![("probe".to_string(), format!("error: … {form} …"))];
        assert_eq!(
            secret_hits(&outputs, &[SF_SECRET]).len(),
            1.max(forms.iter().filter(|f| form.contains(f.as_str())).count()),
            "{form}"
        );
    }
    let clean = vec![("probe".to_string(), "authentication failed: HTTP 401".to_string())];
    assert!(secret_hits(&clean, SECRETS).is_empty());
}

/// A secret written in clear in the config file (instead of `{ env = … }` / `{ file = … }`) is
/// reported by `check` without repeating it.
#[test]
fn s4_a_secret_written_in_the_config_file_is_not_echoed_by_the_loader() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("crosswalk.toml");
    let text = format!(
        "[systems.hubspot]\nkind = \"hubspot\"\nbase_url = \"https://api.hubapi.com\"\ntoken = \"{HS_TOKEN}\"\n\
         unique_property = \"wlcro_id\"\n\n[serve]\nadmin_token = \"{ADMIN}\"\n"
    );
    std::fs::write(&file, text).expect("config");
    let loaded = crosswalk::settings::load(&file, true);
    assert!(!loaded.problems.is_empty(), "a clear-text secret is a problem");
    let shown: Vec<(String, String)> = loaded
        .problems
        .iter()
        .map(|p| ("config problem".to_string(), format!("{p} / {p:?}")))
        .chain(loaded.settings.iter().map(|s| ("settings".to_string(), format!("{s:?}"))))
        .collect();
    let hits = secret_hits(&shown, SECRETS);
    assert!(hits.is_empty(), "{}", hits.join("\n"));
}
