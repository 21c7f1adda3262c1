//! The HTTP client of the alert channels that POST JSON (`webhook`, `alertmanager`), and the
//! retry policy they share.
//!
//! `http://` and `https://`: hyper-util's client with hyper-rustls' connector (the crates the
//! runtime's OTLP exporter uses), driven by a current-thread tokio runtime that the channel's
//! delivery thread owns — the channel stays a blocking [`Transport`]. An `https://` URL is always
//! TLS, verified by rustls with the configuration of `telemark_runtime::host::tls` (the platform's
//! roots, or only a given CA, and a client certificate for mutual TLS); it never falls back to
//! plaintext, and a handshake that fails sends nothing.
//!
//! What it guarantees: one request per connection (`Connection: close`, no pooled connection
//! outliving the call), one deadline covering connect, handshake, write and read, a response body
//! kept up to 64 KiB (the rest is not read), no redirect ever followed (hyper's client follows
//! none; [`RetryPolicy`] fails the delivery), and errors that name the cause — the TLS one when
//! there is one — without the URL's secrets (the channels print the URL redacted).

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};
use telemark_runtime::host::tls::{client_config, TlsFiles};

/// The most of a response body kept (the rest is not read).
const MAX_BODY: usize = 64 * 1024;

/// A parsed `http[s]://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
    /// `https://`: TLS, always.
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// The path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let url = url.trim();
        // What the messages show of the URL.
        let s = crate::config::redact_url(url);
        let s = s.as_str();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("`{s}` is not a URL: expected `https://host[:port]/path` or `http://…`"));
        };
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(format!("`{s}`: unsupported scheme `{scheme}`, expected `https://` or `http://`"));
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let path = match path.split_once('#') {
            Some((p, _)) => p.to_string(),
            None => path,
        };
        if authority.contains('@') {
            return Err(format!("`{s}`: credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((h, after)) = v6.split_once(']') else {
                return Err(format!("`{s}`: unclosed `[` in the host"));
            };
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{s}`: no host"));
        }
        let port = match port {
            None | Some("") => Url::default_port(https),
            Some(p) => p.parse::<u16>().map_err(|_| format!("`{s}`: invalid port `{p}`"))?,
        };
        let u = Url { https, host, port, path };
        // What hyper will be given must be a valid URI (no spaces, no control characters).
        u.uri().map_err(|_| format!("`{s}`: not a valid URL (spaces or control characters?)"))?;
        Ok(u)
    }

    fn default_port(https: bool) -> u16 {
        if https {
            443
        } else {
            80
        }
    }

    /// The same server, another path (`/api/v2/alerts` appended to the base path).
    pub fn with_path(&self, path: &str) -> Url {
        let base = self.path.split('?').next().unwrap_or("").trim_end_matches('/');
        Url { https: self.https, host: self.host.clone(), port: self.port, path: format!("{base}{path}") }
    }

    /// `host[:port]`, the port left out when it is the scheme's.
    fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == Url::default_port(self.https) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn uri(&self) -> Result<http::Uri, http::Error> {
        http::Uri::builder()
            .scheme(if self.https { "https" } else { "http" })
            .authority(self.authority())
            .path_and_query(self.path.as_str())
            .build()
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// A response: status, headers and (at most 64 KiB of) body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `Retry-After` in seconds (the HTTP-date form is not read).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")?.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// The start of the body, as text, for error messages (one line, no control characters).
    pub fn body_excerpt(&self) -> String {
        let s = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
        s.split_whitespace().collect::<Vec<_>>().join(" ").replace(char::is_control, "")
    }
}

/// Why a request got no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HttpError {
    /// Nothing answered (refused, unreachable, no such host).
    Connect(String),
    /// The deadline passed.
    Timeout(String),
    /// The TLS handshake failed, or the server ended the TLS session with an alert (a client
    /// certificate it refused or missed): nothing was sent, and trying again would not help.
    Tls(String),
    /// The connection broke, or the response was not HTTP.
    Io(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Connect(e) => write!(f, "could not connect: {e}"),
            HttpError::Timeout(e) => write!(f, "timed out {e}"),
            HttpError::Tls(e) => write!(f, "TLS: {e}"),
            HttpError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Sends HTTP requests: the real client, or a fake in tests.
pub(crate) trait Transport: Send {
    fn send(
        &mut self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, HttpError>;
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// hyper-util's client over hyper-rustls, on a current-thread runtime of its own (made on the
/// first request, on the thread that sends: the channel's delivery thread).
pub(crate) struct Client {
    /// The TLS configuration: given (`with_tls`), or the default one (the platform's roots),
    /// made on the first request.
    tls: Option<Arc<rustls::ClientConfig>>,
    state: Option<(tokio::runtime::Runtime, HyperClient<Connector, Full<Bytes>>)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("tls", &self.tls.is_some()).finish()
    }
}

impl Client {
    /// A client that trusts the platform's roots (Mozilla's when it has none), no client
    /// certificate.
    pub fn new() -> Client {
        Client { tls: None, state: None }
    }

    /// A client with the TLS configuration of `files` (only that CA, a client certificate); an
    /// error names the file and what is wrong with it.
    pub fn with_tls(files: &TlsFiles) -> Result<Client, String> {
        Ok(Client { tls: Some(Arc::new(client_config(files)?)), state: None })
    }

    fn state(
        &mut self,
    ) -> Result<&(tokio::runtime::Runtime, HyperClient<Connector, Full<Bytes>>), HttpError> {
        if self.state.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                // Its blocking pool (DNS lookups) is telemark's: hyper's events there are not the
                // program's.
                .on_thread_start(telemark_runtime::host::mark_internal)
                .build()
                .map_err(|e| HttpError::Io(format!("cannot start the HTTP client: {e}")))?;
            let tls = match &self.tls {
                Some(t) => t.clone(),
                None => Arc::new(client_config(&TlsFiles::default()).map_err(HttpError::Tls)?),
            };
            let mut http = HttpConnector::new();
            // hyper-rustls decides by the URL's scheme: https is TLS (never plaintext), http is not.
            http.enforce_http(false);
            http.set_nodelay(true);
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls).clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            let client = HyperClient::builder(TokioExecutor::new())
                // One request per connection: nothing pooled outlives the call (the runtime
                // only runs while a request does).
                .pool_max_idle_per_host(0)
                .build(connector);
            self.state = Some((runtime, client));
        }
        match &self.state {
            Some(s) => Ok(s),
            None => Err(HttpError::Io("the HTTP client did not start".into())),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // A name lookup still blocking on the runtime's blocking pool (a deadline passed during
        // it) must not hold up the thread that drops the channel.
        if let Some((runtime, _)) = self.state.take() {
            runtime.shutdown_background();
        }
    }
}

impl Transport for Client {
    fn send(
        &mut self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let request = build_request(method, url, headers, body)?;
        let (runtime, client) = self.state()?;
        let exchange = async {
            match tokio::time::timeout(timeout, exchange(client, request)).await {
                Ok(r) => r,
                Err(_) => Err(HttpError::Timeout(format!("after {timeout:?} without a complete response"))),
            }
        };
        // A channel delivers on a thread of its own; called from inside a tokio runtime (a
        // handler driven by hand in async code), the exchange runs on a scoped thread instead,
        // since a runtime cannot block inside another.
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| runtime.block_on(exchange)).join())
                .unwrap_or_else(|_| Err(HttpError::Io("the HTTP client panicked".into())))
        } else {
            runtime.block_on(exchange)
        }
        .map_err(|e| with_peer(e, url))
    }
}

/// Names the server in a connection's or a handshake's error.
fn with_peer(e: HttpError, url: &Url) -> HttpError {
    let peer = format!("{}:{}", url.host, url.port);
    match e {
        HttpError::Connect(m) if !m.starts_with(&peer) => HttpError::Connect(format!("{peer}: {m}")),
        HttpError::Tls(m) => HttpError::Tls(format!("{peer}: {m}")),
        e => e,
    }
}

fn build_request(
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<http::Request<Full<Bytes>>, HttpError> {
    let uri = url.uri().map_err(|e| HttpError::Io(format!("invalid URL: {e}")))?;
    let mut b = http::Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::USER_AGENT, concat!("telemark/", env!("CARGO_PKG_VERSION")))
        .header(http::header::CONNECTION, "close");
    for (k, v) in headers {
        // Header values never carry a line break (no header injection through configuration).
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        b = b.header(*k, v);
    }
    b.body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| HttpError::Io(format!("invalid request: {e}")))
}

async fn exchange(
    client: &HyperClient<Connector, Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<Response, HttpError> {
    let response = client.request(request).await.map_err(|e| classify(&e))?;
    let (head, mut incoming) = response.into_parts();
    let mut resp = Response {
        status: head.status.as_u16(),
        headers: head
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: Vec::new(),
    };
    while resp.body.len() < MAX_BODY {
        match incoming.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let keep = data.len().min(MAX_BODY - resp.body.len());
                    resp.body.extend_from_slice(&data[..keep]);
                }
            }
            // The status is what counts: a body cut short (a server that closes without TLS's
            // close_notify, a broken connection) keeps what arrived.
            Some(Err(_)) => break,
        }
    }
    Ok(resp)
}

/// The errors of a chain, io::Error's inner error included (its `source` skips it).
fn chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        out.push(e);
        next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    out
}

/// What a failed request comes to: the TLS cause first, then connect, then the rest.
fn classify(e: &hyper_util::client::legacy::Error) -> HttpError {
    let all = chain(e);
    if let Some(tls) = all.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return HttpError::Tls(describe_tls(tls));
    }
    let last = all.last().map_or_else(|| e.to_string(), |e| e.to_string());
    if e.is_connect() {
        return HttpError::Connect(last);
    }
    if let Some(h) = all.iter().find_map(|e| e.downcast_ref::<hyper::Error>()) {
        if h.is_incomplete_message() {
            return HttpError::Io("the connection closed in the middle of the response".into());
        }
        if h.is_parse() {
            return HttpError::Io(format!("not an HTTP response: {last}"));
        }
    }
    HttpError::Io(last)
}

/// A rustls error in words, with what to change when it is the usual mistake.
pub(crate) fn describe_tls(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C};
    let what = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the server's certificate is not signed by a CA this channel trusts (to trust a private CA, \
             set `certificate` to its PEM file)"
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired"
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet"
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the server's certificate is not for this host name"
        }
        rustls::Error::InvalidCertificate(_) => "the server's certificate was refused",
        rustls::Error::AlertReceived(A::CertificateRequired) => {
            "the server requires a client certificate (set `client_certificate` and `client_key`)"
        }
        rustls::Error::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => {
            "the server refused the client certificate"
        }
        _ => "the TLS session failed",
    };
    format!("{what}: {e}")
}

/// When to try a POST again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: u32,
    /// The first backoff (doubled each retry, then jittered).
    pub base: Duration,
    /// The longest wait between two attempts, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 3, base: Duration::from_millis(500), max_delay: Duration::from_secs(30) }
    }
}

/// What to do after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Delivered (2xx).
    Done,
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop: this message says why.
    GiveUp(String),
}

impl RetryPolicy {
    /// The decision after attempt number `attempt` (0 for the first) got `outcome`; `unit` is a
    /// random number in [0, 1) for the jitter.
    pub fn decide(&self, attempt: u32, outcome: &Result<Response, HttpError>, unit: f64) -> Decision {
        let (retryable, why, retry_after) = match outcome {
            Ok(r) if (200..300).contains(&r.status) => return Decision::Done,
            // A redirect is never followed: the URL should name the receiver itself (and a
            // signed request is not for whichever server a response points at).
            Ok(r) if (300..400).contains(&r.status) => {
                let to = r.header("location").map_or(String::new(), |l| {
                    let l: String = l.chars().filter(|c| !c.is_control()).take(200).collect();
                    format!(" to `{l}`")
                });
                return Decision::GiveUp(format!(
                    "HTTP {}: redirect{to} not followed; set the URL to the receiver's address",
                    r.status
                ));
            }
            Ok(r) => {
                let why = format!("HTTP {}: {}", r.status, r.body_excerpt());
                let retryable = r.status == 429 || (500..600).contains(&r.status);
                (retryable, why.trim_end_matches([':', ' ']).to_string(), r.retry_after())
            }
            // A certificate problem does not pass in the seconds of a backoff: said once, at once.
            Err(e @ HttpError::Tls(_)) => (false, e.to_string(), None),
            Err(e) => (true, e.to_string(), None),
        };
        if !retryable {
            return Decision::GiveUp(why);
        }
        if attempt >= self.max_retries {
            let tries = attempt + 1;
            return Decision::GiveUp(format!(
                "{why} (after {tries} attempt{})",
                if tries == 1 { "" } else { "s" }
            ));
        }
        if let Some(d) = retry_after {
            return Decision::Retry(d.min(self.max_delay));
        }
        let exp = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.max_delay);
        // "Equal jitter": half the backoff, plus a random part of the other half.
        let half = exp / 2;
        Decision::Retry(half + half.mul_f64(unit.clamp(0.0, 1.0)))
    }

    /// Sends with retries: `send` makes one attempt, `sleep` waits between attempts.
    pub fn run(
        &self,
        mut send: impl FnMut() -> Result<Response, HttpError>,
        sleep: &mut dyn FnMut(Duration),
    ) -> Result<Response, String> {
        let mut attempt = 0;
        loop {
            let outcome = send();
            match self.decide(attempt, &outcome, random_unit()) {
                Decision::Done => return outcome.map_err(|e| e.to_string()),
                Decision::GiveUp(why) => return Err(why),
                Decision::Retry(d) => {
                    sleep(d);
                    attempt += 1;
                }
            }
        }
    }
}

/// A random number in [0, 1) (std's randomly keyed hasher; good enough for jitter).
pub(crate) fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.write_u64(std::process::id().into());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn request(
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        Client::new().send(method, url, headers, body, timeout)
    }

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:9093").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 9093, "/"));
        assert_eq!(u.with_path("/api/v2/alerts").to_string(), "http://127.0.0.1:9093/api/v2/alerts");
        let u = Url::parse("HTTP://hooks.example.com/a/b?x=1#frag").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("hooks.example.com", 80, "/a/b?x=1"));
        assert_eq!(u.to_string(), "http://hooks.example.com/a/b?x=1");
        let u = Url::parse("http://[::1]:8080/x/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert_eq!(u.with_path("/api/v2/alerts").path, "/x/api/v2/alerts");
        assert_eq!(u.authority(), "[::1]:8080");
        let u = Url::parse("https://hooks.example.com/x").unwrap();
        assert_eq!((u.https, u.port, u.to_string().as_str()), (true, 443, "https://hooks.example.com/x"));
        let u = Url::parse("HTTPS://h:8443?q=1").unwrap();
        assert_eq!(u.to_string(), "https://h:8443/?q=1");
        assert_eq!(u.with_path("/api/v2/alerts").to_string(), "https://h:8443/api/v2/alerts");
        assert!(Url::parse("http://h/a b").unwrap_err().contains("not a valid URL"));
        assert!(Url::parse("ftp://x").unwrap_err().contains("unsupported scheme"));
        assert!(Url::parse("localhost:80").is_err());
        assert!(Url::parse("http://:80/").is_err());
        assert!(Url::parse("http://h:99999/").unwrap_err().contains("invalid port"));
    }

    fn serve_once(response: &'static [u8]) -> (Url, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..i]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if req.len() >= i + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(response).unwrap();
            req
        });
        (Url::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap(), t)
    }

    #[test]
    fn a_post_and_its_response() {
        let (url, t) = serve_once(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 5\r\n\r\nbusy!",
        );
        let r = request(
            "POST",
            &url,
            &[("Content-Type", "application/json")],
            b"{\"a\":1}",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(r.body, b"busy!");
        let req = String::from_utf8(t.join().unwrap()).unwrap();
        assert!(req.starts_with("POST /hook HTTP/1.1\r\n"), "{req}");
        let lower = req.to_ascii_lowercase();
        assert!(lower.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", url.port)), "{req}");
        assert!(lower.contains("\r\ncontent-length: 7\r\n"), "{req}");
        assert!(lower.contains("\r\ncontent-type: application/json\r\n"), "{req}");
        assert!(lower.contains("\r\nconnection: close\r\n"), "{req}");
        assert!(req.ends_with("\r\n\r\n{\"a\":1}"), "{req}");
    }

    #[test]
    fn chunked_and_until_close_bodies() {
        let (url, _t) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        );
        let r = request("GET", &url, &[], b"", Duration::from_secs(5)).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        let (url, _t) = serve_once(b"HTTP/1.0 200 OK\r\n\r\nuntil the end");
        let r = request("GET", &url, &[], b"", Duration::from_secs(5)).unwrap();
        assert_eq!(r.body, b"until the end");
        let (url, _t) =
            serve_once(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(request("POST", &url, &[], b"x", Duration::from_secs(5)).unwrap().status, 202);
        let (url, _t) = serve_once(b"SMTP nonsense\r\n\r\n");
        assert!(matches!(request("GET", &url, &[], b"", Duration::from_secs(5)), Err(HttpError::Io(_))));
    }

    #[test]
    fn the_body_kept_is_bounded() {
        let mut response = b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n".to_vec();
        response.extend(std::iter::repeat_n(b'x', 100_000));
        let (url, _t) = serve_once(Box::leak(response.into_boxed_slice()));
        let r = request("POST", &url, &[], b"x", Duration::from_secs(5)).unwrap();
        assert_eq!((r.status, r.body.len()), (500, MAX_BODY));
    }

    #[test]
    fn https_to_a_plaintext_server_fails_as_tls_and_sends_nothing_in_clear() {
        // A plain HTTP server that answers at once: the client's TLS handshake gets HTTP instead
        // of a ServerHello, and the request is never written.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            got
        });
        let url = Url::parse(&format!("https://127.0.0.1:{port}/hook")).unwrap();
        let r =
            request("POST", &url, &[("X-Secret-Header", "s3cret")], b"{\"a\":1}", Duration::from_secs(30));
        assert!(
            matches!(&r, Err(HttpError::Tls(m)) if m.starts_with(&format!("127.0.0.1:{port}: "))),
            "{r:?}"
        );
        let got = t.join().unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(got.first() == Some(&0x16), "a TLS record (the ClientHello) first: {got:?}");
        assert!(!text.contains("POST") && !text.contains("s3cret") && !text.contains("{\"a\""), "{text}");
    }

    #[test]
    fn refused_and_silent_servers() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        assert!(matches!(
            request("POST", &url, &[], b"x", Duration::from_secs(5)),
            Err(HttpError::Connect(_))
        ));
        // Connects, never answers: the listener never takes the connection (it waits in the
        // backlog while `l` lives), so only the request's own deadline can end it — it returning,
        // with a timeout, shows that it does (on another thread: a request that ignored its
        // deadline fails the test after a minute rather than hanging it).
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(request("POST", &url, &[], b"x", Duration::from_millis(200))));
        let r = rx.recv_timeout(Duration::from_secs(60)).expect("the request ends at its deadline");
        assert!(matches!(r, Err(HttpError::Timeout(_))), "{r:?}");
        drop(l);
    }

    fn status(code: u16, retry_after: Option<&str>) -> Result<Response, HttpError> {
        let mut r = Response { status: code, ..Default::default() };
        if let Some(v) = retry_after {
            r.headers.push(("Retry-After".into(), v.into()));
        }
        Ok(r)
    }

    #[test]
    fn retry_decisions() {
        let p = RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        };
        assert_eq!(p.decide(0, &status(200, None), 0.5), Decision::Done);
        assert_eq!(p.decide(0, &status(204, None), 0.5), Decision::Done);
        // 5xx and 429: exponential backoff with equal jitter.
        assert_eq!(p.decide(0, &status(503, None), 0.0), Decision::Retry(Duration::from_millis(50)));
        assert!(
            matches!(p.decide(0, &status(500, None), 0.999_999), Decision::Retry(d) if d > Duration::from_micros(99_990) && d <= Duration::from_millis(100))
        );
        assert_eq!(p.decide(2, &status(502, None), 0.0), Decision::Retry(Duration::from_millis(200)));
        assert_eq!(p.decide(1, &status(429, None), 0.5), Decision::Retry(Duration::from_millis(150)));
        // Retry-After is honoured, up to the cap.
        assert_eq!(p.decide(0, &status(429, Some("3")), 0.5), Decision::Retry(Duration::from_secs(3)));
        assert_eq!(p.decide(0, &status(503, Some("120")), 0.5), Decision::Retry(Duration::from_secs(10)));
        assert_eq!(
            p.decide(0, &status(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")), 0.0),
            Decision::Retry(Duration::from_millis(50))
        );
        // The cap holds for the backoff too.
        assert_eq!(
            p.decide(30, &status(503, None), 0.0),
            Decision::GiveUp("HTTP 503 (after 31 attempts)".into())
        );
        let long = RetryPolicy { max_retries: 40, ..p };
        assert_eq!(long.decide(30, &status(503, None), 1.0), Decision::Retry(Duration::from_secs(10)));
        // Network errors are retried.
        assert!(matches!(p.decide(0, &Err(HttpError::Connect("refused".into())), 0.0), Decision::Retry(_)));
        // Other 4xx and 3xx: never.
        for code in [400, 401, 403, 404, 413, 301, 302, 307, 308] {
            assert!(matches!(p.decide(0, &status(code, None), 0.0), Decision::GiveUp(_)), "{code}");
        }
        let mut r = Response { status: 307, ..Default::default() };
        r.headers.push(("Location".into(), "http://elsewhere.example/\x1b[2Jhook".into()));
        assert_eq!(
            p.decide(0, &Ok(r), 0.0),
            Decision::GiveUp(
                "HTTP 307: redirect to `http://elsewhere.example/[2Jhook` not followed; set the URL to the \
                 receiver's address"
                    .into()
            )
        );
        let mut r = Response { status: 400, ..Default::default() };
        r.body = b"bad\n  request".to_vec();
        assert_eq!(p.decide(0, &Ok(r), 0.0), Decision::GiveUp("HTTP 400: bad request".into()));
        // Out of retries.
        assert!(
            matches!(p.decide(3, &status(503, None), 0.0), Decision::GiveUp(m) if m.contains("after 4 attempts"))
        );
    }

    #[test]
    fn run_retries_then_gives_up_and_sleeps_as_decided() {
        let p = RetryPolicy {
            max_retries: 2,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        };
        let mut slept = Vec::new();
        let mut answers = vec![status(503, Some("2")), status(429, Some("1")), status(200, None)].into_iter();
        let r = p.run(|| answers.next().unwrap(), &mut |d| slept.push(d));
        assert_eq!(r.map(|r| r.status), Ok(200));
        assert_eq!(slept, [Duration::from_secs(2), Duration::from_secs(1)]);
        let mut calls = 0;
        let r = p.run(
            || {
                calls += 1;
                status(400, None)
            },
            &mut |_| panic!("no sleep on a 400"),
        );
        assert_eq!((r, calls), (Err("HTTP 400".to_string()), 1));
        let mut calls = 0;
        let r = p.run(
            || {
                calls += 1;
                status(500, None)
            },
            &mut |_| {},
        );
        assert_eq!(calls, 3);
        assert_eq!(r.unwrap_err(), "HTTP 500 (after 3 attempts)");
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let v: Vec<f64> = (0..100).map(|_| random_unit()).collect();
        assert!(v.iter().all(|u| (0.0..1.0).contains(u)));
        let distinct: std::collections::BTreeSet<u64> = v.iter().map(|u| u.to_bits()).collect();
        assert!(distinct.len() > 90);
    }
}
