//! `crosswalk serve`: the admin web page, JSON API, `/healthz`, `/metrics` and the WhiteLabelCRO
//! webhook receiver (`/webhooks/wlcro`, when `webhook_secrets` are configured) on
//! `serve.listen`, plus the HubSpot one (`/webhooks/hubspot`) when a HubSpot system has webhook
//! secrets. Refuses to start without `serve.admin_token`.

use connector_api::SystemClock;

use crate::serve::hubspot_webhooks::HubspotReceiver;
use crate::serve::webhooks::WlcroReceiver;
use crate::serve::{self, AdminAuth};
use crate::settings::Settings;

use super::Outcome;

/// Serves until Ctrl-C. `listen` overrides `serve.listen`.
pub async fn run(settings: &Settings, listen: Option<&str>) -> Outcome {
    let Some(token_ref) = &settings.serve.admin_token else {
        eprintln!(
            "error: no admin token is configured, so `serve` will not start. Set `serve.admin_token = {{ env = \"VAR\" }}` \
             (or `{{ file = \"/path\" }}`) in the config file and put a long random token there"
        );
        return Outcome::ActionNeeded;
    };
    let token = match token_ref.resolve_min(crate::settings::MIN_ADMIN_TOKEN) {
        Ok(t) => t,
        Err(why) => {
            eprintln!("error: serve.admin_token: {why}");
            return Outcome::ActionNeeded;
        }
    };
    let store = match super::open_store(settings).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let clock = SystemClock::shared();
    let hooks = match WlcroReceiver::from_settings(settings, store.clone(), clock.clone()) {
        Ok(hooks) => hooks,
        Err(why) => {
            eprintln!("error: {why}");
            return Outcome::ActionNeeded;
        }
    };
    let hubspot_hooks = match HubspotReceiver::from_settings(settings, store.clone(), clock.clone()) {
        Ok(hooks) => hooks,
        Err(why) => {
            eprintln!("error: {why}");
            return Outcome::ActionNeeded;
        }
    };
    let listen = listen.unwrap_or(&settings.serve.listen);
    let auth = AdminAuth::from_os_entropy(&token);
    println!("admin server on http://{listen}/ (Ctrl-C stops it)");
    if hooks.is_some() {
        println!("WhiteLabelCRO webhooks on http://{listen}/webhooks/wlcro");
    }
    if hubspot_hooks.is_some() {
        println!("HubSpot webhooks on http://{listen}/webhooks/hubspot");
    }
    let directory = crate::review::names::Directory::from_settings(settings);
    match serve::run(listen, store, auth, clock, hooks, hubspot_hooks, directory).await {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::ActionNeeded
        }
    }
}
