//! A real SMTP server for alert-delivery tests: aiosmtpd (Python), started on 127.0.0.1 with a
//! handler that prints each message it accepts — envelope sender, recipients, the authenticated
//! login, whether the connection was TLS when it authenticated and when it sent the data — and the
//! data, as one JSON line. [`SmtpServer::start_tls`] serves STARTTLS (required, AUTH only after
//! it) or implicit TLS with a [`TestPki`](super::tls::TestPki)'s server certificate. Needs `python3` with `aiosmtpd` (`.ci/run` installs it:
//! `python3 -m pip install aiosmtpd`); without it the test fails saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

const SERVER: &str = r#"
import json, ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD, MODE = sys.argv[2], sys.argv[3], sys.argv[4]

def is_tls(server):
    t = server.transport
    return t is not None and t.get_extra_info("ssl_object") is not None

def authenticator(server, session, envelope, mechanism, auth_data):
    session.auth_tls = is_tls(server)
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
          and auth_data.password.decode() == PASSWORD)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        a = session.auth_data
        login = a.login.decode() if isinstance(a, LoginPassword) else None
        print(json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "login": login,
                          "tls": is_tls(server), "auth_tls": getattr(session, "auth_tls", None),
                          "data": envelope.content.decode("utf-8", "replace")}), flush=True)
        return "250 OK"

kw = dict(auth_require_tls=False)
if MODE != "plain":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
    if MODE == "starttls":
        # STARTTLS before anything else; AUTH is not even offered before it.
        kw = dict(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    else:
        # TLS from the first byte (aiosmtpd's auth_require_tls only knows STARTTLS).
        kw = dict(ssl_context=ctx, auth_require_tls=False)
c = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]), authenticator=authenticator,
               auth_required=False, **kw)
c.start()
print("READY", flush=True)
threading.Event().wait()
"#;

/// One message the server accepted.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// MAIL FROM.
    pub mail_from: String,
    /// Every RCPT TO.
    pub rcpt_tos: Vec<String>,
    /// The AUTH login, if the client authenticated.
    pub login: Option<String>,
    /// Whether the connection was TLS when the message was sent.
    pub tls: bool,
    /// Whether it was TLS when the client authenticated (`None`: no AUTH).
    pub auth_tls: Option<bool>,
    /// The message as received (dot-stuffing undone).
    pub data: String,
}

impl ReceivedMail {
    /// A header's value (the first with this name).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    }

    /// The body (after the blank line).
    pub fn body(&self) -> String {
        self.data.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
    }
}

/// How the test server uses TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTls {
    /// Plain SMTP, no STARTTLS offered.
    Plain,
    /// STARTTLS offered and required before any other command; AUTH offered only after it.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// aiosmtpd on 127.0.0.1; killed when dropped.
pub struct SmtpServer {
    child: Child,
    port: u16,
    mails: Arc<(Mutex<Vec<ReceivedMail>>, Condvar)>,
}

/// The AUTH PLAIN credentials the server accepts (authentication is optional).
pub const SMTP_USER: &str = "alerts";
/// See [`SMTP_USER`].
pub const SMTP_PASSWORD: &str = "s3cret";

impl SmtpServer {
    /// Starts aiosmtpd on a free port and waits until it listens. Panics, saying what to
    /// install, when python3 or aiosmtpd is missing.
    pub fn start() -> SmtpServer {
        SmtpServer::launch(ServerTls::Plain, None)
    }

    /// Starts aiosmtpd with TLS (`mode`), presenting the server certificate of `pki` (for
    /// `127.0.0.1` and `localhost`, signed by `pki.ca`).
    pub fn start_tls(mode: ServerTls, pki: &super::tls::TestPki) -> SmtpServer {
        SmtpServer::launch(mode, Some((pki.server_cert.clone(), pki.server_key.clone())))
    }

    fn launch(mode: ServerTls, cert: Option<(std::path::PathBuf, std::path::PathBuf)>) -> SmtpServer {
        let probe = Command::new("python3").args(["-c", "import aiosmtpd"]).output();
        match probe {
            Err(e) => panic!(
                "python3 is needed for the SMTP test server ({e}): install python3 and \
                 `python3 -m pip install aiosmtpd` (.ci/run does)"
            ),
            Ok(o) if !o.status.success() => panic!(
                "the SMTP test server needs aiosmtpd: `python3 -m pip install aiosmtpd` (.ci/run does); \
                 python3 said: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Ok(_) => {}
        }
        let port = free_port();
        let mode_arg = match mode {
            ServerTls::Plain => "plain",
            ServerTls::StartTls => "starttls",
            ServerTls::Implicit => "implicit",
        };
        let mut args: Vec<String> = ["-u", "-c", SERVER].iter().map(|s| s.to_string()).collect();
        args.extend([port.to_string(), SMTP_USER.into(), SMTP_PASSWORD.into(), mode_arg.into()]);
        if let Some((cert, key)) = cert {
            args.extend([cert.display().to_string(), key.display().to_string()]);
        }
        let mut child = Command::new("python3")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3 (aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let errors = Arc::new(Mutex::new(String::new()));
        let e2 = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut e = e2.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        let mails = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let m2 = mails.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "READY" {
                    let _ = ready_tx.send(());
                    continue;
                }
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let mail = ReceivedMail {
                    mail_from: v["mail_from"].as_str().unwrap_or("").to_string(),
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                        .unwrap_or_default(),
                    login: v["login"].as_str().map(String::from),
                    tls: v["tls"].as_bool().unwrap_or(false),
                    auth_tls: v["auth_tls"].as_bool(),
                    data: v["data"].as_str().unwrap_or("").to_string(),
                };
                let (l, cv) = &*m2;
                l.lock().unwrap().push(mail);
                cv.notify_all();
            }
        });
        if ready_rx.recv_timeout(super::WAIT).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aiosmtpd did not start on 127.0.0.1:{port}: {}", errors.lock().unwrap());
        }
        SmtpServer { child, port, mails }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until `n` messages have arrived (at most [`WAIT`](super::WAIT)), and returns them all.
    pub fn wait_mails(&self, n: usize) -> Vec<ReceivedMail> {
        let (l, cv) = &*self.mails;
        let g = l.lock().unwrap();
        let (g, _) = cv.wait_timeout_while(g, super::WAIT, |m| m.len() < n).unwrap();
        g.clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}
