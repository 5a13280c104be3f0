//! Serving the simulator over HTTPS with a freshly generated self-signed certificate
//! (rcgen + axum-server on rustls with the aws-lc-rs provider). The certificate PEM is exposed
//! so test clients can trust it.

use std::net::SocketAddr;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

/// A running HTTPS simulator. Dropping it does not stop it; call [`TlsSimHandle::stop`].
#[derive(Debug)]
pub struct TlsSimHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The self-signed certificate (PEM), valid for `localhost` and `127.0.0.1`.
    pub cert_pem: String,
    handle: Handle<SocketAddr>,
}

impl TlsSimHandle {
    /// `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops the server.
    pub fn stop(&self) {
        self.handle.shutdown();
    }
}

/// Generates a self-signed certificate for `localhost` and `127.0.0.1`: (cert PEM, key PEM).
pub fn self_signed() -> std::io::Result<(String, String)> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(std::io::Error::other)?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

/// Serves `app` over TLS on 127.0.0.1:`port` (0 picks a free port).
pub async fn serve_tls(
    app: Router,
    port: u16,
    cert_pem: String,
    key_pem: String,
) -> std::io::Result<TlsSimHandle> {
    let config = RustlsConfig::from_pem(cert_pem.clone().into_bytes(), key_pem.into_bytes()).await?;
    let handle: Handle<SocketAddr> = Handle::new();
    let server =
        axum_server::bind_rustls(SocketAddr::from(([127, 0, 0, 1], port)), config).handle(handle.clone());
    tokio::spawn(async move {
        if let Err(e) = server.serve(app.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!(error = %e, "salesforce TLS simulator failed");
        }
    });
    let addr = handle.listening().await.ok_or_else(|| std::io::Error::other("TLS listener did not start"))?;
    Ok(TlsSimHandle { addr, cert_pem, handle })
}
