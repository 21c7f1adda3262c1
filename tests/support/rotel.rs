//! rotel, a third-party OpenTelemetry collector written in Rust (<https://github.com/streamfold/rotel>),
//! run as a process: OTLP gRPC and HTTP receivers on 127.0.0.1, an OTLP exporter to a test
//! [`Receiver`](super::Receiver), and its debug log of what it received.
//!
//! The binary (`rotel-agent`) ships inside the PyPI wheel `rotel` (`.ci/run` installs
//! `rotel==0.0.1a15` when it is missing). Found as `$ROTEL_AGENT`, else next to the `rotel`
//! Python package (`python3 -c 'import rotel'`), else `rotel-agent` on `PATH`; without it the
//! test fails saying how to install it. Stopped (SIGTERM, then waited for) when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The wheel `.ci/run` installs.
pub const ROTEL_PIN: &str = "rotel==0.0.1a15";

/// A running rotel.
pub struct Rotel {
    child: Child,
    grpc_port: u16,
    http_port: u16,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How rotel exports to the test receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// OTLP over gRPC, to `Receiver::grpc_endpoint`.
    Grpc,
    /// OTLP over HTTP/protobuf, to `Receiver::http_endpoint`.
    Http,
}

/// The `rotel-agent` binary on this machine, or why there is none.
pub fn rotel_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ROTEL_AGENT") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("ROTEL_AGENT={} is not a file", p.display())) };
    }
    let script = "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))";
    if let Ok(out) = Command::new("python3").args(["-c", script]).stderr(Stdio::null()).output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && p.is_file() {
            return Ok(p);
        }
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("rotel-agent"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "rotel is not installed (no $ROTEL_AGENT, no `rotel` Python package, no `rotel-agent` on PATH): \
                 `python3 -m pip install {ROTEL_PIN}` (add --break-system-packages on a system Python; .ci/run \
                 does), or set ROTEL_AGENT to its `rotel-agent` binary"
            )
        })
}

impl Rotel {
    /// Starts rotel with both OTLP receivers on free ports of 127.0.0.1, exporting everything
    /// to `receiver` over `export` with a small batch timeout, its debug log on for traces, logs
    /// and metrics; returns once both receivers accept connections.
    pub fn start(receiver: &super::Receiver, export: Export) -> Rotel {
        let bin = rotel_binary().unwrap_or_else(|why| panic!("{why}"));
        // rotel 0.0.1a15 panics on port 0: take free ports from the OS just before.
        let [grpc_port, http_port] = free_ports();
        let (protocol, endpoint) = match export {
            Export::Grpc => ("grpc", receiver.grpc_endpoint()),
            Export::Http => ("http", receiver.http_endpoint()),
        };
        let dir = std::env::temp_dir();
        let tag = format!("{}-{grpc_port}", std::process::id());
        let mut cmd = Command::new(&bin);
        // Only our flags: nothing from a ROTEL_* variable of the environment.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ROTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", protocol])
            .args(["--otlp-exporter-endpoint", &endpoint])
            // Forwarded as soon as they arrive (the default waits up to 200 ms to fill a batch);
            // the test waits on the receiver either way.
            .args(["--batch-timeout", "1ms"])
            .args(["--debug-log", "traces", "--debug-log", "logs", "--debug-log", "metrics"])
            .args(["--debug-log-verbosity", "detailed", "--log-format", "text"])
            .arg("--pid-file")
            .arg(dir.join(format!("telemark-rotel-{tag}.pid")))
            .arg("--log-file")
            .arg(dir.join(format!("telemark-rotel-{tag}.log")))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let readers = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|stream| {
            let out = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut o = out.lock().unwrap();
                    o.push_str(&strip_ansi(&line));
                    o.push('\n');
                }
            })
        })
        .collect();
        let mut rotel = Rotel { child, grpc_port, http_port, output, readers };
        // Ready once both receivers accept a connection (rotel says nothing when it listens).
        super::eventually("rotel listening", || {
            if let Ok(Some(status)) = rotel.child.try_wait() {
                panic!("rotel exited ({status}) before listening:\n{}", rotel.output());
            }
            let up = |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            (up(grpc_port) && up(http_port)).then_some(())
        });
        rotel
    }

    /// `http://127.0.0.1:PORT` of its OTLP gRPC receiver.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// `http://127.0.0.1:PORT` of its OTLP HTTP receiver (without a path).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Its output so far (stdout and stderr, colours removed): its own log lines and the debug
    /// log of what it received.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Asks rotel to stop (SIGTERM: it exports what it holds, then exits) and waits until it has
    /// exited and its output is read to the end; returns the output.
    pub fn stop(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = self.child.id().to_string();
            let sent = Command::new("kill").args(["-TERM", &pid]).status();
            if !sent.is_ok_and(|s| s.success()) {
                let _ = self.child.kill();
            }
        }
        // Waits for the exit itself (no polling); a watchdog kills a rotel that has not exited
        // within WAIT, a bound reached only when it hangs.
        let (exited, watch) = std::sync::mpsc::channel::<()>();
        let pid = self.child.id().to_string();
        let output = self.output.clone();
        let watchdog = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(super::WAIT) {
                output.lock().unwrap().push_str("[test: rotel did not exit after SIGTERM; killed]\n");
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        });
        let _ = self.child.wait();
        drop(exited);
        let _ = watchdog.join();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output()
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `line` without ANSI colour sequences.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Two different ports on 127.0.0.1 that were free a moment ago.
fn free_ports() -> [u16; 2] {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let (a, b) = (bind(), bind());
    [a.local_addr().unwrap().port(), b.local_addr().unwrap().port()]
}
