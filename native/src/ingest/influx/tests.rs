//! Line protocol decoding: mapping, precision, per-line errors, and fuzzing
//! (arbitrary bytes; round trips through the crate's own `LineProtocolBuilder`).

use std::io::Write as _;

use influxdb_line_protocol::{builder, LineProtocolBuilder};
use proptest::prelude::*;

use super::*;
use crate::ingest::point::{is_valid_name, OUTSIDE_WINDOW};

const NOW: i64 = 1_700_000_000_000_000;
const WINDOW: Window = Window {
    now_us: NOW,
    min_time_us: NOW - 86_400_000_000,
    max_time_us: NOW + 3_600_000_000,
};

fn opts(precision: Precision) -> Options<'static> {
    Options {
        window: WINDOW,
        precision,
        gzip: false,
        max_decompressed: 1 << 20,
        namespace: "default",
        namespace_label: "hearth_namespace",
    }
}

fn dec(body: &str) -> Batch {
    decode(body.as_bytes(), &opts(Precision::Nanoseconds)).unwrap()
}

/// `(namespace, name, labels_json, time_us, value)` of each accepted point (the
/// identities leaked, so the tests compare against string literals).
fn samples(b: &Batch) -> Vec<(&'static str, &'static str, &'static str, i64, f64)> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    (b.points.iter())
        .map(|p| {
            let s = b.identity(p.series as usize);
            (
                leak(s.namespace),
                leak(s.name),
                leak(s.labels_json),
                p.time_us,
                p.value,
            )
        })
        .collect()
}

fn reasons(b: &Batch) -> Vec<(usize, &str)> {
    b.rejected.iter().map(|(i, r)| (*i, r.as_str())).collect()
}

const T_NS: i64 = NOW * 1000 + 123;

#[test]
fn fields_become_series_and_tags_labels() {
    let body = format!(
        "cpu,host=a,region=eu usage_user=0.5,usage_idle=99i,ctx=7u,up=true,down=F {T_NS}\n"
    );
    let b = dec(&body);
    let labels = r#"{"host":"a","region":"eu"}"#;
    assert_eq!(
        samples(&b),
        vec![
            ("default", "cpu_usage_user", labels, NOW, 0.5),
            ("default", "cpu_usage_idle", labels, NOW, 99.0),
            ("default", "cpu_ctx", labels, NOW, 7.0),
            ("default", "cpu_up", labels, NOW, 1.0),
            ("default", "cpu_down", labels, NOW, 0.0),
        ]
    );
    assert_eq!(b.total, 5);
    assert!(b.rejected.is_empty());
    let h = crate::series::series_hash(
        "default",
        "cpu_usage_user",
        &[("host", "a"), ("region", "eu")],
    )
    .unwrap();
    assert_eq!(b.series[0].hash, h);
    // Tag order does not matter: the same series.
    let b2 = dec(&format!("cpu,region=eu,host=a usage_user=1 {T_NS}"));
    assert_eq!(b2.series[0].hash, h);
}

#[test]
fn integers_beyond_2_pow_53_round_like_f64() {
    let b = dec("m i=9223372036854775807i,u=18446744073709551615u,n=-9223372036854775808i");
    let values: Vec<f64> = b.points.iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        vec![i64::MAX as f64, u64::MAX as f64, i64::MIN as f64]
    );
}

#[test]
fn line_without_timestamp_gets_now() {
    let b = dec("m v=1\nm v=2 \t\n");
    assert_eq!(
        b.points.iter().map(|p| p.time_us).collect::<Vec<_>>(),
        vec![NOW, NOW]
    );
}

#[test]
fn precisions() {
    let cases = [
        (Precision::Nanoseconds, T_NS),
        (Precision::Microseconds, NOW),
        (Precision::Milliseconds, NOW / 1000),
        (Precision::Seconds, NOW / 1_000_000),
        (Precision::Minutes, NOW / 60_000_000),
        (Precision::Hours, NOW / 3_600_000_000),
    ];
    for (p, t) in cases {
        let b = decode(format!("m v=1 {t}").as_bytes(), &opts(p)).unwrap();
        let want = match p {
            Precision::Minutes => t * 60_000_000,
            Precision::Hours => t * 3_600_000_000,
            _ => NOW,
        };
        assert_eq!(b.points[0].time_us, want, "{p:?}");
    }
    for (s, p) in [
        ("ns", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("us", Precision::Microseconds),
        ("u", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
        ("m", Precision::Minutes),
        ("h", Precision::Hours),
    ] {
        assert_eq!(s.parse::<Precision>(), Ok(p));
    }
    assert!("µs"
        .parse::<Precision>()
        .unwrap_err()
        .contains("unknown precision"));
    // Floored, so a nanosecond time before 1970 stays before it.
    assert_eq!(Precision::Nanoseconds.to_us(-1), -1);
    assert_eq!(Precision::Hours.to_us(i64::MAX), i64::MAX);
    assert_eq!(Precision::Seconds.to_us(i64::MIN), i64::MIN);
}

#[test]
fn too_old_and_too_new_are_refused_by_field() {
    let old = (NOW - 2 * 86_400_000_000) * 1000;
    let new = (NOW + 2 * 3_600_000_000) * 1000;
    let b = dec(&format!("m a=1,b=2 {old}\nm a=3 {new}\nm a=4 {T_NS}"));
    assert_eq!(b.too_old, 2);
    assert_eq!(
        reasons(&b),
        vec![
            (0, format!("field a: {OUTSIDE_WINDOW}").as_str()),
            (0, format!("field b: {OUTSIDE_WINDOW}").as_str()),
            (1, format!("field a: {OUTSIDE_WINDOW}").as_str()),
        ]
    );
    assert_eq!(b.points.len(), 1);
    assert_eq!(b.total, 4);
    // Saturated, a far-past time in seconds is too old too (not a wrap-around).
    let s = decode(
        format!("m a=1 {}", i64::MIN).as_bytes(),
        &opts(Precision::Seconds),
    )
    .unwrap();
    assert_eq!(s.too_old, 1);
}

#[test]
fn string_fields_are_rejected_and_the_other_fields_kept() {
    let b = dec("proc,host=a name=\"nginx\",pid=42i,cmd=\"a b\"\nproc only=\"text\"\n");
    assert_eq!(
        samples(&b),
        vec![("default", "proc_pid", r#"{"host":"a"}"#, NOW, 42.0)]
    );
    assert_eq!(
        reasons(&b),
        vec![
            (0, "field name: string values are not stored"),
            (0, "field cmd: string values are not stored"),
            (1, "field only: string values are not stored"),
        ]
    );
    assert_eq!(b.total, 4);
}

#[test]
fn bad_lines_are_reported_by_index_and_decoding_goes_on() {
    let body = "# a comment\n\
                m v=1\n\
                \n\
                m v=\n\
                   \t \n\
                m,=x v=1\n\
                m v=1 12abc\n\
                m\n\
                m v=2\n";
    let b = dec(body);
    assert_eq!(
        samples(&b).iter().map(|s| s.4).collect::<Vec<_>>(),
        vec![1.0, 2.0]
    );
    let r = reasons(&b);
    assert_eq!(
        r.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![3, 5, 6, 7]
    );
    assert!(r[0].1.starts_with("unable to parse 'm v=': "), "{}", r[0].1);
    assert!(r[1].1.contains("Tag Set Malformed"), "{}", r[1].1);
    assert!(r[2].1.contains("trailing content"), "{}", r[2].1);
    assert_eq!(r[3].1, format!("unable to parse 'm': {SHAPE}"));
    assert_eq!(b.total, 6);
}

#[test]
fn escaping() {
    let body = concat!(
        r#"my\ cpu\,total,host\ name=web\ 1,k\=ey=a\,b\=c value=1,"#,
        r#"msg="say \"hi\"\\",sp\ ace=2i "#,
        "1700000000000000000\n"
    );
    let b = dec(body);
    assert_eq!(
        samples(&b),
        vec![
            (
                "default",
                "my_cpu_total_value",
                r#"{"host_name":"web 1","k_ey":"a,b=c"}"#,
                NOW,
                1.0
            ),
            (
                "default",
                "my_cpu_total_sp_ace",
                r#"{"host_name":"web 1","k_ey":"a,b=c"}"#,
                NOW,
                2.0
            ),
        ]
    );
    assert_eq!(
        reasons(&b),
        vec![(0, "field msg: string values are not stored")]
    );
}

#[test]
fn quoted_newlines_keep_line_numbers_right() {
    let body = "log msg=\"one\ntwo\",v=1\nm v=\nm v=3";
    let b = dec(body);
    assert_eq!(b.points.len(), 2);
    // The string spans lines 0 and 1; the bad line is line 2 of the body.
    assert_eq!(b.rejected[1].0, 2);
    assert!(b.rejected[1].1.starts_with("unable to parse 'm v='"));
}

#[test]
fn crlf_bodies() {
    let b = dec("m v=1 1700000000000000000\r\nm v=2\r\n\r\n");
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    assert_eq!(b.points.len(), 2);
}

#[test]
fn names_and_label_keys_are_sanitised() {
    let b = dec("2xx.resp,dc-1=x,9k=y,é=z http-code=1,über=2,ok:1=3");
    let labels = r#"{"_":"z","_9k":"y","dc_1":"x"}"#;
    assert_eq!(
        samples(&b).iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        vec![
            ("_2xx.resp_http_code", labels),
            ("_2xx.resp__ber", labels),
            ("_2xx.resp_ok:1", labels),
        ]
    );
    assert_eq!(dec(".m v=1").identity(0).name, "_m_v");
    assert_eq!(label_key("ok_1"), Cow::Borrowed("ok_1"));
    assert_eq!(label_key("a.b"), "a_b");
    assert_eq!(label_key("1"), "_1");
}

#[test]
fn builder_refusals_name_the_field() {
    let long = "x".repeat(300);
    let a_b = "m,a-b=1,a_b=2 v=1";
    let b = dec(&format!("{long} v=1\n{a_b}"));
    assert_eq!(
        reasons(&b),
        vec![
            (0, "field v: name: must be 1 to 200 characters"),
            (1, "field v: labels.a_b: duplicate label"),
        ]
    );
}

#[test]
fn namespace_tag() {
    let b = dec("m,hearth_namespace=shop,host=a v=1\nm,host=a v=2\nm,hearth_namespace=bad-ns v=3");
    assert_eq!(
        samples(&b)[..2],
        [
            ("shop", "m_v", r#"{"host":"a"}"#, NOW, 1.0),
            ("default", "m_v", r#"{"host":"a"}"#, NOW, 2.0),
        ]
    );
    assert_eq!(b.rejected[0].0, 2);
    assert!(b.rejected[0]
        .1
        .starts_with("field v: namespace: must match"));
    let dup = dec("m,hearth_namespace=a,hearth_namespace=b v=1");
    assert_eq!(
        reasons(&dup),
        vec![(0, "labels.hearth_namespace: duplicate label")]
    );
}

#[test]
fn not_utf8_lines_are_rejected_alone() {
    let body = b"m v=1\nm,h=\xff v=2\nm v=3\n\xc3\nm v=4";
    let b = decode(body, &opts(Precision::Nanoseconds)).unwrap();
    assert_eq!(
        b.points.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![1.0, 3.0, 4.0]
    );
    assert_eq!(reasons(&b), vec![(1, NOT_UTF8), (3, NOT_UTF8)]);
}

#[test]
fn gzip_bodies() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b"m v=1\nm v=2").unwrap();
    let gz = enc.finish().unwrap();
    let o = Options {
        gzip: true,
        ..opts(Precision::Nanoseconds)
    };
    assert_eq!(decode(&gz, &o).unwrap().points.len(), 2);
    assert!(matches!(
        decode(b"m v=1", &o),
        Err(IngestError::Malformed(_))
    ));
    let small = Options {
        max_decompressed: 4,
        ..o
    };
    assert_eq!(decode(&gz, &small), Err(IngestError::TooLarge { limit: 4 }));
}

#[test]
fn empty_bodies() {
    assert_eq!(dec(""), Batch::default());
    assert_eq!(dec("\n\n# nothing\n"), Batch::default());
}

// ---- fuzzing ----

/// A string of characters that matter to line protocol, plus ordinary ones.
fn lp_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'b', 'Z', '0', '9', ' ', ',', '=', '"', '\\', '\n', '\r', '\t', '#', '.', '-',
            '_', ':', 'i', 'u', 'e', 'é', 't', 'f', '\0',
        ]),
        0..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// A name to put through the builder: any printable text the parser takes
/// back (no tab/newline/NUL, which the builder does not escape; no trailing
/// backslash, which the Go parser refuses).
fn lp_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,=\"\\\\._:é#-]{1,12}".prop_filter("trailing backslash", |s| !s.ends_with('\\'))
}

#[derive(Debug, Clone)]
enum Field {
    F(f64),
    I(i64),
    U(u64),
    B(bool),
}

impl Field {
    fn value(&self) -> f64 {
        match *self {
            Field::F(v) => v,
            Field::I(v) => v as f64,
            Field::U(v) => v as f64,
            Field::B(v) => f64::from(u8::from(v)),
        }
    }
}

#[derive(Debug, Clone)]
struct RefPoint {
    measurement: String,
    namespace: Option<String>,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Field)>,
    /// µs, and the sub-µs part of a nanosecond time.
    time: Option<(i64, i64)>,
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(Field::F),
        any::<i64>().prop_map(Field::I),
        any::<u64>().prop_map(Field::U),
        any::<bool>().prop_map(Field::B),
    ]
}

fn ref_point() -> impl Strategy<Value = RefPoint> {
    (
        lp_name().prop_filter("comment", |m| !m.starts_with('#')),
        prop::option::of("[a-z][a-z0-9_]{0,8}"),
        prop::collection::vec((lp_name(), lp_name()), 0..5),
        prop::collection::vec((lp_name(), field()), 1..4),
        prop::option::of((WINDOW.min_time_us..=WINDOW.max_time_us, 0i64..1000)),
    )
        .prop_map(|(measurement, namespace, mut tags, fields, time)| {
            // Tag keys distinct once sanitised, and none the namespace label.
            let mut seen = vec!["hearth_namespace".to_owned()];
            tags.retain(|(k, _)| {
                let k = ref_sanitise(k, false);
                !seen.contains(&k) && {
                    seen.push(k);
                    true
                }
            });
            RefPoint {
                measurement,
                namespace,
                tags,
                fields,
                time,
            }
        })
}

/// The naming rule, restated on the whole string: each character outside the
/// pattern becomes `_`, a leading digit gets a `_` in front.
fn ref_sanitise(s: &str, name: bool) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let ok = c.is_ascii_alphabetic()
            || c == '_'
            || (name && c == ':')
            || (i > 0 && (c.is_ascii_digit() || (name && c == '.')));
        if ok {
            out.push(c);
        } else if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

type AfterMeasurement = LineProtocolBuilder<Vec<u8>, builder::AfterMeasurement>;
type AfterField = LineProtocolBuilder<Vec<u8>, builder::AfterField>;

fn first_field(b: AfterMeasurement, k: &str, f: &Field) -> AfterField {
    match *f {
        Field::F(v) => b.field(k, v),
        Field::I(v) => b.field(k, v),
        Field::U(v) => b.field(k, v),
        Field::B(v) => b.field(k, v),
    }
}

fn next_field(b: AfterField, k: &str, f: &Field) -> AfterField {
    match *f {
        Field::F(v) => b.field(k, v),
        Field::I(v) => b.field(k, v),
        Field::U(v) => b.field(k, v),
        Field::B(v) => b.field(k, v),
    }
}

/// One line of `p` written by the crate's builder, timestamp in `precision`.
fn write_line(p: &RefPoint, precision: Precision) -> Vec<u8> {
    let mut b = LineProtocolBuilder::new().measurement(&p.measurement);
    if let Some(ns) = &p.namespace {
        b = b.tag("hearth_namespace", ns);
    }
    for (k, v) in &p.tags {
        b = b.tag(k, v);
    }
    let mut b = first_field(b, &p.fields[0].0, &p.fields[0].1);
    for (k, f) in &p.fields[1..] {
        b = next_field(b, k, f);
    }
    match p.time {
        Some((us, sub)) => {
            let t = match precision {
                Precision::Nanoseconds => us * 1000 + sub,
                Precision::Microseconds => us,
                Precision::Milliseconds => us.div_euclid(1000),
                _ => us.div_euclid(1_000_000),
            };
            b.timestamp(t).close_line().build()
        }
        None => b.close_line().build(),
    }
}

/// The time a decoder must give a point written at `precision`.
fn ref_time(p: &RefPoint, precision: Precision) -> i64 {
    match (p.time, precision) {
        (None, _) => NOW,
        (Some((us, _)), Precision::Nanoseconds | Precision::Microseconds) => us,
        (Some((us, _)), Precision::Milliseconds) => us.div_euclid(1000) * 1000,
        (Some((us, _)), _) => us.div_euclid(1_000_000) * 1_000_000,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400), gzip: bool) {
        let o = Options { gzip, ..opts(Precision::Nanoseconds) };
        if let Ok(b) = decode(&body, &o) {
            prop_assert_eq!(b.total, b.points.len() + b.rejected.len());
            let lines = body.iter().filter(|&&c| c == b'\n').count();
            prop_assert!(b.rejected.iter().all(|(i, _)| *i <= lines));
        }
    }

    #[test]
    fn arbitrary_line_protocol_text_never_panics(text in lp_text(200)) {
        let b = dec(&text);
        prop_assert_eq!(b.total, b.points.len() + b.rejected.len());
        for i in 0..b.series.len() {
            let name = b.identity(i).name;
            prop_assert!(is_valid_name(&name), "{}", name);
        }
        let lines = text.matches('\n').count();
        prop_assert!(b.rejected.windows(2).all(|w| w[0].0 <= w[1].0));
        prop_assert!(b.rejected.iter().all(|(i, _)| *i <= lines));
    }

    #[test]
    fn nearly_line_protocol_never_panics(
        lines in prop::collection::vec(
            "[a-z\\\\ ]{1,3}(,[a-z=]{1,2}=[a-z\\\\ ,=\"]{0,3}){0,2}( [a-z]{0,2}=[0-9.eE+iu\"tTfFrs\\\\-]{0,6}(,[a-z]=-?[0-9]{1,3}[iu]?){0,2})?( -?[0-9]{0,20})?[ \r]?",
            1..6,
        ),
        precision in prop::sample::select(vec![Precision::Nanoseconds, Precision::Seconds, Precision::Hours]),
    ) {
        let body = lines.join("\n");
        let b = decode(body.as_bytes(), &opts(precision)).unwrap();
        prop_assert_eq!(b.total, b.points.len() + b.rejected.len());
        prop_assert!(b.rejected.iter().all(|(i, _)| *i < lines.len()));
        for i in 0..b.series.len() {
            let name = b.identity(i).name;
            prop_assert!(is_valid_name(&name), "{}", name);
        }
    }

    #[test]
    fn builder_lines_round_trip(
        points in prop::collection::vec(ref_point(), 1..8),
        precision in prop::sample::select(vec![
            Precision::Nanoseconds, Precision::Microseconds, Precision::Milliseconds,
            Precision::Seconds,
        ]),
        layout in prop::collection::vec((any::<bool>(), 0usize..4), 8),
        gzip: bool,
    ) {
        // The lines, some with CRLF, some followed by blank or comment lines.
        let mut body = Vec::new();
        for (p, (crlf, extra)) in points.iter().zip(&layout) {
            let mut line = write_line(p, precision);
            if *crlf {
                line.insert(line.len() - 1, b'\r');
            }
            body.extend_from_slice(&line);
            body.extend_from_slice(["", "\n", "# a comment, k=v\n", "  \t\n"][*extra].as_bytes());
        }
        let mut want = Builder::new(WINDOW);
        for p in &points {
            let ns = p.namespace.as_deref().unwrap_or("default");
            let keys: Vec<String> = p.tags.iter().map(|(k, _)| ref_sanitise(k, false)).collect();
            for (k, f) in &p.fields {
                let name = ref_sanitise(&format!("{}_{k}", p.measurement), true);
                let labels = keys.iter().zip(&p.tags).map(|(k, (_, v))| (k.as_str(), v.as_str()));
                want.sample(ns, &name, labels.collect(), ref_time(p, precision), f.value());
            }
        }
        let want = want.finish();
        prop_assume!(want.rejected.is_empty());
        let o = Options { precision, gzip, ..opts(precision) };
        let body = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body).unwrap();
            enc.finish().unwrap()
        } else {
            body
        };
        let got = decode(&body, &o).unwrap();
        prop_assert_eq!(&got, &want, "body {:?}", String::from_utf8_lossy(&body));
        for i in 0..got.series.len() {
            prop_assert!(is_valid_name(&got.identity(i).name));
        }
    }
}

#[test]
fn lines_are_numbered_alike_in_one_pass_and_line_by_line() {
    // blank and comment lines, a line that does not parse, a string field, a bad label value:
    // the one-pass parse (no line ends in a blank) and the line-by-line one (CRLF) agree
    let lines = [
        "# a comment",
        "m,host=a v=1 1700000000000000000",
        "",
        "   ",
        "m v=",
        "  # indented comment",
        "m,host=b s=\"x\",v=2 1700000000000000000",
        "m,host=c v=3 1700000000000000000",
        "bad line here",
        "m,host=d v=4 1700000000000000000",
    ];
    let lf = lines.join("\n");
    let crlf = lines.join("\r\n");
    let (a, b) = (dec(&lf), dec(&crlf));
    assert_eq!(reasons(&a), reasons(&b));
    assert_eq!(
        reasons(&a).iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![4, 6, 8]
    );
    assert_eq!(samples(&a), samples(&b));
    assert_eq!(samples(&a).len(), 4);
}
