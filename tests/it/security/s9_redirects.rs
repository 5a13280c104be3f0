//! S9: no credential or request body leaves for a host the configuration does not name. A base
//! URL answering 302, 307 or 308 towards another loopback host (127.0.0.2) is a
//! `Misconfigured` error naming that host, on each of the three connectors, and nothing reaches
//! the other host: not WhiteLabelCRO's `X-Api-Key`, not HubSpot's bearer token, not the
//! Salesforce token request with its `client_secret` (nor, after a genuine login, the access
//! token). A token response naming an `instance_url` that is not an https Salesforce domain or
//! in `allowed_instance_hosts` (scheme and host compared, not the port) gets no token either.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_api::http::ReqwestTransport;
use connector_api::{Clock, Connector, ConnectorError, ErrorClass, ManualClock, PullRequest};
use crosswalk::demo::world::secret_file;
use crosswalk::settings::{HubspotSettings, SalesforceSettings, SystemSettings, WlcroSettings};

use super::hosts::{ACCESS_TOKEN, Front, Log, front, recorder};

const WL_KEY: &str = "wlcro_live_9_redirect-sentinel-key-00000000";
const HS_TOKEN: &str = "pat-na1-redirect-sentinel-token-1111";
const SF_SECRET: &str = "sf-redirect-sentinel-client-secret-2222";

fn systems(dir: &std::path::Path, url: &str) -> Vec<(&'static str, SystemSettings)> {
    let secret = |name: &str, value: &str| secret_file(dir, name, value).expect("secret file");
    vec![
        (
            "wlcro",
            SystemSettings::Whitelabelcro(WlcroSettings {
                base_url: url.into(),
                api_key: secret("wl.key", WL_KEY),
                webhook_secrets: Vec::new(),
                overlap: None,
                read_per_minute: 6000,
                write_per_minute: 6000,
                webhook: Default::default(),
            }),
        ),
        (
            "hubspot",
            SystemSettings::Hubspot(HubspotSettings {
                base_url: url.into(),
                token: secret("hs.token", HS_TOKEN),
                webhook_secret: None,
                unique_property: "wlcro_id".into(),
                overlap: None,
                tier: None,
                burst_per_10s: None,
                daily: None,
                search_per_second: None,
            }),
        ),
        ("salesforce", salesforce(dir, url)),
    ]
}

fn salesforce(dir: &std::path::Path, url: &str) -> SystemSettings {
    SystemSettings::Salesforce(SalesforceSettings {
        login_url: url.into(),
        client_id: "redirect-test-client".into(),
        client_secret: secret_file(dir, "sf.secret", SF_SECRET).expect("secret file"),
        api_version: "62.0".into(),
        external_id_field: "WLCRO_Id__c".into(),
        reserve_share: 0.2,
        overlap: None,
        allowed_instance_hosts: vec!["http://127.0.0.1".into()],
    })
}

fn connector(name: &str, system: &SystemSettings, clock: &ManualClock) -> Arc<dyn Connector> {
    let transport = Arc::new(ReqwestTransport::new(Duration::from_secs(10)).expect("transport"));
    crosswalk::registry::build(name, system, &[], transport, clock.shared(), 3).expect("connector")
}

async fn pull(c: &dyn Connector, object: &str, clock: &ManualClock) -> Result<(), ConnectorError> {
    let req = PullRequest {
        object,
        checkpoint: None,
        rewind: None,
        horizon: clock.now(),
        since: None,
        until: None,
        limit: 10,
    };
    c.pull(req).await.map(|_| ())
}

fn object(name: &str) -> &'static str {
    match name {
        "wlcro" => "clients",
        "hubspot" => "contacts",
        _ => "Contact",
    }
}

fn assert_refused(e: &ConnectorError, what: &str) {
    assert_eq!(e.class(), ErrorClass::Misconfigured, "{what}: {e}");
    let text = e.to_string();
    assert!(text.contains("127.0.0.2"), "{what}: the error names the Location host: {text}");
    for secret in [WL_KEY, HS_TOKEN, SF_SECRET, ACCESS_TOKEN] {
        assert!(!text.contains(secret), "{what}: a secret in the error: {text}");
    }
}

fn assert_untouched(log: &Log, what: &str) {
    let seen = log.lock().expect("lock");
    assert!(
        seen.is_empty(),
        "{what}: the other host was reached: {:?}",
        seen.iter().map(|s| s.text()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn s9_redirects_on_every_connector_carry_no_credential_to_another_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    for status in [302, 307, 308] {
        let (other, other_log) = recorder("127.0.0.2", 0).await;
        let (url, front_log) = front(Front::Redirect { status, to: other }, 0).await;
        for (name, system) in systems(dir.path(), &url) {
            let what = format!("{name} answered {status}");
            let c = connector(name, &system, &clock);
            let before = front_log.lock().expect("lock").len();
            let err = pull(c.as_ref(), object(name), &clock).await.expect_err(&what);
            assert_refused(&err, &what);
            assert_eq!(front_log.lock().expect("lock").len(), before + 1, "{what}: sent once, not retried");
        }
        assert_untouched(&other_log, &format!("{status}"));
        let first = front_log.lock().expect("lock");
        assert!(
            first.iter().any(|s| s.body.contains(SF_SECRET)),
            "the token request went to the login host only"
        );
    }
}

#[tokio::test]
async fn s9_salesforce_api_calls_redirected_after_a_genuine_login_keep_the_access_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    for status in [302, 307, 308] {
        let (other, other_log) = recorder("127.0.0.2", 0).await;
        let instance = Arc::new(Mutex::new(String::new()));
        let mode =
            Front::Login { instance_url: instance.clone(), status, to: other, answer: serde_json::json!({}) };
        let (url, front_log) = front(mode, 0).await;
        *instance.lock().expect("lock") = url.clone();
        let c = connector("salesforce", &salesforce(dir.path(), &url), &clock);
        let err = pull(c.as_ref(), "Contact", &clock).await.expect_err("redirected query");
        assert_refused(&err, &format!("query answered {status}"));
        let err = c.health().await.expect_err("redirected limits");
        assert_refused(&err, &format!("limits answered {status}"));
        assert_untouched(&other_log, &format!("{status} after login"));
        let sent = front_log.lock().expect("lock");
        assert!(sent.iter().any(|s| s.text().contains(ACCESS_TOKEN)), "the token went to the instance only");
    }
}

#[tokio::test]
async fn s9_instance_url_variants_are_refused_before_the_token_leaves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::at_epoch();
    let instance = Arc::new(Mutex::new(String::new()));
    let (url, front_log) = front(
        Front::Login {
            instance_url: instance.clone(),
            status: 200,
            to: String::new(),
            answer: serde_json::json!({}),
        },
        0,
    )
    .await;
    let port = url.rsplit(':').next().expect("a port").to_string();
    // The finding: another loopback host on the login host's own port.
    let (_, same_port_log) = recorder("127.0.0.2", port.parse().expect("port")).await;
    let (third, third_log) = recorder("127.0.0.3", 0).await;
    let c = connector("salesforce", &salesforce(dir.path(), &url), &clock);
    let cases = [
        ("another loopback host, same port", format!("http://127.0.0.2:{port}")),
        ("a third host", third),
        ("https to a host not allowed", format!("https://127.0.0.2:{port}")),
        ("user-info trick", format!("http://127.0.0.1:{port}@127.0.0.2:{port}")),
        ("decimal IPv4 of 127.0.0.2", format!("http://2130706434:{port}")),
        ("IPv4-mapped IPv6", format!("http://[::ffff:127.0.0.2]:{port}")),
        ("not http at all", format!("file:///127.0.0.2:{port}")),
    ];
    for (what, instance_url) in cases {
        *instance.lock().expect("lock") = instance_url;
        let err = c.health().await.expect_err(what);
        assert_eq!(err.class(), ErrorClass::Misconfigured, "{what}: {err}");
        assert!(err.to_string().contains("allowed_instance_hosts"), "{what}: says what to do: {err}");
        assert!(!err.to_string().contains(ACCESS_TOKEN), "{what}: {err}");
    }
    assert_untouched(&same_port_log, "same port");
    assert_untouched(&third_log, "third host");
    // An allowed host is admitted on any port: scheme and host are compared, not the port.
    let (elsewhere, elsewhere_log) = recorder("127.0.0.1", 0).await;
    *instance.lock().expect("lock") = elsewhere;
    c.health().await.expect("an allowed host");
    assert!(elsewhere_log.lock().expect("lock").iter().any(|s| s.text().contains(ACCESS_TOKEN)));
    assert!(!front_log.lock().expect("lock").iter().any(|s| s.text().contains(ACCESS_TOKEN)));
}
