//! A real Prometheus Alertmanager for alert-delivery tests, on 127.0.0.1 with no clustering and a
//! temporary storage directory, its one receiver a webhook to a test listener. The binary is
//! `prometheus-alertmanager` (Debian's `prometheus-alertmanager` package, which `.ci/run`
//! installs) or `alertmanager`; without it the test fails saying so. Killed when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Alertmanager.
pub struct Alertmanager {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// The Alertmanager binary on this machine, if any.
pub fn alertmanager_binary() -> Option<PathBuf> {
    for name in ["prometheus-alertmanager", "alertmanager"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

impl Alertmanager {
    /// Starts Alertmanager whose receiver posts to `webhook_url` (with `send_resolved`), grouping
    /// by alertname with the given group_wait and group_interval, and waits until it is ready.
    pub fn start(webhook_url: &str, group_wait: &str, group_interval: &str) -> Alertmanager {
        let Some(bin) = alertmanager_binary() else {
            panic!(
                "Prometheus Alertmanager is not installed (no `prometheus-alertmanager` or `alertmanager` \
                 on PATH): `apt-get install -y prometheus-alertmanager` (.ci/run does)"
            );
        };
        let dir = std::env::temp_dir().join(format!(
            "telemark-am-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "route:\n  receiver: test\n  group_by: ['alertname']\n  group_wait: {group_wait}\n  \
             group_interval: {group_interval}\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    \
             webhook_configs:\n      - url: '{webhook_url}'\n        send_resolved: true\n"
        );
        std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("log.txt")).unwrap();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let mut am = Alertmanager { child, port, dir };
        super::eventually("Alertmanager ready", || {
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!("Alertmanager exited ({status}): {}", am.log());
            }
            matches!(get(port, "/-/ready"), Ok((200, _))).then_some(())
        });
        am
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log.txt")).unwrap_or_default()
    }

    /// `GET /api/v2/alerts`: the active alerts.
    pub fn alerts(&self) -> serde_json::Value {
        let (status, body) = get(self.port, "/api/v2/alerts").expect("GET /api/v2/alerts");
        assert_eq!(status, 200, "GET /api/v2/alerts: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET /api/v2/alerts is not JSON ({e}): {body}"))
    }

    /// Asks `alerts()` until `pred` holds (see [`eventually`](super::eventually)); the answer.
    pub fn wait_alerts(&self, what: &str, pred: impl Fn(&[serde_json::Value]) -> bool) -> serde_json::Value {
        super::eventually(what, || {
            let v = self.alerts();
            pred(v.as_array().map(Vec::as_slice).unwrap_or(&[])).then_some(v)
        })
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.dir());
    }
}

/// A plain HTTP/1.0 GET (read to the end of the connection): status and body.
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n")?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let resp = String::from_utf8_lossy(&resp).to_string();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}
