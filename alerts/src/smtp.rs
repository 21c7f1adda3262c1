//! A minimal SMTP client over `std::net::TcpStream` for the `email` channel: EHLO (HELO as a
//! fallback), optional AUTH PLAIN, MAIL FROM, RCPT TO for each recipient, DATA with dot-stuffing,
//! QUIT; one deadline covers the whole exchange, TLS handshake included.
//!
//! TLS through rustls directly (a `StreamOwned` over the same socket), with the configuration of
//! `telemark_runtime::host::tls`:
//!
//! - [`SmtpTls::StartTls`] (port 587): greeting, EHLO, `STARTTLS`, `220`, the handshake, then EHLO
//!   again over TLS (RFC 3207). A server that does not offer STARTTLS gets nothing more: the
//!   exchange fails closed, before any credential or message is sent.
//! - [`SmtpTls::Implicit`] (SMTPS, port 465): TLS from the first byte.
//! - [`SmtpTls::None`] (port 25): plain text, for a relay on localhost; AUTH only when the config
//!   allowed it (`allow_insecure_auth`).
//!
//! A handshake that fails (an unknown CA, an expired certificate, a client certificate the server
//! wants) ends the exchange with the TLS cause; nothing is sent in clear instead.

use crate::config::SmtpTls;
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One message to send.
pub(crate) struct Mail<'a> {
    pub host: &'a str,
    pub port: u16,
    pub from: &'a str,
    pub to: &'a [String],
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    /// The whole message, headers and body, with any line endings.
    pub message: &'a str,
    pub timeout: Duration,
    /// How TLS is used.
    pub tls: SmtpTls,
    /// The TLS configuration (unused with [`SmtpTls::None`]).
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// AUTH without TLS is allowed (`tls: none` with `allow_insecure_auth: true`).
    pub allow_insecure_auth: bool,
}

/// The connection: plain, or TLS over the same socket.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// Between the two (STARTTLS), or after a failure.
    Gone,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref()),
            Stream::Gone => None,
        }
    }
}

fn gone() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "no connection")
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Gone => Err(gone()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Gone => Err(gone()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Gone => Err(gone()),
        }
    }
}

/// The rustls error inside an I/O error, if that is what it is.
fn tls_cause(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

struct Conn<'a> {
    stream: Stream,
    buf: Vec<u8>,
    deadline: Instant,
    peer: String,
    /// Set when the failure will not go away by trying again: the server refused for good (a 5xx
    /// reply), TLS failed, or the server cannot be used safely (no STARTTLS).
    permanent: &'a Cell<bool>,
}

/// Why a mail was not sent, and whether trying again may help.
#[derive(Debug)]
pub(crate) struct Failure {
    pub message: String,
    /// False for a permanent failure: a 5xx reply, TLS, a server without STARTTLS.
    pub transient: bool,
}

impl Conn<'_> {
    fn left(&self) -> Result<Duration, String> {
        let d = self.deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(format!("SMTP {}: timed out", self.peer))
        } else {
            Ok(d)
        }
    }

    fn io(&self, what: &str, e: std::io::Error) -> String {
        if let Some(tls) = tls_cause(&e) {
            self.permanent.set(true);
            return format!("SMTP {}: TLS {what}: {}", self.peer, crate::http::describe_tls(tls));
        }
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("SMTP {}: timed out {what}", self.peer)
            }
            _ => format!("SMTP {}: {what}: {e}", self.peer),
        }
    }

    fn set_timeouts(&self, what: &str) -> Result<(), String> {
        let t = self.left()?;
        if let Some(tcp) = self.stream.tcp() {
            tcp.set_read_timeout(Some(t)).map_err(|e| self.io(what, e))?;
            tcp.set_write_timeout(Some(t)).map_err(|e| self.io(what, e))?;
        }
        Ok(())
    }

    /// Reads one reply (all its lines): the code and the text.
    fn reply(&mut self, what: &str) -> Result<(u16, String), String> {
        let mut text = String::new();
        loop {
            let line = self.line(what)?;
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else {
                return Err(format!("SMTP {}: not an SMTP reply {what}: `{}`", self.peer, line));
            };
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line.get(4..).unwrap_or("").trim());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
    }

    fn line(&mut self, what: &str) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line = String::from_utf8_lossy(&self.buf[..i]).trim_end_matches('\r').to_string();
                self.buf.drain(..=i);
                return Ok(line);
            }
            if self.buf.len() > 4096 {
                return Err(format!("SMTP {}: reply line too long {what}", self.peer));
            }
            self.set_timeouts(what)?;
            let mut chunk = [0u8; 1024];
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(what, e)),
            };
            if n == 0 {
                return Err(format!("SMTP {}: the server closed the connection {what}", self.peer));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn send(&mut self, data: &[u8], what: &str) -> Result<(), String> {
        self.set_timeouts(what)?;
        let r = self.stream.write_all(data).and_then(|()| self.stream.flush());
        r.map_err(|e| self.io(what, e))
    }

    /// Sends a command line and expects a reply with a code in `ok`. `shown` is the command as
    /// error messages name it (AUTH never shows its credentials).
    fn command(&mut self, line: &str, shown: &str, ok: &[u16]) -> Result<(u16, String), String> {
        self.send(format!("{line}\r\n").as_bytes(), &format!("after {shown}"))?;
        let (code, text) = self.reply(&format!("after {shown}"))?;
        if ok.contains(&code) {
            Ok((code, text))
        } else {
            self.permanent.set(code >= 500);
            Err(format!("SMTP {}: {shown} rejected: {code} {}", self.peer, text.replace('\n', " ")))
        }
    }

    /// EHLO (HELO when refused); the extensions the server announced, upper-cased.
    fn hello(&mut self) -> Result<Vec<String>, String> {
        let hello = "telemark.localdomain";
        match self.command(&format!("EHLO {hello}"), "EHLO", &[250]) {
            Ok((_, text)) => Ok(text.lines().skip(1).map(|l| l.trim().to_ascii_uppercase()).collect()),
            Err(_) if matches!(self.stream, Stream::Plain(_)) => {
                self.command(&format!("HELO {hello}"), "HELO", &[250])?;
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// TLS on the connection as it is now (from the first byte, or after STARTTLS's 220): the
    /// handshake, completed here, within the deadline.
    fn start_tls(&mut self, host: &str, config: Arc<rustls::ClientConfig>) -> Result<(), String> {
        let refuse = |why: String| {
            self.permanent.set(true);
            why
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
            refuse(format!("SMTP {}: TLS: `{host}` is not a valid server name: {e}", self.peer))
        })?;
        let tls = rustls::ClientConnection::new(config, name)
            .map_err(|e| refuse(format!("SMTP {}: TLS: {}", self.peer, crate::http::describe_tls(&e))))?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(format!("SMTP {}: TLS started twice", self.peer));
        };
        let mut s = rustls::StreamOwned::new(tls, tcp);
        while s.conn.is_handshaking() {
            let t = self.left()?;
            let _ = s.sock.set_read_timeout(Some(t));
            let _ = s.sock.set_write_timeout(Some(t));
            if let Err(e) = s.conn.complete_io(&mut s.sock) {
                return Err(self.io("handshake failed", e));
            }
        }
        self.stream = Stream::Tls(Box::new(s));
        Ok(())
    }
}

fn connect(host: &str, port: u16, deadline: Instant, peer: &str) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> =
        (host, port).to_socket_addrs().map_err(|e| format!("SMTP {peer}: {e}"))?.collect();
    let mut last = format!("SMTP {peer}: no address");
    for a in addrs {
        let t = deadline.saturating_duration_since(Instant::now());
        if t.is_zero() {
            return Err(format!("SMTP {peer}: timed out connecting"));
        }
        match TcpStream::connect_timeout(&a, t) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("SMTP {peer}: could not connect: {e}"),
        }
    }
    Err(last)
}

/// Sends one mail; an error names the step and the server's reply, and says whether trying again
/// may help.
pub(crate) fn send(m: &Mail<'_>) -> Result<(), Failure> {
    let permanent = Cell::new(false);
    exchange(m, &permanent).map_err(|message| Failure { message, transient: !permanent.get() })
}

fn exchange(m: &Mail<'_>, permanent: &Cell<bool>) -> Result<(), String> {
    if m.to.is_empty() {
        permanent.set(true);
        return Err("no recipient".into());
    }
    let deadline = Instant::now() + m.timeout;
    let peer = format!("{}:{}", m.host, m.port);
    let tls_config = || m.tls_config.clone().ok_or_else(|| format!("SMTP {peer}: TLS: no TLS configuration"));
    let stream = connect(m.host, m.port, deadline, &peer)?;
    let mut c =
        Conn { stream: Stream::Plain(stream), buf: Vec::new(), deadline, peer: peer.clone(), permanent };
    if m.tls == SmtpTls::Implicit {
        c.start_tls(m.host, tls_config()?)?;
    }
    let (code, text) = c.reply("waiting for the greeting")?;
    if code != 220 {
        permanent.set(code >= 500);
        return Err(format!("SMTP {}: greeting {code} {}", c.peer, text.replace('\n', " ")));
    }
    let mut extensions = c.hello()?;
    if m.tls == SmtpTls::StartTls {
        if !extensions.iter().any(|e| e == "STARTTLS") {
            // Fail closed: nothing more is sent (no credentials, no message) to a server that
            // would take them in clear.
            permanent.set(true);
            return Err(format!(
                "SMTP {}: the server does not offer STARTTLS, and `tls: starttls` requires it: nothing was \
                 sent (use `tls: implicit` for an SMTPS port such as 465, or `tls: none` for a plain relay)",
                c.peer
            ));
        }
        c.command("STARTTLS", "STARTTLS", &[220])?;
        if !c.buf.is_empty() {
            // Anything the server sent after its 220, before the handshake, came in clear and
            // could have been injected: it is not read as part of the TLS session.
            permanent.set(true);
            return Err(format!("SMTP {}: the server sent data after its STARTTLS reply", c.peer));
        }
        c.start_tls(m.host, tls_config()?)?;
        // What the server said before TLS is forgotten (RFC 3207): ask again.
        extensions = c.hello()?;
    }
    let _ = extensions;
    if let Some(user) = m.username.filter(|u| !u.is_empty()) {
        if !matches!(c.stream, Stream::Tls(_)) && !m.allow_insecure_auth {
            permanent.set(true);
            return Err(format!(
                "SMTP {}: AUTH refused without TLS (the password would cross the network in clear)",
                c.peer
            ));
        }
        let pass = m.password.unwrap_or("");
        let token = base64(format!("\0{user}\0{pass}").as_bytes());
        c.command(&format!("AUTH PLAIN {token}"), "AUTH PLAIN", &[235])?;
    }
    c.command(
        &format!("MAIL FROM:<{}>", address(m.from)),
        &format!("MAIL FROM:<{}>", address(m.from)),
        &[250],
    )?;
    for to in m.to {
        let cmd = format!("RCPT TO:<{}>", address(to));
        c.command(&cmd, &cmd, &[250, 251])?;
    }
    c.command("DATA", "DATA", &[354])?;
    let mut data = dot_stuff(m.message);
    data.push_str(".\r\n");
    c.send(data.as_bytes(), "sending the message")?;
    let (code, text) = c.reply("after the message")?;
    if code != 250 {
        permanent.set(code >= 500);
        return Err(format!("SMTP {}: message rejected: {code} {}", c.peer, text.replace('\n', " ")));
    }
    // The mail is accepted; a failing QUIT changes nothing (nor a server that closes without
    // TLS's close_notify after it).
    let _ = c.command("QUIT", "QUIT", &[221]);
    Ok(())
}

/// The bare address of `Name <user@host>` (or the whole string), without line breaks.
pub(crate) fn address(s: &str) -> String {
    let s = match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    s.trim().chars().filter(|c| !c.is_control()).collect()
}

/// The message as DATA sends it: CRLF line endings, a leading `.` doubled, ending with CRLF.
pub(crate) fn dot_stuff(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 64);
    let normalized = message.replace("\r\n", "\n").replace('\r', "\n");
    let body = normalized.strip_suffix('\n').unwrap_or(&normalized);
    for line in body.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// A header value: line breaks removed, and RFC 2047 encoded when it is not ASCII.
pub(crate) fn header_value(s: &str) -> String {
    let s: String = s.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    if s.is_ascii() {
        s
    } else {
        format!("=?UTF-8?B?{}?=", base64(s.as_bytes()))
    }
}

/// A message: headers (Date, From, To, Subject, Message-ID, MIME) and a plain-text body.
pub(crate) fn compose(from: &str, to: &[String], subject: &str, body: &str, date: SystemTime) -> String {
    let id = date.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let domain =
        address(from).rsplit_once('@').map_or("telemark.localdomain".to_string(), |(_, d)| d.to_string());
    let to: Vec<String> = to.iter().map(|t| header_value(t)).collect();
    format!(
        "Date: {}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{id}.{}@{domain}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        crate::notify::rfc5322(date),
        header_value(from),
        to.join(", "),
        header_value(subject),
        std::process::id(),
    )
}

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn base64_vectors() {
        // RFC 4648 section 10.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
    }

    #[test]
    fn dot_stuffing_and_line_endings() {
        assert_eq!(dot_stuff("a\n.b\r\n..c\rd\n"), "a\r\n..b\r\n...c\r\nd\r\n");
        assert_eq!(dot_stuff(".\n"), "..\r\n");
        assert_eq!(dot_stuff("x"), "x\r\n");
    }

    #[test]
    fn addresses_and_headers() {
        assert_eq!(address("Telemark <alerts@example.com>"), "alerts@example.com");
        assert_eq!(address(" ops@example.com "), "ops@example.com");
        assert_eq!(address("x\r\ny@z\r\n"), "xy@z");
        assert_eq!(header_value("x\r\nBcc: y"), "x  Bcc: y");
        assert_eq!(header_value("déjà"), "=?UTF-8?B?ZMOpasOg?=");
        let m = compose(
            "Alerts <a@ex.org>",
            &["o@ex.org".into(), "p@ex.org".into()],
            "[FIRING:1] x",
            "body\n",
            UNIX_EPOCH,
        );
        assert!(m.starts_with("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\nFrom: Alerts <a@ex.org>\r\nTo: o@ex.org, p@ex.org\r\nSubject: [FIRING:1] x\r\nMessage-ID: <0."), "{m}");
        assert!(
            m.contains("@ex.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"),
            "{m}"
        );
        assert!(m.ends_with("\r\n\r\nbody\n"), "{m}");
    }

    /// A scripted SMTP server: answers each command with the next reply, records what it got.
    fn server(replies: Vec<&'static str>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut got = Vec::new();
            let mut replies = replies.into_iter();
            w.write_all(b"220 test ESMTP\r\n").unwrap();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                got.push(line.clone());
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                    } else {
                        continue;
                    }
                }
                if line == "DATA\r\n" {
                    in_data = true;
                }
                let Some(reply) = replies.next() else { break };
                w.write_all(reply.as_bytes()).unwrap();
                if line.starts_with("QUIT") {
                    break;
                }
            }
            got
        });
        (port, t)
    }

    fn mail<'a>(port: u16, to: &'a [String], user: Option<&'a str>, message: &'a str) -> Mail<'a> {
        Mail {
            host: "127.0.0.1",
            port,
            from: "Telemark <alerts@example.com>",
            to,
            username: user,
            password: Some("pw"),
            message,
            timeout: Duration::from_secs(5),
            tls: SmtpTls::None,
            tls_config: None,
            allow_insecure_auth: true,
        }
    }

    #[test]
    fn a_whole_exchange_with_auth_and_two_recipients() {
        let (port, t) = server(vec![
            "250-test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
            "235 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "251 forwarded\r\n",
            "354 go\r\n",
            "250 queued\r\n",
            "221 bye\r\n",
        ]);
        let to = vec!["a@x.org".to_string(), "B <b@y.org>".to_string()];
        send(&mail(port, &to, Some("user"), "Subject: s\n\nhello\n.dot\n")).unwrap();
        let got = t.join().unwrap();
        assert_eq!(
            got,
            [
                "EHLO telemark.localdomain\r\n",
                "AUTH PLAIN AHVzZXIAcHc=\r\n",
                "MAIL FROM:<alerts@example.com>\r\n",
                "RCPT TO:<a@x.org>\r\n",
                "RCPT TO:<b@y.org>\r\n",
                "DATA\r\n",
                "Subject: s\r\n",
                "\r\n",
                "hello\r\n",
                "..dot\r\n",
                ".\r\n",
                "QUIT\r\n",
            ]
        );
    }

    #[test]
    fn a_rejection_names_the_step_and_hides_credentials() {
        let (port, _t) = server(vec!["250 test\r\n", "535 5.7.8 bad credentials\r\n"]);
        let to = vec!["a@x.org".to_string()];
        let e = send(&mail(port, &to, Some("user"), "x")).unwrap_err().message;
        assert_eq!(e, format!("SMTP 127.0.0.1:{port}: AUTH PLAIN rejected: 535 5.7.8 bad credentials"));
        let (port, _t) = server(vec!["250 test\r\n", "250 ok\r\n", "550 no such user\r\n"]);
        let e = send(&mail(port, &to, None, "x")).unwrap_err().message;
        assert!(e.ends_with("RCPT TO:<a@x.org> rejected: 550 no such user"), "{e}");
    }

    #[test]
    fn starttls_not_offered_fails_closed_before_anything_else_is_sent() {
        let (port, t) = server(vec!["250-test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n", "235 ok\r\n"]);
        let to = vec!["a@x.org".to_string()];
        let mut m = mail(port, &to, Some("user"), "x");
        m.tls = SmtpTls::StartTls;
        let e = send(&m).unwrap_err().message;
        assert!(e.contains("does not offer STARTTLS") && e.contains("nothing was sent"), "{e}");
        assert_eq!(t.join().unwrap(), ["EHLO telemark.localdomain\r\n"], "no AUTH, no MAIL");
        // AUTH in clear, not allowed: refused before it is sent.
        let (port, t) = server(vec!["250-test\r\n250 AUTH PLAIN\r\n", "235 ok\r\n"]);
        let mut m = mail(port, &to, Some("user"), "x");
        m.allow_insecure_auth = false;
        let e = send(&m).unwrap_err().message;
        assert!(e.contains("AUTH refused without TLS"), "{e}");
        assert_eq!(t.join().unwrap(), ["EHLO telemark.localdomain\r\n"]);
    }

    #[test]
    fn data_in_clear_after_the_starttls_reply_is_refused() {
        // A reply pipelined after 220 (an injection before the handshake) ends the exchange.
        let (port, t) = server(vec!["250-test\r\n250 STARTTLS\r\n", "220 go ahead\r\n250 injected\r\n"]);
        let to = vec!["a@x.org".to_string()];
        let mut m = mail(port, &to, Some("user"), "x");
        m.tls = SmtpTls::StartTls;
        let config = telemark_runtime::host::tls::client_config(&Default::default()).unwrap();
        m.tls_config = Some(Arc::new(config));
        let e = send(&m).unwrap_err().message;
        // (Both replies arrive in one read on loopback; were they split, the handshake would
        // read the injected line as a TLS record and fail just the same: closed.)
        assert!(e.contains("sent data after its STARTTLS reply") || e.contains("TLS"), "{e}");
        let got = t.join().unwrap();
        assert_eq!(got[..2], ["EHLO telemark.localdomain\r\n", "STARTTLS\r\n"]);
        assert!(!got.iter().any(|l| l.contains("AUTH") || l.contains("MAIL")), "{got:?}");
    }

    #[test]
    fn helo_when_ehlo_is_refused() {
        let (port, t) = server(vec![
            "502 no\r\n",
            "250 hi\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "354 go\r\n",
            "250 ok\r\n",
            "221 bye\r\n",
        ]);
        let to = vec!["a@x.org".to_string()];
        send(&mail(port, &to, None, "x")).unwrap();
        assert_eq!(t.join().unwrap()[1], "HELO telemark.localdomain\r\n");
    }

    #[test]
    fn dead_and_silent_servers_fail_within_the_timeout() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let to = vec!["a@x.org".to_string()];
        let e = send(&mail(port, &to, None, "x")).unwrap_err().message;
        assert!(e.contains("could not connect"), "{e}");
        // Connects, never greets: the listener never takes the connection (it waits in the
        // backlog while `l` lives), so only the exchange's own deadline can end it — it returning,
        // timed out, shows that it does (on another thread: an exchange that ignored its deadline
        // fails the test after a minute rather than hanging it).
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut m = mail(port, &to, None, "x");
            m.timeout = Duration::from_millis(200);
            tx.send(send(&m))
        });
        let e =
            rx.recv_timeout(Duration::from_secs(60)).expect("the exchange ends at its deadline").unwrap_err();
        assert!(e.message.contains("timed out") && e.transient, "{e:?}");
        drop(l);
    }
}
