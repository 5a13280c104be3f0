//! Scenarios D (bad input): B1–B4. Bad answers are made by rewriting the simulators' responses
//! in the in-process network, so the simulators themselves stay honest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use crosswalk::store::Backend;
use serde_json::{Value, json};

use crate::harness::{Sim, run_scenario, sync_options, written_records};
use crate::oracle::Truth;

/// Rewrites the `results` of a HubSpot JSON answer.
fn rewrite_results(resp: &mut connector_api::http::Response, f: &mut dyn FnMut(usize, &mut Value)) {
    let Ok(mut body) = serde_json::from_slice::<Value>(resp.body()) else { return };
    let Some(results) = body["results"].as_array_mut() else { return };
    for (i, r) in results.iter_mut().enumerate() {
        f(i, r);
    }
    *resp.body_mut() = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
}

/// B1: malformed records mixed into normal HubSpot pages (a missing id, a null modified time, a
/// number where a string belongs, an unknown lifecycle stage). No panic; the rest of each page is
/// processed in the same run; nothing malformed is written to WhiteLabelCRO; once the answers are
/// clean again every record converges (nothing excluded forever).
#[test]
fn b01_malformed_payloads() {
    run_scenario("b01_malformed_payloads", 3, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let linked = sim.populate_linked(10);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("B1: no steady state".into());
        }
        for (i, (_, hs, _)) in linked.iter().enumerate() {
            sim.hs_edit(*hs, &[("firstname", &format!("Clean{i}"))]);
        }
        let active = Arc::new(AtomicBool::new(true));
        let on = active.clone();
        sim.world.net.set_hook(Some(Box::new(move |system, _m, path, resp| {
            if system != "hubspot"
                || !on.load(Ordering::SeqCst)
                || !(path.ends_with("/search") || path.ends_with("/batch/read"))
            {
                return;
            }
            rewrite_results(resp, &mut |i, r| match i {
                0 => {
                    r.as_object_mut().map(|o| o.remove("id"));
                }
                1 => {
                    r["properties"]["lastmodifieddate"] = Value::Null;
                    r["properties"]["hs_lastmodifieddate"] = Value::Null;
                    r["updatedAt"] = Value::Null;
                }
                2 => r["properties"]["firstname"] = json!(123),
                3 => r["properties"]["lifecyclestage"] = json!("martian"),
                _ => {}
            });
        })));
        sim.tick("bad").await;
        if sim.reports.last().map(|(p, _)| p.as_str()) != Some("bad") {
            v.push("B1: the run with malformed pages did not finish".into());
        }
        let wire = sim.wire();
        for e in wire.iter().filter(|e| e.phase == "bad" && e.system == "wlcro" && e.write) {
            if e.bodies.0.contains("123") || e.bodies.0.to_lowercase().contains("martian") {
                v.push(format!("B1: a malformed value was written to WhiteLabelCRO: {}", e.bodies.0));
            }
        }
        let clean = written_records(&wire, &["bad"]).keys().filter(|(s, _)| *s == "wlcro").count();
        if clean < 4 {
            v.push(format!("B1: only {clean} WhiteLabelCRO records written in the run with malformed pages (the rest of each page was not processed)"));
        }
        active.store(false, Ordering::SeqCst);
        v.extend(sim.settle_and_check().await);
        let truth = Truth::read(&sim.world.sims);
        for (i, (client, _, _)) in linked.iter().enumerate() {
            if truth.clients[client].get("first_name") != Some(&format!("Clean{i}")) {
                v.push(format!("B1: client {client} never received its edit once the answers were clean"));
            }
        }
        sim.done(v).await
    });
}

/// B4: schema drift. HubSpot's `lastname` disappears from every answer between two runs (the
/// property was deleted). No blank is written into WhiteLabelCRO; other fields keep syncing;
/// an error or review item names the field.
#[test]
fn b04_schema_drift() {
    run_scenario("b04_schema_drift", 3, 1, |seed, backend: Backend| async move {
        let mut sim = Sim::new(seed, backend, |_| {}, sync_options()).await?;
        let linked = sim.populate_linked(8);
        let mut v = Vec::new();
        if !sim.steady("steady", 4).await {
            v.push("B4: no steady state".into());
        }
        let before = Truth::read(&sim.world.sims);
        sim.world.net.set_hook(Some(Box::new(|system, _m, _path, resp| {
            if system == "hubspot" {
                rewrite_results(resp, &mut |_, r| {
                    r["properties"].as_object_mut().map(|p| p.remove("lastname"));
                });
            }
        })));
        for (i, (_, hs, _)) in linked.iter().enumerate().take(4) {
            sim.hs_edit(*hs, &[("firstname", &format!("Drift{i}"))]);
        }
        for r in 0..3 {
            sim.tick(&format!("drift-{r}")).await;
        }
        let truth = Truth::read(&sim.world.sims);
        for (client, _, _) in &linked {
            if truth.clients[client].get("last_name") != before.clients[client].get("last_name") {
                v.push(format!("B4: client {client}'s last name changed while HubSpot's field was gone"));
            }
        }
        for (i, (client, _, _)) in linked.iter().enumerate().take(4) {
            if truth.clients[client].get("first_name") != Some(&format!("Drift{i}")) {
                v.push(format!("B4: client {client}'s first name stopped syncing"));
            }
        }
        let named = sim
            .store()
            .list_review(&Default::default())
            .await
            .unwrap_or_default()
            .iter()
            .any(|i| i.field.as_deref() == Some("last_name") || i.reason.contains("lastname"))
            || sim.errors.iter().any(|e| e.contains("lastname"))
            || sim
                .store()
                .list_dead_letters(100)
                .await
                .unwrap_or_default()
                .iter()
                .any(|d| d.reason.contains("lastname"));
        if !named {
            v.push("B4: no error or review item names the vanished field".into());
        }
        sim.world.net.set_hook(None);
        sim.done(v).await
    });
}
