//! Which commands need which secrets and settings, so each command resolves only what it uses.
//!
//! `sync`, `run`, `backfill` and `status` need the systems' API credentials; `serve` also needs
//! the admin token, the webhook signing secrets and, for a HubSpot receiver, its `public_url`.
//! `migrate`, `review` and `explain` touch only the store. A systemd unit that loads only the two
//! API credentials can therefore run `crosswalk sync`, and `check` (which validates everything)
//! reports per command what each will require, so `serve` never refuses what `check` accepted.

use std::fmt;

use super::settings::{
    HubspotWebhookSettings, MIN_ADMIN_TOKEN, MIN_WEBHOOK_SECRET, Problem, SecretRef, Settings, SystemSettings,
};

/// A group of secrets and settings that some commands need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// The systems' API credentials (`api_key`, `token`, `client_secret`).
    Credentials,
    /// What only `serve` uses: `serve.admin_token`, webhook secrets, a HubSpot `public_url`.
    Serve,
    /// The signing secrets of the alert targets (`sync`, `run` and `resume` send alerts).
    Alerts,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Credentials => "the systems' API credentials",
            Self::Serve => "the admin server's token and webhook secrets",
            Self::Alerts => "the alert targets' signing secrets",
        })
    }
}

/// One secret or setting a command will require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Who needs it.
    pub need: Need,
    /// The dotted key.
    pub key: String,
    /// Where the value comes from (`env WLCRO_API_KEY`, `file /run/…`), never the value.
    pub from: String,
}

fn from_of(r: &SecretRef) -> String {
    match (&r.env, &r.file) {
        (Some(var), None) => format!("environment variable {var}"),
        (None, Some(path)) => format!("file {}", path.display()),
        _ => "give exactly one of env or file".into(),
    }
}

/// Whether HubSpot system `name` has a webhook secret (`webhook_secret` or `webhook_secrets`),
/// which makes `serve` start its receiver and so require `public_url`.
fn has_hubspot_secret(s: &Settings, name: &str, hook: &HubspotWebhookSettings) -> bool {
    let single =
        matches!(s.systems.get(name), Some(SystemSettings::Hubspot(h)) if h.webhook_secret.is_some());
    single || !hook.secrets.is_empty()
}

/// Every secret and setting the configuration makes some command require, for `check`'s
/// per-command report.
pub fn requirements(s: &Settings) -> Vec<Requirement> {
    let mut out = Vec::new();
    let mut add = |need, key: String, from: String| out.push(Requirement { need, key, from });
    for (name, system) in &s.systems {
        for (key, secret) in system.secrets() {
            let need = if key.starts_with("webhook_secret") { Need::Serve } else { Need::Credentials };
            add(need, format!("systems.{name}.{key}"), from_of(secret));
        }
    }
    for (name, hook) in &s.hubspot_webhooks {
        for secret in &hook.secrets {
            add(Need::Serve, format!("systems.{name}.webhook_secrets"), from_of(secret));
        }
        if has_hubspot_secret(s, name, hook) {
            let url = hook.public_url.clone().unwrap_or_else(|| "not set".into());
            add(Need::Serve, format!("systems.{name}.webhook.public_url"), url);
        }
    }
    for (i, t) in s.alerts.targets.iter().enumerate() {
        if let Some(secret) = &t.secret {
            add(Need::Alerts, format!("alerts.targets.{i}.secret"), from_of(secret));
        }
    }
    match &s.serve.admin_token {
        Some(token) => add(Need::Serve, "serve.admin_token".into(), from_of(token)),
        None => add(Need::Serve, "serve.admin_token".into(), "not set: serve will not start".into()),
    }
    out
}

/// Every problem with a secret or a serve-only setting, tagged with who needs it. `locate`
/// finds a key's file and line.
pub(crate) fn problems(
    s: &Settings,
    locate: &mut dyn FnMut(&str) -> (String, Option<usize>),
) -> Vec<(Need, Problem)> {
    let mut out = Vec::new();
    let mut push = |need, key: String, message: String| {
        let (source, line) = locate(&key);
        out.push((need, Problem { source, line, key, message }));
    };
    for (name, system) in &s.systems {
        for (key, secret) in system.secrets() {
            let (need, min) = if key.starts_with("webhook_secret") {
                (Need::Serve, MIN_WEBHOOK_SECRET)
            } else {
                (Need::Credentials, 1)
            };
            if let Err(e) = secret.resolve_min(min) {
                push(need, format!("systems.{name}.{key}"), e.to_string());
            }
        }
    }
    for (name, hook) in &s.hubspot_webhooks {
        for secret in &hook.secrets {
            if let Err(e) = secret.resolve_min(MIN_WEBHOOK_SECRET) {
                push(Need::Serve, format!("systems.{name}.webhook_secrets"), e.to_string());
            }
        }
        if has_hubspot_secret(s, name, hook) && hook.public_url.is_none() {
            push(
                Need::Serve,
                format!("systems.{name}.webhook.public_url"),
                "required with webhook secrets: the URL HubSpot calls (scheme and host, e.g. \
                 https://sync.example.com), which the signature covers"
                    .into(),
            );
        }
    }
    if let Some(token) = &s.serve.admin_token
        && let Err(e) = token.resolve_min(MIN_ADMIN_TOKEN)
    {
        push(Need::Serve, "serve.admin_token".into(), e.to_string());
    }
    for (i, t) in s.alerts.targets.iter().enumerate() {
        if let Some(secret) = &t.secret
            && let Err(e) = secret.resolve_min(MIN_WEBHOOK_SECRET)
        {
            push(Need::Alerts, format!("alerts.targets.{i}.secret"), e.to_string());
        }
    }
    out
}

impl super::settings::Loaded {
    /// The problems that stop a command needing `needs`: every general problem, and the secret
    /// and setting problems of those needs only.
    pub fn problems_for(&self, needs: &[Need]) -> Vec<&Problem> {
        let needed = self.needed.iter().filter(|(n, _)| needs.contains(n)).map(|(_, p)| p);
        self.problems.iter().chain(needed).collect()
    }

    /// Every problem, whoever needs it (what `check` reports).
    pub fn all_problems(&self) -> Vec<&Problem> {
        self.problems.iter().chain(self.needed.iter().map(|(_, p)| p)).collect()
    }
}
