//! Labels, samples, the series storage hands out, and query results with
//! their JSON in Prometheus's HTTP API shape.

/// The label holding a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// A label set: `(name, value)` pairs sorted by name, no empty values, the
/// metric name (if any) as the label [`METRIC_NAME`].
pub type Labels = Vec<(String, String)>;

/// One stored series: its labels and its samples in ascending time order
/// (milliseconds since the epoch, unique timestamps). Staleness markers are
/// kept as samples whose value has the bits `crate::chunk::STALE_NAN_BITS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// One element of an instant vector. `t` is the evaluation time, except in
/// the vector a bare vector selector hands to `timestamp()`, where it is the
/// sample's own timestamp (as in Prometheus).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector or of a range query's matrix result:
/// `(time ms, value)` in ascending time.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
}

impl QueryValue {
    /// The `data` member of Prometheus's answer, byte for byte as Prometheus
    /// v2.42 writes it:
    /// `{"resultType":"vector","result":[{"metric":{…},"value":[1700000000.500,"1"]}]}`.
    ///
    /// Prometheus writes the samples of vectors and matrices with its own
    /// encoder (`util/jsonutil`): times as seconds with exactly three decimals
    /// when there is a fraction (`1700000000.500`, `1700000000`), values as
    /// Go's `strconv.FormatFloat` with format `'e'` below 1e-6 or from 1e21 on
    /// (`"1e-07"`) and `'f'` otherwise. Scalars and strings go through Go's
    /// `encoding/json`: the time as a shortest float (`1700000000.5`), a
    /// scalar's value as `FormatFloat(v, 'f', -1, 64)` (`"0.0000001"`).
    /// Non-finite values are `"NaN"`, `"+Inf"`, `"-Inf"`; strings and label
    /// values are escaped as `encoding/json` escapes them (`<`, `>`, `&`,
    /// U+2028 and U+2029 as `\u` escapes).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.json_size_hint());
        match self {
            QueryValue::Scalar { t, v } => {
                out.push_str(r#"{"resultType":"scalar","result":["#);
                push_json_seconds(&mut out, *t);
                out.push_str(",\"");
                out.push_str(&format_float(*v));
                out.push_str("\"]}");
            }
            QueryValue::String { t, s } => {
                out.push_str(r#"{"resultType":"string","result":["#);
                push_json_seconds(&mut out, *t);
                out.push(',');
                push_json_string(&mut out, s);
                out.push_str("]}");
            }
            QueryValue::Vector(samples) => {
                out.push_str(r#"{"resultType":"vector","result":["#);
                for (i, s) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(r#"{"metric":"#);
                    push_json_labels(&mut out, &s.labels);
                    out.push_str(r#","value":"#);
                    push_sample_point(&mut out, s.t, s.v);
                    out.push('}');
                }
                out.push_str("]}");
            }
            QueryValue::Matrix(series) => {
                out.push_str(r#"{"resultType":"matrix","result":["#);
                for (i, s) in series.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(r#"{"metric":"#);
                    push_json_labels(&mut out, &s.labels);
                    out.push_str(r#","values":["#);
                    for (j, &(t, v)) in s.points.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        push_sample_point(&mut out, t, v);
                    }
                    out.push_str("]}");
                }
                out.push_str("]}");
            }
        }
        out.into_bytes()
    }

    fn json_size_hint(&self) -> usize {
        match self {
            QueryValue::Scalar { .. } => 64,
            QueryValue::String { s, .. } => 64 + s.len(),
            QueryValue::Vector(v) => 64 + v.len() * 128,
            QueryValue::Matrix(m) => 64 + m.iter().map(|s| 96 + s.points.len() * 32).sum::<usize>(),
        }
    }
}

/// `[<seconds>,"<value>"]` as Prometheus's own sample encoder writes it.
///
/// Written straight into `out`, without a `String` per number: rendering was
/// half of `promql_eval` for one series over a day at 1-minute steps
/// (bench/query), most of it `core::fmt` and allocations.
fn push_sample_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_sample_seconds(out, t);
    out.push_str(",\"");
    push_sample_value(out, v);
    out.push_str("\"]");
}

/// "00" to "99".
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Write the decimal digits of `n` into `buf` so that they end at `end`;
/// where they start.
fn put_digits(buf: &mut [u8], mut end: usize, mut n: u64) -> usize {
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        end -= 2;
        buf[end..end + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        end -= 2;
        buf[end..end + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        end -= 1;
        buf[end] = b'0' + n as u8;
    }
    end
}

/// ASCII bytes (digits, signs), a byte each: cheaper for a few bytes than
/// checking them as UTF-8 for `push_str`.
fn push_ascii(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len());
    for &b in bytes {
        out.push(char::from(b));
    }
}

/// `n` in decimal.
fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let start = put_digits(&mut buf, 20, n);
    push_ascii(out, &buf[start..]);
}

/// A sample time as Prometheus's `jsonutil.MarshalTimestamp`: whole seconds,
/// then `.` and exactly three digits of milliseconds unless they are zero.
fn push_sample_seconds(out: &mut String, t: i64) {
    let a = t.unsigned_abs();
    let frac = (a % 1000) as usize;
    // sign, up to 16 digits of seconds, then ".mmm"
    let mut buf = [0u8; 25];
    let stop = if frac == 0 {
        21
    } else {
        buf[21] = b'.';
        buf[22] = b'0' + (frac / 100) as u8;
        buf[23..25].copy_from_slice(&DIGIT_PAIRS[frac % 100 * 2..frac % 100 * 2 + 2]);
        25
    };
    let mut start = put_digits(&mut buf, 21, a / 1000);
    if t < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    push_ascii(out, &buf[start..stop]);
}

/// A scalar's or string's time as Go's `encoding/json` writes
/// `float64(t) / 1000` (shortest representation).
fn push_json_seconds(out: &mut String, t: i64) {
    out.push_str(&format_go_json_float(t as f64 / 1000.0));
}

/// A sample value as Prometheus's `jsonutil.MarshalValue`.
fn push_sample_value(out: &mut String, v: f64) {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        out.push_str(&format_float_exp(v));
    } else {
        push_float(out, v);
    }
}

/// Below this an integral float is written as the integer it is: every
/// integer under 2^53 is a float, so its shortest round-trip decimal is the
/// integer itself (gauges of bytes, counters).
const EXACT_INTEGER: f64 = 1e15;

/// [`format_float`] appended to `out`.
fn push_float(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < EXACT_INTEGER {
        if v.is_sign_negative() {
            out.push('-'); // -0 too, as Go writes it
        }
        push_u64(out, v.abs() as u64);
    } else {
        // Rust's Display is the shortest round-trip decimal without exponent,
        // as Go's 'f' with precision -1.
        let _ = write!(out, "{v}");
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that
/// reads back as `v`, never an exponent; `NaN`, `+Inf`, `-Inf`.
pub fn format_float(v: f64) -> String {
    let mut out = String::new();
    push_float(&mut out, v);
    out
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits, an exponent
/// with a sign and at least two digits (`1e-07`, `1.5e+21`).
pub fn format_float_exp(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v);
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// A float as Go's `encoding/json` writes it: `'f'` format, `'e'` below 1e-6
/// or from 1e21 on with the exponent's leading zero dropped (`1e-7`).
fn format_go_json_float(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_float_exp(v);
        // encoding/json cleans up e-09 to e-9.
        match s.find("e-0") {
            Some(i) => format!("{}e-{}", &s[..i], &s[i + 3..]),
            None => s,
        }
    } else {
        format_float(v)
    }
}

/// A label set as the JSON object Go's `encoding/json` makes of its map
/// (keys sorted; labels are sorted by name already).
fn push_json_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, name);
        out.push(':');
        push_json_string(out, value);
    }
    out.push('}');
}

/// A JSON string escaped as Go's `encoding/json` escapes it (HTML-safe).
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_u = matches!(
            c,
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'
        );
        if esc.is_none() && !needs_u {
            continue;
        }
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &QueryValue) -> String {
        String::from_utf8(v.to_json()).unwrap()
    }

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    // Expected strings are what Debian's Prometheus 2.42 answered for the same
    // results (queried with curl).
    #[test]
    fn vector_json_matches_prometheus() {
        let v = QueryValue::Vector(vec![
            Sample {
                labels: l(&[]),
                t: 1_700_000_000_250,
                v: 1e-7,
            },
            Sample {
                labels: l(&[("a", "b")]),
                t: 1_700_000_000_250,
                v: 1.2345678901234569e23,
            },
        ]);
        assert_eq!(
            json(&v),
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1700000000.250,"1e-07"]},{"metric":{"a":"b"},"value":[1700000000.250,"1.2345678901234569e+23"]}]}"#
        );
        let v = QueryValue::Vector(vec![Sample {
            labels: l(&[("a", "x\"<>&\u{2028}\u{1}é")]),
            t: 1_700_000_000_123,
            v: 1.0,
        }]);
        assert_eq!(
            json(&v),
            r#"{"resultType":"vector","result":[{"metric":{"a":"x\"\u003c\u003e\u0026\u2028\u0001é"},"value":[1700000000.123,"1"]}]}"#
        );
        let v = QueryValue::Vector(vec![
            Sample {
                labels: l(&[]),
                t: -1500,
                v: -0.0,
            },
            Sample {
                labels: l(&[]),
                t: 1000,
                v: 1e20,
            },
            Sample {
                labels: l(&[]),
                t: 1000,
                v: f64::NAN,
            },
            Sample {
                labels: l(&[]),
                t: 1000,
                v: f64::NEG_INFINITY,
            },
            Sample {
                labels: l(&[]),
                t: 1000,
                v: 123456.7e-10,
            },
        ]);
        assert_eq!(
            json(&v),
            r#"{"resultType":"vector","result":[{"metric":{},"value":[-1.500,"-0"]},{"metric":{},"value":[1,"100000000000000000000"]},{"metric":{},"value":[1,"NaN"]},{"metric":{},"value":[1,"-Inf"]},{"metric":{},"value":[1,"0.00001234567"]}]}"#
        );
        assert_eq!(
            json(&QueryValue::Vector(vec![])),
            r#"{"resultType":"vector","result":[]}"#
        );
    }

    #[test]
    fn scalar_string_and_matrix_json_match_prometheus() {
        assert_eq!(
            json(&QueryValue::Scalar {
                t: 1_700_000_000_500,
                v: 1e-7
            }),
            r#"{"resultType":"scalar","result":[1700000000.5,"0.0000001"]}"#
        );
        assert_eq!(
            json(&QueryValue::Scalar {
                t: 1_700_000_000_500,
                v: 1e22
            }),
            r#"{"resultType":"scalar","result":[1700000000.5,"10000000000000000000000"]}"#
        );
        assert_eq!(
            json(&QueryValue::Scalar {
                t: -1,
                v: f64::INFINITY
            }),
            r#"{"resultType":"scalar","result":[-0.001,"+Inf"]}"#
        );
        assert_eq!(
            json(&QueryValue::Scalar { t: 0, v: 1.0 }),
            r#"{"resultType":"scalar","result":[0,"1"]}"#
        );
        assert_eq!(
            json(&QueryValue::String {
                t: 1_700_000_000_500,
                s: "a\"b\n<>&é\u{1}".into()
            }),
            r#"{"resultType":"string","result":[1700000000.5,"a\"b\n\u003c\u003e\u0026é\u0001"]}"#
        );
        assert_eq!(
            json(&QueryValue::String {
                t: 0,
                s: "\u{8}\u{c}\t\r\u{7f}\u{2029}".into()
            }),
            "{\"resultType\":\"string\",\"result\":[0,\"\\u0008\\u000c\\t\\r\u{7f}\\u2029\"]}"
        );
        let m = QueryValue::Matrix(vec![RangeSeries {
            labels: l(&[("__name__", "up"), ("job", "a")]),
            points: vec![
                (1_700_000_000_500, 1.0),
                (1_700_000_001_000, 1.0),
                (1_700_000_001_500, 2.5),
            ],
        }]);
        assert_eq!(
            json(&m),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a"},"values":[[1700000000.500,"1"],[1700000001,"1"],[1700000001.500,"2.5"]]}]}"#
        );
    }

    /// The integer path and the direct writes give exactly what Rust's
    /// Display gave before them, over integers, their neighbours and random
    /// bit patterns.
    #[test]
    fn float_fast_paths_equal_display() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e15 - 1.0,
            1e15,
            1e15 + 2.0,
            9e15,
            2e16,
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if f.is_finite() {
                values.push(f);
            }
            values.push((x % 2_000_000_000_000_000) as f64 - 1e15);
            values.push(i as f64 * 4096.0);
        }
        for v in values {
            assert_eq!(format_float(v), format!("{v}"), "{v:e}");
        }
        let mut out = String::new();
        for t in [
            0,
            1,
            999,
            1000,
            1001,
            -1,
            -999,
            -1000,
            -1001,
            1_796_010_000_120,
            i64::MIN,
        ] {
            out.clear();
            push_sample_seconds(&mut out, t);
            let a = t.unsigned_abs();
            let sign = if t < 0 { "-" } else { "" };
            let want = match a % 1000 {
                0 => format!("{sign}{}", a / 1000),
                f => format!("{sign}{}.{f:03}", a / 1000),
            };
            assert_eq!(out, want);
        }
    }

    #[test]
    fn float_formats_follow_go() {
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(5e-324), format!("0.{}5", "0".repeat(323)));
        assert_eq!(format_float_exp(1.5e300), "1.5e+300");
        assert_eq!(format_float_exp(-2e-7), "-2e-07");
    }
}
