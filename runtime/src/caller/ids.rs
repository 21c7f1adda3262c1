//! Trace and span identifiers, and the fast per-thread generator behind them.

use std::cell::Cell;
use std::fmt;

/// A W3C trace id: 16 bytes, never all zero for a valid trace.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

/// A W3C span id: 8 bytes, never zero for a valid span.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl TraceId {
    /// The invalid (all-zero) trace id.
    pub const INVALID: TraceId = TraceId(0);
    /// The id as 16 big-endian bytes, as OTLP carries it.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
    /// Parses 32 lowercase or uppercase hex digits.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(TraceId)
    }
}

impl SpanId {
    /// The invalid (zero) span id.
    pub const INVALID: SpanId = SpanId(0);
    /// The id as 8 big-endian bytes, as OTLP carries it.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    /// Parses 16 hex digits.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(SpanId)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

thread_local! {
    // wyrand state; seeded lazily from the std hasher's per-process random keys.
    static RNG: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    let addr = &h as *const _ as u64;
    h.write_u64(addr);
    h.finish() | 1
}

/// A 64-bit random number from the thread's wyrand generator (not cryptographic; ids only).
#[inline]
pub(crate) fn next_u64() -> u64 {
    RNG.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = seed();
        }
        x = x.wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = (x as u128).wrapping_mul((x ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A fresh non-zero span id.
#[inline]
pub(crate) fn new_span_id() -> SpanId {
    let v = next_u64();
    SpanId(if v == 0 { 1 } else { v })
}

/// A fresh non-zero trace id.
#[inline]
pub(crate) fn new_trace_id() -> TraceId {
    let hi = next_u64() as u128;
    let lo = next_u64() as u128;
    let v = (hi << 64) | lo;
    TraceId(if v == 0 { 1 } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let t = TraceId(0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(TraceId::from_hex(&t.to_string()), Some(t));
        assert_eq!(SpanId::from_hex("00f067aa0ba902b7"), Some(SpanId(0x00f067aa0ba902b7)));
        assert_eq!(SpanId::from_hex("xyz"), None);
    }

    #[test]
    fn ids_are_distinct() {
        let a: Vec<_> = (0..1000).map(|_| new_span_id()).collect();
        let mut b = a.clone();
        b.sort();
        b.dedup();
        assert_eq!(a.len(), b.len());
    }
}
