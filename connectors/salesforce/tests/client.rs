//! Official-client acceptance of the Salesforce simulator: `simple-salesforce` (pinned in
//! connectors/sim/salesforce/client-check/requirements.txt) drives the simulator over HTTPS.
//! Without the Python package the test prints a skip and passes, except under `CI=true`.

use std::io::Write as _;
use std::path::PathBuf;

use sim_salesforce::{Quirks, SimConfig};

#[path = "support/mod.rs"]
mod support;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sim/salesforce/client-check/check.py")
}

async fn python_has_simple_salesforce() -> bool {
    let out = tokio::process::Command::new("python3").args(["-c", "import simple_salesforce"]).output().await;
    matches!(out, Ok(o) if o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_accepts_the_simulator() {
    if !python_has_simple_salesforce().await {
        let msg = "simple-salesforce is not installed for python3 \
                   (pip install -r connectors/sim/salesforce/client-check/requirements.txt)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}; required under CI=true");
        eprintln!("SKIP simple_salesforce_accepts_the_simulator: {msg}");
        return;
    }
    // Batches of 5 so the script's 12 rows need nextRecordsUrl.
    let quirks = Quirks { max_batch: 5, ..Quirks::default() };
    let cfg = SimConfig { quirks, ..support::sim_config() };
    let (handle, state) = sim_salesforce::start_tls(cfg).await.unwrap();
    let mut cert = tempfile::NamedTempFile::new().unwrap();
    cert.write_all(handle.cert_pem.as_bytes()).unwrap();
    cert.flush().unwrap();
    // The certificate names `localhost`; the token's instance_url uses it too.
    let base = format!("https://localhost:{}", handle.addr.port());

    let out = tokio::process::Command::new("python3")
        .arg(script())
        .args(["--base-url", &base, "--cert"])
        .arg(cert.path())
        .args(["--ext-field", support::EXT])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    handle.stop();
    assert!(out.status.success(), "check.py failed ({:?})\n{stdout}\n{stderr}", out.status.code());
    assert!(stdout.contains("PASS"), "{stdout}");
    // The script really went through the simulator: paging and both upsert flavours.
    let log = state.log.entries();
    assert!(log.iter().any(|e| e.path.contains("/query/01g")), "query_more followed nextRecordsUrl");
    assert!(
        log.iter()
            .any(|e| e.method == "PATCH" && e.path.ends_with("/composite/sobjects/Contact/WLCRO_Id__c"))
    );
    assert!(
        log.iter()
            .any(|e| e.method == "PATCH" && e.path.ends_with("/sobjects/Contact/WLCRO_Id__c/check-upsert-1"))
    );
    // The SObject methods, with the trailing slashes simple-salesforce sends.
    for (method, tail) in [
        ("POST", "/sobjects/Contact/"),
        ("GET", "/sobjects/Contact/WLCRO_Id__c/check-create-1"),
        ("GET", "/sobjects/Contact/describe"),
        ("GET", "/sobjects/Contact/updated/"),
        ("GET", "/sobjects/Contact/deleted/"),
        ("GET", "/limits/"),
    ] {
        assert!(
            log.iter().any(|e| e.method == method && e.path.ends_with(tail) && e.status < 300),
            "simple-salesforce called {method} …{tail} successfully"
        );
    }
}
