//! OTLP/JSON: the protobuf JSON mapping of `ExportMetricsServiceRequest`
//! (lowerCamelCase keys; 64-bit integers as numbers or decimal strings;
//! doubles as numbers or `"NaN"`, `"Infinity"`, `"-Infinity"`; enums as
//! integers or their names; unknown keys ignored), read with serde into
//! mirror structs and converted to the prost messages of [`super::proto`], so
//! both encodings share one translation.
//!
//! serde_json, not sonic-rs: serde skips unknown keys through
//! `deserialize_ignored_any`, which sonic-rs implements with an unbounded
//! recursive scanner (a deeply nested unknown value would overflow the stack,
//! see `ingest::json`); serde_json skips iteratively and stops nesting at
//! 128 levels everywhere.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

use super::proto;
use crate::ingest::IngestError;

/// Parse an OTLP/JSON body.
pub fn parse(body: &[u8]) -> Result<proto::ExportMetricsServiceRequest, IngestError> {
    // serde's derived structs also read arrays (fields by position): the
    // request itself must be an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(IngestError::Malformed(
            "body is not OTLP JSON: expected an ExportMetricsServiceRequest object".into(),
        ));
    }
    let req: Request = serde_json::from_slice(body)
        .map_err(|e| IngestError::Malformed(format!("body is not OTLP JSON: {e}")))?;
    Ok(req.into())
}

/// A protobuf JSON integer: a number or a decimal string.
#[derive(Debug, Default, Clone, Copy)]
struct Int<T>(T);

struct IntVisitor<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64> + TryFrom<i64> + FromStr> Visitor<'de> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer (a number or a decimal string)")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("integer {v} out of range")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("integer {v} out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // `1e3` is an integer in protobuf JSON.
        if v.fract() == 0.0 && v.abs() < 9.3e18 {
            return match v < 0.0 {
                true => self.visit_i64(v as i64),
                false => self.visit_u64(v as u64),
            };
        }
        Err(E::custom(format!("{v} is not an integer")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse()
            .map_err(|_| E::custom(format!("{v:?} is not an integer")))
    }
}

impl<'de, T: TryFrom<u64> + TryFrom<i64> + FromStr> Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor(PhantomData)).map(Int)
    }
}

/// A protobuf JSON double: a number, `"NaN"`, `"Infinity"`, `"-Infinity"` or
/// a number in a string.
#[derive(Debug, Default, Clone, Copy)]
struct Float(f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v {
                    "NaN" => Ok(f64::NAN),
                    "Infinity" => Ok(f64::INFINITY),
                    "-Infinity" => Ok(f64::NEG_INFINITY),
                    _ => serde_json::from_str::<f64>(v)
                        .map_err(|_| E::custom(format!("{v:?} is not a number"))),
                }
            }
        }
        d.deserialize_any(V).map(Float)
    }
}

/// `AggregationTemporality`: its number or its name.
#[derive(Debug, Default, Clone, Copy)]
struct Temporality(i32);

impl<'de> Deserialize<'de> for Temporality {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = i32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AggregationTemporality number or name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
                IntVisitor::<i32>(PhantomData).visit_u64(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
                IntVisitor::<i32>(PhantomData).visit_i64(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
                Ok(match v {
                    "AGGREGATION_TEMPORALITY_UNSPECIFIED" => proto::TEMPORALITY_UNSPECIFIED,
                    "AGGREGATION_TEMPORALITY_DELTA" => proto::TEMPORALITY_DELTA,
                    "AGGREGATION_TEMPORALITY_CUMULATIVE" => proto::TEMPORALITY_CUMULATIVE,
                    _ => return Err(E::custom(format!("unknown aggregationTemporality {v:?}"))),
                })
            }
        }
        d.deserialize_any(V).map(Temporality)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Request {
    resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceMetrics {
    resource: Option<Resource>,
    scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Resource {
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScopeMetrics {
    scope: Option<Scope>,
    metrics: Vec<Metric>,
    schema_url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Scope {
    name: String,
    version: String,
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Metric {
    name: String,
    unit: String,
    gauge: Option<Gauge>,
    sum: Option<Sum>,
    histogram: Option<Histogram>,
    exponential_histogram: Option<Counted>,
    summary: Option<Summary>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Gauge {
    data_points: Vec<NumberDataPoint>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Sum {
    data_points: Vec<NumberDataPoint>,
    aggregation_temporality: Temporality,
    is_monotonic: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Histogram {
    data_points: Vec<HistogramDataPoint>,
    aggregation_temporality: Temporality,
}

/// A metric whose points are only counted (exponential histograms).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Counted {
    data_points: Vec<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Summary {
    data_points: Vec<SummaryDataPoint>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct NumberDataPoint {
    attributes: Vec<KeyValue>,
    time_unix_nano: Int<u64>,
    as_double: Option<Float>,
    as_int: Option<Int<i64>>,
    exemplars: Vec<IgnoredAny>,
    flags: Int<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct HistogramDataPoint {
    attributes: Vec<KeyValue>,
    time_unix_nano: Int<u64>,
    count: Int<u64>,
    sum: Option<Float>,
    bucket_counts: Vec<Int<u64>>,
    explicit_bounds: Vec<Float>,
    exemplars: Vec<IgnoredAny>,
    flags: Int<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SummaryDataPoint {
    attributes: Vec<KeyValue>,
    time_unix_nano: Int<u64>,
    count: Int<u64>,
    sum: Float,
    quantile_values: Vec<ValueAtQuantile>,
    flags: Int<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ValueAtQuantile {
    quantile: Float,
    value: Float,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct KeyValue {
    key: String,
    value: Option<AnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AnyValue {
    string_value: Option<String>,
    bool_value: Option<bool>,
    int_value: Option<Int<i64>>,
    double_value: Option<Float>,
    array_value: Option<ArrayValue>,
    kvlist_value: Option<KeyValueList>,
    bytes_value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ArrayValue {
    values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct KeyValueList {
    values: Vec<KeyValue>,
}

fn all<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

fn counted(v: Vec<IgnoredAny>) -> Vec<proto::Ignored> {
    vec![proto::Ignored {}; v.len()]
}

impl From<Request> for proto::ExportMetricsServiceRequest {
    fn from(r: Request) -> Self {
        Self {
            resource_metrics: all(r.resource_metrics),
        }
    }
}

impl From<ResourceMetrics> for proto::ResourceMetrics {
    fn from(r: ResourceMetrics) -> Self {
        Self {
            resource: r.resource.map(|r| proto::Resource {
                attributes: all(r.attributes),
            }),
            scope_metrics: all(r.scope_metrics),
        }
    }
}

impl From<ScopeMetrics> for proto::ScopeMetrics {
    fn from(s: ScopeMetrics) -> Self {
        Self {
            scope: s.scope.map(|s| proto::InstrumentationScope {
                name: s.name,
                version: s.version,
                attributes: all(s.attributes),
            }),
            metrics: all(s.metrics),
            schema_url: s.schema_url,
        }
    }
}

impl From<Metric> for proto::Metric {
    fn from(m: Metric) -> Self {
        // Several kinds in one metric is invalid; one of them is taken.
        let data = (m.summary.map(|s| {
            proto::Data::Summary(proto::Summary {
                data_points: all(s.data_points),
            })
        }))
        .or(m.exponential_histogram.map(|e| {
            proto::Data::ExponentialHistogram(proto::ExponentialHistogram {
                data_points: counted(e.data_points),
            })
        }))
        .or(m.histogram.map(|h| {
            proto::Data::Histogram(proto::Histogram {
                data_points: all(h.data_points),
                aggregation_temporality: h.aggregation_temporality.0,
            })
        }))
        .or(m.sum.map(|s| {
            proto::Data::Sum(proto::Sum {
                data_points: all(s.data_points),
                aggregation_temporality: s.aggregation_temporality.0,
                is_monotonic: s.is_monotonic,
            })
        }))
        .or(m.gauge.map(|g| {
            proto::Data::Gauge(proto::Gauge {
                data_points: all(g.data_points),
            })
        }));
        Self {
            name: m.name,
            unit: m.unit,
            data,
        }
    }
}

impl From<NumberDataPoint> for proto::NumberDataPoint {
    fn from(p: NumberDataPoint) -> Self {
        let value = (p.as_int.map(|i| proto::Number::AsInt(i.0)))
            .or(p.as_double.map(|d| proto::Number::AsDouble(d.0)));
        Self {
            attributes: all(p.attributes),
            time_unix_nano: p.time_unix_nano.0,
            value,
            exemplars: counted(p.exemplars),
            flags: p.flags.0,
        }
    }
}

impl From<HistogramDataPoint> for proto::HistogramDataPoint {
    fn from(p: HistogramDataPoint) -> Self {
        Self {
            attributes: all(p.attributes),
            time_unix_nano: p.time_unix_nano.0,
            count: p.count.0,
            sum: p.sum.map(|s| s.0),
            bucket_counts: p.bucket_counts.into_iter().map(|c| c.0).collect(),
            explicit_bounds: p.explicit_bounds.into_iter().map(|b| b.0).collect(),
            exemplars: counted(p.exemplars),
            flags: p.flags.0,
        }
    }
}

impl From<SummaryDataPoint> for proto::SummaryDataPoint {
    fn from(p: SummaryDataPoint) -> Self {
        Self {
            attributes: all(p.attributes),
            time_unix_nano: p.time_unix_nano.0,
            count: p.count.0,
            sum: p.sum.0,
            quantile_values: (p.quantile_values.into_iter())
                .map(|q| proto::ValueAtQuantile {
                    quantile: q.quantile.0,
                    value: q.value.0,
                })
                .collect(),
            flags: p.flags.0,
        }
    }
}

impl From<KeyValue> for proto::KeyValue {
    fn from(kv: KeyValue) -> Self {
        Self {
            key: kv.key,
            value: kv.value.map(proto::AnyValue::from),
        }
    }
}

impl From<AnyValue> for proto::AnyValue {
    fn from(v: AnyValue) -> Self {
        use proto::Value as V;
        // Bytes are base64 in JSON, and a label shows them as base64: the text
        // is kept as it came, which renders exactly like the decoded bytes.
        let value = (v.bytes_value.map(V::StringValue))
            .or(v.kvlist_value.map(|l| {
                V::KvlistValue(proto::KeyValueList {
                    values: all(l.values),
                })
            }))
            .or(v.array_value.map(|a| {
                V::ArrayValue(proto::ArrayValue {
                    values: all(a.values),
                })
            }))
            .or(v.double_value.map(|d| V::DoubleValue(d.0)))
            .or(v.int_value.map(|i| V::IntValue(i.0)))
            .or(v.bool_value.map(V::BoolValue))
            .or(v.string_value.map(V::StringValue));
        Self { value }
    }
}
