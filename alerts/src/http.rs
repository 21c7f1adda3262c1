//! A small blocking HTTP/1.1 client over `std::net::TcpStream`, for the alert channels that POST
//! JSON (`webhook`, `alertmanager`), and the retry policy they share.
//!
//! Plain `http://` only: telemark carries no TLS stack, so an `https://` URL is refused with an
//! error saying so. One request per connection (`Connection: close`), a `Content-Length` body, a
//! deadline covering connect, write and read, and a bounded response body.

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The most of a response body kept (the rest is not read).
const MAX_BODY: usize = 64 * 1024;
/// The most a response's status line and headers may take.
const MAX_HEAD: usize = 64 * 1024;

/// A parsed `http://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
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
            return Err(format!("`{s}` is not a URL: expected `http://host:port/path`"));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "`{s}`: https is not supported — telemark's alert channels speak plain HTTP only (no TLS \
                 stack); use an `http://` URL, e.g. a TLS-terminating proxy on localhost"
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("`{s}`: unsupported scheme `{scheme}`, expected `http://`"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
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
            None | Some("") => 80,
            Some(p) => p.parse::<u16>().map_err(|_| format!("`{s}`: invalid port `{p}`"))?,
        };
        Ok(Url { host, port, path })
    }

    /// The same server, another path (`/api/v2/alerts` appended to the base path).
    pub fn with_path(&self, path: &str) -> Url {
        let base = self.path.split('?').next().unwrap_or("").trim_end_matches('/');
        Url { host: self.host.clone(), port: self.port, path: format!("{base}{path}") }
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.path)
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
    /// The connection broke, or the response was not HTTP.
    Io(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Connect(e) => write!(f, "could not connect: {e}"),
            HttpError::Timeout(e) => write!(f, "timed out {e}"),
            HttpError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Sends HTTP requests: the real one over TCP, or a fake in tests.
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

/// HTTP/1.1 over `TcpStream`.
#[derive(Debug, Default)]
pub(crate) struct Tcp;

impl Transport for Tcp {
    fn send(
        &mut self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        request(method, url, headers, body, timeout)
    }
}

fn io_error(what: &str, e: std::io::Error) -> HttpError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => HttpError::Timeout(what.to_string()),
        _ => HttpError::Io(format!("{what}: {e}")),
    }
}

fn left(deadline: Instant, what: &str) -> Result<Duration, HttpError> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(HttpError::Timeout(what.to_string()))
    } else {
        Ok(d)
    }
}

/// One request, one connection, everything within `timeout`.
pub(crate) fn request(
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| HttpError::Connect(format!("{}: {e}", url.host)))?
        .collect();
    let mut last = HttpError::Connect(format!("{}: no address", url.host));
    let mut stream = None;
    for a in addrs {
        let t = left(deadline, &format!("connecting to {a}"))?;
        match TcpStream::connect_timeout(&a, t) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
                last = HttpError::Timeout(format!("connecting to {a}"));
            }
            Err(e) => last = HttpError::Connect(format!("{a}: {e}")),
        }
    }
    let Some(mut stream) = stream else {
        return Err(last);
    };
    let _ = stream.set_nodelay(true);

    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: telemark/{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        url.path,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (k, v) in headers {
        // Header values never carry a line break (no header injection through configuration).
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        head.push_str(k);
        head.push_str(": ");
        head.push_str(&v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream
        .set_write_timeout(Some(left(deadline, "sending the request")?))
        .map_err(|e| io_error("sending", e))?;
    stream.write_all(&out).map_err(|e| io_error("sending the request", e))?;
    let _ = stream.flush();
    read_response(&mut stream, deadline, method.eq_ignore_ascii_case("HEAD"))
}

/// Reads through a deadline, a chunk at a time.
struct Reader<'a> {
    stream: &'a mut TcpStream,
    deadline: Instant,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader<'_> {
    /// Reads more into `buf`; false at end of stream.
    fn fill(&mut self) -> Result<bool, HttpError> {
        if self.eof {
            return Ok(false);
        }
        let t = left(self.deadline, "waiting for the response")?;
        self.stream.set_read_timeout(Some(t)).map_err(|e| io_error("reading", e))?;
        let mut chunk = [0u8; 8192];
        let n = loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error("waiting for the response", e)),
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    /// Takes a CRLF-terminated line from the front of `buf` (at most `max` bytes).
    fn line(&mut self, max: usize) -> Result<String, HttpError> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(HttpError::Io("malformed response: line too long".into()));
            }
            if !self.fill()? {
                return Err(HttpError::Io("the connection closed in the middle of the response".into()));
            }
        }
    }

    /// Moves up to `n` bytes of body into `out` (bounded by MAX_BODY); returns how many were read.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Result<usize, HttpError> {
        let mut got = 0;
        while got < n {
            if self.buf.is_empty() && !self.fill()? {
                break;
            }
            let k = self.buf.len().min(n - got);
            let keep = k.min(MAX_BODY.saturating_sub(out.len()));
            out.extend_from_slice(&self.buf[..keep]);
            self.buf.drain(..k);
            got += k;
        }
        Ok(got)
    }
}

fn read_response(stream: &mut TcpStream, deadline: Instant, head_only: bool) -> Result<Response, HttpError> {
    let mut r = Reader { stream, deadline, buf: Vec::new(), eof: false };
    let mut resp;
    loop {
        let status_line = r.line(MAX_HEAD)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/") {
            return Err(HttpError::Io(format!("not an HTTP response: `{}`", truncate(&status_line, 80))));
        }
        let status = parts.next().and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| {
            HttpError::Io(format!("malformed status line `{}`", truncate(&status_line, 80)))
        })?;
        resp = Response { status, headers: Vec::new(), body: Vec::new() };
        let mut size = status_line.len();
        loop {
            let line = r.line(MAX_HEAD)?;
            if line.is_empty() {
                break;
            }
            size += line.len();
            if size > MAX_HEAD {
                return Err(HttpError::Io("response headers too large".into()));
            }
            if let Some((k, v)) = line.split_once(':') {
                resp.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        // Interim responses (100 Continue) are followed by the real one.
        if !(100..200).contains(&status) || status == 101 {
            break;
        }
    }
    if head_only || resp.status == 204 || resp.status == 304 {
        return Ok(resp);
    }
    let mut body = Vec::new();
    let chunked =
        resp.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let size_line = r.line(1024)?;
            let hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| HttpError::Io(format!("malformed chunk size `{}`", truncate(hex, 20))))?;
            if size == 0 || body.len() >= MAX_BODY {
                break;
            }
            if r.take(size, &mut body)? < size {
                break;
            }
            let _ = r.line(16)?;
        }
    } else if let Some(len) = resp.header("content-length") {
        let len =
            len.trim().parse::<usize>().map_err(|_| HttpError::Io(format!("bad Content-Length `{len}`")))?;
        r.take(len.min(MAX_BODY), &mut body)?;
    } else {
        r.take(MAX_BODY, &mut body)?;
    }
    resp.body = body;
    Ok(resp)
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
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
    use std::net::TcpListener;

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
        assert_eq!(u.host_header(), "[::1]:8080");
        let e = Url::parse("https://hooks.example.com/x").unwrap_err();
        assert!(e.contains("https is not supported") && e.contains("plain HTTP"), "{e}");
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
        assert!(req.contains(&format!("\r\nHost: 127.0.0.1:{}\r\n", url.port)), "{req}");
        assert!(req.contains("\r\nContent-Length: 7\r\n"), "{req}");
        assert!(req.contains("\r\nContent-Type: application/json\r\n"), "{req}");
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
