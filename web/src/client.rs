//! CLIENT spans for outgoing requests: [`send_request`] for any `http::Request` (hyper-util's
//! client, or anything that sends one) and, with feature `reqwest`, [`ClientMiddleware`] for
//! `reqwest-middleware`.

use crate::http_semconv::{self as semconv};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use telemark_runtime::{propagation, Callsite, Finish, Parent, Pending, SpanKind, Traced};

/// The level directives' target of the CLIENT spans.
const TARGET: &str = "telemark_web::client";

const KEYS: &[&str] = &[
    "http.request.method",
    "http.request.method_original",
    "server.address",
    "server.port",
    "url.full",
    "http.response.status_code",
    "network.protocol.version",
    "error.type",
];

macro_rules! sites {
    ($($name:literal / $function:literal),* $(,)?) => {
        [$(semconv::site($name, $function, TARGET, SpanKind::Client, KEYS)),*]
    };
}

/// One call site per method: span name `{method}` (`HTTP` for one the conventions do not know),
/// metrics under `client {method}`.
static CLIENT: [Callsite; 10] = sites![
    "CONNECT" / "client CONNECT",
    "DELETE" / "client DELETE",
    "GET" / "client GET",
    "HEAD" / "client HEAD",
    "OPTIONS" / "client OPTIONS",
    "PATCH" / "client PATCH",
    "POST" / "client POST",
    "PUT" / "client PUT",
    "TRACE" / "client TRACE",
    "HTTP" / "client _OTHER",
];

/// Where a request goes, as recorded.
struct Target<'a> {
    method: &'a http::Method,
    scheme: Option<&'a str>,
    /// As in the URL (an IPv6 address in brackets).
    host: Option<&'a str>,
    port: Option<u16>,
    path: &'a str,
    query: Option<&'a str>,
}

impl Target<'_> {
    fn full_url(&self) -> Option<String> {
        Some(semconv::full_url(self.scheme?, self.host?, self.port, self.path, self.query))
    }
}

/// Starts the CLIENT span of a request to `t` as a child of the current span.
fn start(t: &Target<'_>) -> Pending {
    let method = semconv::method_index(t.method);
    Pending::start(&CLIENT[method], Parent::Current, |rec| {
        semconv::record_method(rec, t.method, method);
        if let Some(host) = t.host {
            rec.str("server.address", semconv::bare_host(host));
        }
        if let Some(port) = t.port.or_else(|| t.scheme.and_then(semconv::default_port)) {
            rec.i64("server.port", i64::from(port));
        }
        if let Some(url) = t.full_url() {
            rec.str("url.full", &url);
        }
    })
}

/// Writes the CLIENT span's context into the request's headers (`traceparent`, `tracestate`,
/// `baggage`, or what `OTEL_PROPAGATORS` says); the current context when no span started.
fn inject(pending: &Pending, headers: &mut http::HeaderMap) {
    match pending.context() {
        Some(ctx) => propagation::inject_context(&ctx, headers),
        None => propagation::inject(headers),
    }
}

/// The response head: `http.response.status_code`; 4xx and 5xx fail the span (`error.type` = the
/// code) and the call.
fn record_response(finish: &mut Finish, status: http::StatusCode, version: http::Version) {
    let failed = status.is_client_error() || status.is_server_error();
    finish.failed(failed);
    finish.outcome(|o| {
        let rec = o.recorder();
        rec.i64("http.response.status_code", i64::from(status.as_u16()));
        if let Some(v) = semconv::protocol_version(version) {
            rec.str("network.protocol.version", v);
        }
        if failed {
            rec.str("error.type", status.as_str());
            o.set_status(telemark_runtime::Status::Error(String::new()));
        }
    });
}

/// No response (a connection refused, a timeout): status error with an `exception` event, and
/// `error.type` = the error's type.
fn record_error(finish: &mut Finish, type_name: &str, message: &dyn fmt::Display) {
    finish.failed(true);
    finish.outcome(|o| {
        o.recorder().str("error.type", type_name);
        o.error(type_name, message);
    });
}

/// Sends `request` inside a CLIENT span: `send` gets the request, its headers now carrying the
/// span's context, and returns the future of its response.
///
/// The span is a child of the current span (a `#[traced]` function's), named `{method}`, with
/// `http.request.method`, `server.address`, `server.port`, `url.full` and, when the response head
/// arrives, `http.response.status_code` and `network.protocol.version`; a status of 400 or more,
/// or an `Err` from `send`'s future (`error.type` its type, an `exception` event its message),
/// sets status error. It ends with the response head (the body is read after). `url.full` never
/// has user info (`user:password@`) or a fragment, and the query's values are kept except for
/// keys that may name a secret (the HTTP conventions' `AWSAccessKeyId`, `Signature`, `sig`,
/// `X-Goog-Signature`, and any key containing `token`, `key`, `secret`, `passw`, `pwd`, `auth`,
/// `sig`, `session`, `credential`, `code`, `jwt`, `cookie`, `ticket` or `nonce`), whose values are
/// `[REDACTED]`. No request or response header is recorded.
///
/// The span starts here, before the future is polled; the returned future owns it, so nothing
/// is held across an `.await` of yours: dropping the future unpolled or midway ends the span as
/// cancelled. Calls are counted in the per-function metrics as `client {method}`.
///
/// ```
/// # async fn demo() {
/// # let client = |req: http::Request<String>| async move {
/// #     Ok::<_, std::io::Error>(http::Response::new(req.into_body()))
/// # };
/// // `client`: hyper-util's `Client::request`, or anything that sends an `http::Request`.
/// let request = http::Request::get("http://inventory.internal/items/7").body(String::new()).unwrap();
/// let response = telemark_web::send_request(request, |req| client(req)).await;
/// # let _ = response;
/// # }
/// ```
pub fn send_request<B, ResB, E, F, Fut>(mut request: http::Request<B>, send: F) -> ClientFuture<Fut>
where
    F: FnOnce(http::Request<B>) -> Fut,
    Fut: Future<Output = Result<http::Response<ResB>, E>>,
    E: fmt::Display,
{
    let uri = request.uri();
    let authority = uri.authority();
    let pending = start(&Target {
        method: request.method(),
        scheme: uri.scheme_str(),
        host: authority.map(http::uri::Authority::host),
        port: authority.and_then(http::uri::Authority::port_u16),
        path: uri.path(),
        query: uri.query(),
    });
    inject(&pending, request.headers_mut());
    ClientFuture { inner: pending.instrument(send(request)) }
}

pin_project_lite::pin_project! {
    /// The future of [`send_request`]: the response's, inside the CLIENT span.
    #[must_use = "futures do nothing unless polled"]
    pub struct ClientFuture<F> {
        #[pin]
        inner: Traced<F>,
    }
}

impl<F> fmt::Debug for ClientFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFuture").field("inner", &self.inner).finish()
    }
}

impl<F, ResB, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
    E: fmt::Display,
{
    type Output = Result<http::Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (out, mut finish) = ready!(self.project().inner.poll(cx));
        match &out {
            Ok(resp) => record_response(&mut finish, resp.status(), resp.version()),
            Err(e) => record_error(&mut finish, std::any::type_name::<E>(), e),
        }
        drop(finish);
        Poll::Ready(out)
    }
}

/// A [`reqwest-middleware`](https://docs.rs/reqwest-middleware) middleware that sends each
/// request of a `ClientWithMiddleware` inside a CLIENT span, as [`send_request`] does (the same
/// attributes, the same `url.full` redaction, the context injected into its headers). A
/// `reqwest::Error`'s message is recorded with the request's URL replaced by the redacted one.
///
#[cfg_attr(feature = "reqwest", doc = "```")]
#[cfg_attr(not(feature = "reqwest"), doc = "```ignore")]
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(telemark_web::ClientMiddleware::new())   // `telemark::web::ClientMiddleware`
///     .build();
/// # drop(client);
/// ```
#[cfg(feature = "reqwest")]
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientMiddleware {
    _private: (),
}

#[cfg(feature = "reqwest")]
impl ClientMiddleware {
    /// The middleware.
    pub fn new() -> ClientMiddleware {
        ClientMiddleware::default()
    }
}

#[cfg(feature = "reqwest")]
#[async_trait::async_trait]
impl reqwest_middleware::Middleware for ClientMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url();
        let target = Target {
            method: req.method(),
            scheme: Some(url.scheme()),
            host: url.host_str(),
            port: url.port(),
            path: url.path(),
            query: url.query(),
        };
        let pending = start(&target);
        let (raw_url, full_url) = (url.as_str().to_owned(), target.full_url());
        inject(&pending, req.headers_mut());
        let (out, mut finish) = pending.instrument(next.run(req, extensions)).await;
        match &out {
            Ok(resp) => record_response(&mut finish, resp.status(), resp.version()),
            Err(e) => {
                let type_name = match e {
                    reqwest_middleware::Error::Reqwest(_) => "reqwest::Error",
                    reqwest_middleware::Error::Middleware(_) => "reqwest_middleware::Error",
                };
                // reqwest's messages carry the URL: the redacted one instead.
                let message = e.to_string().replace(&raw_url, full_url.as_deref().unwrap_or(""));
                record_error(&mut finish, type_name, &message);
            }
        }
        drop(finish);
        out
    }
}
