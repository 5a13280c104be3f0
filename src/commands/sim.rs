//! `crosswalk sim <system>`: serves one of the bundled API simulators on loopback until Ctrl-C,
//! printing its address and the credentials it accepts. The simulators follow
//! `../shared/specs/`; HubSpot and Salesforce start with the custom properties / fields the shipped
//! mappings need (or those of `--schema FILE`); their test-only control API lives under `/_sim/`
//! (documented in `sim_help.txt`, shown by `crosswalk sim --help`).

use std::path::PathBuf;

use super::Outcome;

/// The long help of `crosswalk sim`: defaults, the schema file formats and the control API.
pub const HELP: &str = include_str!("sim_help.txt");

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

/// How to start a simulator (the command line's options).
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// A schema file replacing the default custom properties / fields.
    pub schema: Option<PathBuf>,
}

/// The running simulator's state, for callers that drive or inspect it in-process.
#[derive(Debug, Clone)]
pub enum SimState {
    /// WhiteLabelCRO.
    Wlcro(sim_whitelabelcro::SimState),
    /// HubSpot.
    Hubspot(sim_hubspot::SimState),
    /// Salesforce.
    Salesforce(sim_salesforce::SimState),
}

/// A started simulator.
#[derive(Debug)]
pub struct StartedSim {
    /// Stops it.
    pub handle: sim_core::SimHandle,
    /// What to send to authenticate, for people.
    pub credentials: String,
    /// Its state.
    pub state: SimState,
}

/// Why a simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// `--schema` given for WhiteLabelCRO.
    #[error(
        "--schema applies to hubspot and salesforce only; the WhiteLabelCRO simulator has a fixed schema"
    )]
    NoSchema,
    /// The HubSpot schema file is unusable.
    #[error("{0}")]
    HubspotSchema(#[from] sim_hubspot::SchemaError),
    /// The Salesforce schema file is unusable.
    #[error("{0}")]
    SalesforceSchema(#[from] sim_salesforce::SchemaError),
    /// The port is taken or not allowed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}; pick another --port")]
    Listen {
        /// The port asked for.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
}

/// Starts a simulator exactly as `crosswalk sim` does (the CLI command and tests share this).
pub async fn start(kind: SimKind, opts: &SimOptions) -> Result<StartedSim, SimError> {
    let port = opts.port;
    let listen = |source| SimError::Listen { port, source };
    match kind {
        SimKind::Wlcro => {
            if opts.schema.is_some() {
                return Err(SimError::NoSchema);
            }
            let cfg = sim_whitelabelcro::SimConfig {
                port,
                delivery_tick: Some(std::time::Duration::from_secs(1)),
                ..Default::default()
            };
            let key = sim_whitelabelcro::SimConfig::default_key();
            let (handle, state) = sim_whitelabelcro::start(cfg).await.map_err(listen)?;
            Ok(StartedSim { handle, credentials: format!("X-Api-Key: {key}"), state: SimState::Wlcro(state) })
        }
        SimKind::Hubspot => {
            let mut cfg = sim_hubspot::SimConfig { port, ..Default::default() };
            if let Some(path) = &opts.schema {
                cfg.schema = sim_hubspot::Schema::load(path)?;
            }
            let token = cfg.tokens.first().cloned().unwrap_or_default();
            let credentials =
                format!("Authorization: Bearer {token}   (webhook client secret: {})", cfg.client_secret);
            let (handle, state) = sim_hubspot::start(cfg).await.map_err(listen)?;
            Ok(StartedSim { handle, credentials, state: SimState::Hubspot(state) })
        }
        SimKind::Salesforce => {
            let mut cfg = sim_salesforce::SimConfig { port, ..Default::default() };
            if let Some(path) = &opts.schema {
                cfg.schema = sim_salesforce::Schema::load(path)?;
            }
            let credentials = format!(
                "client_id {} / client_secret {} at /services/oauth2/token",
                cfg.client_id, cfg.client_secret
            );
            let (handle, state) = sim_salesforce::start(cfg).await.map_err(listen)?;
            Ok(StartedSim { handle, credentials, state: SimState::Salesforce(state) })
        }
    }
}

/// Starts the simulator and waits for Ctrl-C.
pub async fn run(kind: SimKind, opts: &SimOptions) -> Outcome {
    let started = match start(kind, opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::ActionNeeded;
        }
    };
    let url = started.handle.base_url();
    println!("{kind:?} simulator listening on {url}");
    println!("credentials: {}", started.credentials);
    println!("control API: {url}/_sim/  (test-only; not part of the real API; see `crosswalk sim --help`)");
    println!("press Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    started.handle.stop().await;
    Outcome::Ok
}
