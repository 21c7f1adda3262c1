//! Flattened, assertion-friendly views of what the receiver got.
//!
//! Every span and log record is copied out of its `Resource*`/`Scope*` envelope, so a test
//! can look at one `Span` and see its resource and scope without walking the OTLP tree.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// Attributes keyed by name. A `BTreeMap` so that `Debug` output is sorted and diffs are stable.
pub type Attributes = BTreeMap<String, Value>;

/// An attribute (or log body) value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `string_value`
    Str(String),
    /// `int_value`
    Int(i64),
    /// `double_value`
    Double(f64),
    /// `bool_value`
    Bool(bool),
    /// `array_value`
    Array(Vec<Value>),
    /// Anything else (key/value lists, bytes as hex, an empty `AnyValue` as ""),
    /// rendered as text.
    Other(String),
}

impl Value {
    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `Int`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, if this is a `Double` (or an `Int`, converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an `Array`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) | Value::Other(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// `Span.kind` of OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// 0
    Unspecified,
    /// 1
    Internal,
    /// 2
    Server,
    /// 3
    Client,
    /// 4
    Producer,
    /// 5
    Consumer,
    /// A value outside the enum.
    Other(i32),
}

impl SpanKind {
    fn from_i32(v: i32) -> Self {
        match v {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            other => SpanKind::Other(other),
        }
    }
}

/// `Span.status` of OTLP. A span without a status has `code == Status::UNSET` and an empty
/// message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// 0 unset, 1 ok, 2 error.
    pub code: i32,
    /// Only meaningful with code 2 (error).
    pub message: String,
}

impl Status {
    /// `STATUS_CODE_UNSET`
    pub const UNSET: i32 = 0;
    /// `STATUS_CODE_OK`
    pub const OK: i32 = 1;
    /// `STATUS_CODE_ERROR`
    pub const ERROR: i32 = 2;

    /// Code is unset (the default).
    pub fn is_unset(&self) -> bool {
        self.code == Self::UNSET
    }
    /// Code is ok.
    pub fn is_ok(&self) -> bool {
        self.code == Self::OK
    }
    /// Code is error.
    pub fn is_error(&self) -> bool {
        self.code == Self::ERROR
    }
}

/// A span event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Event name.
    pub name: String,
    /// Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Event attributes.
    pub attributes: Attributes,
}

impl Event {
    /// One attribute.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }
    /// One attribute, if it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
}

/// A span link.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// Lowercase hex.
    pub trace_id: String,
    /// Lowercase hex.
    pub span_id: String,
    /// Link attributes.
    pub attributes: Attributes,
}

/// One received span, flattened out of its resource and scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Span name.
    pub name: String,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// 16 lowercase hex digits, or "" for a root span.
    pub parent_span_id: String,
    /// W3C trace state, "" if none.
    pub trace_state: String,
    /// OTLP span flags (trace flags plus the is-remote bits).
    pub flags: u32,
    /// Span kind.
    pub kind: SpanKind,
    /// Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Span attributes.
    pub attributes: Attributes,
    /// Dropped attributes count.
    pub dropped_attributes_count: u32,
    /// Events, in the order sent.
    pub events: Vec<Event>,
    /// Links, in the order sent.
    pub links: Vec<Link>,
    /// Status (unset if absent).
    pub status: Status,
    /// Attributes of the enclosing resource.
    pub resource: Attributes,
    /// Instrumentation scope name ("" if absent).
    pub scope_name: String,
    /// Instrumentation scope version ("" if absent).
    pub scope_version: String,
    /// Instrumentation scope attributes.
    pub scope_attributes: Attributes,
    /// "grpc" or "http".
    pub transport: &'static str,
}

impl Span {
    /// One attribute.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }
    /// One attribute, if it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
    /// One attribute, if it is an integer.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attr(key).and_then(Value::as_i64)
    }
    /// One resource attribute.
    pub fn resource_attr(&self, key: &str) -> Option<&Value> {
        self.resource.get(key)
    }
    /// The first event with this name.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }
    /// No parent span id.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }
    /// End minus start (zero if end is before start).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_time_unix_nano.saturating_sub(self.start_time_unix_nano))
    }
}

/// One received log record, flattened out of its resource and scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    /// Unix nanoseconds, 0 if unset.
    pub time_unix_nano: u64,
    /// Unix nanoseconds, 0 if unset.
    pub observed_time_unix_nano: u64,
    /// 0 unspecified, 1–4 trace, 5–8 debug, 9–12 info, 13–16 warn, 17–20 error, 21–24 fatal.
    pub severity_number: i32,
    /// Severity text, "" if unset.
    pub severity_text: String,
    /// The body as text: the string itself for a string body, `Display` of the value
    /// otherwise, "" without a body.
    pub body: String,
    /// The body as a value.
    pub body_value: Option<Value>,
    /// Log attributes.
    pub attributes: Attributes,
    /// 32 lowercase hex digits, or "" if none.
    pub trace_id: String,
    /// 16 lowercase hex digits, or "" if none.
    pub span_id: String,
    /// Trace flags.
    pub flags: u32,
    /// Event name, "" if unset.
    pub event_name: String,
    /// Attributes of the enclosing resource.
    pub resource: Attributes,
    /// Instrumentation scope name ("" if absent).
    pub scope_name: String,
    /// Instrumentation scope version ("" if absent).
    pub scope_version: String,
    /// "grpc" or "http".
    pub transport: &'static str,
}

impl Log {
    /// One attribute.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }
    /// One attribute, if it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
    /// One attribute, if it is an integer.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attr(key).and_then(Value::as_i64)
    }
    /// One resource attribute.
    pub fn resource_attr(&self, key: &str) -> Option<&Value> {
        self.resource.get(key)
    }
}

/// Lowercase hex of bytes; "" for an empty or all-zero id (OTLP treats both as "absent").
pub fn hex_id(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        return String::new();
    }
    hex(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Converts an OTLP `AnyValue`.
pub fn value(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::Str(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::Double(*d),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(value).collect()),
        Some(any_value::Value::KvlistValue(kv)) => {
            let inner: Vec<String> = kv
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}: {}",
                        kv.key,
                        kv.value.as_ref().map(value).unwrap_or(Value::Other(String::new()))
                    )
                })
                .collect();
            Value::Other(format!("{{{}}}", inner.join(", ")))
        }
        Some(any_value::Value::BytesValue(b)) => Value::Other(hex(b)),
        Some(any_value::Value::StringValueStrindex(i)) => Value::Other(format!("strindex:{i}")),
        None => Value::Other(String::new()),
    }
}

/// Converts an OTLP attribute list.
pub fn attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map(value).unwrap_or(Value::Other(String::new()))))
        .collect()
}

fn resource_attributes(r: Option<&Resource>) -> Attributes {
    r.map(|r| attributes(&r.attributes)).unwrap_or_default()
}

fn scope_parts(s: Option<&InstrumentationScope>) -> (String, String, Attributes) {
    match s {
        Some(s) => (s.name.clone(), s.version.clone(), attributes(&s.attributes)),
        None => Default::default(),
    }
}

/// Flattens one trace export request.
pub fn flatten_spans(req: &ExportTraceServiceRequest, transport: &'static str) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource = resource_attributes(rs.resource.as_ref());
        for ss in &rs.scope_spans {
            let (scope_name, scope_version, scope_attributes) = scope_parts(ss.scope.as_ref());
            for s in &ss.spans {
                out.push(Span {
                    name: s.name.clone(),
                    trace_id: hex_id(&s.trace_id),
                    span_id: hex_id(&s.span_id),
                    parent_span_id: hex_id(&s.parent_span_id),
                    trace_state: s.trace_state.clone(),
                    flags: s.flags,
                    kind: SpanKind::from_i32(s.kind),
                    start_time_unix_nano: s.start_time_unix_nano,
                    end_time_unix_nano: s.end_time_unix_nano,
                    attributes: attributes(&s.attributes),
                    dropped_attributes_count: s.dropped_attributes_count,
                    events: s
                        .events
                        .iter()
                        .map(|e| Event {
                            name: e.name.clone(),
                            time_unix_nano: e.time_unix_nano,
                            attributes: attributes(&e.attributes),
                        })
                        .collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| Link {
                            trace_id: hex_id(&l.trace_id),
                            span_id: hex_id(&l.span_id),
                            attributes: attributes(&l.attributes),
                        })
                        .collect(),
                    status: s
                        .status
                        .as_ref()
                        .map(|st| Status { code: st.code, message: st.message.clone() })
                        .unwrap_or_default(),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    scope_attributes: scope_attributes.clone(),
                    transport,
                });
            }
        }
    }
    out
}

/// Flattens one logs export request.
pub fn flatten_logs(req: &ExportLogsServiceRequest, transport: &'static str) -> Vec<Log> {
    let mut out = Vec::new();
    for rl in &req.resource_logs {
        let resource = resource_attributes(rl.resource.as_ref());
        for sl in &rl.scope_logs {
            let (scope_name, scope_version, _) = scope_parts(sl.scope.as_ref());
            for r in &sl.log_records {
                let body_value = r.body.as_ref().map(value);
                out.push(Log {
                    time_unix_nano: r.time_unix_nano,
                    observed_time_unix_nano: r.observed_time_unix_nano,
                    severity_number: r.severity_number,
                    severity_text: r.severity_text.clone(),
                    body: body_value.as_ref().map(ToString::to_string).unwrap_or_default(),
                    body_value,
                    attributes: attributes(&r.attributes),
                    trace_id: hex_id(&r.trace_id),
                    span_id: hex_id(&r.span_id),
                    flags: r.flags,
                    event_name: r.event_name.clone(),
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    transport,
                });
            }
        }
    }
    out
}

/// The value of one metric data point.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    /// A Sum or Gauge point with `as_int`.
    Int(i64),
    /// A Sum or Gauge point with `as_double`.
    Double(f64),
    /// A (explicit-bucket) Histogram point.
    Histogram {
        /// Number of measurements.
        count: u64,
        /// Sum of the measurements, if sent.
        sum: Option<f64>,
        /// Per-bucket counts (not cumulative); one more than `explicit_bounds` when well formed.
        bucket_counts: Vec<u64>,
        /// Upper bounds of the buckets but the last.
        explicit_bounds: Vec<f64>,
    },
    /// A point of another kind (exponential histogram, summary) or without a value, described.
    Other(String),
}

/// One metric data point, flattened out of its resource, scope and metric.
///
/// Every accepted `ExportMetricsServiceRequest` gives its own points: with cumulative
/// temporality, the points of the latest request are the current totals.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricPoint {
    /// Index of the request among the accepted metrics requests (0 = first), so that the points
    /// of one push can be told from those of the next.
    pub request: usize,
    /// Metric name.
    pub name: String,
    /// Metric description.
    pub description: String,
    /// Metric unit ("" if none).
    pub unit: String,
    /// "sum", "gauge", "histogram", "exponential_histogram", "summary" or "" (no data).
    pub kind: &'static str,
    /// `AggregationTemporality` of a sum or histogram: 1 delta, 2 cumulative; 0 otherwise.
    pub temporality: i32,
    /// `is_monotonic` of a sum; false otherwise.
    pub monotonic: bool,
    /// Point attributes.
    pub attributes: Attributes,
    /// Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The value.
    pub value: PointValue,
    /// Attributes of the enclosing resource.
    pub resource: Attributes,
    /// Instrumentation scope name ("" if absent).
    pub scope_name: String,
    /// Instrumentation scope version ("" if absent).
    pub scope_version: String,
    /// "grpc" or "http".
    pub transport: &'static str,
}

impl MetricPoint {
    /// `AggregationTemporality::Cumulative`.
    pub const CUMULATIVE: i32 = 2;

    /// One attribute.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }
    /// One attribute, if it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
    /// One resource attribute.
    pub fn resource_attr(&self, key: &str) -> Option<&Value> {
        self.resource.get(key)
    }
    /// The value, if this is an integer point.
    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            PointValue::Int(i) => Some(i),
            _ => None,
        }
    }
    /// The number of measurements, if this is a histogram point.
    pub fn histogram_count(&self) -> Option<u64> {
        match self.value {
            PointValue::Histogram { count, .. } => Some(count),
            _ => None,
        }
    }
}

/// Number of data points in a metrics request.
pub fn metric_point_count(req: &ExportMetricsServiceRequest) -> usize {
    req.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(metric::Data::Summary(s)) => s.data_points.len(),
            None => 0,
        })
        .sum()
}

/// Flattens one metrics export request (`request`: its index among the accepted ones).
pub fn flatten_metrics(
    req: &ExportMetricsServiceRequest,
    transport: &'static str,
    request: usize,
) -> Vec<MetricPoint> {
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsInt(i)) => PointValue::Int(*i),
        Some(number_data_point::Value::AsDouble(d)) => PointValue::Double(*d),
        None => PointValue::Other("no value".to_owned()),
    };
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        let resource = resource_attributes(rm.resource.as_ref());
        for sm in &rm.scope_metrics {
            let (scope_name, scope_version, _) = scope_parts(sm.scope.as_ref());
            for m in &sm.metrics {
                let point =
                    |kind, temporality, monotonic, attrs: &[KeyValue], start, time, value| MetricPoint {
                        request,
                        name: m.name.clone(),
                        description: m.description.clone(),
                        unit: m.unit.clone(),
                        kind,
                        temporality,
                        monotonic,
                        attributes: attributes(attrs),
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        value,
                        resource: resource.clone(),
                        scope_name: scope_name.clone(),
                        scope_version: scope_version.clone(),
                        transport,
                    };
                match &m.data {
                    Some(metric::Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| {
                        let (t, mono) = (s.aggregation_temporality, s.is_monotonic);
                        let v = number(&p.value);
                        point("sum", t, mono, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, v)
                    })),
                    Some(metric::Data::Gauge(g)) => out.extend(g.data_points.iter().map(|p| {
                        let v = number(&p.value);
                        point("gauge", 0, false, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, v)
                    })),
                    Some(metric::Data::Histogram(h)) => out.extend(h.data_points.iter().map(|p| {
                        let v = PointValue::Histogram {
                            count: p.count,
                            sum: p.sum,
                            bucket_counts: p.bucket_counts.clone(),
                            explicit_bounds: p.explicit_bounds.clone(),
                        };
                        let t = h.aggregation_temporality;
                        point(
                            "histogram",
                            t,
                            false,
                            &p.attributes,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            v,
                        )
                    })),
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        out.extend(h.data_points.iter().map(|p| {
                            let v = PointValue::Other(format!("exponential histogram, count {}", p.count));
                            let (t, attrs) = (h.aggregation_temporality, &p.attributes);
                            let kind = "exponential_histogram";
                            point(kind, t, false, attrs, p.start_time_unix_nano, p.time_unix_nano, v)
                        }))
                    }
                    Some(metric::Data::Summary(s)) => out.extend(s.data_points.iter().map(|p| {
                        let v = PointValue::Other(format!("summary, count {}", p.count));
                        point("summary", 0, false, &p.attributes, p.start_time_unix_nano, p.time_unix_nano, v)
                    })),
                    None => out.push(point("", 0, false, &[], 0, 0, PointValue::Other("no data".to_owned()))),
                }
            }
        }
    }
    out
}
