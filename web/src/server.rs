//! The SERVER span of each request: a tower [`Layer`] for axum, tonic and hyper services.

use crate::http_semconv::{self as semconv, METHODS};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{LazyLock, RwLock};
use std::task::{ready, Context, Poll};
use telemark_runtime::{
    propagation, Callsite, Finish, Parent, Pending, SpanContext, SpanKind, Status, Traced,
};
use tower_layer::Layer;
use tower_service::Service;

/// The level directives' target of the SERVER spans (`telemark_web::server=off` turns them off).
const TARGET: &str = "telemark_web::server";

/// Most (method, route) pairs with a call site of their own; past it a request's metrics go under
/// `{method} _OTHER`.
const MAX_ROUTES: usize = 1000;

/// The attributes a SERVER span records (so that telemark's thread refers to them, not copies).
const KEYS: &[&str] = &[
    "http.request.method",
    "http.request.method_original",
    "url.path",
    "url.scheme",
    "http.route",
    "server.address",
    "server.port",
    "user_agent.original",
    "client.address",
    "client.port",
    "network.peer.address",
    "network.protocol.version",
    "http.response.status_code",
    "error.type",
];

macro_rules! sites {
    ($($name:literal / $function:literal),* $(,)?) => {
        [$(semconv::site($name, $function, TARGET, SpanKind::Server, KEYS)),*]
    };
}

/// Requests without a route (no `MatchedPath`: unmatched paths, plain hyper or tonic services):
/// span name and metrics `{method}`, whatever the path — a scanner cannot grow the tables.
static UNROUTED: [Callsite; 10] = sites![
    "CONNECT" / "CONNECT",
    "DELETE" / "DELETE",
    "GET" / "GET",
    "HEAD" / "HEAD",
    "OPTIONS" / "OPTIONS",
    "PATCH" / "PATCH",
    "POST" / "POST",
    "PUT" / "PUT",
    "TRACE" / "TRACE",
    "HTTP" / "_OTHER",
];

/// Routes past [`MAX_ROUTES`]: metrics under `{method} _OTHER` (the span keeps its route's name).
static OVERFLOW: [Callsite; 10] = sites![
    "CONNECT _OTHER" / "CONNECT _OTHER",
    "DELETE _OTHER" / "DELETE _OTHER",
    "GET _OTHER" / "GET _OTHER",
    "HEAD _OTHER" / "HEAD _OTHER",
    "OPTIONS _OTHER" / "OPTIONS _OTHER",
    "PATCH _OTHER" / "PATCH _OTHER",
    "POST _OTHER" / "POST _OTHER",
    "PUT _OTHER" / "PUT _OTHER",
    "TRACE _OTHER" / "TRACE _OTHER",
    "HTTP _OTHER" / "_OTHER _OTHER",
];

/// The call sites made for routes: one per (method, route), leaked (they live as long as the
/// program, as a `#[traced]` function's static does), at most [`MAX_ROUTES`].
#[derive(Default)]
struct Routes {
    by_route: HashMap<Box<str>, [Option<&'static Callsite>; METHODS.len()]>,
    sites: usize,
}

static ROUTES: LazyLock<RwLock<Routes>> = LazyLock::new(RwLock::default);

/// The call site of a request: its route's (made on the route's first request), `{method}` without
/// a route, `{method} _OTHER` past the bound (then `true`).
fn site_of(method: usize, route: Option<&str>) -> (&'static Callsite, bool) {
    let Some(route) = route else { return (&UNROUTED[method], false) };
    if let Ok(routes) = ROUTES.read() {
        if let Some(cs) = routes.by_route.get(route).and_then(|m| m[method]) {
            return (cs, false);
        }
    }
    new_site(method, route)
}

#[cold]
#[inline(never)]
fn new_site(method: usize, route: &str) -> (&'static Callsite, bool) {
    let Ok(mut routes) = ROUTES.write() else { return (&OVERFLOW[method], true) };
    if let Some(cs) = routes.by_route.get(route).and_then(|m| m[method]) {
        return (cs, false);
    }
    if routes.sites >= MAX_ROUTES {
        return (&OVERFLOW[method], true);
    }
    let name: &'static str = Box::leak(format!("{} {route}", semconv::name_prefix(method)).into_boxed_str());
    let cs: &'static Callsite =
        Box::leak(Box::new(semconv::site(name, name, TARGET, SpanKind::Server, KEYS)));
    routes.sites += 1;
    routes.by_route.entry(route.into()).or_insert([None; METHODS.len()])[method] = Some(cs);
    (cs, false)
}

/// A tower [`Layer`] that gives each request a SERVER span and makes the caller's trace context
/// and baggage current for the handler — for axum 0.8 (`Router::layer`), tonic
/// (`Server::builder().layer(..)`) and plain hyper services.
///
/// Per request:
///
/// - the parent is read from the request's headers with the configured propagators
///   (`traceparent`/`tracestate` and `baggage` by default, `OTEL_PROPAGATORS`); without one the
///   request starts a new trace. The extracted baggage is readable in the handler
///   (`telemark::baggage::get`);
/// - the span is named `{method} {route}` (`GET /users/{id}`), or `{method}` when no route is known
///   (`HTTP` for a method the HTTP conventions do not know, whose `http.request.method` is
///   `_OTHER`). The route is axum's `MatchedPath` (feature `axum`): add the layer with
///   `Router::layer`, which runs it after routing; a layer around the whole router
///   (`ServiceBuilder` outside, `tonic`, hyper) sees no route;
/// - attributes: `http.request.method`, `url.path`, `url.scheme` (`http` unless the request's URI
///   carries a scheme: a layer does not see TLS), `http.route`, `server.address`/`server.port`
///   (from the URI's authority or the `Host` header), `user_agent.original`, `client.address` and
///   `client.port` (axum's `ConnectInfo<SocketAddr>`, when the server was started with
///   `into_make_service_with_connect_info`), `network.protocol.version`, and when the response
///   head is ready `http.response.status_code`. A 5xx sets status error and `error.type` to the
///   code; a 4xx does not (the client's mistake, as the conventions say for SERVER spans). An
///   inner service's `Err` sets status error and `error.type` to the error's type;
/// - **never recorded**: any other request header — `authorization`, `cookie`, `set-cookie`,
///   `proxy-authorization`, API keys — and the query string (`url.query` is opt-in in the
///   conventions; it often carries tokens). `X-Forwarded-For` only with
///   [`ServerLayer::client_address_from_forwarded_for`];
/// - the span is current while the inner service's future is polled: `#[traced]` handlers and
///   `tracing` events inside are its children without `parent =`. It ends when the response
///   **head** is returned (a streamed body is not covered). A request future dropped first (the
///   client went away) ends it with `telemark.cancelled = true`;
/// - the call counts in the per-function metrics (`telemark::metrics::snapshot()`, Prometheus,
///   OTLP) under the function `{method} {route}`, module `telemark_web::server`: a 5xx or an `Err`
///   counts as failed. Requests without a route count under `{method}`, whatever their path, so
///   unmatched paths create nothing; past 1,000 distinct (method, route) pairs, new routes count
///   under `{method} _OTHER`. These spans have no `code.*` attributes (no function to name).
///
/// The level directives see them under the target `telemark_web::server`.
///
#[cfg_attr(feature = "axum", doc = "```")]
#[cfg_attr(not(feature = "axum"), doc = "```ignore")]
/// use axum::{extract::Path, routing::get, Router};
/// use telemark_web::ServerLayer;   // `telemark::web::ServerLayer`, features = ["axum"]
///
/// // `#[telemark::traced]` on it: a child of the request's SERVER span.
/// async fn user(Path(id): Path<u32>) -> String {
///     format!("user {id}")
/// }
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(user))
///     .layer(ServerLayer::new());      // after routing: spans named `GET /users/{id}`
/// # drop(app);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerLayer {
    trace_response: bool,
    forwarded_for: bool,
}

impl ServerLayer {
    /// The layer, with `traceresponse` and `X-Forwarded-For` off.
    pub fn new() -> ServerLayer {
        ServerLayer::default()
    }

    /// Adds a `traceresponse` header to every response (W3C Trace Context Level 2:
    /// `00-{trace id}-{span id}-{flags}`, the SERVER span's ids), so that whoever sent the request
    /// can find its trace — for debugging; off by default, as it tells every client the trace ids.
    pub fn trace_response(mut self, on: bool) -> ServerLayer {
        self.trace_response = on;
        self
    }

    /// Takes `client.address` from the first entry of `X-Forwarded-For` (only when it is an IP
    /// address; the peer's address from `ConnectInfo` then goes into `network.peer.address`).
    /// Off by default: any client can write that header, so turn it on only behind a proxy you
    /// trust that replaces it.
    pub fn client_address_from_forwarded_for(mut self, on: bool) -> ServerLayer {
        self.forwarded_for = on;
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> ServerService<S> {
        ServerService { inner, layer: *self }
    }
}

/// The service [`ServerLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    layer: ServerLayer,
}

impl<S, B, ResB> Service<http::Request<B>> for ServerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResB>>,
{
    type Response = http::Response<ResB>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> ServerFuture<S::Future> {
        let method = semconv::method_index(req.method());
        let route = matched_path(&req);
        let (cs, overflowed) = site_of(method, route);
        let parent = Parent::Explicit(propagation::extract(req.headers()));
        let forwarded_for = self.layer.forwarded_for;
        let pending = Pending::start(cs, parent, |rec| {
            if overflowed {
                if let Some(r) = route {
                    rec.name(&format!("{} {r}", semconv::name_prefix(method)));
                }
            }
            record_request(rec, &req, method, route, forwarded_for);
        });
        let trace_response = if self.layer.trace_response { pending.context() } else { None };
        ServerFuture { inner: pending.instrument(self.inner.call(req)), trace_response }
    }
}

/// axum's `MatchedPath`, when the layer runs after routing (feature `axum`).
#[cfg(feature = "axum")]
fn matched_path<B>(req: &http::Request<B>) -> Option<&str> {
    req.extensions().get::<axum::extract::MatchedPath>().map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
fn matched_path<B>(_req: &http::Request<B>) -> Option<&str> {
    None
}

/// The peer's address from axum's `ConnectInfo` (feature `axum`).
#[cfg(feature = "axum")]
fn peer<B>(req: &http::Request<B>) -> Option<std::net::SocketAddr> {
    req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)
}

#[cfg(not(feature = "axum"))]
fn peer<B>(_req: &http::Request<B>) -> Option<std::net::SocketAddr> {
    None
}

fn record_request<B>(
    rec: &mut telemark_runtime::Recorder<'_>,
    req: &http::Request<B>,
    method: usize,
    route: Option<&str>,
    forwarded_for: bool,
) {
    semconv::record_method(rec, req.method(), method);
    let uri = req.uri();
    rec.str("url.path", uri.path());
    let scheme = uri.scheme_str().unwrap_or("http");
    rec.str("url.scheme", scheme);
    if let Some(r) = route {
        rec.str("http.route", r);
    }
    let host_header;
    let authority = match uri.authority() {
        Some(a) => Some(a),
        None => {
            host_header = req
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.parse::<http::uri::Authority>().ok());
            host_header.as_ref()
        }
    };
    if let Some(a) = authority {
        rec.str("server.address", semconv::bare_host(a.host()));
        if let Some(port) = a.port_u16().or_else(|| semconv::default_port(scheme)) {
            rec.i64("server.port", i64::from(port));
        }
    }
    if let Some(ua) = req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        rec.str("user_agent.original", ua);
    }
    let peer = peer(req);
    let forwarded = forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.split(',').next()?.trim().parse().ok())
        .flatten();
    match (forwarded, peer) {
        (Some(client), peer) => {
            rec.display("client.address", &client as &std::net::IpAddr);
            if let Some(p) = peer {
                rec.display("network.peer.address", &p.ip());
            }
        }
        (None, Some(p)) => {
            rec.display("client.address", &p.ip());
            rec.i64("client.port", i64::from(p.port()));
        }
        (None, None) => {}
    }
    if let Some(v) = semconv::protocol_version(req.version()) {
        rec.str("network.protocol.version", v);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ServerService`]: the inner service's, inside the SERVER span.
    #[must_use = "futures do nothing unless polled"]
    pub struct ServerFuture<F> {
        #[pin]
        inner: Traced<F>,
        trace_response: Option<SpanContext>,
    }
}

impl<F> fmt::Debug for ServerFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerFuture").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
{
    type Output = Result<http::Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut out, mut finish) = ready!(this.inner.poll(cx));
        match &mut out {
            Ok(resp) => {
                record_status(&mut finish, resp.status());
                if let Some(ctx) = this.trace_response.take().filter(SpanContext::is_valid) {
                    let value = format!("00-{}-{}-{:02x}", ctx.trace_id, ctx.span_id, u8::from(ctx.sampled));
                    if let Ok(v) = http::HeaderValue::from_str(&value) {
                        resp.headers_mut().insert("traceresponse", v);
                    }
                }
            }
            Err(_) => {
                finish.failed(true);
                finish.outcome(|o| {
                    o.recorder().str("error.type", std::any::type_name::<E>());
                    o.set_status(Status::Error(String::new()));
                });
            }
        }
        // Ends the span and the call's measurement.
        drop(finish);
        Poll::Ready(out)
    }
}

/// `http.response.status_code`; a 5xx fails the span (`error.type` = the code) and the call.
fn record_status(finish: &mut Finish, status: http::StatusCode) {
    let failed = status.is_server_error();
    finish.failed(failed);
    finish.outcome(|o| {
        o.recorder().i64("http.response.status_code", i64::from(status.as_u16()));
        if failed {
            o.recorder().str("error.type", status.as_str());
            o.set_status(Status::Error(String::new()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_get_one_site_each_and_unrouted_requests_none() {
        let get = semconv::method_index(&http::Method::GET);
        let (a, over) = site_of(get, Some("/unit/{a}"));
        assert!(!over);
        assert_eq!(a.meta.name, "GET /unit/{a}");
        assert!(std::ptr::eq(a, site_of(get, Some("/unit/{a}")).0), "cached");
        let post = semconv::method_index(&http::Method::POST);
        assert_eq!(site_of(post, Some("/unit/{a}")).0.meta.name, "POST /unit/{a}");
        let before = ROUTES.read().map(|r| r.sites).unwrap_or(0);
        for i in 0..100 {
            let (cs, _) = site_of(get, None);
            assert_eq!(cs.meta.name, "GET", "{i}");
        }
        assert_eq!(ROUTES.read().map(|r| r.sites).unwrap_or(0), before);
        assert!(a.meta.file.is_empty(), "no code.* for a route");
    }
}
