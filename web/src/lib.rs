//! telemark for web stacks (use the `telemark` crate, module `telemark::web`).
//!
//! In the order a request flows:
//!
//! - [`ServerLayer`] (feature `tower`; `http.route` with feature `axum`) — a tower `Layer` that
//!   opens the SERVER span of each request and makes the caller's context and baggage current for
//!   the handler; the request counts in the per-function metrics under its route.
//! - CLIENT spans for outgoing requests, the context injected into their headers:
//!   [`send_request`] for any `http::Request` (no feature needed) and `ClientMiddleware`
//!   (feature `reqwest`) for `reqwest-middleware`.
//! - `grpc` (feature `tonic`) — tonic interceptors, both directions.
//!
//! Inside a `#[traced]` function the CLIENT span is its child, and the next service's SERVER
//! span (with [`ServerLayer`]) the CLIENT span's child: one trace across the services.

mod client;
mod http_semconv;
#[cfg(feature = "tower")]
mod server;

#[cfg(feature = "reqwest")]
pub use client::ClientMiddleware;
pub use client::{send_request, ClientFuture};
#[cfg(feature = "tower")]
pub use server::{ServerFuture, ServerLayer, ServerService};
#[cfg(feature = "tonic")]
pub mod grpc;
