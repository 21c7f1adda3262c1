//! TLS for every connection telemark makes — OTLP over gRPC and HTTP, and (through
//! [`crate::host`]) the alert channels' webhooks, Alertmanager and SMTP: one rustls client
//! configuration, built the same way for all of them.
//!
//! Trust: the platform's certificate store (`rustls-native-certs`: on Linux the system bundle,
//! or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set), so a company CA installed on the machine is
//! trusted as curl and the OpenTelemetry Collector trust it. When the platform has no store (a
//! `scratch` or distroless image without `ca-certificates`), Mozilla's roots built into
//! telemark (`webpki-roots`) are used instead, so `https://` to a public backend works with no
//! step of the user's. A certificate file given in the config (`certificate`,
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`) replaces both: only that CA is trusted, as in the
//! OpenTelemetry SDKs for Go and Java.
//!
//! The cryptography is ring's, chosen explicitly (never rustls' process-wide default, which
//! panics when two providers are linked). Certificates are verified by rustls with the server's
//! name; nothing here ever turns verification off, and a connection that fails verification
//! sends nothing.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The files a client's TLS is configured with; all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the CA certificate(s) to trust instead of the platform's.
    pub ca: Option<PathBuf>,
    /// PEM file of the client's certificate chain, for mutual TLS (with `client_key`).
    pub client_certificate: Option<PathBuf>,
    /// PEM file of the client's private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether any file is set.
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client_certificate.is_some() || self.client_key.is_some()
    }
}

/// Where the roots trusted by default come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootsSource {
    /// The platform's store.
    Platform,
    /// The Mozilla roots built into telemark (the platform had none).
    Builtin,
}

/// The default roots, read once per process: the platform's, else the built-in ones.
fn default_roots() -> &'static (Arc<RootCertStore>, RootsSource) {
    static ROOTS: OnceLock<(Arc<RootCertStore>, RootsSource)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        // Certificates the store holds that rustls cannot parse are skipped, as browsers do.
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = store.add_parsable_certificates(found.certs);
        if added > 0 {
            return (Arc::new(store), RootsSource::Platform);
        }
        let mut store = RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        (Arc::new(store), RootsSource::Builtin)
    })
}

/// Where the roots trusted by default come from on this machine.
pub fn default_roots_source() -> RootsSource {
    default_roots().1
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    // PEM files are small; a bound keeps a wrong path (a device, a huge file) harmless.
    const MAX: u64 = 1 << 20;
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{what} `{}`: not a regular file", path.display()));
    }
    if meta.len() > MAX {
        return Err(format!("{what} `{}`: larger than 1 MiB", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{what} `{}`: {e}", path.display()))
}

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{what} `{}`: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// A rustls client configuration for `files` (no ALPN: the HTTP client sets its own). Errors
/// name the file and what is wrong with it.
pub fn client_config(files: &TlsFiles) -> Result<ClientConfig, String> {
    let roots = match &files.ca {
        Some(path) => {
            let mut store = RootCertStore::empty();
            for cert in certificates(path, "CA certificate")? {
                store.add(cert).map_err(|e| format!("CA certificate `{}`: {e}", path.display()))?;
            }
            Arc::new(store)
        }
        None => default_roots().0.clone(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    match (&files.client_certificate, &files.client_key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "client certificate")?;
            let pem = read(key, "client key")?;
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| format!("client key `{}`: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("client certificate `{}` and key: {e}", cert.display()))
        }
        (Some(_), None) => Err("a client certificate needs its key (client_key)".into()),
        (None, Some(_)) => Err("a client key needs its certificate (client_certificate)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_and_named() {
        let missing = TlsFiles { ca: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let e = client_config(&missing).unwrap_err();
        assert!(e.starts_with("CA certificate `/nonexistent/ca.pem`:"), "{e}");
        let dir = TlsFiles { ca: Some("/".into()), ..Default::default() };
        assert!(client_config(&dir).unwrap_err().contains("not a regular file"));
        let empty = std::env::temp_dir().join(format!("telemark-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(&TlsFiles { ca: Some(empty.clone()), ..Default::default() }).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        std::fs::remove_file(&empty).unwrap();
        let half = TlsFiles { client_certificate: Some("/x".into()), ..Default::default() };
        assert!(client_config(&half).unwrap_err().contains("needs its key"));
    }

    #[test]
    fn default_roots_are_never_empty() {
        let config = client_config(&TlsFiles::default()).unwrap();
        assert!(config.alpn_protocols.is_empty());
        assert!(!default_roots().0.is_empty());
    }
}
