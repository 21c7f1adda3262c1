//! The caller's side: what runs on the instrumented program's own threads, from a call site's
//! first call to the record handed over to telemark's thread.
//!
//! In the order a call goes through it: `callsite` (what generated code declares, and the cached
//! answer of the level filter), `sampling` (the filters, the sampler, whether telemark runs),
//! `span` (guards, futures and the manual API), `value` (attributes written into the span's
//! buffer; `dispatch` picks how for generated code), `thread` (the per-thread span stack and the
//! ring to telemark's thread). Beside them: `ids`, `clock`, `level`, the `tracing` `bridge` and
//! W3C `propagation` and `baggage`.
//!
//! Nothing here blocks on telemark's thread, locks (but once per thread, to register its ring),
//! allocates per span, or does I/O; a full ring drops the record and counts it.

pub mod baggage;
pub(crate) mod bridge;
pub(crate) mod callsite;
pub(crate) mod clock;
pub mod dispatch;
pub(crate) mod ids;
pub(crate) mod level;
pub mod propagation;
pub(crate) mod sampling;
pub(crate) mod span;
pub(crate) mod thread;
pub(crate) mod value;
