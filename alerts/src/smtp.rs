//! A minimal SMTP client over `std::net::TcpStream` for the `email` channel: EHLO (HELO as a
//! fallback), optional AUTH PLAIN, MAIL FROM, RCPT TO for each recipient, DATA with dot-stuffing,
//! QUIT; one deadline covers the whole exchange. No STARTTLS: plain SMTP only (a local relay).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
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
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
    peer: String,
}

impl Conn {
    fn left(&self) -> Result<Duration, String> {
        let d = self.deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(format!("SMTP {}: timed out", self.peer))
        } else {
            Ok(d)
        }
    }

    fn io(&self, what: &str, e: std::io::Error) -> String {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("SMTP {}: timed out {what}", self.peer)
            }
            _ => format!("SMTP {}: {what}: {e}", self.peer),
        }
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
                text.push(' ');
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
            let t = self.left()?;
            self.stream.set_read_timeout(Some(t)).map_err(|e| self.io(what, e))?;
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
        let t = self.left()?;
        self.stream.set_write_timeout(Some(t)).map_err(|e| self.io(what, e))?;
        self.stream.write_all(data).map_err(|e| self.io(what, e))
    }

    /// Sends a command line and expects a reply with a code in `ok`. `shown` is the command as
    /// error messages name it (AUTH never shows its credentials).
    fn command(&mut self, line: &str, shown: &str, ok: &[u16]) -> Result<(u16, String), String> {
        self.send(format!("{line}\r\n").as_bytes(), &format!("after {shown}"))?;
        let (code, text) = self.reply(&format!("after {shown}"))?;
        if ok.contains(&code) {
            Ok((code, text))
        } else {
            Err(format!("SMTP {}: {shown} rejected: {code} {text}", self.peer))
        }
    }
}

/// Sends one mail; an error names the step and the server's reply.
pub(crate) fn send(m: &Mail<'_>) -> Result<(), String> {
    if m.to.is_empty() {
        return Err("no recipient".into());
    }
    let deadline = Instant::now() + m.timeout;
    let peer = format!("{}:{}", m.host, m.port);
    let addrs: Vec<SocketAddr> =
        (m.host, m.port).to_socket_addrs().map_err(|e| format!("SMTP {peer}: {e}"))?.collect();
    let mut last = format!("SMTP {peer}: no address");
    let mut stream = None;
    for a in addrs {
        let t = deadline.saturating_duration_since(Instant::now());
        if t.is_zero() {
            return Err(format!("SMTP {peer}: timed out connecting"));
        }
        match TcpStream::connect_timeout(&a, t) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("SMTP {peer}: could not connect: {e}"),
        }
    }
    let Some(stream) = stream else {
        return Err(last);
    };
    let mut c = Conn { stream, buf: Vec::new(), deadline, peer };
    let (code, text) = c.reply("waiting for the greeting")?;
    if code != 220 {
        return Err(format!("SMTP {}: greeting {code} {text}", c.peer));
    }
    let hello = "telemark.localdomain";
    if c.command(&format!("EHLO {hello}"), "EHLO", &[250]).is_err() {
        c.command(&format!("HELO {hello}"), "HELO", &[250])?;
    }
    if let Some(user) = m.username.filter(|u| !u.is_empty()) {
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
        return Err(format!("SMTP {}: message rejected: {code} {text}", c.peer));
    }
    // The mail is accepted; a failing QUIT changes nothing.
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
        let e = send(&mail(port, &to, Some("user"), "x")).unwrap_err();
        assert_eq!(e, format!("SMTP 127.0.0.1:{port}: AUTH PLAIN rejected: 535 5.7.8 bad credentials"));
        let (port, _t) = server(vec!["250 test\r\n", "250 ok\r\n", "550 no such user\r\n"]);
        let e = send(&mail(port, &to, None, "x")).unwrap_err();
        assert!(e.ends_with("RCPT TO:<a@x.org> rejected: 550 no such user"), "{e}");
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
        let e = send(&mail(port, &to, None, "x")).unwrap_err();
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
        assert!(e.contains("timed out"), "{e}");
        drop(l);
    }
}
