//! `crosswalk serve`: the admin web page, JSON API, `/healthz`, `/metrics` and the WhiteLabelCRO
//! webhook receiver (`/webhooks/wlcro`, when `webhook_secrets` are configured) on
//! `serve.listen`, plus the HubSpot one (`/webhooks/hubspot`) when a HubSpot system has webhook
//! secrets. Refuses to start without `serve.admin_token`. `run --serve` builds the same server
//! with [`admin_auth`] and [`app`] over the scheduler's store and metrics.

use std::sync::Arc;

use connector_api::SystemClock;

use crate::serve::hubspot_webhooks::HubspotReceiver;
use crate::serve::webhooks::WlcroReceiver;
use crate::serve::{self, AdminAuth};
use crate::settings::Settings;
use crate::store::Store;

use super::Outcome;

/// Serves until Ctrl-C. `listen` overrides `serve.listen`.
pub async fn run(settings: &Settings, listen: Option<&str>) -> Outcome {
    let auth = match admin_auth(settings) {
        Ok(auth) => auth,
        Err(outcome) => return outcome,
    };
    let store = match super::open_store(settings).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let app = match app(settings, store, auth, serve::Shared::default()) {
        Ok(app) => app,
        Err(outcome) => return outcome,
    };
    let listen = listen.unwrap_or(&settings.serve.listen);
    announce(listen, &app, "Ctrl-C stops it");
    match serve::run(listen, app).await {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::ActionNeeded
        }
    }
}

/// The admin token's guard, or why the server will not start (printed).
pub(super) fn admin_auth(settings: &Settings) -> Result<AdminAuth, Outcome> {
    let Some(token_ref) = &settings.serve.admin_token else {
        eprintln!(
            "error: no admin token is configured, so `serve` will not start. Set `serve.admin_token = {{ env = \"VAR\" }}` \
             (or `{{ file = \"/path\" }}`) in the config file and put a long random token there"
        );
        return Err(Outcome::ActionNeeded);
    };
    match token_ref.resolve_min(crate::settings::MIN_ADMIN_TOKEN) {
        Ok(token) => Ok(AdminAuth::from_os_entropy(&token)),
        Err(why) => {
            eprintln!("error: serve.admin_token: {why}");
            Err(Outcome::ActionNeeded)
        }
    }
}

/// The server over `store`, with the receivers the settings configure, sharing `shared`.
pub(super) fn app(
    settings: &Settings,
    store: Arc<dyn Store>,
    auth: AdminAuth,
    shared: serve::Shared,
) -> Result<serve::App, Outcome> {
    let clock = SystemClock::shared();
    let failed = |why: String| {
        eprintln!("error: {why}");
        Outcome::ActionNeeded
    };
    let wlcro_hooks = WlcroReceiver::from_settings(settings, store.clone(), clock.clone()).map_err(failed)?;
    let hubspot_hooks =
        HubspotReceiver::from_settings(settings, store.clone(), clock.clone()).map_err(failed)?;
    let directory = crate::review::names::Directory::from_settings(settings);
    Ok(serve::App { store, auth, clock, wlcro_hooks, hubspot_hooks, directory, shared })
}

/// Says where the server and its receivers answer.
pub(super) fn announce(listen: &str, app: &serve::App, how_to_stop: &str) {
    println!("admin server on http://{listen}/ ({how_to_stop})");
    if app.wlcro_hooks.is_some() {
        println!("WhiteLabelCRO webhooks on http://{listen}/webhooks/wlcro");
    }
    if app.hubspot_hooks.is_some() {
        println!("HubSpot webhooks on http://{listen}/webhooks/hubspot");
    }
}
