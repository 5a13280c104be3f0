//! `crosswalk sim <system>`: serves one of the bundled API simulators on loopback until Ctrl-C,
//! printing its address and the credentials it accepts. The simulators follow
//! `../shared/specs/`; their test-only control API lives under `/_sim/`.

use super::Outcome;

/// Which simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimKind {
    /// WhiteLabelCRO.
    Wlcro,
    /// HubSpot CRM.
    Hubspot,
    /// Salesforce REST.
    Salesforce,
}

/// Starts the simulator and waits for Ctrl-C.
pub async fn run(kind: SimKind, port: u16) -> Outcome {
    let started = match kind {
        SimKind::Wlcro => {
            let cfg = sim_whitelabelcro::SimConfig {
                port,
                delivery_tick: Some(std::time::Duration::from_secs(1)),
                ..Default::default()
            };
            let key = sim_whitelabelcro::SimConfig::default_key();
            sim_whitelabelcro::start(cfg).await.map(|(h, _)| (h, format!("X-Api-Key: {key}")))
        }
        SimKind::Hubspot => {
            let cfg = sim_hubspot::SimConfig { port, ..Default::default() };
            let token = cfg.tokens.first().cloned().unwrap_or_default();
            let secret = cfg.client_secret.clone();
            sim_hubspot::start(cfg).await.map(|(h, _)| {
                (h, format!("Authorization: Bearer {token}   (webhook client secret: {secret})"))
            })
        }
        SimKind::Salesforce => {
            let cfg = sim_salesforce::SimConfig { port, ..Default::default() };
            let creds = format!(
                "client_id {} / client_secret {} at /services/oauth2/token",
                cfg.client_id, cfg.client_secret
            );
            sim_salesforce::start(cfg).await.map(|(h, _)| (h, creds))
        }
    };
    let (handle, credentials) = match started {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}; pick another --port");
            return Outcome::ActionNeeded;
        }
    };
    println!("{kind:?} simulator listening on {}", handle.base_url());
    println!("credentials: {credentials}");
    if kind == SimKind::Salesforce {
        println!(
            "its token responses name http://localhost as instance_url: add \
             `allowed_instance_hosts = [\"http://localhost\"]` to the [systems.NAME] table"
        );
    }
    println!("control API: {}/_sim/  (test-only; not part of the real API)", handle.base_url());
    println!("press Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    handle.stop().await;
    Outcome::Ok
}
