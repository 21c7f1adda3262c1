//! A webhook listener for alert-delivery tests: a small HTTP/1.1 server on a std `TcpListener`
//! thread that records every request and answers from a script (`200` by default; `503` with
//! `Retry-After`, `400`, a redirect, or never answering), and an independent Standard Webhooks
//! signature verifier in Python ([`python_verify`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the listener got.
#[derive(Clone, Debug)]
pub struct HookRequest {
    /// `POST`.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl HookRequest {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("webhook body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
        })
    }
}

/// How the listener answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status, with these extra headers.
    Status(u16, Vec<(String, String)>),
    /// Reads the request and never answers (until the client gives up).
    Hang,
}

impl Reply {
    /// `200 OK`.
    pub fn ok() -> Reply {
        Reply::Status(200, Vec::new())
    }
    /// A status with no extra header.
    pub fn status(code: u16) -> Reply {
        Reply::Status(code, Vec::new())
    }
    /// `503` with `Retry-After: secs`.
    pub fn unavailable_retry_after(secs: u64) -> Reply {
        Reply::Status(503, vec![("Retry-After".into(), secs.to_string())])
    }
    /// A redirect: `code` (301, 302, 307, 308) with `Location: to`.
    pub fn redirect(code: u16, to: &str) -> Reply {
        Reply::Status(code, vec![("Location".into(), to.to_string())])
    }
}

struct Shared {
    requests: Mutex<Vec<HookRequest>>,
    arrived: Condvar,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    stop: AtomicBool,
}

/// The listener; stops when dropped.
pub struct WebhookServer {
    shared: Arc<Shared>,
    port: u16,
}

impl WebhookServer {
    /// Listens on 127.0.0.1 (a free port), answering 200 to everything.
    pub fn start() -> WebhookServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook listener");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Reply::ok()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("test-webhook".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let s = s.clone();
                    std::thread::spawn(move || serve(conn, &s));
                }
            })
            .expect("spawn the webhook listener");
        WebhookServer { shared, port }
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next requests get these replies, in order; after them, the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = reply;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<HookRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (at most [`WAIT`](super::WAIT)), and returns them all.
    pub fn wait_requests(&self, n: usize) -> Vec<HookRequest> {
        let g = self.shared.requests.lock().unwrap();
        let (g, _) = self.shared.arrived.wait_timeout_while(g, super::WAIT, |r| r.len() < n).unwrap();
        g.clone()
    }

    /// Waits for a request that satisfies `pred` (at most [`WAIT`](super::WAIT)).
    pub fn wait_for(&self, pred: impl Fn(&HookRequest) -> bool) -> Option<HookRequest> {
        let end = Instant::now() + super::WAIT;
        let mut g = self.shared.requests.lock().unwrap();
        loop {
            if let Some(r) = g.iter().find(|r| pred(r)) {
                return Some(r.clone());
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            g = self.shared.arrived.wait_timeout(g, left).unwrap().0;
        }
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut conn: TcpStream, s: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, content_length) = loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i, len);
        }
    };
    while buf.len() < head_end + 4 + content_length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = buf[head_end + 4..head_end + 4 + content_length].to_vec();
    let reply = s.script.lock().unwrap().pop_front().unwrap_or_else(|| s.default.lock().unwrap().clone());
    {
        let mut r = s.requests.lock().unwrap();
        r.push(HookRequest { method, path, headers, body, at: Instant::now() });
        s.arrived.notify_all();
    }
    match reply {
        Reply::Status(code, extra) => {
            let mut out = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n");
            for (k, v) in extra {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = conn.write_all(out.as_bytes());
        }
        Reply::Hang => {
            // Until the client closes (or the read timeout).
            while let Ok(n) = conn.read(&mut chunk) {
                if n == 0 || s.stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
    }
}

/// A Standard Webhooks verifier written independently of telemark, in Python 3 with only its
/// standard library (`hmac`, `hashlib`, `base64`), after the specification: the key is the
/// base64-decoded rest of a `whsec_` secret, else the secret's UTF-8 bytes; the signed content is
/// `{id}.{timestamp}.{body}`; `webhook-signature` is a space-separated list of `v1,<base64>`
/// compared in constant time; a timestamp more than 5 minutes from `now` is refused. Exit 0 and
/// `ok` when it accepts; 1 for a bad signature, 2 for a timestamp out of tolerance.
const PYTHON_VERIFIER: &str = r#"
import base64, hashlib, hmac, json, sys, time
d = json.load(sys.stdin)
secret = d["secret"]
key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode("utf-8")
now = d["now"] if d["now"] is not None else int(time.time())
ts = d["timestamp"]
if not ts.isdigit() or abs(now - int(ts)) > 5 * 60:
    print("timestamp out of tolerance")
    sys.exit(2)
content = d["id"].encode() + b"." + ts.encode() + b"." + bytes.fromhex(d["body_hex"])
expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
for sig in d["signature"].split(" "):
    version, _, value = sig.partition(",")
    if version == "v1" and hmac.compare_digest(value, expected):
        print("ok")
        sys.exit(0)
print("no matching signature")
sys.exit(1)
"#;

/// What a receiver checks of a webhook request: its `webhook-id`, `webhook-timestamp`,
/// `webhook-signature` and body — to be altered by a test before it asks [`python_verify`].
#[derive(Clone, Debug)]
pub struct Signed {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub body: Vec<u8>,
}

impl HookRequest {
    /// The signed parts of this request (panics when a header is missing).
    pub fn signed(&self) -> Signed {
        let h = |name: &str| {
            self.header(name).unwrap_or_else(|| panic!("no `{name}` header: {:?}", self.headers)).to_string()
        };
        Signed {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp"),
            signature: h("webhook-signature"),
            body: self.body.clone(),
        }
    }
}

/// Asks the Python verifier (`PYTHON_VERIFIER`) whether `s` is a genuine request signed with `secret`, at `now` (Unix
/// seconds; the verifier's clock when `None`): `Ok` when it accepts, else `Err` with what it said.
/// Fails the test, saying what to install, when python3 is missing.
pub fn python_verify(secret: &str, s: &Signed, now: Option<u64>) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let input = serde_json::json!({
        "secret": secret,
        "id": s.id,
        "timestamp": s.timestamp,
        "signature": s.signature,
        "body_hex": s.body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "now": now,
    });
    let mut child = Command::new("python3")
        .args(["-c", PYTHON_VERIFIER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to verify webhook signatures ({e}): install python3 (.ci/run does)")
        });
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    match out.status.code() {
        Some(0) if said.trim() == "ok" => Ok(()),
        Some(1 | 2) => Err(said.trim().to_string()),
        _ => panic!("the Python verifier failed: {:?}: {said}", out.status),
    }
}
