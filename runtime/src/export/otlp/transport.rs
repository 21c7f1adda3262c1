//! Sending an encoded request: one hyper client (HTTP/2 for gRPC, HTTP/1.1 for HTTP/protobuf)
//! with one set of headers, checked once for every signal, and the OTLP retry rules.
//!
//! gRPC is a unary call over hyper's HTTP/2: the request is already framed by the encoder; the
//! answer's `grpc-status` (in the trailers, or in the headers of a trailers-only answer) decides.
//! One [`Transport::attempt`] is one request, bounded by the exporter's timeout; its failure is
//! classified as the OTLP specification says and opentelemetry-otlp implements it: transient
//! failures (gRPC `UNAVAILABLE`, `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`,
//! `DATA_LOSS`; `RESOURCE_EXHAUSTED` only with a `RetryInfo`; HTTP 429, 502, 503, 504; a
//! connection that fails; no answer in time) may be retried, after a server's `Retry-After` or
//! `RetryInfo` delay when it gives one, and nothing else is (a 400 is final). The retrying —
//! backoff, jitter, the batch kept meanwhile — is the sender's (`super::Sender`).

use super::gather::Gathering;
use super::health::{cause, Signal};
use super::wire::read::{fields, Field};
use super::OtlpSettings;
use crate::config::{Compression, Protocol};
use crate::stats::Cause;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, TE, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

/// Random extra wait per retry, at most.
pub(super) const MAX_JITTER: Duration = Duration::from_millis(100);
/// A server's requested delay is read up to this long (the sender caps it further).
const MAX_SERVER_DELAY: Duration = Duration::from_secs(600);

/// The gRPC methods of the three collector services.
const GRPC_PATHS: [&str; 3] = [
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
];

/// How a request was taken.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Accepted {
    /// Items the backend said it rejected (`partial_success`).
    pub rejected: u64,
    /// Its reason, if it gave one.
    pub message: Option<String>,
}

/// TCP, with TLS for an `https://` endpoint (never for an `http://` one, and never the other way:
/// the scheme alone decides), gathering HTTP/2's writes above TLS.
type Connector = Gathering<hyper_rustls::HttpsConnector<HttpConnector>>;

/// Where one signal goes.
struct Destination {
    client: Client<Connector, Full<Bytes>>,
    grpc: bool,
    url: Uri,
    headers: HeaderMap,
    timeout: Duration,
    gzip: bool,
}

/// The clients of the signals' OTLP destinations (one per signal that is exported).
#[derive(Clone)]
pub(super) struct Transport {
    /// Per signal ([`Signal`] as index).
    destinations: Arc<[Option<Destination>; 3]>,
}

/// What one attempt came to, when it did not succeed.
pub(super) struct Failed {
    /// Why, as a person reads it.
    pub cause: String,
    /// Whether sending it again may help.
    pub retry: Retry,
    /// The kind of failure, for the counters.
    pub kind: Cause,
}

/// Whether a failed request may be sent again.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) enum Retry {
    /// No: the answer is final (a 400, `INVALID_ARGUMENT`, …).
    No,
    /// Yes, after a backoff.
    Yes,
    /// Yes, not before this long (the server said so).
    After(Duration),
}

/// An endpoint, or a message that may quote one, as telemark prints it.
fn redact(s: &str) -> String {
    crate::config::check::redact_url(s, crate::config::check::Path::Keep)
}

impl Destination {
    fn new(i: usize, d: &crate::config::Destination) -> Result<Destination, String> {
        let (key, var) = crate::config::SIGNALS[i];
        let bad_endpoint = |e: &dyn std::fmt::Display| {
            format!(
                "OTLP endpoint `{}` (exporters.otlp.endpoint or exporters.otlp.{key}.endpoint, \
                 OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_{var}_ENDPOINT): {}",
                redact(&d.url),
                redact(&e.to_string())
            )
        };
        let grpc = d.protocol == Protocol::Grpc;
        let base: Uri = d.url.parse().map_err(|e| bad_endpoint(&e))?;
        match base.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
            _ => return Err(bad_endpoint(&"expected http://host:port or https://host:port")),
        }
        if base.host().is_none() {
            return Err(bad_endpoint(&"no host"));
        }
        let url =
            if grpc { format!("{}{}", d.url.trim_end_matches('/'), GRPC_PATHS[i]) } else { d.url.clone() };
        let url: Uri = url.parse().map_err(|e| bad_endpoint(&e))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &d.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid OTLP header name `{k}`"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for OTLP header `{k}`"))?;
            headers.append(name, value);
        }
        let content_type = if grpc { "application/grpc" } else { "application/x-protobuf" };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if grpc {
            headers.insert(TE, HeaderValue::from_static("trailers"));
        }
        let gzip = d.compression == Compression::Gzip;
        if gzip {
            let (name, value) = if grpc { ("grpc-encoding", "gzip") } else { ("content-encoding", "gzip") };
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("telemark/", env!("CARGO_PKG_VERSION"))));
        let tls = crate::tls::client_config(&d.tls).map_err(|e| format!("{}: {e}", d.tls_key))?;
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(d.timeout));
        // The scheme is the TLS connector's to check (`https_or_http`), not the TCP one's.
        tcp.enforce_http(false);
        let tls = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
        let connector = if grpc {
            tls.enable_http2().wrap_connector(tcp)
        } else {
            tls.enable_http1().wrap_connector(tcp)
        };
        let client = Client::builder(TokioExecutor::new())
            .http2_only(grpc)
            .build(Gathering { connector, gather: grpc });
        Ok(Destination { client, grpc, url, headers, timeout: d.timeout, gzip })
    }
}

impl Transport {
    /// The clients for `s`'s destinations; fails on an endpoint that is not a URL, a bad
    /// header, or TLS files that cannot be read.
    pub(super) fn new(s: &OtlpSettings) -> Result<Transport, String> {
        let mut destinations: [Option<Destination>; 3] = [None, None, None];
        for (i, d) in s.destinations.iter().enumerate() {
            if let Some(d) = d {
                destinations[i] = Some(Destination::new(i, d)?);
            }
        }
        Ok(Transport { destinations: Arc::new(destinations) })
    }

    /// One attempt to send an encoded request of `signal`, bounded by its destination's
    /// per-request timeout: how the backend took it, or why not and whether sending it again may
    /// help (the sender retries, `super::Sender`).
    pub(super) async fn attempt(&self, signal: Signal, body: Bytes) -> Result<Accepted, Failed> {
        let Some(dest) = &self.destinations[signal as usize] else {
            let cause = "no OTLP endpoint for this signal".to_string();
            return Err(Failed { cause, retry: Retry::No, kind: Cause::Status });
        };
        match tokio::time::timeout(dest.timeout, dest.try_once(body)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                Err(Failed { cause: super::no_answer(dest.timeout), retry: Retry::Yes, kind: Cause::Timeout })
            }
        }
    }
}

impl Destination {
    /// The body as sent: gzipped when asked (for gRPC, the message inside its frame, flagged
    /// compressed).
    fn encode(&self, body: Bytes) -> Result<Bytes, Failed> {
        if !self.gzip {
            return Ok(body);
        }
        let payload = if self.grpc { body.get(5..).unwrap_or_default() } else { &body[..] };
        let mut out = Vec::with_capacity(payload.len() / 4 + 16);
        if self.grpc {
            out.extend_from_slice(&[1, 0, 0, 0, 0]);
        }
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        let written = std::io::Write::write_all(&mut gz, payload);
        let mut out = written.and_then(|()| gz.finish()).map_err(|e| Failed {
            cause: format!("gzip: {e}"),
            retry: Retry::No,
            kind: Cause::Status,
        })?;
        if self.grpc {
            let len = u32::try_from(out.len() - 5).unwrap_or(u32::MAX).to_be_bytes();
            out[1..5].copy_from_slice(&len);
        }
        Ok(out.into())
    }

    async fn try_once(&self, body: Bytes) -> Result<Accepted, Failed> {
        let mut request = Request::new(Full::new(self.encode(body)?));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.url.clone();
        *request.headers_mut() = self.headers.clone();
        let response = self.client.request(request).await.map_err(|e| connection_failed(&e))?;
        let (head, body) = response.into_parts();
        if self.grpc {
            if head.status != StatusCode::OK {
                return Err(Failed {
                    cause: format!("HTTP {}", head.status),
                    retry: http_to_grpc_retry(head.status),
                    kind: Cause::Status,
                });
            }
            // A trailers-only answer carries the status in its headers.
            if let Some(status) = GrpcStatus::from(&head.headers) {
                status.into_result()?;
            }
            let collected = body.collect().await.map_err(|e| connection_failed(&e))?;
            let trailers = collected.trailers().cloned().unwrap_or_default();
            let message = collected.to_bytes();
            match GrpcStatus::from(&trailers) {
                Some(status) => status.into_result()?,
                None => {
                    return Err(Failed {
                        cause: "the answer had no grpc-status".into(),
                        retry: Retry::No,
                        kind: Cause::Status,
                    })
                }
            }
            Ok(partial_success(message.get(5..).unwrap_or_default()))
        } else {
            let collected = body.collect().await.map_err(|e| connection_failed(&e))?;
            if head.status.is_success() {
                return Ok(partial_success(&collected.to_bytes()));
            }
            let retry = match head.status.as_u16() {
                429 | 503 => head
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after)
                    .map_or(Retry::Yes, Retry::After),
                502 | 504 => Retry::Yes,
                _ => Retry::No,
            };
            Err(Failed { cause: format!("HTTP {}", head.status), retry, kind: Cause::Status })
        }
    }
}

/// A gRPC status from headers or trailers.
struct GrpcStatus {
    code: u32,
    message: String,
    /// `RetryInfo.retry_delay` from `grpc-status-details-bin`, if present.
    retry_delay: Option<Duration>,
}

impl GrpcStatus {
    fn from(h: &HeaderMap) -> Option<GrpcStatus> {
        let code = h.get("grpc-status")?.to_str().ok()?.trim().parse().unwrap_or(2);
        let message = h
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .map(crate::config::percent_decode)
            .unwrap_or_default();
        let retry_delay = h.get("grpc-status-details-bin").and_then(|v| retry_info(v.as_bytes()));
        Some(GrpcStatus { code, message, retry_delay })
    }

    fn into_result(self) -> Result<(), Failed> {
        if self.code == 0 {
            return Ok(());
        }
        let retry = match self.code {
            // RESOURCE_EXHAUSTED: retried only when the server says when.
            8 => self.retry_delay.map_or(Retry::No, Retry::After),
            14 => self.retry_delay.filter(|d| !d.is_zero()).map_or(Retry::Yes, Retry::After),
            1 | 4 | 10 | 11 | 15 => Retry::Yes,
            _ => Retry::No,
        };
        let name = GRPC_CODES.get(self.code as usize).copied().unwrap_or("UNKNOWN");
        let cause = if self.message.is_empty() {
            format!("gRPC status {name}")
        } else {
            format!("gRPC status {name}: {}", self.message)
        };
        Err(Failed { cause, retry, kind: Cause::Status })
    }
}

/// A request that failed below HTTP: retried; a TLS failure is told apart by its message.
fn connection_failed(e: &(dyn std::error::Error + 'static)) -> Failed {
    let cause = cause(e);
    // h2 keeps an I/O error's text but not its type: a TLS alert the server sends after the
    // handshake (TLS 1.3's refusal of a missing client certificate) is known by rustls' words.
    let tls = is_tls(e) || cause.contains("received fatal alert");
    Failed { cause, retry: Retry::Yes, kind: if tls { Cause::Tls } else { Cause::Connection } }
}

/// Whether rustls is among the error's causes: in its chain of sources, or wrapped inside an I/O
/// error (tokio-rustls wraps it in one, hyper-rustls wraps that in another; an I/O error's
/// `source` skips what it wraps).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    let wrapped = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
    if wrapped.is_some_and(|w| is_tls(w)) {
        return true;
    }
    e.source().is_some_and(is_tls)
}

const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// gRPC's mapping of an HTTP status that is not 200 (429, 502, 503, 504: `UNAVAILABLE`).
fn http_to_grpc_retry(status: StatusCode) -> Retry {
    match status.as_u16() {
        429 | 502 | 503 | 504 => Retry::Yes,
        _ => Retry::No,
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs.min(MAX_SERVER_DELAY.as_secs())));
    }
    let at = httpdate::parse_http_date(v.trim()).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default().min(MAX_SERVER_DELAY))
}

/// The `RetryInfo.retry_delay` in a `google.rpc.Status` (base64, unpadded or padded).
fn retry_info(b64: &[u8]) -> Option<Duration> {
    use base64::Engine as _;
    let status = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(b64.strip_suffix(b"==").or_else(|| b64.strip_suffix(b"=")).unwrap_or(b64))
        .ok()?;
    // Status.details (3): Any { type_url = 1, value = 2 }.
    let delay = fields(&status).find_map(|f| {
        let Field::Bytes(3, any) = f else { return None };
        let mut type_url = "";
        let mut value: &[u8] = &[];
        for f in fields(any) {
            match f {
                Field::Bytes(1, t) => type_url = std::str::from_utf8(t).unwrap_or(""),
                Field::Bytes(2, v) => value = v,
                _ => {}
            }
        }
        if !type_url.ends_with("/google.rpc.RetryInfo") {
            return None;
        }
        // RetryInfo { retry_delay = 1: Duration { seconds = 1, nanos = 2 } }.
        let delay = fields(value).find_map(|f| match f {
            Field::Bytes(1, d) => Some(d),
            _ => None,
        })?;
        let (mut secs, mut nanos) = (0u64, 0u32);
        for f in fields(delay) {
            match f {
                Field::Varint(1, s) => secs = s,
                Field::Varint(2, n) => nanos = u32::try_from(n).unwrap_or(0),
                _ => {}
            }
        }
        Some(Duration::new(secs, nanos.min(999_999_999)))
    });
    delay
}

/// An answer's `partial_success` (field 1: `rejected_*` = 1, `error_message` = 2).
fn partial_success(message: &[u8]) -> Accepted {
    let mut accepted = Accepted { rejected: 0, message: None };
    for f in fields(message) {
        if let Field::Bytes(1, partial) = f {
            for f in fields(partial) {
                match f {
                    Field::Varint(1, n) => accepted.rejected = n,
                    Field::Bytes(2, m) if !m.is_empty() => {
                        accepted.message = Some(String::from_utf8_lossy(m).into_owned());
                    }
                    _ => {}
                }
            }
        }
    }
    accepted
}

/// Up to [`MAX_JITTER`], from the clock's low bits (spreads retries of many processes).
pub(super) fn jitter() -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let max = MAX_JITTER.as_millis() as u64 + 1;
    Duration::from_millis((u64::from(nanos).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::otlp::wire;

    fn status(code: u32, delay: Option<Duration>) -> Retry {
        match (GrpcStatus { code, message: String::new(), retry_delay: delay }).into_result() {
            Ok(()) => panic!("not a failure"),
            Err(f) => f.retry,
        }
    }

    #[test]
    fn grpc_codes_are_retried_as_the_specification_says() {
        assert!((GrpcStatus { code: 0, message: String::new(), retry_delay: None }).into_result().is_ok());
        for code in [1, 4, 10, 11, 14, 15] {
            assert_eq!(status(code, None), Retry::Yes, "{code}");
        }
        for code in [2, 3, 5, 6, 7, 8, 9, 12, 13, 16] {
            assert_eq!(status(code, None), Retry::No, "{code}");
        }
        let d = Duration::from_secs(3);
        assert_eq!(status(8, Some(d)), Retry::After(d), "RESOURCE_EXHAUSTED with RetryInfo");
        assert_eq!(status(14, Some(d)), Retry::After(d));
    }

    #[test]
    fn retry_info_is_read_from_the_status_details() {
        use base64::Engine as _;
        let mut delay = Vec::new();
        wire::uint(&mut delay, 1, 2);
        wire::uint(&mut delay, 2, 500_000_000);
        let mut info = Vec::new();
        wire::bytes(&mut info, 1, &delay);
        let mut any = Vec::new();
        wire::string(&mut any, 1, "type.googleapis.com/google.rpc.RetryInfo");
        wire::bytes(&mut any, 2, &info);
        let mut st = Vec::new();
        wire::uint(&mut st, 1, 8);
        wire::bytes(&mut st, 3, &any);
        for engine in
            [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::STANDARD_NO_PAD]
        {
            let text = engine.encode(&st);
            assert_eq!(retry_info(text.as_bytes()), Some(Duration::from_millis(2500)), "{text}");
        }
        assert_eq!(retry_info(b"not base64!"), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("100000"), Some(MAX_SERVER_DELAY));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO), "a date in the past");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn partial_success_and_grpc_message() {
        let mut partial = Vec::new();
        wire::uint(&mut partial, 1, 3);
        wire::string(&mut partial, 2, "too old");
        let mut resp = Vec::new();
        wire::bytes(&mut resp, 1, &partial);
        assert_eq!(partial_success(&resp), Accepted { rejected: 3, message: Some("too old".into()) });
        assert_eq!(partial_success(&[]), Accepted { rejected: 0, message: None });
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        for _ in 0..1000 {
            assert!(jitter() <= MAX_JITTER);
        }
    }
}
