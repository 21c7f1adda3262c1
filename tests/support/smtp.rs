//! A real SMTP server for alert-delivery tests: aiosmtpd (Python), started on 127.0.0.1 with a
//! handler that prints each message it accepts — envelope sender, recipients, the authenticated
//! login and the data — as one JSON line. Needs `python3` with `aiosmtpd` (`.ci/run` installs it:
//! `python3 -m pip install aiosmtpd`); without it the test fails saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

const SERVER: &str = r#"
import json, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = sys.argv[2], sys.argv[3]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
          and auth_data.password.decode() == PASSWORD)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        a = session.auth_data
        login = a.login.decode() if isinstance(a, LoginPassword) else None
        print(json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "login": login,
                          "data": envelope.content.decode("utf-8", "replace")}), flush=True)
        return "250 OK"

c = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]), authenticator=authenticator,
               auth_require_tls=False, auth_required=False)
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
        let mut child = Command::new("python3")
            .args(["-u", "-c", SERVER, &port.to_string(), SMTP_USER, SMTP_PASSWORD])
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
