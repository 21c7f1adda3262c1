//! The one validator of the configuration's values, whichever way a value came in — the YAML file
//! (checked as it is read, so the error names its line), an `OTEL_*` variable, or code
//! ([`Config::validate`](super::Config::validate), which `init` runs): the allowed range of each
//! number and duration, endpoint URLs, and the redaction of secrets (URL userinfo, query values,
//! webhook path tokens, header values) from everything telemark prints.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What a redacted secret reads as.
pub const REDACTED: &str = "[REDACTED]";

/// The allowed range of one whole-number setting.
#[derive(Clone, Copy, Debug)]
pub struct Count {
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
    /// What the number counts (`records per thread`), for the message.
    pub unit: &'static str,
}

impl Count {
    /// `v`, or a message with the range: `1000000000 is out of range 16..=1048576 (records per
    /// thread)`.
    pub fn check(&self, v: u64) -> Result<u64, String> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{v} is out of range {}..={} ({})", self.min, self.max, self.unit))
        }
    }
}

/// The allowed range of one duration setting.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// The shortest duration allowed.
    pub min: Duration,
    /// The longest duration allowed.
    pub max: Duration,
    /// What the duration is (`per-request timeout`), for the message.
    pub what: &'static str,
}

impl Span {
    /// `d`, or a message with the range: `0s is out of range 1ms..=10m (per-request timeout)`.
    pub fn check(&self, d: Duration) -> Result<Duration, String> {
        if (self.min..=self.max).contains(&d) {
            Ok(d)
        } else {
            Err(format!(
                "{} is out of range {}..={} ({})",
                show(d),
                show(self.min),
                show(self.max),
                self.what
            ))
        }
    }
}

/// A duration in the config's grammar, shortest form: `1ms`, `10m`, `1d`, `1500ms`.
fn show(d: Duration) -> String {
    let us = d.as_micros();
    for (unit, size) in
        [("d", 86_400_000_000u128), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000)]
    {
        if us >= size && us % size == 0 {
            return format!("{}{unit}", us / size);
        }
    }
    if us == 0 {
        return "0s".into();
    }
    format!("{us}us")
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

// The ranges. configs/config.yaml repeats them next to each key; a change here goes there too.

/// `export.buffer_per_thread`.
pub const BUFFER_PER_THREAD: Count = Count { min: 16, max: 1 << 20, unit: "records per thread" };
/// `export.max_queue`: 0 would export nothing.
pub const MAX_QUEUE: Count = Count { min: 1, max: 1 << 24, unit: "spans and log records" };
/// `export.max_queue_bytes`: under 64 KiB most requests could not be queued.
pub const MAX_QUEUE_BYTES: Count = Count { min: 64 << 10, max: 4 << 30, unit: "bytes, 64KiB..=4GiB" };
/// `export.max_batch`.
pub const MAX_BATCH: Count = Count { min: 1, max: 1 << 16, unit: "spans or log records per request" };
/// `export.delay`.
pub const DELAY: Span =
    Span { min: ms(1), max: secs(10 * MINUTE), what: "longest wait before a partial batch is sent" };
/// `export.drain_interval`.
pub const DRAIN_INTERVAL: Span = Span { min: ms(1), max: secs(MINUTE), what: "drain interval" };
/// `export.shutdown_timeout`: 0 would give up the last export.
pub const SHUTDOWN_TIMEOUT: Span = Span { min: ms(1), max: secs(10 * MINUTE), what: "shutdown deadline" };
/// `export.max_retry_time`: under a second a batch would not outlive one backoff.
pub const MAX_RETRY_TIME: Span =
    Span { min: secs(1), max: secs(DAY), what: "longest time a batch is retried" };
/// `exporters.otlp.timeout` and `OTEL_EXPORTER_OTLP_TIMEOUT`: 0 would fail every request.
pub const OTLP_TIMEOUT: Span = Span { min: ms(1), max: secs(10 * MINUTE), what: "per-request timeout" };
/// `metrics.export_interval` and `OTEL_METRIC_EXPORT_INTERVAL`.
pub const METRIC_EXPORT_INTERVAL: Span = Span { min: ms(10), max: secs(DAY), what: "metric push interval" };
/// `exceptions.max_groups`.
pub const MAX_GROUPS: Count = Count { min: 1, max: 1_000_000, unit: "exception groups" };
/// `exceptions.rate_limit`: 0 would export no exception.
pub const RATE_LIMIT: Count = Count { min: 1, max: 1_000_000, unit: "occurrences per group per window" };
/// `exceptions.rate_window`.
pub const RATE_WINDOW: Span = Span { min: ms(1), max: secs(DAY), what: "rate-limit window" };
/// `alerts.evaluation_interval`.
pub const EVALUATION_INTERVAL: Span = Span { min: ms(10), max: secs(DAY), what: "evaluation interval" };
/// `alerts.group_wait` (0: notify at once).
pub const GROUP_WAIT: Span =
    Span { min: Duration::ZERO, max: secs(DAY), what: "wait before a group's first notification" };
/// `alerts.group_interval`.
pub const GROUP_INTERVAL: Span =
    Span { min: ms(1), max: secs(7 * DAY), what: "interval between notifications of a group" };
/// `alerts.repeat_interval`.
pub const REPEAT_INTERVAL: Span =
    Span { min: ms(1), max: secs(30 * DAY), what: "interval before a firing alert is repeated" };
/// `alerts.channels.*.timeout`.
pub const CHANNEL_TIMEOUT: Span = Span { min: ms(1), max: secs(10 * MINUTE), what: "delivery timeout" };
/// `alerts.channels.*.max_retries`.
pub const CHANNEL_RETRIES: Count = Count { min: 0, max: 100, unit: "retries" };
/// `alerts.channels.*.port`.
pub const PORT: Count = Count { min: 1, max: 65_535, unit: "TCP port" };
/// `limits.*attribute_value_length` and their `OTEL_*_VALUE_LENGTH_LIMIT`s (a span's data holds
/// 64 KiB at most, whatever the limit).
pub const VALUE_LENGTH: Count = Count { min: 16, max: 1 << 20, unit: "bytes" };
/// `limits.*attribute_count`, `limits.span_event_count` and their `OTEL_*_COUNT_LIMIT`s (0: none kept).
pub const ITEM_COUNT: Count = Count { min: 0, max: 65_535, unit: "attributes or events" };
/// `export.max_request_bytes`: under 64 KiB a span with a stack trace could not be sent; gRPC
/// servers take 4 MiB by default.
pub const MAX_REQUEST_BYTES: Count = Count { min: 64 << 10, max: 64 << 20, unit: "bytes, 64KiB..=64MiB" };
/// The longest text of one config file.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A URL split into its parts, leniently (never fails): what [`check_url`] checks and
/// [`redact_url`] rewrites.
struct Parts<'a> {
    scheme: Option<&'a str>,
    userinfo: Option<&'a str>,
    /// Host and port, as written.
    hostport: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn split(s: &str) -> Parts<'_> {
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, rest))
            if !sc.is_empty() && sc.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (Some(sc), rest)
        }
        _ => (None, s),
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    Parts { scheme, userinfo, hostport, path, query, fragment }
}

/// How much of a URL's path [`redact_url`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// All of it (an OTLP endpoint: `/v1/traces`, a collector's prefix).
    Keep,
    /// The first segment only; each later one is redacted (a webhook's or Alertmanager's URL,
    /// where a token often is the path: Slack's `/services/T…/B…/secret`).
    FirstSegment,
}

/// `url` with its secrets replaced by [`REDACTED`]: the userinfo (`user:password@`), every query
/// value (the names stay: `?api_key=[REDACTED]`), the fragment, and with [`Path::FirstSegment`]
/// every path segment after the first. Text that is not a URL comes back with the same rules
/// applied as far as they go. What telemark prints of a URL goes through here.
pub fn redact_url(url: &str, path: Path) -> String {
    let p = split(url);
    let mut out = String::with_capacity(url.len());
    if let Some(s) = p.scheme {
        out.push_str(s);
        out.push_str("://");
    }
    if p.userinfo.is_some() {
        out.push_str(REDACTED);
        out.push('@');
    }
    out.push_str(p.hostport);
    match path {
        Path::Keep => out.push_str(p.path),
        Path::FirstSegment => {
            let mut segments = p.path.split('/').skip(1);
            if let Some(first) = segments.next() {
                out.push('/');
                out.push_str(first);
            }
            for s in segments {
                out.push('/');
                if !s.is_empty() {
                    out.push_str(REDACTED);
                }
            }
        }
    }
    if let Some(q) = p.query {
        out.push('?');
        let pieces: Vec<String> = q
            .split('&')
            .map(|piece| match piece.split_once('=') {
                Some((name, _)) => format!("{name}={REDACTED}"),
                None if piece.is_empty() => String::new(),
                None => REDACTED.to_string(),
            })
            .collect();
        out.push_str(&pieces.join("&"));
    }
    if p.fragment.is_some() {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// Checks an `http://` or `https://` URL (an OTLP endpoint, an alert channel's URL): the scheme,
/// a valid host (a name, an IPv4 address or a bracketed IPv6 one), a port in 1..=65535 when one is
/// written, and no space or control character. The message shows the URL redacted (`path`).
pub fn check_url(url: &str, path: Path) -> Result<(), String> {
    let shown = || redact_url(url, path);
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{}` is not a URL: it contains a space or a control character", shown()));
    }
    let p = split(url);
    match p.scheme {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(s) => {
            return Err(format!(
                "`{}`: unsupported scheme `{s}`; expected an http:// or https:// URL",
                shown()
            ))
        }
        None => {
            return Err(format!(
                "`{}` is not a URL: expected `http://host:port` or `https://host:port`",
                shown()
            ))
        }
    }
    let (host, port) = if let Some(v6) = p.hostport.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(format!("`{}`: unclosed `[` in the host", shown()));
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{}`: `[{h}]` is not an IPv6 address", shown()));
        }
        match after {
            "" => (h, None),
            a => match a.strip_prefix(':') {
                Some(port) => (h, Some(port)),
                None => return Err(format!("`{}`: unexpected `{a}` after the host", shown())),
            },
        }
    } else {
        match p.hostport.split_once(':') {
            Some((h, port)) => (h, Some(port)),
            None => (p.hostport, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{}`: no host", shown()));
    }
    let name_ok = |h: &str| {
        h.len() <= 253
            && h.split('.').enumerate().all(|(i, label)| {
                (!label.is_empty() || i > 0)
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
    };
    if !p.hostport.starts_with('[') && !name_ok(host) {
        return Err(format!("`{}`: `{host}` is not a host name or an IP address", shown()));
    }
    if let Some(port) = port {
        let n = if !port.is_empty() && port.len() <= 10 && port.bytes().all(|b| b.is_ascii_digit()) {
            port.parse::<u64>().ok()
        } else {
            None
        };
        match n {
            Some(n) => PORT.check(n).map_err(|e| format!("`{}`: port {e}", shown()))?,
            None => return Err(format!("`{}`: the port `{port}` is not a number", shown())),
        };
    }
    Ok(())
}

/// A header map for `Debug`: the names, each value [`REDACTED`] (header values carry API keys and
/// bearer tokens).
pub struct RedactedHeaders<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, REDACTED))).finish()
    }
}

/// The same for headers held as pairs.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct RedactedPairs<'a>(pub &'a [(String, String)]);

impl fmt::Debug for RedactedPairs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(k, _)| (k, REDACTED))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_their_bounds() {
        assert_eq!(
            BUFFER_PER_THREAD.check(1_000_000_000).unwrap_err(),
            "1000000000 is out of range 16..=1048576 (records per thread)"
        );
        assert_eq!(
            OTLP_TIMEOUT.check(Duration::ZERO).unwrap_err(),
            "0s is out of range 1ms..=10m (per-request timeout)"
        );
        assert!(BUFFER_PER_THREAD.check(u64::MAX).is_err());
        assert_eq!(show(ms(1500)), "1500ms");
    }

    #[test]
    fn urls_are_checked() {
        for ok in
            ["http://localhost:4317", "https://a.b-c.example/otlp", "http://[::1]:1/x", "http://127.0.0.1"]
        {
            assert_eq!(check_url(ok, Path::Keep), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ftp://x", "unsupported scheme `ftp`"),
            ("grpc://x:4317", "unsupported scheme `grpc`"),
            ("http://x:99999", "port 99999 is out of range 1..=65535"),
            ("http://x:0", "out of range"),
            ("http://x:abc", "not a number"),
            ("http://", "no host"),
            ("http://a b", "space"),
            ("not a url", "space"),
            ("localhost:4317", "not a URL"),
            ("http://ex%ample", "not a host name"),
            ("http://[::zz]:1", "not an IPv6"),
        ] {
            let e = check_url(bad, Path::Keep).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn redaction_keeps_the_shape_and_hides_the_secrets() {
        assert_eq!(
            redact_url("http://user:pw@host:1/v1/traces?key=s&x=t#frag", Path::Keep),
            "http://[REDACTED]@host:1/v1/traces?key=[REDACTED]&x=[REDACTED]#[REDACTED]"
        );
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/XXXX", Path::FirstSegment),
            "https://hooks.slack.com/services/[REDACTED]/[REDACTED]/[REDACTED]"
        );
        assert_eq!(redact_url("http://h/hook", Path::FirstSegment), "http://h/hook");
        assert_eq!(redact_url("user:pw@h?tok", Path::Keep), "[REDACTED]@h?[REDACTED]");
        let h = BTreeMap::from([("authorization".to_string(), "Bearer s".to_string())]);
        assert_eq!(format!("{:?}", RedactedHeaders(&h)), "{\"authorization\": \"[REDACTED]\"}");
    }
}
