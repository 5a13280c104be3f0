//! `crosswalk init`: writes a commented `crosswalk.toml` for WhiteLabelCRO and the CRM chosen,
//! and copies the shipped mapping for that pair (embedded in the binary, so `cargo install`
//! alone is enough), refusing to overwrite anything without `--force`. `crosswalk check` passes
//! on the result once the credentials it names are in the environment.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::Outcome;

/// The sales CRM WhiteLabelCRO is paired with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Crm {
    /// HubSpot (private-app token).
    Hubspot,
    /// Salesforce (connected app, client-credentials flow).
    Salesforce,
}

const HUBSPOT_MAPPING: (&str, &str) = (
    "wlcro-people__hubspot-contacts.toml",
    include_str!("../../mappings/wlcro-people__hubspot-contacts.toml"),
);
const SALESFORCE_MAPPING: (&str, &str) = (
    "wlcro-people__salesforce-contacts.toml",
    include_str!("../../mappings/wlcro-people__salesforce-contacts.toml"),
);

const HEAD: &str = r#"# crosswalk configuration, written by `crosswalk init`. README.md § Configuration lists every key.
# Secrets are never written here: each secret key names an environment variable ({ env = "VAR" })
# or a file ({ file = "/path" }). `crosswalk check` validates this file and the mappings, and
# prints what each command requires (sync/run/backfill: the API credentials; serve: also the
# admin token and webhook secrets).

[store]
# SQLite, relative to the working directory; postgres://user@host/db to share one store between hosts.
url = "sqlite://crosswalk.db"

[sync]
interval = "5m"                        # how often `crosswalk run` starts a cycle (--every overrides)
mappings_dir = "{MAPPINGS}"            # the pair mapping files `init` copied

[systems.wlcro]
kind = "whitelabelcro"
base_url = "https://api.whitelabelcro.example"   # your WhiteLabelCRO API root
api_key = { env = "WLCRO_API_KEY" }
# webhook_secrets = [{ env = "WLCRO_WEBHOOK_SECRET" }]   # only `crosswalk serve` needs it
"#;

const HUBSPOT: &str = r#"
[systems.hubspot]
kind = "hubspot"
base_url = "https://api.hubapi.com"
token = { env = "HUBSPOT_TOKEN" }      # a private app's access token
unique_property = "wlcro_client_id"   # the custom unique property (README § Setting up the CRMs)
# webhook_secret = { env = "HUBSPOT_CLIENT_SECRET" }   # only `crosswalk serve`; then also:
# webhook = { public_url = "https://sync.example.com" }  # the URL HubSpot calls
"#;

const SALESFORCE: &str = r#"
[systems.salesforce]
kind = "salesforce"
login_url = "https://login.salesforce.com"
client_id = "YOUR-CONNECTED-APP-CONSUMER-KEY"
client_secret = { env = "SALESFORCE_CLIENT_SECRET" }
external_id_field = "WLCRO_Id__c"      # the External ID field (README § Setting up the CRMs)
"#;

const TAIL: &str = r#"
[serve]
listen = "127.0.0.1:8080"
# admin_token = { env = "CROSSWALK_ADMIN_TOKEN" }   # `crosswalk serve` needs one (24+ characters)

[log]
format = "human"                       # or json (one object per line, for a journal or collector)
level = "info"
"#;

/// The config text for `crm`, with `mappings_dir` set to `mappings`.
pub fn config_text(crm: Crm, mappings: &Path) -> String {
    let system = match crm {
        Crm::Hubspot => HUBSPOT,
        Crm::Salesforce => SALESFORCE,
    };
    let dir = mappings.display().to_string().replace('\\', "/");
    format!("{}{system}{TAIL}", HEAD.replace("{MAPPINGS}", &dir))
}

/// Writes `dir/crosswalk.toml` and `dir/mappings/<pair>.toml`.
pub fn run(crm: Crm, dir: &Path, force: bool) -> Outcome {
    let (name, mapping) = match crm {
        Crm::Hubspot => HUBSPOT_MAPPING,
        Crm::Salesforce => SALESFORCE_MAPPING,
    };
    let config = dir.join("crosswalk.toml");
    let mappings = dir.join("mappings");
    let mapping_file = mappings.join(name);
    let existing: Vec<&PathBuf> = [&config, &mapping_file].into_iter().filter(|p| p.exists()).collect();
    if !force && !existing.is_empty() {
        for p in existing {
            eprintln!("error: {} exists; not overwritten (pass --force to replace it)", p.display());
        }
        return Outcome::ActionNeeded;
    }
    let mappings_setting = if dir == Path::new(".") { PathBuf::from("mappings") } else { mappings.clone() };
    let written = std::fs::create_dir_all(&mappings)
        .and_then(|()| std::fs::write(&config, config_text(crm, &mappings_setting)))
        .and_then(|()| std::fs::write(&mapping_file, mapping));
    if let Err(e) = written {
        eprintln!(
            "error: cannot write into {}: {e}; choose another --dir or fix its permissions",
            dir.display()
        );
        return Outcome::ActionNeeded;
    }
    let vars = match crm {
        Crm::Hubspot => "WLCRO_API_KEY and HUBSPOT_TOKEN",
        Crm::Salesforce => "WLCRO_API_KEY and SALESFORCE_CLIENT_SECRET",
    };
    println!("wrote {} and {}", config.display(), mapping_file.display());
    println!(
        "next: set base_url (and the CRM's keys) in {}, export {vars}, then run \
         `crosswalk --config {} check`, `migrate`, and the first backfill (README § The first sync)",
        config.display(),
        config.display()
    );
    Outcome::Ok
}
