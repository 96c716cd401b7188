//! Tests of OTLP decoding: fixed cases, arbitrary bytes, and random requests
//! (encoded by prost and by a JSON writer) against a reference translation.

use std::io::Write as _;

use proptest::prelude::*;
use prost::Message;
use serde_json::{json, Value as Json};

use super::proto::*;
use super::*;
use crate::ingest::point::{labels_json, Window};

const NOW_US: i64 = 1_700_000_000_000_000;
const NOW_NS: u64 = NOW_US as u64 * 1000;

fn opts(gzip: bool) -> Options {
    Options {
        window: Window {
            now_us: NOW_US,
            min_time_us: NOW_US - 86_400_000_000,
            max_time_us: NOW_US + 3_600_000_000,
        },
        gzip,
        max_decompressed: 1 << 20,
    }
}

const TARGET: Target<'static> = Target {
    namespace: "default",
    namespace_label: "hearth_namespace",
};

/// A sample as stored: (namespace, name, labels_json, time_us, value bits).
type Sample = (String, String, String, i64, u64);

fn samples(b: &Batch) -> Vec<Sample> {
    let mut out: Vec<Sample> = (b.points.iter())
        .map(|p| {
            let s = b.identity(p.series as usize);
            let v = p.value.to_bits();
            (s.namespace, s.name, s.labels_json, p.time_us, v)
        })
        .collect();
    out.sort();
    out
}

fn sample(name: &str, labels: &[(&str, &str)], t: i64, v: f64) -> Sample {
    let mut labels = labels.to_vec();
    labels.sort();
    (
        "default".into(),
        name.into(),
        labels_json(&labels),
        t,
        v.to_bits(),
    )
}

fn proto_batch(req: &ExportMetricsServiceRequest) -> Batch {
    decode(&req.encode_to_vec(), false, &opts(false), &TARGET).unwrap()
}

fn json_batch(body: &Json) -> Batch {
    decode(body.to_string().as_bytes(), true, &opts(false), &TARGET).unwrap()
}

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics,
                schema_url: String::new(),
            }],
        }],
    }
}

fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
    }
}

fn number(attrs: Vec<KeyValue>, t_ns: u64, value: Option<Number>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t_ns,
        value,
        exemplars: vec![],
        flags: 0,
    }
}

#[test]
fn sdk_shaped_request() {
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "shop"}},
            {"key": "service.namespace", "value": {"stringValue": "acme"}},
            {"key": "service.instance.id", "value": {"stringValue": "i-1"}},
            {"key": "host.name", "value": {"stringValue": "h1"}}
        ]},
        "scopeMetrics": [{
            "scope": {"name": "io.lib", "version": "1.2", "attributes": [
                {"key": "lib.mode", "value": {"boolValue": true}}]},
            "metrics": [
                {"name": "http.server.requests", "unit": "{request}", "sum": {
                    "aggregationTemporality": 2, "isMonotonic": true,
                    "dataPoints": [{"timeUnixNano": NOW_NS.to_string(), "asInt": "7",
                        "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}],
                        "exemplars": [{"asDouble": 1.0, "traceId": "00"}]}]}},
                {"name": "queue.depth", "sum": {"aggregationTemporality": 2, "isMonotonic": false,
                    "dataPoints": [{"timeUnixNano": NOW_NS, "asInt": -3}]}},
                {"name": "bytes.sent", "unit": "By", "sum": {"aggregationTemporality": 1, "isMonotonic": true,
                    "dataPoints": [{"timeUnixNano": NOW_NS, "asDouble": 512}]}},
                {"name": "cpu.utilization", "unit": "1", "gauge": {
                    "dataPoints": [{"timeUnixNano": NOW_NS + 999, "asDouble": "NaN"}]}},
                {"name": "rpc.duration", "unit": "ms", "summary": {"dataPoints": [{
                    "timeUnixNano": NOW_NS, "count": 3, "sum": 30.5,
                    "quantileValues": [{"quantile": 0.5, "value": 9}, {"quantile": 1, "value": 12}]}]}},
                {"name": "exp", "exponentialHistogram": {"dataPoints": [{}, {}]}},
                {"name": "nothing"}
            ]
        }]
    }]});
    let b = json_batch(&body);
    assert_eq!(b.rejected, vec![]);
    assert_eq!(
        b.ignored,
        vec![("exemplars", 1), ("exponential_histograms", 2)]
    );
    let id = [
        ("job", "acme/shop"),
        ("instance", "i-1"),
        ("otel_scope_name", "io.lib"),
        ("otel_scope_version", "1.2"),
        ("otel_scope_lib_mode", "true"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        id.iter().chain(extra).copied().collect()
    };
    let t = NOW_US;
    let mut want = vec![
        sample(
            "http_server_requests_total",
            &with(&[("http_method", "GET")]),
            t,
            7.0,
        ),
        sample("queue_depth", &with(&[]), t, -3.0),
        // The name already holds the unit word: no suffix.
        sample("bytes_sent", &with(&[]), t, 512.0),
        sample("cpu_utilization_ratio", &with(&[]), t, f64::NAN),
        sample("rpc_duration_milliseconds_sum", &with(&[]), t, 30.5),
        sample("rpc_duration_milliseconds_count", &with(&[]), t, 3.0),
        sample(
            "rpc_duration_milliseconds",
            &with(&[("quantile", "0.5")]),
            t,
            9.0,
        ),
        sample(
            "rpc_duration_milliseconds",
            &with(&[("quantile", "1")]),
            t,
            12.0,
        ),
        sample(
            "target_info",
            &[
                ("job", "acme/shop"),
                ("instance", "i-1"),
                ("host_name", "h1"),
            ],
            t,
            1.0,
        ),
    ];
    want.sort();
    assert_eq!(samples(&b), want);
}

#[test]
fn histogram_buckets_are_cumulative_with_inf() {
    let point = HistogramDataPoint {
        attributes: vec![kv("le", s("attr"))],
        time_unix_nano: NOW_NS,
        count: 10,
        sum: Some(12.5),
        bucket_counts: vec![1, 2, 3, 4],
        explicit_bounds: vec![0.005, 1.0, 2.5],
        exemplars: vec![Ignored {}; 2],
        flags: 0,
    };
    let req = request(
        vec![],
        vec![Metric {
            name: "lat".into(),
            unit: "s".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: TEMPORALITY_CUMULATIVE,
            })),
        }],
    );
    let b = proto_batch(&req);
    let t = NOW_US;
    let mut want = vec![
        // An attribute named like the bucket label gives way on buckets only.
        sample("lat_seconds_sum", &[("le", "attr")], t, 12.5),
        sample("lat_seconds_count", &[("le", "attr")], t, 10.0),
        sample("lat_seconds_bucket", &[("le", "0.005")], t, 1.0),
        sample("lat_seconds_bucket", &[("le", "1")], t, 3.0),
        sample("lat_seconds_bucket", &[("le", "2.5")], t, 6.0),
        sample("lat_seconds_bucket", &[("le", "+Inf")], t, 10.0),
    ];
    want.sort();
    assert_eq!(samples(&b), want);
    assert_eq!(b.ignored, vec![("exemplars", 2)]);
}

#[test]
fn bad_points_are_rejected_with_a_reason() {
    let hist = |temporality, counts: Vec<u64>| Metric {
        name: "h".into(),
        unit: String::new(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: NOW_NS,
                count: 1,
                bucket_counts: counts,
                explicit_bounds: vec![1.0],
                ..Default::default()
            }],
            aggregation_temporality: temporality,
        })),
    };
    let req = request(
        vec![],
        vec![
            gauge("no.value", "", vec![number(vec![], NOW_NS, None)]),
            gauge(
                "no.time",
                "",
                vec![number(vec![], 0, Some(Number::AsInt(1)))],
            ),
            gauge(
                "old",
                "",
                vec![number(vec![], 1_000, Some(Number::AsInt(1)))],
            ),
            gauge(
                "...",
                "",
                vec![number(vec![], NOW_NS, Some(Number::AsInt(1)))],
            ),
            gauge(
                "bad.key",
                "",
                vec![number(
                    vec![kv("__", s("x"))],
                    NOW_NS,
                    Some(Number::AsInt(1)),
                )],
            ),
            hist(TEMPORALITY_DELTA, vec![0, 1]),
            hist(TEMPORALITY_CUMULATIVE, vec![1]),
            hist(TEMPORALITY_UNSPECIFIED, vec![0, 1]),
        ],
    );
    let b = proto_batch(&req);
    assert_eq!(b.points, vec![]);
    assert_eq!(b.too_old, 1);
    let reasons: Vec<&str> = b.rejected.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "metric \"no.value\": data point has no value (asDouble or asInt)",
            "metric \"no.time\": timeUnixNano is not set",
            crate::ingest::point::OUTSIDE_WINDOW,
            "metric \"...\": the name has no character valid in a Prometheus name",
            "metric \"bad.key\": attribute \"__\" has no valid label name",
            "metric \"h\": delta histograms are not stored (export cumulative temporality)",
            "metric \"h\": histogram point has 1 bucketCounts for 1 explicitBounds (expected 2)",
            "metric \"h\": aggregationTemporality 0 is not delta (1) or cumulative (2)",
        ]
    );
}

#[test]
fn no_recorded_value_is_the_staleness_marker() {
    let mut p = number(vec![], NOW_NS, None);
    p.flags = FLAG_NO_RECORDED_VALUE;
    let b = proto_batch(&request(vec![], vec![gauge("g", "", vec![p])]));
    assert_eq!(b.points.len(), 1);
    assert_eq!(b.points[0].value.to_bits(), STALE_NAN);
}

#[test]
fn colliding_labels_join_in_key_order_and_namespace_label_moves() {
    let attrs = vec![
        kv("a_b", s("2")),
        kv("a.b", s("1")),
        kv("empty", s("")),
        kv("n", Value::DoubleValue(0.25)),
        kv(
            "list",
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(s("x\"y")),
                    },
                    AnyValue {
                        value: Some(Value::DoubleValue(f64::INFINITY)),
                    },
                    AnyValue { value: None },
                    AnyValue {
                        value: Some(Value::BytesValue(b"hi!?".to_vec())),
                    },
                ],
            }),
        ),
        kv("bytes", Value::BytesValue(b"hello".to_vec())),
        kv("hearth.namespace", s("team_a")),
    ];
    let resource = vec![
        kv("hearth_namespace", s("ignored_for_this_point")),
        kv("service.name", s("svc")),
    ];
    let b = proto_batch(&request(
        resource,
        vec![gauge(
            "g",
            "",
            vec![number(attrs, NOW_NS, Some(Number::AsDouble(1.0)))],
        )],
    ));
    assert_eq!(b.rejected, vec![]);
    assert_eq!(b.identity(0).namespace, "team_a");
    assert_eq!(
        b.identity(0).labels_json,
        labels_json(&[
            ("a_b", "1;2"),
            ("bytes", "aGVsbG8="),
            ("job", "svc"),
            ("list", r#"["x\"y","Infinity",null,"aGkhPw=="]"#),
            ("n", "0.25"),
        ])
    );
}

#[test]
fn resource_namespace_label_applies_to_its_series() {
    let b = proto_batch(&request(
        vec![
            kv("hearth.namespace", s("team_b")),
            kv("host", s("h")),
            kv("job", s("theirs")),
            kv("service.name", s("svc")),
        ],
        vec![gauge(
            "g",
            "",
            vec![number(vec![], NOW_NS, Some(Number::AsInt(2)))],
        )],
    ));
    let ns: Vec<(String, String)> = (0..b.series.len())
        .map(|i| (b.identity(i).namespace, b.identity(i).name))
        .collect();
    assert_eq!(
        ns,
        [
            ("team_b".to_owned(), "g".to_owned()),
            ("team_b".to_owned(), "target_info".to_owned())
        ]
    );
    let info = labels_json(&[("host", "h"), ("job", "svc")]);
    assert_eq!(b.identity(1).labels_json, info);
}

#[test]
fn json_encodings_of_numbers_and_unknown_fields() {
    let body = json!({"resourceMetrics": [{"futureField": {"deep": [[[1]]]}, "scopeMetrics": [{"metrics": [
        {"name": "g", "unknown": 1, "gauge": {"dataPoints": [
            {"timeUnixNano": NOW_NS, "asDouble": "Infinity"},
            {"timeUnixNano": (NOW_NS + 1000).to_string(), "asDouble": "-1.5e3"},
            {"timeUnixNano": NOW_NS as f64 + 2000.0, "asInt": "-9223372036854775808"},
            {"timeUnixNano": NOW_NS + 3000, "asInt": 1e3}
        ]}},
        {"name": "c", "sum": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE", "isMonotonic": true,
            "dataPoints": [{"timeUnixNano": NOW_NS, "asInt": 1}]}}
    ]}]}]});
    let b = json_batch(&body);
    let t = NOW_US;
    let mut want = vec![
        sample("g", &[], t, f64::INFINITY),
        sample("g", &[], t + 1, -1500.0),
        sample("g", &[], t + 2, i64::MIN as f64),
        sample("g", &[], t + 3, 1000.0),
        sample("c_total", &[], t, 1.0),
    ];
    want.sort();
    assert_eq!(samples(&b), want);
}

#[test]
fn undecodable_bodies_are_malformed() {
    let cases: [(&[u8], bool); 5] = [
        (b"\x0a\x05\x0a", false),
        (b"{", true),
        (b"[]", true),
        (br#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"asInt": "x"}]}}]}]}]}"#, true),
        (br#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"aggregationTemporality": "SOON"}}]}]}]}"#, true),
    ];
    for (body, json) in cases {
        match decode(body, json, &opts(false), &TARGET) {
            Err(IngestError::Malformed(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
}

#[test]
fn deeply_nested_json_does_not_overflow() {
    for inner in ["[", "{\"a\":"] {
        let body = format!(r#"{{"resourceMetrics": [{{"x": {}"#, inner.repeat(200_000));
        assert!(decode(body.as_bytes(), true, &opts(false), &TARGET).is_err());
    }
    // Nested attribute values through protobuf: prost's recursion limit.
    let mut v = AnyValue {
        value: Some(s("leaf")),
    };
    for _ in 0..200 {
        v = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    let mut req = request(
        vec![],
        vec![gauge("g", "", vec![number(vec![], NOW_NS, None)])],
    );
    req.resource_metrics[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(KeyValue {
            key: "deep".into(),
            value: Some(v),
        });
    assert!(decode(&req.encode_to_vec(), false, &opts(false), &TARGET).is_err());
}

#[test]
fn gzip_bodies_and_their_limit() {
    let req = request(
        vec![],
        vec![gauge(
            "g",
            "",
            vec![number(vec![], NOW_NS, Some(Number::AsInt(1)))],
        )],
    );
    let raw = req.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(
        decode(&gz, false, &opts(true), &TARGET).unwrap(),
        proto_batch(&req)
    );
    let small = Options {
        max_decompressed: raw.len() - 1,
        ..opts(true)
    };
    assert!(matches!(
        decode(&gz, false, &small, &TARGET),
        Err(IngestError::TooLarge { .. })
    ));
}

#[test]
fn responses_round_trip() {
    let ok = ExportMetricsServiceResponse::decode(&encode_response(0, "")[..]).unwrap();
    assert_eq!(ok.partial_success, None);
    let partial = ExportMetricsServiceResponse::decode(&encode_response(3, "why")[..]).unwrap();
    let p = partial.partial_success.unwrap();
    assert_eq!((p.rejected_data_points, &*p.error_message), (3, "why"));
    let st = Status::decode(&encode_status(3, "bad")[..]).unwrap();
    assert_eq!((st.code, &*st.message), (3, "bad"));
}

#[test]
fn float_labels_match_go_formatting() {
    let cases = [
        (0.1, "0.1"),
        (1.0, "1"),
        (1e-7, "0.0000001"),
        (250.0, "250"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (f, want) in cases {
        assert_eq!(float_label(f), want);
    }
}

// ---- random requests against a reference translation ----

/// What a generated metric is.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Gauge,
    Counter,
    UpDown,
    Delta,
    Histogram,
    Summary,
}

fn attrs_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    // Distinct valid keys (no collisions): the reference needs no joining.
    proptest::sample::subsequence(vec!["method", "code", "region"], 0..=3).prop_flat_map(|keys| {
        let n = keys.len();
        (Just(keys), proptest::collection::vec("[a-z0-9]{0,3}", n))
            .prop_map(|(keys, values)| keys.into_iter().map(String::from).zip(values).collect())
    })
}

#[derive(Debug, Clone)]
struct GenPoint {
    attrs: Vec<(String, String)>,
    /// 0 = unset (rejected).
    t_ns: u64,
    /// None = no value (rejected unless stale).
    value: Option<Number>,
    stale: bool,
    counts: Vec<u64>,
    quantiles: Vec<(f64, f64)>,
}

fn point_strategy() -> impl Strategy<Value = GenPoint> {
    let time =
        prop_oneof![1 => Just(0u64), 9 => (0u64..86_000_000_000_000).prop_map(|d| NOW_NS - d)];
    let value = prop_oneof![
        1 => Just(None),
        4 => any::<i64>().prop_map(|i| Some(Number::AsInt(i))),
        4 => any::<f64>().prop_map(|f| Some(Number::AsDouble(f))),
    ];
    (
        attrs_strategy(),
        time,
        value,
        proptest::bool::weighted(0.1),
        proptest::collection::vec(0u64..1000, 0..4),
        proptest::collection::vec((0.0f64..=1.0, -1e6f64..1e6), 0..3),
    )
        .prop_map(|(attrs, t_ns, value, stale, counts, quantiles)| GenPoint {
            attrs,
            t_ns,
            value,
            stale,
            counts,
            quantiles,
        })
}

#[derive(Debug, Clone)]
struct GenMetric {
    name: &'static str,
    unit: &'static str,
    shape: Shape,
    points: Vec<GenPoint>,
}

fn metric_strategy() -> impl Strategy<Value = GenMetric> {
    use Shape::*;
    (
        proptest::sample::select(vec!["req", "mem", "queue:len"]),
        proptest::sample::select(vec!["", "s", "By", "1", "{thing}"]),
        proptest::sample::select(vec![Gauge, Counter, UpDown, Delta, Histogram, Summary]),
        proptest::collection::vec(point_strategy(), 0..4),
    )
        .prop_map(|(name, unit, shape, points)| GenMetric {
            name,
            unit,
            shape,
            points,
        })
}

#[derive(Debug, Clone)]
struct GenResource {
    service: Option<&'static str>,
    instance: Option<&'static str>,
    host: Option<&'static str>,
    scope: (&'static str, &'static str),
    metrics: Vec<GenMetric>,
}

fn resource_strategy() -> impl Strategy<Value = GenResource> {
    (
        proptest::option::of(proptest::sample::select(vec!["api", "db"])),
        proptest::option::of(proptest::sample::select(vec!["i1", "i2"])),
        proptest::option::of(proptest::sample::select(vec!["h1", "h2"])),
        (
            proptest::sample::select(vec!["", "lib"]),
            proptest::sample::select(vec!["", "1.0"]),
        ),
        proptest::collection::vec(metric_strategy(), 0..4),
    )
        .prop_map(|(service, instance, host, scope, metrics)| GenResource {
            service,
            instance,
            host,
            scope,
            metrics,
        })
}

fn to_proto(resources: &[GenResource]) -> ExportMetricsServiceRequest {
    let resource_metrics = resources
        .iter()
        .map(|r| {
            let mut attributes = vec![];
            for (k, v) in [
                ("service.name", r.service),
                ("service.instance.id", r.instance),
                ("host.name", r.host),
            ] {
                if let Some(v) = v {
                    attributes.push(kv(k, s(v)));
                }
            }
            let metrics = r.metrics.iter().map(to_proto_metric).collect();
            ResourceMetrics {
                resource: Some(Resource { attributes }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: r.scope.0.into(),
                        version: r.scope.1.into(),
                        attributes: vec![],
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

fn to_proto_metric(m: &GenMetric) -> Metric {
    let attrs = |p: &GenPoint| p.attrs.iter().map(|(k, v)| kv(k, s(v))).collect::<Vec<_>>();
    let flags = |p: &GenPoint| if p.stale { FLAG_NO_RECORDED_VALUE } else { 0 };
    let numbers = || {
        (m.points.iter())
            .map(|p| NumberDataPoint {
                attributes: attrs(p),
                time_unix_nano: p.t_ns,
                value: p.value,
                exemplars: vec![],
                flags: flags(p),
            })
            .collect()
    };
    let sum = |temporality, monotonic| {
        Data::Sum(Sum {
            data_points: numbers(),
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        })
    };
    let data = match m.shape {
        Shape::Gauge => Data::Gauge(Gauge {
            data_points: numbers(),
        }),
        Shape::Counter => sum(TEMPORALITY_CUMULATIVE, true),
        Shape::UpDown => sum(TEMPORALITY_CUMULATIVE, false),
        Shape::Delta => sum(TEMPORALITY_DELTA, true),
        Shape::Histogram => Data::Histogram(Histogram {
            data_points: (m.points.iter())
                .map(|p| HistogramDataPoint {
                    attributes: attrs(p),
                    time_unix_nano: p.t_ns,
                    count: p.counts.iter().sum(),
                    sum: p.value.map(|_| 1.5),
                    bucket_counts: p.counts.clone(),
                    explicit_bounds: (1..p.counts.len()).map(|i| i as f64 * 0.5).collect(),
                    exemplars: vec![],
                    flags: flags(p),
                })
                .collect(),
            aggregation_temporality: TEMPORALITY_CUMULATIVE,
        }),
        Shape::Summary => Data::Summary(proto::Summary {
            data_points: (m.points.iter())
                .map(|p| SummaryDataPoint {
                    attributes: attrs(p),
                    time_unix_nano: p.t_ns,
                    count: p.counts.len() as u64,
                    sum: 2.5,
                    quantile_values: (p.quantiles.iter())
                        .map(|&(quantile, value)| ValueAtQuantile { quantile, value })
                        .collect(),
                    flags: flags(p),
                })
                .collect(),
        }),
    };
    Metric {
        name: m.name.into(),
        unit: m.unit.into(),
        data: Some(data),
    }
}

/// The samples and the number of rejected items the translation should give,
/// written out directly for the generated shapes.
fn reference(resources: &[GenResource]) -> (Vec<Sample>, usize) {
    let mut out = vec![];
    let mut rejected = 0;
    let stale = f64::from_bits(STALE_NAN);
    for r in resources {
        let mut base: Vec<(String, String)> = vec![];
        if let Some(v) = r.service {
            base.push(("job".into(), v.into()));
        }
        if let Some(v) = r.instance {
            base.push(("instance".into(), v.into()));
        }
        let identity = base.clone();
        for (k, v) in [
            ("otel_scope_name", r.scope.0),
            ("otel_scope_version", r.scope.1),
        ] {
            if !v.is_empty() {
                base.push((k.into(), v.into()));
            }
        }
        let mut latest: Option<i64> = None;
        for m in &r.metrics {
            let unit = match m.unit {
                "s" => "_seconds",
                "By" => "_bytes",
                _ => "",
            };
            let name = match m.shape {
                Shape::Counter => format!("{}{unit}_total", m.name),
                Shape::Gauge if m.unit == "1" => format!("{}_ratio", m.name),
                _ => format!("{}{unit}", m.name),
            };
            for p in &m.points {
                let numeric = matches!(
                    m.shape,
                    Shape::Gauge | Shape::Counter | Shape::UpDown | Shape::Delta
                );
                if numeric && p.value.is_none() && !p.stale || p.t_ns == 0 {
                    rejected += 1;
                    continue;
                }
                let t = (p.t_ns / 1000) as i64;
                latest = Some(latest.map_or(t, |l| l.max(t)));
                let value = |v: f64| if p.stale { stale } else { v };
                let mut push = |suffix: &str, extra: Option<(&str, String)>, v: f64| {
                    let mut labels: Vec<(&str, &str)> = (base.iter().chain(&p.attrs))
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| (&**k, &**v))
                        .collect();
                    if let Some((k, v)) = &extra {
                        labels.push((k, v));
                    }
                    out.push(sample(&format!("{name}{suffix}"), &labels, t, value(v)));
                };
                match m.shape {
                    Shape::Histogram => {
                        if p.value.is_some() {
                            push("_sum", None, 1.5);
                        }
                        let total: u64 = p.counts.iter().sum();
                        push("_count", None, total as f64);
                        let mut cumulative = 0;
                        for (i, c) in p
                            .counts
                            .iter()
                            .enumerate()
                            .take(p.counts.len().saturating_sub(1))
                        {
                            cumulative += c;
                            push(
                                "_bucket",
                                Some(("le", float_label((i + 1) as f64 * 0.5))),
                                cumulative as f64,
                            );
                        }
                        push("_bucket", Some(("le", "+Inf".into())), total as f64);
                    }
                    Shape::Summary => {
                        push("_sum", None, 2.5);
                        push("_count", None, p.counts.len() as f64);
                        for &(q, v) in &p.quantiles {
                            push("", Some(("quantile", float_label(q))), v);
                        }
                    }
                    _ => push(
                        "",
                        None,
                        match p.value {
                            Some(Number::AsInt(i)) => i as f64,
                            Some(Number::AsDouble(d)) => d,
                            None => stale,
                        },
                    ),
                }
            }
        }
        if let (Some(t), Some(host)) = (latest, r.host) {
            let mut labels: Vec<(&str, &str)> =
                identity.iter().map(|(k, v)| (&**k, &**v)).collect();
            labels.push(("host_name", host));
            out.push(sample("target_info", &labels, t, 1.0));
        }
    }
    out.sort();
    (out, rejected)
}

/// The request as OTLP/JSON, 64-bit integers as strings or numbers.
fn to_json(req: &ExportMetricsServiceRequest, int_strings: bool) -> Json {
    let int = |i: i128| {
        if int_strings {
            json!(i.to_string())
        } else {
            json!(i)
        }
    };
    let float = |f: f64| match f {
        f if f.is_nan() => json!("NaN"),
        f64::INFINITY => json!("Infinity"),
        f64::NEG_INFINITY => json!("-Infinity"),
        f => json!(f),
    };
    let attrs = |a: &[KeyValue]| -> Json {
        (a.iter())
            .map(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(v)) => {
                        json!({"key": kv.key, "value": {"stringValue": v}})
                    }
                    other => panic!("generated attributes are strings, not {other:?}"),
                },
            )
            .collect()
    };
    let number = |p: &NumberDataPoint| {
        let mut o = json!({"attributes": attrs(&p.attributes), "timeUnixNano": int(p.time_unix_nano.into()), "flags": p.flags});
        match p.value {
            Some(Number::AsInt(i)) => o["asInt"] = int(i.into()),
            Some(Number::AsDouble(d)) => o["asDouble"] = float(d),
            None => {}
        }
        o
    };
    let metric = |m: &Metric| {
        let mut o = json!({"name": m.name, "unit": m.unit});
        match m.data.as_ref().unwrap() {
            Data::Gauge(g) => {
                o["gauge"] =
                    json!({"dataPoints": g.data_points.iter().map(number).collect::<Vec<_>>()})
            }
            Data::Sum(s) => {
                o["sum"] = json!({"dataPoints": s.data_points.iter().map(number).collect::<Vec<_>>(),
                    "aggregationTemporality": s.aggregation_temporality, "isMonotonic": s.is_monotonic})
            }
            Data::Histogram(h) => {
                let points = (h.data_points.iter()).map(|p| {
                    let mut o = json!({"attributes": attrs(&p.attributes), "timeUnixNano": int(p.time_unix_nano.into()),
                        "count": int(p.count.into()), "flags": p.flags,
                        "bucketCounts": p.bucket_counts.iter().map(|c| int((*c).into())).collect::<Vec<_>>(),
                        "explicitBounds": p.explicit_bounds.iter().map(|b| float(*b)).collect::<Vec<_>>()});
                    if let Some(sum) = p.sum {
                        o["sum"] = float(sum);
                    }
                    o
                });
                o["histogram"] = json!({"dataPoints": points.collect::<Vec<_>>(), "aggregationTemporality": h.aggregation_temporality})
            }
            Data::Summary(s) => {
                let points = (s.data_points.iter()).map(|p| {
                    json!({"attributes": attrs(&p.attributes), "timeUnixNano": int(p.time_unix_nano.into()),
                        "count": int(p.count.into()), "sum": float(p.sum), "flags": p.flags,
                        "quantileValues": p.quantile_values.iter().map(|q| json!({"quantile": float(q.quantile), "value": float(q.value)})).collect::<Vec<_>>()})
                });
                o["summary"] = json!({"dataPoints": points.collect::<Vec<_>>()})
            }
            Data::ExponentialHistogram(_) => unreachable!("not generated"),
        }
        o
    };
    let resources = (req.resource_metrics.iter()).map(|rm| {
        let scopes = (rm.scope_metrics.iter()).map(|sm| {
            let scope = sm.scope.as_ref().unwrap();
            json!({"scope": {"name": scope.name, "version": scope.version},
                "metrics": sm.metrics.iter().map(metric).collect::<Vec<_>>()})
        });
        json!({"resource": {"attributes": attrs(&rm.resource.as_ref().unwrap().attributes)},
            "scopeMetrics": scopes.collect::<Vec<_>>()})
    });
    json!({"resourceMetrics": resources.collect::<Vec<_>>()})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_requests_match_the_reference(resources in proptest::collection::vec(resource_strategy(), 0..3)) {
        let req = to_proto(&resources);
        let b = proto_batch(&req);
        let (want, rejected) = reference(&resources);
        prop_assert_eq!(samples(&b), want);
        prop_assert_eq!(b.rejected.len(), rejected);
        prop_assert_eq!(b.total, b.points.len() + b.rejected.len());
    }

    #[test]
    fn json_and_protobuf_give_the_same_batch(
        resources in proptest::collection::vec(resource_strategy(), 0..3),
        int_strings: bool,
    ) {
        let req = to_proto(&resources);
        let from_json = json_batch(&to_json(&req, int_strings));
        prop_assert_eq!(samples(&from_json), samples(&proto_batch(&req)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), json: bool, gzip: bool) {
        let _ = decode(&body, json, &opts(gzip), &TARGET);
    }

    #[test]
    fn mutated_requests_never_panic(
        resources in proptest::collection::vec(resource_strategy(), 1..3),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = to_proto(&resources).encode_to_vec();
        if !body.is_empty() {
            for (i, b) in flips {
                let i = i.index(body.len());
                body[i] = b;
            }
        }
        let _ = decode(&body, false, &opts(false), &TARGET);
    }
}
