//! The per-function metrics as OTLP `Metric` messages, written from telemark's own tables:
//! cumulative sums and histograms, `telemark.function.calls` (attributes `function`, `module`,
//! `outcome`), `telemark.function.duration` (seconds; `function`, `module`) and
//! `telemark.exceptions` (`function`, `module`) — the same series the Prometheus endpoint shows.
//! A metric without points (no exception captured yet) is left out rather than sent empty.
//! [`encode_own`] adds telemark's own metrics (`crate::stats::own`: what the exporter delivered,
//! dropped and failed, its queue, its request durations).

use super::encode::key_value_str;
use super::wire::{self, always};
use crate::metrics::{FunctionMetrics, BOUNDS_NS};

/// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: u64 = 2;

/// Appends the metrics of one snapshot to a batch (`Metric`s, field 2 of `ScopeMetrics`);
/// `start` and `now` in nanoseconds since the Unix epoch (`start`: when counting began).
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    metrics: &[FunctionMetrics],
    exceptions: &[(String, u64)],
    start: u64,
    now: u64,
) {
    let int_point = |b: &mut Vec<u8>, attributes: &[(&str, &str)], n: u64| {
        wire::message(b, 1, |b| {
            for (k, v) in attributes {
                key_value_str(b, 7, k, v);
            }
            wire::fixed64(b, 2, start);
            wire::fixed64(b, 3, now);
            always::sfixed64(b, 6, i64::try_from(n).unwrap_or(i64::MAX));
        });
    };
    if !metrics.is_empty() {
        metric(
            buf,
            "telemark.function.calls",
            "Calls of instrumented functions, by how they ended.",
            "{call}",
            7,
            |b| {
                for m in metrics {
                    for (k, outcome) in ["ok", "error", "panic"].iter().enumerate() {
                        int_point(
                            b,
                            &[("function", m.function), ("module", m.module), ("outcome", outcome)],
                            m.calls[k],
                        );
                    }
                }
                wire::uint(b, 2, CUMULATIVE);
                wire::boolean(b, 3, true);
            },
        );
        metric(buf, "telemark.function.duration", "Latency of instrumented functions.", "s", 9, |b| {
            for m in metrics {
                wire::message(b, 1, |b| {
                    key_value_str(b, 9, "function", m.function);
                    key_value_str(b, 9, "module", m.module);
                    wire::fixed64(b, 2, start);
                    wire::fixed64(b, 3, now);
                    wire::fixed64(b, 4, m.buckets.iter().sum());
                    always::double(b, 5, m.sum.as_secs_f64());
                    wire::packed_fixed64(b, 6, m.buckets.iter().copied());
                    wire::packed_double(b, 7, BOUNDS_NS.iter().map(|ns| *ns as f64 / 1e9));
                });
            }
            wire::uint(b, 2, CUMULATIVE);
        });
    }
    if !exceptions.is_empty() {
        metric(
            buf,
            "telemark.exceptions",
            "Exceptions captured, by the function they happened in.",
            "{exception}",
            7,
            |b| {
                for (function, n) in exceptions {
                    int_point(b, &[("function", function), ("module", module_of(function))], *n);
                }
                wire::uint(b, 2, CUMULATIVE);
                wire::boolean(b, 3, true);
            },
        );
    }
}

/// The instrumentation scope of telemark's own metrics (the program's are in `telemark`).
pub(crate) const OWN_SCOPE: &str = "telemark.self";

/// Appends telemark's own metrics (see `crate::stats::own`) and the export duration histogram.
pub(crate) fn encode_own(buf: &mut Vec<u8>, stats: &crate::stats::Stats, start: u64, now: u64) {
    use crate::stats::{export_durations, own, Kind, EXPORT_BOUNDS_MS, EXPORT_DURATION};
    for m in own(stats) {
        metric(buf, m.name, m.description, m.unit, 7, |b| {
            for (attribute, n) in &m.points {
                wire::message(b, 1, |b| {
                    if let Some(v) = attribute {
                        key_value_str(b, 7, "error.type", v);
                    }
                    wire::fixed64(b, 2, start);
                    wire::fixed64(b, 3, now);
                    always::sfixed64(b, 6, i64::try_from(*n).unwrap_or(i64::MAX));
                });
            }
            wire::uint(b, 2, CUMULATIVE);
            wire::boolean(b, 3, m.kind == Kind::Counter);
        });
    }
    metric(
        buf,
        EXPORT_DURATION.0,
        "Duration of export requests (each attempt; error.type: why it failed).",
        "s",
        9,
        |b| {
            for (error, buckets, sum_ns) in export_durations() {
                wire::message(b, 1, |b| {
                    if let Some(e) = error {
                        key_value_str(b, 9, "error.type", e);
                    }
                    wire::fixed64(b, 2, start);
                    wire::fixed64(b, 3, now);
                    wire::fixed64(b, 4, buckets.iter().sum());
                    always::double(b, 5, sum_ns as f64 / 1e9);
                    wire::packed_fixed64(b, 6, buckets.iter().copied());
                    wire::packed_double(b, 7, EXPORT_BOUNDS_MS.iter().map(|ms| *ms as f64 / 1e3));
                });
            }
            wire::uint(b, 2, CUMULATIVE);
        },
    );
}

/// A `Metric` whose data (a `Sum`, field 7, or a `Histogram`, field 9) `data` writes.
fn metric(
    buf: &mut Vec<u8>,
    name: &str,
    description: &str,
    unit: &str,
    kind: u32,
    data: impl FnOnce(&mut Vec<u8>),
) {
    wire::message(buf, 2, |b| {
        wire::string(b, 1, name);
        wire::string(b, 2, description);
        wire::string(b, 3, unit);
        wire::message(b, kind, data);
    });
}

fn module_of(function: &str) -> &str {
    function.rsplit_once("::").map_or(function, |(m, _)| m)
}
