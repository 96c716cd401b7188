//! Remote write decoding: bodies encoded with prost and snap's encoder, as a
//! sender does, checked against a simple reference mapping.

use proptest::prelude::*;

use super::proto::*;
use super::*;
use crate::ingest::point::labels_json;

const NOW_MS: i64 = 1_700_000_000_000;
const WINDOW: Window = Window {
    now_us: NOW_MS * 1000,
    min_time_us: (NOW_MS - 86_400_000) * 1000,
    max_time_us: (NOW_MS + 3_600_000) * 1000,
};
/// Prometheus's staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn opts(version: Version) -> Options<'static> {
    Options {
        window: WINDOW,
        version,
        namespace: "dflt",
        namespace_label: "hearth_namespace",
        max_decompressed: 1 << 20,
    }
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: Bytes::copy_from_slice(name.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(k, v)| label(k, v)).collect(),
        samples: samples
            .iter()
            .map(|&(value, timestamp)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn v1(req: &WriteRequest) -> Result<Batch, IngestError> {
    decode(&snappy(&req.encode_to_vec()), &opts(Version::V1))
}

fn v2(req: &RequestV2) -> Result<Batch, IngestError> {
    decode(&snappy(&req.encode_to_vec()), &opts(Version::V2))
}

/// `(namespace, name, labels_json, time_us, value bits)` of each accepted point.
type Row = (String, String, String, i64, u64);

fn rows(b: &Batch) -> Vec<Row> {
    (b.points.iter())
        .map(|p| {
            let s = b.identity(p.series as usize);
            let (ns, name, labels) = (s.namespace, s.name, s.labels_json);
            (ns, name, labels, p.time_us, p.value.to_bits())
        })
        .collect()
}

fn malformed(r: Result<Batch, IngestError>) -> String {
    match r {
        Err(IngestError::Malformed(m)) => m,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn maps_labels_name_and_namespace() {
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[
                    ("job", "api"),
                    ("__name__", "http_requests_total"),
                    ("code", ""),
                ],
                &[(1.5, NOW_MS), (2.5, NOW_MS + 1)],
            ),
            series(
                &[
                    ("__name__", "up"),
                    ("hearth_namespace", "prod"),
                    ("instance", "h:1"),
                ],
                &[(1.0, NOW_MS)],
            ),
            // An empty namespace label is no namespace label.
            series(
                &[("__name__", "up"), ("hearth_namespace", "")],
                &[(0.0, NOW_MS)],
            ),
        ],
        metadata: vec![],
    };
    let b = v1(&req).unwrap();
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    let us = NOW_MS * 1000;
    let row = |ns: &str, n: &str, l: &str, t: i64, v: f64| {
        (ns.into(), n.into(), l.into(), t, v.to_bits())
    };
    assert_eq!(
        rows(&b),
        vec![
            row("dflt", "http_requests_total", r#"{"job":"api"}"#, us, 1.5),
            row(
                "dflt",
                "http_requests_total",
                r#"{"job":"api"}"#,
                us + 1000,
                2.5
            ),
            row("prod", "up", r#"{"instance":"h:1"}"#, us, 1.0),
            row("dflt", "up", "{}", us, 0.0),
        ]
    );
    assert_eq!(b.series.len(), 3);
}

#[test]
fn values_kept_bit_for_bit() {
    let values = [
        f64::from_bits(STALE_NAN),
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        // (Not -0.0: prost, like Go's gogoproto, omits a double equal to 0, so it never arrives.)
        f64::MIN_POSITIVE,
    ];
    let samples: Vec<(f64, i64)> = (values.iter().enumerate())
        .map(|(i, &v)| (v, NOW_MS + i as i64))
        .collect();
    let b = v1(&WriteRequest {
        timeseries: vec![series(&[("__name__", "x")], &samples)],
        metadata: vec![],
    })
    .unwrap();
    let got: Vec<u64> = b.points.iter().map(|p| p.value.to_bits()).collect();
    let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    assert_eq!(got, want);
}

#[test]
fn bad_series_rejected_with_reasons_others_kept() {
    let old = NOW_MS - 2 * 86_400_000;
    let req = WriteRequest {
        timeseries: vec![
            series(&[("job", "a")], &[(1.0, NOW_MS), (2.0, NOW_MS)]),
            series(&[("__name__", "")], &[(1.0, NOW_MS)]),
            series(&[("__name__", "a"), ("__name__", "b")], &[(1.0, NOW_MS)]),
            series(&[("__name__", "ok"), ("bad-key", "v")], &[(1.0, NOW_MS)]),
            series(&[("__name__", "ok")], &[(1.0, old), (2.0, NOW_MS)]),
            TimeSeries {
                labels: vec![Label {
                    name: Bytes::from_static(b"__name__"),
                    value: Bytes::from_static(b"\xff"),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: NOW_MS,
                }],
                ..Default::default()
            },
        ],
        metadata: vec![],
    };
    let b = v1(&req).unwrap();
    let reasons: Vec<(usize, &str)> = b.rejected.iter().map(|(i, r)| (*i, r.as_str())).collect();
    assert_eq!(
        reasons,
        vec![
            (0, NO_NAME),
            (1, NO_NAME),
            (2, NO_NAME),
            (3, "labels.__name__: duplicate label"),
            (4, "labels.bad-key: key must match ^[A-Za-z_][A-Za-z0-9_]*$"),
            (5, crate::ingest::point::OUTSIDE_WINDOW),
            (7, NOT_UTF8),
        ]
    );
    assert_eq!(b.total, 8);
    assert_eq!(b.too_old, 1);
    assert_eq!(rows(&b).len(), 1);
}

#[test]
fn exemplars_histograms_metadata_counted_not_stored() {
    let mut ts = series(&[("__name__", "rpc_seconds")], &[]);
    ts.exemplars = vec![
        Exemplar {
            labels: vec![label("trace_id", "abc")],
            value: 0.3,
            timestamp: NOW_MS,
        };
        3
    ];
    ts.histograms = vec![Histogram {
        count: Some(HistogramCount::CountInt(4)),
        schema: 3,
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![1, 2],
        timestamp: NOW_MS,
        ..Default::default()
    }];
    let b = v1(&WriteRequest {
        timeseries: vec![ts],
        metadata: vec![MetricMetadata {
            r#type: 3,
            metric_family_name: Bytes::from_static(b"rpc_seconds"),
            help: Bytes::from_static(b"RPC latency"),
            unit: Bytes::new(),
        }],
    })
    .unwrap();
    assert_eq!(b.total, 0);
    assert!(b.points.is_empty());
    assert_eq!(
        b.ignored,
        vec![("exemplars", 3), ("native_histograms", 1), ("metadata", 1)]
    );
    // Metadata only: accepted, nothing stored.
    let b = v1(&WriteRequest {
        timeseries: vec![],
        metadata: vec![MetricMetadata::default(); 2],
    })
    .unwrap();
    assert_eq!((b.total, b.ignored.clone()), (0, vec![("metadata", 2)]));
}

#[test]
fn unknown_fields_are_skipped() {
    // A WriteRequest with field 2 (reserved, Cortex's source) and an unknown field 9.
    let mut raw = WriteRequest {
        timeseries: vec![series(&[("__name__", "up")], &[(1.0, NOW_MS)])],
        metadata: vec![],
    }
    .encode_to_vec();
    raw.extend_from_slice(&[0x10, 0x01, 0x4a, 0x02, b'h', b'i']);
    let b = decode(&snappy(&raw), &opts(Version::V1)).unwrap();
    assert_eq!(b.points.len(), 1);
}

#[test]
fn whole_body_errors() {
    let o = opts(Version::V1);
    let m = malformed(decode(b"\xff\xff\xff\xff\xff\xff", &o));
    assert!(m.starts_with("body is not snappy"), "{m}");
    let m = malformed(decode(&snappy(b"\x0a\x05ab"), &o));
    assert!(
        m.starts_with("body is not a prometheus.WriteRequest"),
        "{m}"
    );
    let big = snappy(&vec![0u8; (1 << 20) + 1]);
    assert_eq!(
        decode(&big, &o),
        Err(IngestError::TooLarge { limit: 1 << 20 })
    );
    // An empty body is an empty message.
    assert_eq!(decode(&snappy(b""), &o).unwrap().total, 0);
}

fn sym_request(symbols: &[&str], ts: Vec<TimeSeriesV2>) -> RequestV2 {
    RequestV2 {
        symbols: symbols
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect(),
        timeseries: ts,
    }
}

#[test]
fn v2_symbols_metadata_and_counts() {
    let syms = [
        "",
        "__name__",
        "up",
        "job",
        "api",
        "hearth_namespace",
        "prod",
        "help",
    ];
    let ts = TimeSeriesV2 {
        labels_refs: vec![3, 4, 1, 2, 5, 6],
        samples: vec![Sample {
            value: 1.0,
            timestamp: NOW_MS,
        }],
        exemplars: vec![ExemplarV2 {
            labels_refs: vec![3, 4],
            value: 1.0,
            timestamp: NOW_MS,
        }],
        histograms: vec![Histogram::default(); 2],
        metadata: Some(MetadataV2 {
            r#type: 2,
            help_ref: 7,
            unit_ref: 0,
        }),
        created_timestamp: NOW_MS - 1000,
    };
    // An unfilled metadata (what Go senders write for none) is not counted.
    let bare = TimeSeriesV2 {
        labels_refs: vec![1, 2, 3, 0],
        samples: vec![Sample {
            value: 2.0,
            timestamp: NOW_MS,
        }],
        metadata: Some(MetadataV2::default()),
        ..Default::default()
    };
    let b = v2(&sym_request(&syms, vec![ts, bare])).unwrap();
    let us = NOW_MS * 1000;
    assert_eq!(
        rows(&b),
        vec![
            (
                "prod".into(),
                "up".into(),
                r#"{"job":"api"}"#.into(),
                us,
                1f64.to_bits()
            ),
            ("dflt".into(), "up".into(), "{}".into(), us, 2f64.to_bits()),
        ]
    );
    assert_eq!(
        b.ignored,
        vec![("metadata", 1), ("exemplars", 1), ("native_histograms", 2)]
    );
}

#[test]
fn v2_refs_out_of_range_are_malformed_naming_the_field() {
    let syms = ["", "__name__", "up"];
    let with = |f: &dyn Fn(&mut TimeSeriesV2)| {
        let mut ts = TimeSeriesV2 {
            labels_refs: vec![1, 2],
            samples: vec![Sample {
                value: 1.0,
                timestamp: NOW_MS,
            }],
            ..Default::default()
        };
        f(&mut ts);
        let ok = TimeSeriesV2 {
            labels_refs: vec![1, 2],
            ..Default::default()
        };
        malformed(v2(&sym_request(&syms, vec![ok, ts])))
    };
    assert_eq!(
        with(&|ts| ts.labels_refs = vec![1, 3]),
        "timeseries[1].labels_refs[1]: symbol 3 out of range (3 symbols)"
    );
    assert_eq!(
        with(&|ts| ts.labels_refs = vec![1, 2, 0]),
        "timeseries[1].labels_refs: odd length 3 (name, value pairs expected)"
    );
    assert_eq!(
        with(&|ts| ts.exemplars = vec![ExemplarV2 {
            labels_refs: vec![9, 0],
            ..Default::default()
        }]),
        "timeseries[1].exemplars[0].labels_refs[0]: symbol 9 out of range (3 symbols)"
    );
    assert_eq!(
        with(&|ts| ts.metadata = Some(MetadataV2 {
            r#type: 1,
            help_ref: 0,
            unit_ref: 4
        })),
        "timeseries[1].metadata.unit_ref[0]: symbol 4 out of range (3 symbols)"
    );
    assert_eq!(
        with(&|ts| ts.metadata = Some(MetadataV2 {
            r#type: 1,
            help_ref: 5,
            unit_ref: 0
        })),
        "timeseries[1].metadata.help_ref[0]: symbol 5 out of range (3 symbols)"
    );
}

/// One generated series: its labels (in sender order), samples, exemplar and
/// native histogram counts.
#[derive(Debug, Clone)]
struct GenSeries {
    labels: Vec<(String, String)>,
    samples: Vec<(u64, i64)>,
    exemplars: usize,
    histograms: usize,
}

fn gen_series() -> impl Strategy<Value = GenSeries> {
    let name = prop_oneof![
        3 => "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}".prop_map(Some),
        1 => Just(Some(String::new())),
        1 => Just(None),
    ];
    let namespace = prop_oneof![
        "[a-z][a-z0-9_]{0,5}".prop_map(Some),
        Just(Some(String::new())),
        Just(None),
    ];
    let others = prop::collection::btree_map("[a-z][a-z0-9_]{0,6}", "\\PC{0,5}", 0..5);
    let time = (NOW_MS - 2 * 86_400_000)..(NOW_MS + 7_200_000);
    let value = prop_oneof![
        4 => any::<u64>(),
        1 => Just(STALE_NAN),
        1 => Just((-0.0f64).to_bits()),
    ];
    let samples = prop::collection::vec((value, time), 0..4);
    (name, namespace, others, samples, 0..3usize, 0..2usize)
        .prop_flat_map(|(name, ns, others, samples, exemplars, histograms)| {
            let mut labels: Vec<(String, String)> = others.into_iter().collect();
            labels.extend(name.map(|n| (NAME_LABEL.to_owned(), n)));
            labels.extend(ns.map(|n| ("hearth_namespace".to_owned(), n)));
            (
                Just(labels).prop_shuffle(),
                Just(samples),
                Just(exemplars),
                Just(histograms),
            )
        })
        .prop_map(|(labels, samples, exemplars, histograms)| GenSeries {
            labels,
            samples,
            exemplars,
            histograms,
        })
}

/// What the decoder must produce: the accepted rows and the number of rejected samples.
fn reference(series: &[GenSeries]) -> (Vec<Row>, usize) {
    let (mut rows, mut rejected) = (Vec::new(), 0);
    for s in series {
        let present: Vec<&(String, String)> =
            s.labels.iter().filter(|(_, v)| !v.is_empty()).collect();
        let get = |k: &str| present.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut rest: Vec<(&str, &str)> = (present.iter())
            .filter(|(k, _)| k != NAME_LABEL && k != "hearth_namespace")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        rest.sort();
        let ns = get("hearth_namespace").unwrap_or_else(|| "dflt".into());
        for &(bits, ms) in &s.samples {
            let us = ms * 1000;
            // The encoder omits a double equal to 0: -0.0 arrives as 0.0.
            let bits = if f64::from_bits(bits) == 0.0 { 0 } else { bits };
            match get(NAME_LABEL) {
                Some(name) if (WINDOW.min_time_us..=WINDOW.max_time_us).contains(&us) => {
                    rows.push((ns.clone(), name, labels_json(&rest), us, bits))
                }
                _ => rejected += 1,
            }
        }
    }
    (rows, rejected)
}

fn encode_v1(series: &[GenSeries]) -> WriteRequest {
    let timeseries = (series.iter())
        .map(|s| TimeSeries {
            labels: s.labels.iter().map(|(k, v)| label(k, v)).collect(),
            samples: (s.samples.iter())
                .map(|&(bits, timestamp)| Sample {
                    value: f64::from_bits(bits),
                    timestamp,
                })
                .collect(),
            exemplars: vec![
                Exemplar {
                    labels: vec![label("trace_id", "t")],
                    value: 1.0,
                    timestamp: NOW_MS
                };
                s.exemplars
            ],
            histograms: vec![
                Histogram {
                    sum: 2.0,
                    count: Some(HistogramCount::CountFloat(1.0)),
                    ..Default::default()
                };
                s.histograms
            ],
        })
        .collect();
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

fn encode_v2(series: &[GenSeries]) -> RequestV2 {
    let mut symbols: Vec<String> = vec![String::new()];
    let mut sym = |s: &str| -> u32 {
        match symbols.iter().position(|x| x == s) {
            Some(i) => i as u32,
            None => {
                symbols.push(s.to_owned());
                (symbols.len() - 1) as u32
            }
        }
    };
    let timeseries = (series.iter())
        .map(|s| TimeSeriesV2 {
            labels_refs: s
                .labels
                .iter()
                .flat_map(|(k, v)| [sym(k), sym(v)])
                .collect(),
            samples: (s.samples.iter())
                .map(|&(bits, timestamp)| Sample {
                    value: f64::from_bits(bits),
                    timestamp,
                })
                .collect(),
            exemplars: vec![
                ExemplarV2 {
                    labels_refs: vec![sym("trace_id"), sym("t")],
                    value: 1.0,
                    timestamp: NOW_MS
                };
                s.exemplars
            ],
            histograms: vec![Histogram::default(); s.histograms],
            metadata: Some(MetadataV2::default()),
            created_timestamp: 0,
        })
        .collect();
    let symbols = symbols.into_iter().map(Bytes::from).collect();
    RequestV2 {
        symbols,
        timeseries,
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        for version in [Version::V1, Version::V2] {
            let _ = decode(&body, &opts(version));
            // The same bytes as a snappy body: protobuf decoding sees them.
            let _ = decode(&snappy(&body), &opts(version));
        }
    }

    #[test]
    fn v1_and_v2_agree_with_the_reference(series in prop::collection::vec(gen_series(), 0..8)) {
        let (want, rejected) = reference(&series);
        let exemplars: usize = series.iter().map(|s| s.exemplars).sum();
        let histograms: usize = series.iter().map(|s| s.histograms).sum();
        for b in [v1(&encode_v1(&series)).unwrap(), v2(&encode_v2(&series)).unwrap()] {
            prop_assert_eq!(rows(&b), want.clone());
            prop_assert_eq!(b.rejected.len(), rejected);
            prop_assert_eq!(b.total, want.len() + rejected);
            let count = |what| b.ignored.iter().find(|(w, _)| *w == what).map_or(0, |(_, n)| *n as usize);
            prop_assert_eq!(count("exemplars"), exemplars);
            prop_assert_eq!(count("native_histograms"), histograms);
        }
    }
}
