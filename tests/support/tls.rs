//! TLS for the tests: a certificate authority made when the test runs (rcgen), and a TLS front
//! that terminates TLS on 127.0.0.1 and forwards the plaintext to one of the test servers (the
//! OTLP receiver's gRPC or HTTP port, the webhook listener), so every server gets https without
//! changing.
//!
//! [`TestPki::new`] writes PEM files into a fresh directory: the CA, a server certificate for
//! `127.0.0.1` and `localhost` signed by it, a client certificate signed by it (for mutual TLS),
//! a second, unrelated CA (the "wrong CA"), and an expired server certificate.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The PEM files of one test PKI, in a directory of their own (removed on drop).
pub struct TestPki {
    dir: PathBuf,
    /// The CA that signed the server's and the client's certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing the servers present.
    pub other_ca: PathBuf,
    /// The server's certificate (SANs `127.0.0.1`, `localhost`) and key.
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// A client certificate for mutual TLS, and its key.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// A server certificate from the right CA that expired in 2001, and its key.
    pub expired_cert: PathBuf,
    /// Its key.
    pub expired_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
    expired: bool,
) -> (String, String) {
    let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    /// A fresh PKI in a new temporary directory.
    pub fn new() -> TestPki {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "telemark-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        let root = ca("telemark test CA");
        let other = ca("another test CA");
        let (server_cert, server_key) =
            leaf(&root, "test server", ExtendedKeyUsagePurpose::ServerAuth, false);
        let (client_cert, client_key) =
            leaf(&root, "test client", ExtendedKeyUsagePurpose::ClientAuth, false);
        let (expired_cert, expired_key) =
            leaf(&root, "expired server", ExtendedKeyUsagePurpose::ServerAuth, true);
        TestPki {
            ca: write("ca.pem", &root.pem()),
            other_ca: write("other-ca.pem", &other.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server-key.pem", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client-key.pem", &client_key),
            expired_cert: write("expired.pem", &expired_cert),
            expired_key: write("expired-key.pem", &expired_key),
            dir,
        }
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A rustls server configuration presenting the server certificate (or the expired one);
    /// with `client_auth`, it requires a client certificate signed by the CA. ALPN offers `h2`
    /// and `http/1.1`.
    pub fn server_config(&self, client_auth: bool, expired: bool) -> Arc<rustls::ServerConfig> {
        let (cert, key) = if expired {
            (&self.expired_cert, &self.expired_key)
        } else {
            (&self.server_cert, &self.server_key)
        };
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&self.ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Default)]
struct FrontState {
    /// Connections whose handshake succeeded.
    handshakes: AtomicUsize,
    /// Why the others failed, as rustls said.
    failures: Mutex<Vec<String>>,
    changed: Condvar,
}

impl FrontState {
    fn failed(&self, why: String) {
        self.failures.lock().unwrap().push(why);
        self.changed.notify_all();
    }
}

/// A TLS front on 127.0.0.1: terminates TLS with a [`TestPki`] server configuration and forwards
/// each connection's plaintext to `target`. Stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    state: Arc<FrontState>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsFront {
    /// Starts a front for `target` (the plaintext server) with `config`.
    pub fn start(target: SocketAddr, config: Arc<rustls::ServerConfig>) -> TlsFront {
        let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FrontState::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tls-front")
            .enable_all()
            .build()
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let st = state.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                let st = st.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(mut tls) => {
                            // A client certificate that TLS 1.3 checks after the handshake fails
                            // on the first read: count it as a failure then.
                            let mut first = [0u8; 1];
                            let n = match tokio::io::AsyncReadExt::read(&mut tls, &mut first).await {
                                Ok(n) => n,
                                Err(e) => return st.failed(e.to_string()),
                            };
                            st.handshakes.fetch_add(1, Ordering::Relaxed);
                            let Ok(mut plain) = tokio::net::TcpStream::connect(target).await else { return };
                            if tokio::io::AsyncWriteExt::write_all(&mut plain, &first[..n]).await.is_err() {
                                return;
                            }
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                        }
                        Err(e) => st.failed(e.to_string()),
                    }
                });
            }
        });
        TlsFront { addr, state, runtime: Some(runtime) }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections that completed a handshake and sent data.
    pub fn handshakes(&self) -> usize {
        self.state.handshakes.load(Ordering::Relaxed)
    }

    /// Why handshakes failed, so far.
    pub fn failures(&self) -> Vec<String> {
        self.state.failures.lock().unwrap().clone()
    }

    /// Waits until more than `seen` handshakes have failed (at most [`WAIT`](super::WAIT)); why
    /// the next one failed.
    pub fn wait_failure_after(&self, seen: usize) -> Option<String> {
        let deadline = std::time::Instant::now() + super::WAIT;
        let mut failures = self.state.failures.lock().unwrap();
        while failures.len() <= seen {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            failures = self.state.changed.wait_timeout(failures, left).unwrap().0;
        }
        failures.get(seen).cloned()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The address of an `http://127.0.0.1:PORT` URL.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap()
}
