//! Remote write encoding: bodies decoded back through the remote write decoder
//! (and through prost's own `WriteRequest`), compared with a reference
//! mapping of the batch.

use std::collections::BTreeMap;
use std::time::Instant;

use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::ingest::point::Window;
use crate::ingest::remote_write::proto::WriteRequest;
use crate::ingest::remote_write::{self as rw, Version};
use crate::ingest::{self, influx, otlp, Builder, Format};

const NOW_MS: i64 = 1_700_000_000_000;
const WINDOW: Window = Window {
    now_us: NOW_MS * 1000,
    min_time_us: (NOW_MS - 86_400_000) * 1000,
    max_time_us: (NOW_MS + 3_600_000) * 1000,
};
const NS_LABEL: &str = "hearth_namespace";
/// Prometheus's staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// `(namespace, name, labels, time_us, value bits)` of a point.
type Row = (String, String, BTreeMap<String, String>, i64, u64);

fn labels_of(json: &str) -> BTreeMap<String, String> {
    serde_json::from_str(json).unwrap()
}

/// The accepted points of `b`, in its order.
fn rows(b: &Batch) -> Vec<Row> {
    (b.points.iter())
        .map(|p| {
            let id = b.identity(p.series as usize);
            let labels = labels_of(&id.labels_json);
            (id.namespace, id.name, labels, p.time_us, p.value.to_bits())
        })
        .collect()
}

/// What the backend should hold of `b`: series in order of first appearance,
/// keyed by the labels it sees (no empty values, no own labels named like the
/// name/namespace labels), each one's samples by ms (µs floored), the last
/// input of a millisecond kept.
fn expected(b: &Batch) -> Vec<Row> {
    type Key = (String, String, BTreeMap<String, String>);
    let mut keys: Vec<Key> = Vec::new();
    let mut samples: Vec<Vec<(i64, u64)>> = Vec::new();
    for p in &b.points {
        let id = b.identity(p.series as usize);
        let mut labels = labels_of(&id.labels_json);
        labels.retain(|k, v| !v.is_empty() && k != "__name__" && k != NS_LABEL);
        let key = (id.namespace, id.name, labels);
        let g = match keys.iter().position(|k| *k == key) {
            Some(g) => g,
            None => {
                keys.push(key);
                samples.push(Vec::new());
                keys.len() - 1
            }
        };
        samples[g].push((p.time_us.div_euclid(1000), p.value.to_bits()));
    }
    let mut out = Vec::new();
    for (key, mut group) in keys.into_iter().zip(samples) {
        group.sort_by_key(|s| s.0); // stable: input order within a millisecond
        let mut by_ms: Vec<(i64, u64)> = Vec::new();
        for (ms, bits) in group {
            match by_ms.last_mut() {
                Some(last) if last.0 == ms => last.1 = bits,
                _ => by_ms.push((ms, bits)),
            }
        }
        for (ms, bits) in by_ms {
            out.push((key.0.clone(), key.1.clone(), key.2.clone(), ms * 1000, bits));
        }
    }
    out
}

fn decode_back(body: &[u8]) -> Batch {
    let opts = rw::Options {
        window: WINDOW,
        version: Version::V1,
        namespace: "unused",
        namespace_label: NS_LABEL,
        max_decompressed: 1 << 30,
    };
    rw::decode(body, &opts).unwrap()
}

/// Encode `b`, decode it back, and compare with the reference.
fn round_trip(b: &Batch) -> Batch {
    let body = encode_remote_write(b, NS_LABEL);
    let back = decode_back(&body);
    assert_eq!(back.rejected, vec![]);
    assert_eq!(rows(&back), expected(b));
    back
}

/// The label names of each encoded series, as sent.
fn sent_labels(b: &Batch) -> Vec<Vec<(String, String)>> {
    let raw = write_request(b, NS_LABEL);
    let req = WriteRequest::decode(&raw[..]).unwrap();
    (req.timeseries.iter())
        .map(|ts| {
            (ts.labels.iter())
                .map(|l| {
                    let k = String::from_utf8(l.name.to_vec()).unwrap();
                    (k, String::from_utf8(l.value.to_vec()).unwrap())
                })
                .collect()
        })
        .collect()
}

fn sample(b: &mut Builder, ns: &str, name: &str, labels: &[(&str, &str)], us: i64, v: f64) {
    b.sample(ns, name, labels.to_vec(), us, v);
}

#[test]
fn json_points_round_trip() {
    let body = format!(
        r#"[
        {{"namespace": "shop", "name": "orders", "value": 3, "labels": {{"region": "eu", "zone": ""}},
          "timestamp": {t1}}},
        {{"namespace": "shop", "name": "orders", "value": 4.5, "labels": {{"zone": "", "region": "eu"}},
          "timestamp": {t0}}},
        {{"namespace": "ops", "name": "cpu.load", "value": -0.25, "timestamp": {t0}}},
        {{"namespace": "shop", "name": "orders", "value": 1e300, "labels": {{"region": "us"}}}},
        {{"namespace": "shop", "name": "bad name", "value": 1}}
    ]"#,
        t0 = (NOW_MS - 5000) as f64 / 1000.0,
        t1 = (NOW_MS - 1000) as f64 / 1000.0,
    );
    let opts = ingest::Options {
        window: WINDOW,
        gzip: false,
        max_decompressed: 1 << 20,
    };
    let b = ingest::decode(body.as_bytes(), Format::Json, &opts).unwrap();
    assert_eq!(b.rejected.len(), 1);
    assert_eq!(b.series.len(), 3);
    let back = round_trip(&b);
    assert_eq!(back.namespaces(), vec!["ops", "shop"]);
    assert_eq!(b.namespaces(), vec!["ops", "shop"]);
    // The empty `zone` label is not sent; `orders{region="eu"}`'s two points
    // are sent in time order.
    assert_eq!(
        sent_labels(&b)[0],
        vec![
            ("__name__".into(), "orders".into()),
            (NS_LABEL.into(), "shop".into()),
            ("region".into(), "eu".into()),
        ]
    );
}

#[test]
fn influx_round_trip() {
    let body = format!(
        "cpu,host=a,hearth_namespace=infra usage=0.5,idle=99i {t}\n\
         cpu,host=b usage=-2.5e-3 {t}\n\
         mem,host=a used=1024u {t}\n",
        t = (NOW_MS - 2000) * 1_000_000 + 123_456,
    );
    let opts = influx::Options {
        window: WINDOW,
        precision: influx::Precision::Nanoseconds,
        gzip: false,
        max_decompressed: 1 << 20,
        namespace: "default",
        namespace_label: NS_LABEL,
    };
    let b = influx::decode(body.as_bytes(), &opts).unwrap();
    assert_eq!(b.rejected, vec![]);
    assert_eq!(b.points.len(), 4);
    round_trip(&b);
    assert_eq!(b.namespaces(), vec!["default", "infra"]);
}

#[test]
fn otlp_round_trip() {
    let ns = (NOW_MS - 3000) * 1_000_000 + 500_000;
    let body = serde_json::json!({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "shop"}},
            {"key": "host.name", "value": {"stringValue": "h1"}}
        ]},
        "scopeMetrics": [{"metrics": [
            {"name": "queue.depth", "gauge": {"dataPoints": [
                {"timeUnixNano": ns.to_string(), "asInt": "-3",
                 "attributes": [{"key": "hearth_namespace", "value": {"stringValue": "jobs"}}]},
                {"timeUnixNano": (ns + 1).to_string(), "asDouble": 7.5,
                 "attributes": [{"key": "hearth_namespace", "value": {"stringValue": "jobs"}}]}
            ]}},
            {"name": "rpc.duration", "unit": "ms", "summary": {"dataPoints": [{
                "timeUnixNano": ns.to_string(), "count": 3, "sum": 30.5,
                "quantileValues": [{"quantile": 0.5, "value": 9}]}]}}
        ]}]
    }]});
    let opts = ingest::Options {
        window: WINDOW,
        gzip: false,
        max_decompressed: 1 << 20,
    };
    let target = otlp::Target {
        namespace: "default",
        namespace_label: NS_LABEL,
    };
    let raw = serde_json::to_vec(&body).unwrap();
    let b = otlp::decode(&raw, true, &opts, &target).unwrap();
    assert_eq!(b.rejected, vec![]);
    let back = round_trip(&b);
    // The two queue_depth points share a millisecond: the later (7.5) is kept.
    let depth: Vec<Row> = rows(&back)
        .into_iter()
        .filter(|r| r.1 == "queue_depth")
        .collect();
    assert_eq!(depth.len(), 1);
    assert_eq!(f64::from_bits(depth[0].4), 7.5);
    assert_eq!(depth[0].0, "jobs");
}

#[test]
fn labels_sorted_by_name_with_name_and_namespace() {
    let mut b = Builder::new(WINDOW);
    let t = NOW_MS * 1000;
    // `__name__`'s underscores sort before letters; `Zed` (upper case) before
    // `hearth_namespace`; an own `__name__` and `hearth_namespace` lose.
    let own = [
        ("zone", "z"),
        ("Zed", "1"),
        ("a", "2"),
        ("__name__", "impostor"),
        (NS_LABEL, "elsewhere"),
        ("_x", "3"),
        ("empty", ""),
    ];
    sample(&mut b, "ns1", "metric:x", &own, t, 1.0);
    let b = b.finish();
    assert_eq!(b.rejected, vec![]);
    let got = sent_labels(&b);
    let want: Vec<(String, String)> = [
        ("Zed", "1"),
        ("__name__", "metric:x"),
        ("_x", "3"),
        ("a", "2"),
        (NS_LABEL, "ns1"),
        ("zone", "z"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, vec![want]);
    let back = decode_back(&encode_remote_write(&b, NS_LABEL));
    let id = back.identity(0);
    assert_eq!(
        (id.namespace.as_str(), id.name.as_str()),
        ("ns1", "metric:x")
    );
    assert_eq!(id.labels_json, r#"{"Zed":"1","_x":"3","a":"2","zone":"z"}"#);
}

#[test]
fn another_namespace_label_name() {
    let mut b = Builder::new(WINDOW);
    sample(&mut b, "t1", "up", &[("job", "j")], NOW_MS * 1000, 1.0);
    let b = b.finish();
    let raw = write_request(&b, "tenant");
    let req = WriteRequest::decode(&raw[..]).unwrap();
    let names: Vec<&[u8]> = req.timeseries[0]
        .labels
        .iter()
        .map(|l| &l.name[..])
        .collect();
    assert_eq!(names, vec![&b"__name__"[..], b"job", b"tenant"]);
}

#[test]
fn duplicate_milliseconds_keep_the_later_input() {
    let mut b = Builder::new(WINDOW);
    let t = NOW_MS * 1000;
    // Out of order, and three points in one millisecond (t+5000 .. t+5999 µs):
    // the last in input order wins, whatever its µs.
    for (us, v) in [
        (t + 5_900, 1.0),
        (t, 2.0),
        (t + 5_000, 3.0),
        (t + 5_999, 4.0),
        (t + 5_100, 5.0),
        (t - 1, 6.0),
        (t - 1_000, 7.0),
    ] {
        sample(&mut b, "ns", "m", &[], us, v);
    }
    let b = b.finish();
    let back = round_trip(&b);
    let got: Vec<(i64, f64)> = (back.points.iter()).map(|p| (p.time_us, p.value)).collect();
    // -1 µs floors to the millisecond before; it shares it with t - 1000 µs,
    // which comes later in input order.
    assert_eq!(got, vec![(t - 1000, 7.0), (t, 2.0), (t + 5_000, 5.0)]);
}

#[test]
fn negative_times_floor() {
    let w = Window {
        now_us: 0,
        min_time_us: i64::MIN,
        max_time_us: i64::MAX,
    };
    let mut b = Builder::new(w);
    sample(&mut b, "ns", "m", &[], -1, 1.0);
    sample(&mut b, "ns", "m", &[], -1_001, 2.0);
    let b = b.finish();
    let raw = write_request(&b, NS_LABEL);
    let req = WriteRequest::decode(&raw[..]).unwrap();
    let ts: Vec<i64> = req.timeseries[0]
        .samples
        .iter()
        .map(|s| s.timestamp)
        .collect();
    assert_eq!(ts, vec![-2, -1]);
}

#[test]
fn special_values_bit_exact() {
    let mut b = Builder::new(WINDOW);
    let t = NOW_MS * 1000;
    let values = [
        f64::NAN,
        f64::from_bits(STALE_NAN),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        -1.5e-310,
    ];
    for (i, v) in values.iter().enumerate() {
        sample(&mut b, "ns", "m", &[], t + i as i64 * 1000, *v);
    }
    let b = b.finish();
    let back = round_trip(&b);
    let bits: Vec<u64> = back.points.iter().map(|p| p.value.to_bits()).collect();
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(bits, want);
    assert_eq!(bits[4], 0x8000_0000_0000_0000);
}

#[test]
fn empty_batch() {
    let b = Batch::default();
    assert_eq!(write_request(&b, NS_LABEL), Vec::<u8>::new());
    let back = decode_back(&encode_remote_write(&b, NS_LABEL));
    assert_eq!(back.points.len(), 0);
    assert_eq!(b.namespaces(), Vec::<&str>::new());
}

#[test]
fn same_bytes_as_prost() {
    // The hand-written protobuf equals prost's encoding of the same message.
    use crate::ingest::remote_write::proto::{Label, Sample, TimeSeries};
    use prost::bytes::Bytes;
    let mut b = Builder::new(WINDOW);
    let long = "v".repeat(300);
    let t = NOW_MS * 1000;
    sample(&mut b, "ns", "m", &[("k", &long)], t, -1.0);
    sample(&mut b, "ns", "m2", &[], t + 1000, 2.0);
    let b = b.finish();
    let l = |k: &str, v: &str| Label {
        name: Bytes::copy_from_slice(k.as_bytes()),
        value: Bytes::copy_from_slice(v.as_bytes()),
    };
    let want = WriteRequest {
        timeseries: vec![
            TimeSeries {
                labels: vec![l("__name__", "m"), l(NS_LABEL, "ns"), l("k", &long)],
                samples: vec![Sample {
                    value: -1.0,
                    timestamp: NOW_MS,
                }],
                ..Default::default()
            },
            TimeSeries {
                labels: vec![l("__name__", "m2"), l(NS_LABEL, "ns")],
                samples: vec![Sample {
                    value: 2.0,
                    timestamp: NOW_MS + 1,
                }],
                ..Default::default()
            },
        ],
        metadata: vec![],
    };
    assert_eq!(write_request(&b, NS_LABEL), want.encode_to_vec());
}

#[test]
fn varint_lengths() {
    for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX, (-1i64) as u64] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        assert_eq!(out.len(), varint_len(v), "{v}");
    }
}

/// Encoding speed, printed (`cargo test --release encode_speed -- --nocapture`).
#[test]
fn encode_speed() {
    let t = NOW_MS * 1000;
    for (series, per) in [(100_000usize, 1usize), (1_000, 100)] {
        let mut b = Builder::new(WINDOW);
        let names: Vec<String> = (0..series).map(|i| format!("host-{i}")).collect();
        for j in 0..per {
            for name in &names {
                let labels = vec![("host", name.as_str()), ("job", "node"), ("region", "eu-1")];
                b.sample(
                    "default",
                    "node_cpu_seconds_total",
                    labels,
                    t + j as i64 * 1000,
                    1.5,
                );
            }
        }
        let b = b.finish();
        let n = b.points.len();
        let rounds = 20;
        let start = Instant::now();
        let mut raw = Vec::new();
        for _ in 0..rounds {
            raw = write_request(&b, NS_LABEL);
        }
        let protobuf = start.elapsed().as_secs_f64() / rounds as f64;
        let start = Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            bytes = snap::raw::Encoder::new().compress_vec(&raw).unwrap().len();
        }
        let snappy = start.elapsed().as_secs_f64() / rounds as f64;
        println!(
            "encode_remote_write: {series} series × {per} samples: {:.1} M samples/s \
             (protobuf {:.1} ms, snappy {:.1} ms; {} → {bytes} bytes)",
            n as f64 / (protobuf + snappy) / 1e6,
            protobuf * 1e3,
            snappy * 1e3,
            raw.len(),
        );
        assert_eq!(
            decode_back(&encode_remote_write(&b, NS_LABEL)).points.len(),
            n
        );
    }
}

fn arb_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::from_bits(STALE_NAN)),
        Just(-0.0),
        Just(f64::INFINITY),
    ]
}

proptest! {
    #[test]
    fn any_batch_round_trips(
        points in prop::collection::vec(
            (0usize..3, 0usize..3, prop::collection::vec((0usize..4, 0usize..3), 0..4),
             0i64..5_000, arb_value()),
            0..60,
        )
    ) {
        let namespaces = ["a", "b", "default"];
        let names = ["up", "x:y", "m.n"];
        let keys = ["job", "__name__", NS_LABEL, "z"];
        let values = ["", "1", "é\"\\"];
        let mut b = Builder::new(WINDOW);
        for (ns, name, labels, us, v) in &points {
            let mut ls: Vec<(&str, &str)> = Vec::new();
            for (k, val) in labels {
                if !ls.iter().any(|(x, _)| *x == keys[*k]) {
                    ls.push((keys[*k], values[*val]));
                }
            }
            b.sample(namespaces[*ns], names[*name], ls, NOW_MS * 1000 + us, *v);
        }
        let b = b.finish();
        prop_assert_eq!(b.rejected.len(), 0);
        let body = encode_remote_write(&b, NS_LABEL);
        let back = decode_back(&body);
        prop_assert_eq!(back.rejected.len(), 0);
        prop_assert_eq!(rows(&back), expected(&b));
    }
}

#[test]
fn series_equal_in_the_backend_are_sent_as_one() {
    let mut b = Builder::new(WINDOW);
    let t = NOW_MS * 1000;
    sample(&mut b, "ns", "m", &[("a", "")], t, 1.0);
    sample(&mut b, "ns", "m", &[], t + 10, 2.0);
    sample(&mut b, "ns", "m", &[(NS_LABEL, "other")], t + 2000, 3.0);
    sample(&mut b, "ns", "m", &[("__name__", "x")], t + 1000, 4.0);
    sample(&mut b, "ns", "m", &[("b", "1")], t, 5.0);
    let b = b.finish();
    assert_eq!(b.series.len(), 5);
    let raw = write_request(&b, NS_LABEL);
    let req = WriteRequest::decode(&raw[..]).unwrap();
    assert_eq!(req.timeseries.len(), 2);
    let got: Vec<(i64, f64)> = (req.timeseries[0].samples.iter())
        .map(|s| (s.timestamp, s.value))
        .collect();
    assert_eq!(
        got,
        vec![(NOW_MS, 2.0), (NOW_MS + 1, 4.0), (NOW_MS + 2, 3.0)]
    );
    assert_eq!(req.timeseries[1].labels.len(), 3);
    round_trip(&b);
}
