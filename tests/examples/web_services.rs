//! Two services, one trace: a "frontend" and a "backend", both axum 0.8 with telemark's
//! `ServerLayer`, the frontend calling the backend through reqwest with telemark's
//! `ClientMiddleware`. Each is its own process with its own telemark pipeline (this binary runs
//! itself once per role).
//!
//! ```text
//! cargo run -p telemark-tests --example web_services        # both, one request, span trees
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 cargo run -p telemark-tests --example web_services
//! ```
//!
//! With a role it runs that one service: `web_services backend`, `web_services frontend
//! http://127.0.0.1:PORT` (the backend's address). A service prints `listening on ADDRESS` on
//! stdout and serves until its stdin is closed, then shuts down, flushing telemark.
//!
//! The frontend serves `GET /checkout/{cart}`: its handler sets the baggage entry `tenant=acme`
//! and asks the backend's `GET /price/{item}`, whose handler reads the baggage and logs it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::io::{BufRead as _, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use telemark::tracing::info;

/// What the frontend's handlers share.
#[derive(Clone)]
struct App {
    client: reqwest_middleware::ClientWithMiddleware,
    backend: String,
}

// ANCHOR: readme
use telemark::web::{ClientMiddleware, ServerLayer};

fn frontend(state: App) -> Router {
    Router::new()
        .route("/checkout/{cart}", get(checkout)) // #[telemark::traced] async fn checkout(…)
        .layer(ServerLayer::new()) // SERVER spans named `GET /checkout/{cart}`, context in
        .with_state(state)
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ClientMiddleware::new()) // CLIENT spans, context and baggage out
        .build()
}
// ANCHOR_END: readme

fn backend() -> Router {
    Router::new().route("/price/{item}", get(price)).layer(ServerLayer::new())
}

// ---- frontend ----

#[telemark::traced(skip(app))]
async fn checkout(State(app): State<App>, Path(cart): Path<u32>) -> Result<String, StatusCode> {
    // Travels with the trace context to every service this request reaches.
    telemark::baggage::set("tenant", "acme");
    let mut total = 0;
    for item in cart_items(cart) {
        total += fetch_price(&app, item).await?;
    }
    info!(cart, total, "checked out");
    Ok(format!("cart {cart}: {total}\n"))
}

#[telemark::traced]
fn cart_items(cart: u32) -> Vec<u32> {
    vec![cart * 10 + 1]
}

#[telemark::traced(skip(app))]
async fn fetch_price(app: &App, item: u32) -> Result<u32, StatusCode> {
    let url = format!("{}/price/{item}", app.backend);
    let response = app.client.get(url).send().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    let body = response.text().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    body.trim().parse().map_err(|_| StatusCode::BAD_GATEWAY)
}

// ---- backend ----

#[telemark::traced]
async fn price(Path(item): Path<u32>) -> String {
    let tenant = telemark::baggage::get("tenant").unwrap_or_default();
    info!(tenant = %tenant, item, "pricing");
    (item * 3 + 2).to_string()
}

// ---- running it ----

/// Runs one service until stdin is closed.
fn serve(role: &str, app: Router) -> Result<(), Box<dyn std::error::Error>> {
    let guard = telemark::init(telemark::Config::from_env()?.service_name(role))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            // EOF (or an error) on stdin: whoever started us wants us to stop.
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            let _ = closed_tx.send(());
        });
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = closed_rx.await;
            })
            .await
    })?;
    drop(rt);
    drop(guard); // flushes: everything recorded is delivered (or counted as dropped)
    Ok(())
}

/// Starts this binary with `args`; returns the child and the address it listens on. The rest of
/// its stdout is copied to ours.
fn start(args: &[&str]) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let addr = line.trim().strip_prefix("listening on ").ok_or_else(|| format!("{args:?} said {line:?}"))?;
    let addr = format!("http://{addr}");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::stdout()));
    Ok((child, addr))
}

/// Both services, one request, then both shut down.
fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let (mut back, back_addr) = start(&["backend"])?;
    let (mut front, front_addr) = start(&["frontend", &back_addr])?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let body = rt.block_on(async { reqwest::get(format!("{front_addr}/checkout/7")).await?.text().await })?;
    println!("GET /checkout/7 → {}", body.trim());
    for child in [&mut front, &mut back] {
        drop(child.stdin.take()); // EOF: stop
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a service exited with {status}").into());
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => demo(),
        ["backend"] => serve("backend", backend()),
        ["frontend", backend_url] => serve(
            "frontend",
            frontend(App { client: client(), backend: backend_url.trim_end_matches('/').into() }),
        ),
        other => Err(format!("usage: web_services [backend | frontend BACKEND_URL], not {other:?}").into()),
    }
}
