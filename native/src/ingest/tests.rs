//! End-to-end tests of `decode` over every format.

use super::point::Window;
use super::*;

const NOW: i64 = 1_700_000_000_000_000;

fn opts() -> Options {
    Options {
        window: Window {
            now_us: NOW,
            min_time_us: NOW - 86_400_000_000,
            max_time_us: NOW + 3_600_000_000,
        },
        gzip: false,
        max_decompressed: 1 << 20,
    }
}

fn dec(body: &str, format: Format) -> Batch {
    decode(body.as_bytes(), format, &opts()).unwrap()
}

/// The message of a body refused as malformed (any other outcome fails the test).
fn err(body: &[u8], format: Format) -> String {
    match decode(body, format, &opts()) {
        Err(IngestError::Malformed(msg)) => msg,
        other => panic!("expected IngestError::Malformed, got {other:?}"),
    }
}

fn reasons(b: &Batch) -> Vec<(usize, &str)> {
    b.rejected.iter().map(|(i, r)| (*i, r.as_str())).collect()
}

#[test]
fn json_array_and_points_object() {
    let body = r#"[
        {"namespace": "app", "name": "up", "value": 1},
        {"namespace": "app", "name": "up", "value": 2.5, "labels": {"b": "2", "a": "1"}, "timestamp": 1699999999},
        {"namespace": "app", "name": "up", "value": -3, "labels": {"a": "1", "b": "2"}, "timestamp": "2023-11-14T22:13:19.5Z"}
    ]"#;
    let b = dec(body, Format::Json);
    assert_eq!(b.total, 3);
    assert!(b.rejected.is_empty());
    assert_eq!(b.series.len(), 2);
    let h = crate::series::series_hash("app", "up", &[("a", "1"), ("b", "2")]).unwrap();
    assert_eq!(b.series[1].hash, h);
    assert_eq!(b.identity(1).labels_json, r#"{"a":"1","b":"2"}"#);
    assert_eq!(b.identity(0).labels_json, "{}");
    assert_eq!(
        b.points,
        vec![
            Point {
                series: 0,
                time_us: NOW,
                value: 1.0
            },
            Point {
                series: 1,
                time_us: NOW - 1_000_000,
                value: 2.5
            },
            Point {
                series: 1,
                time_us: NOW - 500_000,
                value: -3.0
            },
        ]
    );
    assert_eq!(b.min_time_us, Some(NOW - 1_000_000));
    assert_eq!(b.max_time_us, Some(NOW));
    let wrapped = format!("{{\"points\": {body}}}");
    assert_eq!(dec(&wrapped, Format::Json), b);
    assert_eq!(dec("[]", Format::Json), Batch::default());
    assert_eq!(dec(" {\"points\": []} ", Format::Json), Batch::default());
}

#[test]
fn json_row_errors() {
    let body = r#"[
        1, "x", null, [1, {"a": 2}], true,
        {"namespace": "app", "name": "up", "value": "1"},
        {"namespace": "app", "name": "up", "value": 1, "extra": {"deep": [1]}, "more": 2},
        {"namespace": "app", "name": "up", "value": 1, "value": 2},
        {"name": "up", "value": 1},
        {"namespace": "app", "name": "up", "value": 1, "labels": {"host": 5}},
        {"namespace": "app", "name": "up", "value": 1, "labels": [1]},
        {"namespace": "app", "name": "up", "value": 1, "timestamp": true},
        {"namespace": "app", "name": "up", "value": 1, "timestamp": 1},
        {"namespace": "a\u00e9", "name": "up", "value": 1},
        {"namespace": "app", "name": "up", "value": 1, "labels": null, "timestamp": null}
    ]"#;
    let b = dec(body, Format::Json);
    assert_eq!(b.total, 15);
    assert_eq!(b.points.len(), 1);
    assert_eq!(
        reasons(&b),
        vec![
            (0, "item: must be a JSON object"),
            (1, "item: must be a JSON object"),
            (2, "item: must be a JSON object"),
            (3, "item: must be a JSON object"),
            (4, "item: must be a JSON object"),
            (5, "value: must be a finite number"),
            (6, "unknown fields extra, more"),
            (7, "duplicate field value"),
            (8, "missing field namespace"),
            (9, "labels.host: must be a string"),
            (10, "labels: must be a JSON object"),
            (11, "timestamp: not RFC 3339 or epoch seconds/milliseconds"),
            (12, "timestamp outside the accepted window"),
            (13, "namespace: must match ^[A-Za-z_:][A-Za-z0-9_:.]*$"),
        ]
    );
}

#[test]
fn json_body_errors() {
    for body in [
        &b""[..],
        b"   ",
        b"{",
        b"[1,",
        b"[1] x",
        b"[1] [2]",
        b"[NaN]",
        b"[{\"value\": Infinity}]",
        b"\xff\xfe",
        b"[\"\xff\"]",
    ] {
        let e = err(body, Format::Json);
        assert!(e.starts_with("body is not valid JSON"), "{body:?}: {e}");
    }
    for body in [
        &b"{}"[..],
        b"1",
        b"\"points\"",
        b"null",
        b"{\"points\": 1}",
        b"{\"points\": {}}",
        b"{\"points\": [], \"x\": 1}",
        b"{\"x\": 1, \"points\": []}",
        b"{\"points\": [], \"points\": []}",
    ] {
        assert_eq!(err(body, Format::Json), json::BAD_SHAPE, "{body:?}");
    }
}

#[test]
fn ndjson() {
    let body = "{\"namespace\":\"a\",\"name\":\"b\",\"value\":1}\n\n  \t\r\n[1]\r\n{\"namespace\":\"a\",\"name\":\"b\",\"value\":2}\r\n{bad\n{\"namespace\":\"a\",\"name\":\"b\",\"value\":3} 4\n\"x\"";
    let b = dec(body, Format::Ndjson);
    assert_eq!(b.total, 6);
    assert_eq!(
        reasons(&b),
        vec![
            (1, "item: must be a JSON object"),
            (3, "item: not valid JSON"),
            (4, "item: not valid JSON"),
            (5, "item: must be a JSON object"),
        ]
    );
    assert_eq!(
        b.points.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    assert_eq!(dec("", Format::Ndjson), Batch::default());
    assert_eq!(dec("\n \n", Format::Ndjson), Batch::default());
    // invalid UTF-8 in a line is a row error, not a body error
    let b = decode(b"{\"namespace\":\"\xff\"}\n", Format::Ndjson, &opts()).unwrap();
    assert_eq!(reasons(&b), vec![(0, "item: not valid JSON")]);
}

#[test]
fn csv_basic() {
    let body = "value,name,namespace,labels,timestamp\n\
        1.5,up,app,\"{\"\"host\"\":\"\"h1\"\"}\",2023-11-14T22:13:19Z\n\
        2,up,app,,1699999999000\n\
        \n\
        3e0,up,app,{},\r\n\
        nan,up,app,,\n\
        4,up,app,\"{\"\"host\"\":1}\",\n\
        4,up,app,not json,\n\
        4,up,app,,yesterday\n\
        4,up,app\n\
        ,up,app,,\n";
    let b = dec(body, Format::Csv);
    assert_eq!(b.total, 9);
    assert_eq!(
        reasons(&b),
        vec![
            (3, "value: must be a finite number"),
            (4, "labels.host: must be a string"),
            (5, "labels: must be a JSON object"),
            (6, "timestamp: not RFC 3339 or epoch seconds/milliseconds"),
            (7, "row: expected 5 fields, got 3"),
            (8, "value: must be a finite number"),
        ]
    );
    assert_eq!(
        b.points,
        vec![
            Point {
                series: 0,
                time_us: NOW - 1_000_000,
                value: 1.5
            },
            Point {
                series: 1,
                time_us: NOW - 1_000_000,
                value: 2.0
            },
            Point {
                series: 1,
                time_us: NOW,
                value: 3.0
            },
        ]
    );
    assert_eq!(b.identity(0).labels_json, "{\"host\":\"h1\"}");
    // optional columns absent; BOM
    let b = dec("\u{feff}namespace,name,value\napp,up,1\n", Format::Csv);
    assert_eq!((b.total, b.points.len()), (1, 1));
    // header only
    assert_eq!(dec("namespace,name,value\n", Format::Csv), Batch::default());
}

#[test]
fn csv_header_errors() {
    assert_eq!(err(b"", Format::Csv), "CSV body has no header row");
    assert_eq!(
        err(b"namespace,name\n", Format::Csv),
        "CSV header: missing column \"value\""
    );
    assert_eq!(
        err(b"namespace,name,value,host\n", Format::Csv),
        "CSV header: unknown column \"host\""
    );
    assert_eq!(
        err(b"namespace,name,value,name\n", Format::Csv),
        "CSV header: duplicate column \"name\""
    );
    assert!(err(b"namespace,name,value\n\xff", Format::Csv).contains("not valid UTF-8"));
}

#[test]
fn formats_parse() {
    assert_eq!("json".parse::<Format>(), Ok(Format::Json));
    assert_eq!("ndjson".parse::<Format>(), Ok(Format::Ndjson));
    assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
    let e = "JSON".parse::<Format>().unwrap_err();
    assert_eq!(e, IngestError::UnknownFormat("JSON".into()));
    assert_eq!(
        e.to_string(),
        r#"unknown format "JSON" (expected "json", "ndjson" or "csv")"#
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_round_trip_and_limits() {
    let body = b"[{\"namespace\":\"a\",\"name\":\"b\",\"value\":1}]";
    let mut o = opts();
    o.gzip = true;
    let b = decode(&gzip(body), Format::Json, &o).unwrap();
    assert_eq!(b.points.len(), 1);
    // two members
    let mut two = gzip(b"{\"namespace\":\"a\",\"name\":\"b\",\"value\":1}\n");
    two.extend(gzip(b"{\"namespace\":\"a\",\"name\":\"b\",\"value\":2}\n"));
    assert_eq!(decode(&two, Format::Ndjson, &o).unwrap().points.len(), 2);
    // a bomb: 10 MB of spaces compress to ~10 kB
    let bomb = gzip(&vec![b' '; 10 << 20]);
    let e = decode(&bomb, Format::Ndjson, &o).unwrap_err();
    assert_eq!(e, IngestError::TooLarge { limit: 1 << 20 });
    assert_eq!(
        e.to_string(),
        "decompressed body exceeds the limit of 1048576 bytes"
    );
    // exactly at the limit is fine
    o.max_decompressed = body.len();
    assert!(decode(&gzip(body), Format::Json, &o).is_ok());
    o.max_decompressed = body.len() - 1;
    assert_eq!(
        decode(&gzip(body), Format::Json, &o).unwrap_err(),
        IngestError::TooLarge {
            limit: body.len() - 1
        }
    );
    o.max_decompressed = 1 << 20;
    for bad in [&b"not gzip"[..], &gzip(body)[..20]] {
        match decode(bad, Format::Json, &o) {
            Err(IngestError::Malformed(m)) => {
                assert!(m.starts_with("body is not valid gzip"), "{m}")
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn decoded_batch_encodes_to_a_block() {
    let b = dec(
        "[{\"namespace\":\"a\",\"name\":\"b\",\"value\":1.5,\"timestamp\":\"2023-11-14T22:13:20Z\"}]",
        Format::Json,
    );
    let block = crate::block::decode(&b.encode_block(&[7]).unwrap()).unwrap();
    assert_eq!(
        (block.series_ids, block.timestamps, block.values),
        (vec![7], vec![NOW], vec![1.5])
    );
}

#[test]
fn strings_with_escapes() {
    let b = dec(
        r#"[{"namespace":"a","name":"b","value":1,"labels":{"k":"x\"\n\u00e9\ud83d\udd25"}}]"#,
        Format::Json,
    );
    assert_eq!(b.identity(0).labels_json, "{\"k\":\"x\\\"\\né🔥\"}");
    let h = crate::series::series_hash("a", "b", &[("k", "x\"\né🔥")]).unwrap();
    assert_eq!(b.series[0].hash, h);
}

#[test]
fn big_and_small_numbers() {
    let b = dec(
        r#"[{"namespace":"a","name":"b","value":1e308},
            {"namespace":"a","name":"b","value":-5e-324},
            {"namespace":"a","name":"b","value":18446744073709551616},
            {"namespace":"a","name":"b","value":-9223372036854775809},
            {"namespace":"a","name":"b","value":0.1}]"#,
        Format::Json,
    );
    let v: Vec<f64> = b.points.iter().map(|p| p.value).collect();
    assert_eq!(
        v,
        vec![
            1e308,
            -5e-324,
            18446744073709551616.0,
            -9223372036854775808.0,
            0.1
        ]
    );
}

#[cfg(feature = "bench-parsers")]
#[test]
fn parsers_agree() {
    let bodies = [
        r#"[{"namespace":"a","name":"b","value":1,"labels":{"k":"v\u00e9"},"timestamp":"2023-11-14T22:13:20Z"}, 5, {"x":1}]"#,
        r#"{"points":[{"namespace":"a","name":"b","value":0.30000000000000004}]}"#,
        r#"[{"namespace":"a","name":"b","value":1e400}]"#,
        "[1] [2]",
        "{}",
    ];
    for body in bodies {
        let s = decode_with::<json::Sonic>(body.as_bytes(), Format::Json, &opts());
        let j = decode_with::<json::SerdeJson>(body.as_bytes(), Format::Json, &opts());
        let d = decode_with::<json::SimdJson>(body.as_bytes(), Format::Json, &opts());
        assert_eq!(s.is_ok(), j.is_ok(), "{body}");
        assert_eq!(s.is_ok(), d.is_ok(), "{body}: {d:?}");
        if let (Ok(s), Ok(j), Ok(d)) = (s, j, d) {
            assert_eq!(s, j);
            assert_eq!(s, d);
        }
    }
}

#[test]
fn unmapped_and_mapped_ids_follow_the_map() {
    let b = dec(
        r#"[{"namespace": "a", "name": "x", "value": 1},
            {"namespace": "a", "name": "y", "value": 2},
            {"namespace": "a", "name": "x", "value": 3},
            {"namespace": "a", "name": "z", "value": 4}]"#,
        Format::Json,
    );
    let [x, y, z] = [0, 1, 2].map(|i| b.series[i].hash);
    let mut map = crate::series_map::SeriesMap::new(10);
    assert_eq!(b.unmapped(&map), vec![0, 1, 2]);
    assert_eq!(b.mapped_ids(&map), Err(x));
    map.insert_many([(y, 20), (x, 10)]);
    assert_eq!(b.unmapped(&map), vec![2]);
    assert_eq!(b.mapped_ids(&map), Err(z));
    map.insert_many([(z, 30)]);
    assert!(b.unmapped(&map).is_empty());
    let ids = b.mapped_ids(&map).unwrap();
    assert_eq!(ids, vec![10, 20, 30]);
    let block = crate::block::decode(&b.encode_block(&ids).unwrap()).unwrap();
    assert_eq!(block.series_ids, vec![10, 10, 20, 30]);
    assert_eq!(block.values, vec![1.0, 3.0, 2.0, 4.0]);
}
