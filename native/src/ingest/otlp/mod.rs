//! Decoding of OTLP/HTTP metrics (`ExportMetricsServiceRequest` as protobuf
//! or JSON) into a [`Batch`] through [`Builder::sample`], translated to
//! Prometheus series as Prometheus's own OTLP receiver does
//! (OpenTelemetry's Prometheus compatibility specification):
//!
//! - names and label names: [`names`];
//! - resource: `service.namespace`/`service.name` → `job`, `service.instance.id`
//!   → `instance` on every series of the resource; its other attributes are not
//!   labels but one `target_info` sample (value 1, labels `job`, `instance` and
//!   those attributes) at the resource's latest point time;
//! - scope: `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url`
//!   and `otel_scope_<attribute>` labels;
//! - data point attributes → labels; attributes whose names clean up to the
//!   same label are joined with `;` in the order of their original keys; the
//!   labels above take precedence over an attribute of the same name; a label
//!   with an empty value is no label (as in Prometheus);
//! - gauge → the series; sum: monotonic and cumulative → a counter `_total`,
//!   otherwise (non-monotonic, or delta) the values as they are; histogram
//!   (cumulative) → `_bucket{le}` with cumulative counts and `le="+Inf"` =
//!   count, `_sum` (when set), `_count`; delta histograms are rejected (the
//!   specification says to convert them to cumulative or drop them, and
//!   converting needs state across requests); summary → `{quantile}`, `_sum`,
//!   `_count`; exponential histograms and exemplars are counted as ignored;
//! - a point flagged NO_RECORDED_VALUE becomes Prometheus's staleness marker;
//!   times are nanoseconds, stored as microseconds (truncated).
//!
//! The namespace of a series is the value of the `namespace_label` label when
//! a data point or resource attribute translates to it (then it is no label),
//! else the request's namespace.

pub mod json;
pub mod names;
pub mod proto;

use std::borrow::Cow;
use std::fmt::Write as _;

use prost::Message;

use super::point::shown;
use super::{gunzip, Batch, Builder, IngestError, Options};
use names::Kind;
use proto::{AnyValue, KeyValue, Value};

/// Prometheus's staleness marker (`value.StaleNaN`).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Where the series of a request go.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Namespace of series that do not name one.
    pub namespace: &'a str,
    /// Label whose value is a series' namespace.
    pub namespace_label: &'a str,
}

/// Decode an OTLP/HTTP metrics body (`json`: OTLP/JSON, else protobuf).
pub fn decode(
    body: &[u8],
    json: bool,
    opts: &Options,
    target: &Target<'_>,
) -> Result<Batch, IngestError> {
    let inflated;
    let body = if opts.gzip {
        inflated = gunzip(body, opts.max_decompressed)?;
        &inflated[..]
    } else {
        body
    };
    let req = parse(body, json)?;
    let mut b = Builder::new(opts.window);
    translate(&req, target, &mut b);
    Ok(b.finish())
}

/// Parse an uncompressed body.
pub fn parse(body: &[u8], json: bool) -> Result<proto::ExportMetricsServiceRequest, IngestError> {
    if json {
        return json::parse(body);
    }
    proto::ExportMetricsServiceRequest::decode(body).map_err(|e| {
        IngestError::Malformed(format!(
            "body is not a protobuf ExportMetricsServiceRequest: {e}"
        ))
    })
}

/// An `ExportMetricsServiceResponse`, with `partial_success` only when
/// something was rejected or there is a message (as the OTLP spec asks).
pub fn encode_response(rejected_data_points: i64, error_message: &str) -> Vec<u8> {
    let partial_success = (rejected_data_points != 0 || !error_message.is_empty()).then(|| {
        proto::ExportMetricsPartialSuccess {
            rejected_data_points,
            error_message: error_message.to_owned(),
        }
    });
    proto::ExportMetricsServiceResponse { partial_success }.encode_to_vec()
}

/// A `google.rpc.Status` (the body of an OTLP/HTTP error answer).
pub fn encode_status(code: i32, message: &str) -> Vec<u8> {
    proto::Status {
        code,
        message: message.to_owned(),
    }
    .encode_to_vec()
}

/// A label: (name, value).
type Label = (String, String);

/// Labels and namespace shared by every series of a resource.
struct ResourceLabels {
    namespace: Option<String>,
    /// `job`, `instance`.
    identity: Vec<Label>,
    /// The other attributes, for `target_info`.
    info: Vec<Label>,
}

impl ResourceLabels {
    fn new(attrs: &[KeyValue], namespace_label: &str) -> Self {
        let get = |key: &str| {
            (attrs.iter())
                .rfind(|kv| kv.key == key)
                .map(|kv| value_string(kv.value.as_ref()).into_owned())
                .filter(|v| !v.is_empty())
        };
        let mut identity = Vec::with_capacity(2);
        if let Some(name) = get("service.name") {
            let job = match get("service.namespace") {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            };
            identity.push(("job".to_owned(), job));
        }
        if let Some(instance) = get("service.instance.id") {
            identity.push(("instance".to_owned(), instance));
        }
        let others = (attrs.iter())
            .filter(|kv| {
                !matches!(
                    &*kv.key,
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            // Attributes without a label name have no place in target_info.
            .filter_map(|kv| Some((&*kv.key, names::label_name(&kv.key)?, kv.value.as_ref())));
        let mut info = joined(others.map(|(k, l, v)| (k, l, value_string(v))))
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect::<Vec<_>>();
        let namespace =
            (info.iter().position(|(k, _)| k == namespace_label)).map(|i| info.remove(i).1);
        // target_info carries job and instance once: the service's, when it has them.
        info.retain(|(k, _)| !identity.iter().any(|(i, _)| i == k));
        ResourceLabels {
            namespace,
            identity,
            info,
        }
    }
}

/// `otel_scope_*` labels of a scope.
fn scope_labels(sm: &proto::ScopeMetrics) -> Vec<Label> {
    let mut out = Vec::new();
    let scope = sm.scope.as_ref();
    let fixed = [
        ("otel_scope_name", scope.map_or("", |s| &*s.name)),
        ("otel_scope_version", scope.map_or("", |s| &*s.version)),
        ("otel_scope_schema_url", &*sm.schema_url),
    ];
    let attrs = scope.map_or(&[][..], |s| &s.attributes[..]);
    let prefixed: Vec<(String, &KeyValue)> = (attrs.iter())
        .map(|kv| (format!("otel_scope_{}", kv.key), kv))
        .collect();
    let translated = (prefixed.iter())
        .filter_map(|(k, kv)| Some((&**k, names::label_name(k)?, value_string(kv.value.as_ref()))))
        .filter(|(_, l, _)| !fixed.iter().any(|(f, _)| f == l));
    for (k, v) in joined(translated) {
        out.push((k.into_owned(), v.into_owned()));
    }
    for (k, v) in fixed {
        if !v.is_empty() {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// Labels from `(original key, label name, value)`: names shared by several
/// keys get their values joined with `;` in the order of the original keys;
/// empty values are dropped.
fn joined<'a>(
    entries: impl Iterator<Item = (&'a str, Cow<'a, str>, Cow<'a, str>)>,
) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    let mut out: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(entries.len());
    for (_, label, value) in entries {
        match out.last_mut() {
            Some((last, joined)) if *last == label => {
                let v = joined.to_mut();
                v.push(';');
                v.push_str(&value);
            }
            _ => out.push((label, value)),
        }
    }
    out.retain(|(_, v)| !v.is_empty());
    out
}

/// What every series of one scope shares.
struct Context<'a> {
    target: &'a Target<'a>,
    namespace: &'a str,
    /// Resource and scope labels, which take precedence over attributes.
    fixed: &'a [Label],
}

/// A point's labels and namespace, or why it has none.
struct PointLabels<'a> {
    namespace: Cow<'a, str>,
    labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> PointLabels<'a> {
    fn new(attrs: &'a [KeyValue], ctx: &Context<'a>) -> Result<Self, String> {
        let mut translated = Vec::with_capacity(attrs.len());
        for kv in attrs {
            let Some(label) = names::label_name(&kv.key) else {
                return Err(format!(
                    "attribute {:?} has no valid label name",
                    shown(&kv.key)
                ));
            };
            translated.push((&*kv.key, label, value_string(kv.value.as_ref())));
        }
        let mut labels = joined(translated.into_iter());
        labels.retain(|(k, _)| !ctx.fixed.iter().any(|(f, _)| f == k));
        let mut namespace = Cow::Borrowed(ctx.namespace);
        if let Some(i) = labels
            .iter()
            .position(|(k, _)| k == ctx.target.namespace_label)
        {
            namespace = labels.remove(i).1;
        }
        labels.extend((ctx.fixed.iter()).map(|(k, v)| (Cow::Borrowed(&**k), Cow::Borrowed(&**v))));
        Ok(PointLabels { namespace, labels })
    }

    /// The labels, plus `extra` (replacing an attribute of that name).
    fn with(&self, extra: Option<(&'static str, &'a str)>) -> Vec<(&str, &str)> {
        let mut out = Vec::with_capacity(self.labels.len() + 1);
        for (k, v) in &self.labels {
            if extra.is_none_or(|(e, _)| e != k) {
                out.push((&**k, &**v));
            }
        }
        out.extend(extra);
        out
    }
}

/// Translate a parsed request into samples.
pub fn translate(req: &proto::ExportMetricsServiceRequest, target: &Target<'_>, b: &mut Builder) {
    for rm in &req.resource_metrics {
        let attrs = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let resource = ResourceLabels::new(attrs, target.namespace_label);
        let namespace = resource.namespace.as_deref().unwrap_or(target.namespace);
        let mut latest = None;
        for sm in &rm.scope_metrics {
            let mut fixed = resource.identity.clone();
            fixed.extend(scope_labels(sm));
            let ctx = Context {
                target,
                namespace,
                fixed: &fixed,
            };
            for m in &sm.metrics {
                metric(m, &ctx, b, &mut latest);
            }
        }
        if let (Some(t), false) = (latest, resource.info.is_empty()) {
            let labels = (resource.identity.iter().chain(&resource.info))
                .map(|(k, v)| (&**k, &**v))
                .collect();
            b.sample(namespace, "target_info", labels, t, 1.0);
        }
    }
}

/// Time in µs of a point, or `None` if unset.
fn time_us(ns: u64) -> Option<i64> {
    // u64::MAX / 1000 fits an i64.
    (ns != 0).then_some((ns / 1000) as i64)
}

/// The data points of a metric, by how they translate.
enum DataPoints<'m> {
    Numbers(&'m [proto::NumberDataPoint]),
    Histograms(&'m [proto::HistogramDataPoint]),
    Summaries(&'m [proto::SummaryDataPoint]),
}

impl DataPoints<'_> {
    fn len(&self) -> usize {
        match self {
            DataPoints::Numbers(p) => p.len(),
            DataPoints::Histograms(p) => p.len(),
            DataPoints::Summaries(p) => p.len(),
        }
    }
}

fn metric(m: &proto::Metric, ctx: &Context<'_>, b: &mut Builder, latest: &mut Option<i64>) {
    use proto::{Data, TEMPORALITY_CUMULATIVE as CUMULATIVE, TEMPORALITY_DELTA as DELTA};
    use DataPoints::*;
    let reject_all = |b: &mut Builder, n: usize, why: &str| {
        for _ in 0..n {
            b.reject(format!("metric {:?}: {why}", shown(&m.name)));
        }
    };
    let unspecified =
        |t: i32| format!("aggregationTemporality {t} is not delta (1) or cumulative (2)");
    let (kind, points) = match &m.data {
        None => return,
        Some(Data::Gauge(g)) => (Kind::Gauge, Numbers(&g.data_points)),
        Some(Data::Sum(s)) => match s.aggregation_temporality {
            CUMULATIVE if s.is_monotonic => (Kind::Counter, Numbers(&s.data_points)),
            CUMULATIVE | DELTA => (Kind::Other, Numbers(&s.data_points)),
            t => return reject_all(b, s.data_points.len(), &unspecified(t)),
        },
        Some(Data::Histogram(h)) => match h.aggregation_temporality {
            CUMULATIVE => (Kind::Other, Histograms(&h.data_points)),
            DELTA => {
                let why = "delta histograms are not stored (export cumulative temporality)";
                return reject_all(b, h.data_points.len(), why);
            }
            t => return reject_all(b, h.data_points.len(), &unspecified(t)),
        },
        Some(Data::ExponentialHistogram(e)) => {
            return b.ignore("exponential_histograms", e.data_points.len() as u64);
        }
        Some(Data::Summary(s)) => (Kind::Other, Summaries(&s.data_points)),
    };
    let name = names::metric_name(&m.name, &m.unit, kind);
    if name.is_empty() {
        let why = "the name has no character valid in a Prometheus name";
        return reject_all(b, points.len(), why);
    }
    let mut out = Points {
        b,
        ctx,
        metric: &m.name,
        name: &name,
        latest,
    };
    match points {
        Numbers(ps) => ps.iter().for_each(|p| out.number(p)),
        Histograms(ps) => ps.iter().for_each(|p| out.histogram(p)),
        Summaries(ps) => ps.iter().for_each(|p| out.summary(p)),
    }
}

/// The points of one metric.
struct Points<'a, 'b> {
    b: &'b mut Builder,
    ctx: &'b Context<'a>,
    /// The OTLP name, for reasons.
    metric: &'b str,
    /// The Prometheus name.
    name: &'b str,
    latest: &'b mut Option<i64>,
}

impl<'a> Points<'a, '_> {
    fn reject(&mut self, why: impl std::fmt::Display) {
        self.b
            .reject(format!("metric {:?}: {why}", shown(self.metric)));
    }

    /// Time and labels of a point, or `None` after rejecting it.
    fn common<'p>(
        &mut self,
        time_unix_nano: u64,
        attrs: &'p [KeyValue],
    ) -> Option<(i64, PointLabels<'p>)>
    where
        'a: 'p,
    {
        let Some(t) = time_us(time_unix_nano) else {
            self.reject("timeUnixNano is not set");
            return None;
        };
        match PointLabels::new(attrs, self.ctx) {
            Ok(labels) => {
                *self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
                Some((t, labels))
            }
            Err(why) => {
                self.reject(why);
                None
            }
        }
    }

    fn sample(
        &mut self,
        labels: &PointLabels<'_>,
        suffix: &str,
        extra: Option<(&'static str, &str)>,
        t: i64,
        v: f64,
    ) {
        let name: Cow<'_, str> = match suffix {
            "" => Cow::Borrowed(self.name),
            s => Cow::Owned(format!("{}{s}", self.name)),
        };
        self.b
            .sample(&labels.namespace, &name, labels.with(extra), t, v);
    }

    fn number(&mut self, p: &proto::NumberDataPoint) {
        self.b.ignore("exemplars", p.exemplars.len() as u64);
        let value = match (p.flags & proto::FLAG_NO_RECORDED_VALUE != 0, p.value) {
            (true, _) => f64::from_bits(STALE_NAN),
            (false, Some(proto::Number::AsDouble(d))) => d,
            (false, Some(proto::Number::AsInt(i))) => i as f64,
            (false, None) => return self.reject("data point has no value (asDouble or asInt)"),
        };
        if let Some((t, labels)) = self.common(p.time_unix_nano, &p.attributes) {
            self.sample(&labels, "", None, t, value);
        }
    }

    fn histogram(&mut self, p: &proto::HistogramDataPoint) {
        self.b.ignore("exemplars", p.exemplars.len() as u64);
        let (counts, bounds) = (&p.bucket_counts, &p.explicit_bounds);
        if !counts.is_empty() && counts.len() != bounds.len() + 1 {
            return self.reject(format_args!(
                "histogram point has {} bucketCounts for {} explicitBounds (expected {})",
                counts.len(),
                bounds.len(),
                bounds.len() + 1
            ));
        }
        let Some((t, labels)) = self.common(p.time_unix_nano, &p.attributes) else {
            return;
        };
        let stale = p.flags & proto::FLAG_NO_RECORDED_VALUE != 0;
        let value = |v: f64| if stale { f64::from_bits(STALE_NAN) } else { v };
        if let Some(sum) = p.sum {
            self.sample(&labels, "_sum", None, t, value(sum));
        }
        self.sample(&labels, "_count", None, t, value(p.count as f64));
        let mut cumulative = 0u64;
        for (count, bound) in counts.iter().zip(bounds) {
            cumulative = cumulative.saturating_add(*count);
            let le = float_label(*bound);
            self.sample(
                &labels,
                "_bucket",
                Some(("le", &le)),
                t,
                value(cumulative as f64),
            );
        }
        self.sample(
            &labels,
            "_bucket",
            Some(("le", "+Inf")),
            t,
            value(p.count as f64),
        );
    }

    fn summary(&mut self, p: &proto::SummaryDataPoint) {
        let Some((t, labels)) = self.common(p.time_unix_nano, &p.attributes) else {
            return;
        };
        let stale = p.flags & proto::FLAG_NO_RECORDED_VALUE != 0;
        let value = |v: f64| if stale { f64::from_bits(STALE_NAN) } else { v };
        self.sample(&labels, "_sum", None, t, value(p.sum));
        self.sample(&labels, "_count", None, t, value(p.count as f64));
        for q in &p.quantile_values {
            let quantile = float_label(q.quantile);
            self.sample(
                &labels,
                "",
                Some(("quantile", &quantile)),
                t,
                value(q.value),
            );
        }
    }
}

/// A float as an `le`/`quantile` label value: shortest round-trip digits
/// without exponent (Go's `FormatFloat(f, 'f', -1, 64)`), `+Inf`, `-Inf`, `NaN`.
pub fn float_label(f: f64) -> String {
    match f {
        f64::INFINITY => "+Inf".to_owned(),
        f64::NEG_INFINITY => "-Inf".to_owned(),
        f => format!("{f}"),
    }
}

/// An attribute value as a label value (OpenTelemetry's "AnyValue
/// representation for non-OTLP protocols"): strings as they are, booleans and
/// numbers as JSON, bytes as base64, arrays and maps as JSON, nothing as "".
fn value_string(v: Option<&AnyValue>) -> Cow<'_, str> {
    match v.and_then(|v| v.value.as_ref()) {
        None => Cow::Borrowed(""),
        Some(Value::StringValue(s)) => Cow::Borrowed(s),
        Some(Value::BoolValue(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => Cow::Owned(i.to_string()),
        Some(Value::DoubleValue(d)) => Cow::Owned(match *d {
            f64::INFINITY => "Infinity".to_owned(),
            f64::NEG_INFINITY => "-Infinity".to_owned(),
            d => format!("{d}"),
        }),
        Some(Value::BytesValue(bytes)) => Cow::Owned(base64(bytes)),
        Some(_) => {
            let mut out = String::new();
            write_json(&mut out, v);
            Cow::Owned(out)
        }
    }
}

/// An attribute value as JSON (inside arrays and maps).
fn write_json(out: &mut String, v: Option<&AnyValue>) {
    let string = |out: &mut String, s: &str| {
        out.push_str(&serde_json::to_string(s).expect("a str serializes"));
    };
    match v.and_then(|v| v.value.as_ref()) {
        None => out.push_str("null"),
        Some(Value::StringValue(s)) => string(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => write!(out, "{i}").expect("write to String"),
        Some(Value::DoubleValue(d)) if d.is_finite() => {
            write!(out, "{d}").expect("write to String")
        }
        Some(Value::DoubleValue(_)) => string(out, &value_string(v)),
        Some(Value::BytesValue(bytes)) => string(out, &base64(bytes)),
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, item) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, Some(item));
            }
            out.push(']');
        }
        Some(Value::KvlistValue(l)) => {
            out.push('{');
            for (i, kv) in l.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, &kv.key);
                out.push(':');
                write_json(out, kv.value.as_ref());
            }
            out.push('}');
        }
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
