//! Process-wide settings the hot path reads: whether a pipeline runs, the filters and the sampler.

use crate::caller::ids::{next_u64, TraceId};
use crate::caller::level::{Directives, Level};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

/// Bumped whenever the filter or the pipeline changes, so every call site asks again (see
/// `Callsite::enabled`).
pub(crate) static GENERATION: AtomicU32 = AtomicU32::new(1);

/// How root spans (and, for non-parent-based samplers, every span) are sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Record everything.
    AlwaysOn,
    /// Record nothing.
    AlwaysOff,
    /// Record this fraction of traces, decided by trace id (so every service agrees).
    TraceIdRatio(f64),
}

/// The sampler with whether it follows the parent's decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerConfig {
    /// The decision for roots.
    pub root: Sampler,
    /// Follow the parent's sampled flag when there is a parent (the default).
    pub parent_based: bool,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig { root: Sampler::TraceIdRatio(1.0), parent_based: true }
    }
}

pub(crate) struct Filters {
    pub spans: Directives,
    pub logs: Directives,
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static FILTERS: RwLock<Option<Arc<Filters>>> = RwLock::new(None);
// 0 = always on, 1 = always off, 2 = ratio; bit 4 = parent based
static SAMPLER_MODE: AtomicU8 = AtomicU8::new(0x10);
static SAMPLER_THRESHOLD: AtomicU64 = AtomicU64::new(u64::MAX);

/// Converts a ratio to a threshold on 63 bits of randomness.
pub(crate) fn ratio_threshold(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        u64::MAX
    } else if ratio <= 0.0 || ratio.is_nan() {
        0
    } else {
        (ratio * (1u64 << 63) as f64) as u64
    }
}

pub(crate) fn install(filters: Filters, sampler: SamplerConfig) {
    let (mode, threshold) = match sampler.root {
        Sampler::AlwaysOn => (0, u64::MAX),
        Sampler::AlwaysOff => (1, 0),
        Sampler::TraceIdRatio(r) => (2, ratio_threshold(r)),
    };
    SAMPLER_THRESHOLD.store(threshold, Relaxed);
    SAMPLER_MODE.store(mode | if sampler.parent_based { 0x10 } else { 0 }, Relaxed);
    if let Ok(mut f) = FILTERS.write() {
        *f = Some(Arc::new(filters));
    }
    ACTIVE.store(true, Relaxed);
    bump();
}

pub(crate) fn uninstall() {
    ACTIVE.store(false, Relaxed);
    bump();
}

fn bump() {
    GENERATION.fetch_add(1, Relaxed);
    tracing::callsite::rebuild_interest_cache();
}

/// Whether a pipeline is running.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Relaxed)
}

pub(crate) fn filters() -> Option<Arc<Filters>> {
    FILTERS.read().ok().and_then(|f| f.clone())
}

pub(crate) fn span_enabled(target: &str, level: Level) -> bool {
    active() && filters().is_some_and(|f| f.spans.enabled(target, level))
}

pub(crate) fn log_enabled(target: &str, level: Level) -> bool {
    active() && filters().is_some_and(|f| f.logs.enabled(target, level))
}

/// The sampling decision for a trace with no parent.
#[inline]
pub(crate) fn sample_root(trace_id: TraceId) -> bool {
    match SAMPLER_MODE.load(Relaxed) & 0x0f {
        0 => true,
        1 => false,
        _ => ((trace_id.0 as u64) >> 1) < SAMPLER_THRESHOLD.load(Relaxed),
    }
}

/// The sampling decision for a span whose parent said `parent_sampled`.
#[inline]
pub(crate) fn sample_child(trace_id: TraceId, parent_sampled: bool) -> bool {
    if SAMPLER_MODE.load(Relaxed) & 0x10 != 0 {
        parent_sampled
    } else {
        sample_root(trace_id)
    }
}

/// A function's own ratio (`#[traced(sample = 0.1)]`), drawn per call.
#[inline]
pub(crate) fn sample_ratio(ratio: f64) -> bool {
    ratio >= 1.0 || (next_u64() >> 1) < ratio_threshold(ratio)
}
