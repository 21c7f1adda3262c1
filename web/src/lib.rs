//! telemark for web stacks (use the `telemark` crate, module `telemark::web`).
//!
//! In the order a request flows:
//!
//! - `server` (feature `tower`) — a tower `Layer` that opens the SERVER span of each request
//!   and makes the caller's context and baggage current for the handler.
//! - `client` — CLIENT spans for outgoing requests: a helper for any `http::Request` and
//!   (feature `reqwest`) a `reqwest-middleware` middleware; both inject the context.
//! - `grpc` (feature `tonic`) — tonic interceptors, both directions.

#[cfg(feature = "tonic")]
pub mod grpc;
