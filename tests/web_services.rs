//! `telemark::web` across processes and in process: the `web_services` example's two services
//! (each its own process and pipeline) make one trace at the receiver, with the HTTP semantic
//! conventions' attributes and baggage, and without the request's secrets; through the layer in
//! process: a 5xx fails its span and its route's calls, a request without `traceparent` starts a
//! trace, `traceresponse`, and unmatched paths that create nothing.
//!
//! The example must be built: `cargo test --workspace` builds it; alone, run
//! `cargo build -p telemark-tests --example web_services` first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use std::sync::Mutex;
use support::web_example;
use support::Receiver;
use telemark::web::ServerLayer;
use tower::ServiceExt as _;

/// The in-process tests share telemark's one pipeline: they take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn two_services_one_trace(protocol: &str) {
    let rx = Receiver::start();
    let endpoint = if protocol == "grpc" { rx.grpc_endpoint() } else { rx.http_endpoint() };
    let run = web_example::checkout(&endpoint, protocol);
    web_example::assert_arrived(&rx, &run);
}

#[test]
fn two_services_make_one_trace_over_grpc() {
    two_services_one_trace("grpc");
}

#[test]
fn two_services_make_one_trace_over_http() {
    two_services_one_trace("http/protobuf");
}

// ---- the layer in process ----

#[telemark::traced]
async fn fails() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

#[telemark::traced]
async fn missing() -> StatusCode {
    StatusCode::NOT_FOUND
}

#[telemark::traced]
async fn tenant() -> String {
    telemark::baggage::get("tenant").unwrap_or_default()
}

fn app(layer: ServerLayer) -> Router {
    Router::new()
        .route("/fail", get(fails))
        .route("/missing", get(missing))
        .route("/tenant/{id}", get(tenant))
        .layer(layer)
}

fn get_req(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn calls(function: &str) -> (u64, u64) {
    telemark::metrics::snapshot()
        .into_iter()
        .find(|m| m.function == function)
        .map_or((0, 0), |m| (m.total(), m.failed()))
}

#[test]
fn a_5xx_fails_its_span_and_its_route_calls_and_a_4xx_does_not() {
    let _turn = turn();
    let capture = telemark::testing::capture();
    let (before_fail, before_missing) = (calls("GET /fail"), calls("GET /missing"));
    block_on(async {
        let r = app(ServerLayer::new()).oneshot(get_req("/fail", &[])).await.unwrap();
        assert_eq!(r.status(), 500);
        let r = app(ServerLayer::new()).oneshot(get_req("/missing", &[])).await.unwrap();
        assert_eq!(r.status(), 404);
    });
    let spans = capture.spans();
    let server = spans.iter().find(|s| s.name == "GET /fail").expect("the SERVER span");
    assert_eq!(server.kind, telemark::SpanKind::Server);
    assert!(matches!(server.status, telemark::Status::Error(ref m) if m.is_empty()), "{:?}", server.status);
    assert_eq!(server.attr("http.response.status_code").and_then(|v| v.as_i64()), Some(500));
    assert_eq!(server.attr("error.type").and_then(|v| v.as_str()), Some("500"));
    assert!(server.events.is_empty(), "status error, no exception event");
    let handler = spans.iter().find(|s| s.name == "fails").unwrap();
    assert_eq!(handler.parent_span_id, Some(server.span_id), "the handler is the request's child");
    assert_eq!(handler.trace_id, server.trace_id);

    let not_found = spans.iter().find(|s| s.name == "GET /missing").unwrap();
    assert_eq!(not_found.status, telemark::Status::Unset, "a 4xx is the client's mistake");
    assert_eq!(not_found.attr("error.type"), None);

    let (after_fail, after_missing) = (calls("GET /fail"), calls("GET /missing"));
    assert_eq!((after_fail.0 - before_fail.0, after_fail.1 - before_fail.1), (1, 1), "one call, failed");
    assert_eq!((after_missing.0 - before_missing.0, after_missing.1 - before_missing.1), (1, 0));
    let m = telemark::metrics::snapshot().into_iter().find(|m| m.function == "GET /fail").unwrap();
    assert_eq!(m.module, "telemark_web::server");
}

#[test]
fn a_request_without_traceparent_starts_a_trace_and_one_with_it_continues_it() {
    let _turn = turn();
    let capture = telemark::testing::capture();
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{parent_trace}-00f067aa0ba902b7-01");
    let (fresh, continued) = block_on(async {
        let layer = ServerLayer::new().trace_response(true);
        let a = app(layer).oneshot(get_req("/tenant/1", &[])).await.unwrap();
        let b = app(layer)
            .oneshot(get_req(
                "/tenant/2",
                &[("traceparent", &traceparent), ("baggage", "tenant=acme%20corp")],
            ))
            .await
            .unwrap();
        let text = |r: axum::response::Response| async move {
            let tr = r.headers().get("traceresponse").map(|v| v.to_str().unwrap().to_string());
            let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
            (tr, String::from_utf8(body.to_vec()).unwrap())
        };
        (text(a).await, text(b).await)
    });
    assert_eq!(fresh.1, "", "no baggage came with the first request");
    assert_eq!(continued.1, "acme corp", "the handler reads the extracted baggage");

    let spans = capture.spans();
    let servers: Vec<_> = spans.iter().filter(|s| s.name == "GET /tenant/{id}").collect();
    assert_eq!(servers.len(), 2);
    let (first, second) = (servers[0], servers[1]);
    assert_eq!(first.parent_span_id, None, "a new trace");
    assert_ne!(first.trace_id.to_string(), parent_trace);
    assert_eq!(second.trace_id.to_string(), parent_trace);
    assert_eq!(second.parent_span_id.map(|p| p.to_string()).as_deref(), Some("00f067aa0ba902b7"));
    assert!(second.parent_is_remote);
    assert_eq!(second.attr("http.route").and_then(|v| v.as_str()), Some("/tenant/{id}"));
    assert!(second.attr("baggage").is_none() && second.attr("tenant").is_none(), "baggage is not recorded");
    for (server, (traceresponse, _)) in [(first, &fresh), (second, &continued)] {
        assert_eq!(
            traceresponse.as_deref(),
            Some(format!("00-{}-{}-01", server.trace_id, server.span_id).as_str())
        );
    }
}

#[test]
fn unmatched_paths_create_no_route_entries() {
    let _turn = turn();
    let _capture = telemark::testing::capture();
    let server_entries = || {
        let mut v: Vec<_> = telemark::metrics::snapshot()
            .into_iter()
            .filter(|m| m.module == "telemark_web::server")
            .map(|m| m.function)
            .collect();
        v.sort();
        v
    };
    let _ = calls("GET");
    let (before, entries_before) = (calls("GET").0, server_entries());
    block_on(async {
        let router = app(ServerLayer::new());
        for i in 0..10_000 {
            let r = router.clone().oneshot(get_req(&format!("/scan/{i}/admin.php"), &[])).await.unwrap();
            assert_eq!(r.status(), 404);
        }
    });
    let entries = server_entries();
    assert!(entries.iter().all(|f| !f.contains("/scan")), "{entries:?}");
    let mut expected = entries_before.clone();
    if !expected.contains(&"GET") {
        expected.push("GET");
        expected.sort();
    }
    assert_eq!(entries, expected, "at most the one `GET` entry is new");
    assert_eq!(calls("GET").0 - before, 10_000, "every one counted under `GET`");
}

// ---- the README ----

#[test]
fn the_readme_web_section_is_the_example() {
    let root = support::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("tests/examples/web_services.rs")).unwrap();
    let region: Vec<&str> = example
        .lines()
        .skip_while(|l| l.trim() != "// ANCHOR: readme")
        .skip(1)
        .take_while(|l| l.trim() != "// ANCHOR_END: readme")
        .collect();
    assert!(region.len() > 5, "the example's region");
    let marker = "<!-- the code below is tests/examples/web_services.rs between its ANCHOR lines -->";
    let block: Vec<&str> = readme
        .split(marker)
        .nth(1)
        .expect("README's marker")
        .lines()
        .skip_while(|l| !l.starts_with("```rust"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert_eq!(block, region, "README.md's web section and tests/examples/web_services.rs differ");
}

// ---- the plain `http::Request` client ----

type HyperClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<axum::body::Bytes>,
>;

#[telemark::traced(skip(client))]
async fn call(client: &HyperClient, url: &str) -> Result<(u16, String), String> {
    telemark::baggage::set("tenant", "acme");
    let request = Request::get(url).body(http_body_util::Empty::new()).map_err(|e| e.to_string())?;
    let response =
        telemark::web::send_request(request, |req| client.request(req)).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = http_body_util::BodyExt::collect(response.into_body()).await.map_err(|e| e.to_string())?;
    Ok((status, String::from_utf8_lossy(&body.to_bytes()).into_owned()))
}

#[test]
fn send_request_spans_the_call_between_the_caller_and_the_server() {
    let _turn = turn();
    let capture = telemark::testing::capture();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (ok, missing, refused, port, dead) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app(ServerLayer::new())).await });
        let client: HyperClient =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let ok = call(&client, &format!("http://127.0.0.1:{port}/tenant/3?token=abc&page=2")).await;
        let missing = call(&client, &format!("http://127.0.0.1:{port}/missing")).await;
        let dead = support::dead_endpoint();
        let refused =
            call(&client, &format!("{}/x?api_key=k-123&q=1", dead.replace("http://", "http://me:pw@"))).await;
        server.abort();
        (ok, missing, refused, port, dead)
    });
    assert_eq!(ok, Ok((200, "acme".to_string())), "the baggage set by the caller reached the handler");
    assert_eq!(missing.as_ref().map(|r| r.0), Ok(404));
    assert!(refused.is_err());

    let spans = capture.spans();
    let calls: Vec<_> = spans.iter().filter(|s| s.name == "call").collect();
    let clients: Vec<_> = spans.iter().filter(|s| s.kind == telemark::SpanKind::Client).collect();
    assert_eq!(
        (calls.len(), clients.len()),
        (3, 3),
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let server = spans.iter().find(|s| s.name == "GET /tenant/{id}").unwrap();
    let (caller, client) = (calls[0], clients[0]);
    assert_eq!(client.name, "GET");
    assert_eq!(client.parent_span_id, Some(caller.span_id), "the CLIENT span is the caller's child");
    assert_eq!(server.parent_span_id, Some(client.span_id), "the SERVER span is the CLIENT span's child");
    assert_eq!((client.trace_id, server.trace_id), (caller.trace_id, caller.trace_id));
    let s = |span: &telemark::export::FinishedSpan, k: &str| {
        span.attr(k).and_then(|v| v.as_str()).map(str::to_string)
    };
    let i = |span: &telemark::export::FinishedSpan, k: &str| span.attr(k).and_then(|v| v.as_i64());
    assert_eq!(
        s(client, "url.full"),
        Some(format!("http://127.0.0.1:{port}/tenant/3?token=[REDACTED]&page=2"))
    );
    assert_eq!(s(client, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(s(client, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(i(client, "server.port"), Some(i64::from(port)));
    assert_eq!(i(client, "http.response.status_code"), Some(200));
    assert_eq!(client.status, telemark::Status::Unset);

    let not_found = clients[1];
    assert_eq!(i(not_found, "http.response.status_code"), Some(404));
    assert_eq!(s(not_found, "error.type").as_deref(), Some("404"));
    assert!(matches!(not_found.status, telemark::Status::Error(_)), "a 4xx fails a CLIENT span");

    let refused = clients[2];
    let dead_port = dead.rsplit(':').next().unwrap();
    assert_eq!(
        s(refused, "url.full"),
        Some(format!("http://127.0.0.1:{dead_port}/x?api_key=[REDACTED]&q=1"))
    );
    assert!(
        s(refused, "error.type").is_some_and(|t| t.contains("hyper_util")),
        "{:?}",
        s(refused, "error.type")
    );
    assert!(matches!(refused.status, telemark::Status::Error(_)));
    assert!(refused.events.iter().any(|e| e.name == "exception"));
    assert_eq!(i(refused, "http.response.status_code"), None);
}
