//! One point as decoded from the wire, before validation, and the validation
//! rules shared by every format.
//!
//! The JSON and CSV decoders only *collect* what they saw ([`RawPoint`]);
//! every rule lives here, checked in a fixed order so that a row with several
//! problems always gets the same (first) reason:
//!
//! 1. a duplicated field (JSON), then unknown fields (JSON), then missing
//!    required fields (`namespace`, `name`, `value`);
//! 2. `namespace`, `name`: a string of 1 to 200 characters matching
//!    [`NAME_PATTERN`];
//! 3. `labels`: absent or null (no labels) or an object of at most
//!    [`MAX_LABELS`] entries; each entry in input order: key matches
//!    [`LABEL_KEY_PATTERN`], key at most 128 characters, value a string of at
//!    most 1024 characters, key not seen before;
//! 4. `value`: a finite number (-0 is stored as 0);
//! 5. `timestamp`: absent or null (now), a number (epoch seconds, or
//!    milliseconds when `|n| >= 1e11`) or an RFC 3339 string; then the time
//!    must lie within the accepted window.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::time;

/// Pattern of `namespace` and `name` (ASCII only).
pub const NAME_PATTERN: &str = "^[A-Za-z_:][A-Za-z0-9_:.]*$";
/// Pattern of a label key (ASCII only).
pub const LABEL_KEY_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Maximum length of `namespace` and `name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Maximum number of labels of one point.
pub const MAX_LABELS: usize = 64;
/// Maximum length of a label key, in characters.
pub const MAX_LABEL_KEY_CHARS: usize = 128;
/// Maximum length of a label value, in characters (Unicode scalar values).
pub const MAX_LABEL_VALUE_CHARS: usize = 1024;
/// Field names longer than this are shortened (with `…`) in reasons.
pub const SHOWN_CHARS: usize = 64;

/// A scalar JSON value (or the kind of a non-scalar one), as much as the
/// validation needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool,
    Num(f64),
    Str(Cow<'a, str>),
    /// An object or an array (its content was skipped).
    Composite,
}

/// A label value: only strings are valid, so anything else is just "not a string".
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue<'a> {
    Str(Cow<'a, str>),
    NotString,
}

/// The `labels` field.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Labels<'a> {
    /// Absent or null: no labels.
    #[default]
    None,
    /// An object. `entries` holds the first `MAX_LABELS + 1` entries in input
    /// order (enough to decide every rule); `count` counts them all.
    Object {
        entries: Vec<(Cow<'a, str>, LabelValue<'a>)>,
        count: usize,
    },
    /// Anything else (a scalar, an array, or in CSV text that is not JSON).
    Invalid,
}

impl<'a> Labels<'a> {
    /// An empty object, ready for [`Labels::push`].
    pub fn object() -> Self {
        Labels::Object {
            entries: Vec::new(),
            count: 0,
        }
    }

    /// Record one entry of an object (kept only while it can still matter).
    pub fn push(&mut self, key: Cow<'a, str>, value: LabelValue<'a>) {
        if let Labels::Object { entries, count } = self {
            if *count <= MAX_LABELS {
                entries.push((key, value));
            }
            *count += 1;
        }
    }
}

/// Everything a decoder saw of one point object (or CSV row).
#[derive(Debug, Default)]
pub struct RawPoint<'a> {
    pub namespace: Option<Value<'a>>,
    pub name: Option<Value<'a>>,
    pub labels: Option<Labels<'a>>,
    pub value: Option<Value<'a>>,
    pub timestamp: Option<Value<'a>>,
    /// The first key that appeared twice.
    pub duplicate: Option<Cow<'a, str>>,
    /// Keys other than the five point fields, in input order.
    pub unknown: Vec<Cow<'a, str>>,
}

/// Which field of a [`RawPoint`] a JSON key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldName {
    Namespace,
    Name,
    Labels,
    Value,
    Timestamp,
}

impl FieldName {
    pub fn of(key: &str) -> Option<FieldName> {
        Some(match key {
            "namespace" => FieldName::Namespace,
            "name" => FieldName::Name,
            "labels" => FieldName::Labels,
            "value" => FieldName::Value,
            "timestamp" => FieldName::Timestamp,
            _ => return None,
        })
    }
}

impl<'a> RawPoint<'a> {
    /// Whether `field` was already seen (for duplicate detection).
    pub fn has(&self, field: FieldName) -> bool {
        match field {
            FieldName::Namespace => self.namespace.is_some(),
            FieldName::Name => self.name.is_some(),
            FieldName::Labels => self.labels.is_some(),
            FieldName::Value => self.value.is_some(),
            FieldName::Timestamp => self.timestamp.is_some(),
        }
    }

    /// Set a scalar field (not `labels`).
    pub fn set(&mut self, field: FieldName, v: Value<'a>) {
        let slot = match field {
            FieldName::Namespace => &mut self.namespace,
            FieldName::Name => &mut self.name,
            FieldName::Value => &mut self.value,
            FieldName::Timestamp => &mut self.timestamp,
            FieldName::Labels => {
                self.labels = Some(Labels::Invalid);
                return;
            }
        };
        *slot = Some(v);
    }

    /// Record a key seen a second time (only the first one is kept).
    pub fn duplicated(&mut self, key: Cow<'a, str>) {
        if self.duplicate.is_none() {
            self.duplicate = Some(key);
        }
    }
}

/// Time window and clock for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Time of points without a timestamp, µs since the Unix epoch.
    pub now_us: i64,
    /// Earliest accepted time (inclusive).
    pub min_time_us: i64,
    /// Latest accepted time (inclusive).
    pub max_time_us: i64,
}

/// A point that passed validation, borrowing from its [`RawPoint`].
#[derive(Debug, PartialEq)]
pub struct ValidPoint<'p> {
    pub namespace: &'p str,
    pub name: &'p str,
    /// In input order (not yet sorted).
    pub labels: Vec<(&'p str, &'p str)>,
    pub value: f64,
    pub time_us: i64,
}

/// `s`, shortened to [`SHOWN_CHARS`] characters (plus `…`) for a reason.
pub fn shown(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(SHOWN_CHARS) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => Cow::Owned(format!("{}…", &s[..cut])),
    }
}

fn list(keys: &[Cow<'_, str>]) -> String {
    let mut out = String::new();
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&shown(k));
    }
    out
}

/// More than `max` characters? (Counts only when the byte length could exceed it.)
#[inline]
fn longer_than(s: &str, max: usize) -> bool {
    s.len() > max && s.chars().count() > max
}

fn name_char_ok(c: u8, first: bool) -> bool {
    c.is_ascii_alphabetic()
        || c == b'_'
        || c == b':'
        || (!first && (c.is_ascii_digit() || c == b'.'))
}

/// `^[A-Za-z_:][A-Za-z0-9_:.]*$`
pub fn is_valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && name_char_ok(b[0], true) && b[1..].iter().all(|&c| name_char_ok(c, false))
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
pub fn is_valid_label_key(s: &str) -> bool {
    let b = s.as_bytes();
    let ok =
        |c: u8, first: bool| c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit());
    !b.is_empty() && ok(b[0], true) && b[1..].iter().all(|&c| ok(c, false))
}

fn check_name<'p>(field: &str, v: &'p Value<'_>) -> Result<&'p str, String> {
    let Value::Str(s) = v else {
        return Err(format!("{field}: must be a string"));
    };
    if s.is_empty() || longer_than(s, MAX_NAME_CHARS) {
        return Err(format!("{field}: must be 1 to {MAX_NAME_CHARS} characters"));
    }
    if !is_valid_name(s) {
        return Err(format!("{field}: must match {NAME_PATTERN}"));
    }
    Ok(s)
}

fn check_labels<'p>(labels: &'p Labels<'_>) -> Result<Vec<(&'p str, &'p str)>, String> {
    let (entries, count) = match labels {
        Labels::None => return Ok(Vec::new()),
        Labels::Invalid => return Err("labels: must be a JSON object".to_owned()),
        Labels::Object { entries, count } => (entries, *count),
    };
    if count > MAX_LABELS {
        return Err(format!("labels: at most {MAX_LABELS} labels"));
    }
    let mut out: Vec<(&'p str, &'p str)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let k: &str = k;
        check_label_key(k)?;
        let LabelValue::Str(v) = v else {
            return Err(format!("labels.{k}: must be a string"));
        };
        check_label(&out, k, v)?;
        out.push((k, v));
    }
    Ok(out)
}

fn check_label_key(k: &str) -> Result<(), String> {
    if !is_valid_label_key(k) {
        return Err(format!(
            "labels.{}: key must match {LABEL_KEY_PATTERN}",
            shown(k)
        ));
    }
    if k.len() > MAX_LABEL_KEY_CHARS {
        return Err(format!(
            "labels.{}: key longer than {MAX_LABEL_KEY_CHARS} characters",
            shown(k)
        ));
    }
    Ok(())
}

/// The value and uniqueness rules of one label, `seen` the labels before it.
fn check_label(seen: &[(&str, &str)], k: &str, v: &str) -> Result<(), String> {
    if longer_than(v, MAX_LABEL_VALUE_CHARS) {
        return Err(format!(
            "labels.{k}: longer than {MAX_LABEL_VALUE_CHARS} characters"
        ));
    }
    if seen.iter().any(|(s, _)| *s == k) {
        return Err(format!("labels.{k}: duplicate label"));
    }
    Ok(())
}

/// Validate a sample of a protocol that names its series itself (remote write,
/// OTLP, line protocol): `namespace` and `name` by rule 2, the labels by rule 3
/// (in input order), the time against the window. Any value is kept, NaN and
/// infinities included (Prometheus keeps them; NaN carries staleness markers).
pub fn validate_sample<'p>(
    namespace: &'p str,
    name: &'p str,
    labels: Vec<(&'p str, &'p str)>,
    time_us: i64,
    value: f64,
    w: &Window,
) -> Result<ValidPoint<'p>, String> {
    if labels.len() > MAX_LABELS {
        return Err(format!("labels: at most {MAX_LABELS} labels"));
    }
    let namespace =
        check_name("namespace", &Value::Str(Cow::Borrowed(namespace))).map(|_| namespace)?;
    let name = check_name("name", &Value::Str(Cow::Borrowed(name))).map(|_| name)?;
    for (i, (k, v)) in labels.iter().enumerate() {
        check_label_key(k)?;
        check_label(&labels[..i], k, v)?;
    }
    if time_us < w.min_time_us || time_us > w.max_time_us {
        return Err(OUTSIDE_WINDOW.to_owned());
    }
    Ok(ValidPoint {
        namespace,
        name,
        labels,
        value,
        time_us,
    })
}

/// Reason for an unparseable timestamp.
pub const BAD_TIMESTAMP: &str = "timestamp: not RFC 3339 or epoch seconds/milliseconds";
/// Reason for a timestamp outside `[min_time_us, max_time_us]`.
pub const OUTSIDE_WINDOW: &str = "timestamp outside the accepted window";
/// Reason for a value that is not a finite number.
pub const BAD_VALUE: &str = "value: must be a finite number";

/// Validate a raw point; the reason names the first offending field.
pub fn validate<'p>(p: &'p RawPoint<'_>, w: &Window) -> Result<ValidPoint<'p>, String> {
    if let Some(k) = &p.duplicate {
        return Err(format!("duplicate field {}", shown(k)));
    }
    match p.unknown.len() {
        0 => {}
        1 => return Err(format!("unknown field {}", list(&p.unknown))),
        _ => return Err(format!("unknown fields {}", list(&p.unknown))),
    }
    let missing: Vec<&str> = [
        ("namespace", p.namespace.is_none()),
        ("name", p.name.is_none()),
        ("value", p.value.is_none()),
    ]
    .into_iter()
    .filter_map(|(f, m)| m.then_some(f))
    .collect();
    match missing.len() {
        0 => {}
        1 => return Err(format!("missing field {}", missing[0])),
        _ => return Err(format!("missing fields {}", missing.join(", "))),
    }
    let namespace = check_name("namespace", p.namespace.as_ref().expect("checked"))?;
    let name = check_name("name", p.name.as_ref().expect("checked"))?;
    let labels = match &p.labels {
        None => Vec::new(),
        Some(l) => check_labels(l)?,
    };
    let value = match p.value {
        // `+ 0.0` turns -0.0 into 0.0: parsers disagree on the sign of "-0.0"
        // (sonic-rs drops it), and it means nothing for a metric.
        Some(Value::Num(v)) if v.is_finite() => v + 0.0,
        _ => return Err(BAD_VALUE.to_owned()),
    };
    let time_us = match &p.timestamp {
        None | Some(Value::Null) => w.now_us,
        Some(Value::Num(n)) => time::epoch_number_us(*n).ok_or(BAD_TIMESTAMP)?,
        Some(Value::Str(s)) => time::parse_rfc3339(s).ok_or(BAD_TIMESTAMP)?,
        Some(_) => return Err(BAD_TIMESTAMP.to_owned()),
    };
    if time_us < w.min_time_us || time_us > w.max_time_us {
        return Err(OUTSIDE_WINDOW.to_owned());
    }
    Ok(ValidPoint {
        namespace,
        name,
        labels,
        value,
        time_us,
    })
}

/// Append `s` as a JSON string, escaped like Python's
/// `json.dumps(s, ensure_ascii=False)`: `"` `\` and the C0 controls only.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Compact JSON object of labels **already sorted by key**, e.g.
/// `{"a":"1","b":"2"}` (what Python's `json.dumps(labels, sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` gives).
pub fn labels_json(sorted: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(
        2 + sorted
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>(),
    );
    out.push('{');
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, k);
        out.push(':');
        push_json_string(&mut out, v);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        now_us: 1_700_000_000_000_000,
        min_time_us: 1_600_000_000_000_000,
        max_time_us: 1_800_000_000_000_000,
    };

    fn s(v: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(v))
    }

    fn good() -> RawPoint<'static> {
        let mut labels = Labels::object();
        labels.push("host".into(), LabelValue::Str("h1".into()));
        RawPoint {
            namespace: Some(s("app")),
            name: Some(s("cpu.load:1m")),
            labels: Some(labels),
            value: Some(Value::Num(0.5)),
            timestamp: None,
            ..Default::default()
        }
    }

    fn reason(p: &RawPoint<'_>) -> String {
        validate(p, &W).unwrap_err()
    }

    #[test]
    fn valid_point() {
        let p = good();
        let v = validate(&p, &W).unwrap();
        assert_eq!(
            v,
            ValidPoint {
                namespace: "app",
                name: "cpu.load:1m",
                labels: vec![("host", "h1")],
                value: 0.5,
                time_us: W.now_us,
            }
        );
        let mut p = good();
        p.timestamp = Some(Value::Null);
        p.labels = Some(Labels::None);
        assert_eq!(validate(&p, &W).unwrap().time_us, W.now_us);
        p.timestamp = Some(Value::Num(1_700_000_001.5));
        assert_eq!(validate(&p, &W).unwrap().time_us, 1_700_000_001_500_000);
        p.timestamp = Some(Value::Num(1_700_000_001_500.0));
        assert_eq!(validate(&p, &W).unwrap().time_us, 1_700_000_001_500_000);
        p.timestamp = Some(s("2023-11-14T22:13:21.5Z"));
        assert_eq!(validate(&p, &W).unwrap().time_us, 1_700_000_001_500_000);
    }

    #[test]
    fn structural_reasons_in_order() {
        let mut p = good();
        p.duplicate = Some("value".into());
        p.unknown = vec!["x".into()];
        assert_eq!(reason(&p), "duplicate field value");
        p.duplicate = None;
        assert_eq!(reason(&p), "unknown field x");
        p.unknown.push("y".repeat(70).into());
        assert_eq!(reason(&p), format!("unknown fields x, {}…", "y".repeat(64)));
        p.unknown.clear();
        p.namespace = None;
        assert_eq!(reason(&p), "missing field namespace");
        p.value = None;
        assert_eq!(reason(&p), "missing fields namespace, value");
        let p = RawPoint::default();
        assert_eq!(reason(&p), "missing fields namespace, name, value");
    }

    #[test]
    fn name_reasons() {
        for (field, set) in [
            (
                "namespace",
                (|p: &mut RawPoint<'static>, v| p.namespace = Some(v))
                    as fn(&mut RawPoint<'static>, Value<'static>),
            ),
            ("name", |p: &mut RawPoint<'static>, v| p.name = Some(v)),
        ] {
            let cases: Vec<(Value<'static>, String)> = vec![
                (Value::Num(1.0), format!("{field}: must be a string")),
                (Value::Null, format!("{field}: must be a string")),
                (Value::Bool, format!("{field}: must be a string")),
                (Value::Composite, format!("{field}: must be a string")),
                (s(""), format!("{field}: must be 1 to 200 characters")),
                (
                    Value::Str("a".repeat(201).into()),
                    format!("{field}: must be 1 to 200 characters"),
                ),
                (
                    s("1abc"),
                    format!("{field}: must match ^[A-Za-z_:][A-Za-z0-9_:.]*$"),
                ),
                (
                    s(".abc"),
                    format!("{field}: must match ^[A-Za-z_:][A-Za-z0-9_:.]*$"),
                ),
                (
                    s("a-b"),
                    format!("{field}: must match ^[A-Za-z_:][A-Za-z0-9_:.]*$"),
                ),
                (
                    s("é"),
                    format!("{field}: must match ^[A-Za-z_:][A-Za-z0-9_:.]*$"),
                ),
            ];
            for (v, want) in cases {
                let mut p = good();
                set(&mut p, v);
                assert_eq!(reason(&p), want);
            }
            let mut p = good();
            set(&mut p, Value::Str("a".repeat(200).into()));
            assert!(validate(&p, &W).is_ok());
            set(&mut p, s(":_a.b9:"));
            assert!(validate(&p, &W).is_ok());
        }
    }

    fn with_labels(entries: Vec<(&'static str, LabelValue<'static>)>) -> String {
        let mut l = Labels::object();
        for (k, v) in entries {
            l.push(k.into(), v);
        }
        let mut p = good();
        p.labels = Some(l);
        match validate(&p, &W) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e,
        }
    }

    fn ls(v: &'static str) -> LabelValue<'static> {
        LabelValue::Str(v.into())
    }

    #[test]
    fn label_reasons() {
        assert_eq!(with_labels(vec![]), "ok");
        assert_eq!(
            with_labels(vec![("host", LabelValue::NotString)]),
            "labels.host: must be a string"
        );
        assert_eq!(
            with_labels(vec![("9x", ls("v"))]),
            "labels.9x: key must match ^[A-Za-z_][A-Za-z0-9_]*$"
        );
        assert_eq!(
            with_labels(vec![("", ls("v"))]),
            "labels.: key must match ^[A-Za-z_][A-Za-z0-9_]*$"
        );
        assert_eq!(
            with_labels(vec![("a.b", ls("v"))]),
            "labels.a.b: key must match ^[A-Za-z_][A-Za-z0-9_]*$"
        );
        let long_key: &'static str = "k".repeat(129).leak();
        assert_eq!(
            with_labels(vec![(long_key, ls("v"))]),
            format!("labels.{}…: key longer than 128 characters", "k".repeat(64))
        );
        let ok_key: &'static str = "k".repeat(128).leak();
        assert_eq!(with_labels(vec![(ok_key, ls("v"))]), "ok");
        let long_val: &'static str = "é".repeat(1025).leak();
        assert_eq!(
            with_labels(vec![("a", ls(long_val))]),
            "labels.a: longer than 1024 characters"
        );
        let ok_val: &'static str = "é".repeat(1024).leak();
        assert_eq!(with_labels(vec![("a", ls(ok_val))]), "ok");
        assert_eq!(
            with_labels(vec![("a", ls("1")), ("b", ls("2")), ("a", ls("3"))]),
            "labels.a: duplicate label"
        );
        // first problem in input order wins
        assert_eq!(
            with_labels(vec![("b", LabelValue::NotString), ("9", ls("x"))]),
            "labels.b: must be a string"
        );
        let keys: Vec<&'static str> = (0..65).map(|i| &*format!("k{i}").leak()).collect();
        assert_eq!(
            with_labels(keys.iter().map(|k| (*k, ls("v"))).collect()),
            "labels: at most 64 labels"
        );
        assert_eq!(
            with_labels(keys[..64].iter().map(|k| (*k, ls("v"))).collect()),
            "ok"
        );
        let mut p = good();
        p.labels = Some(Labels::Invalid);
        assert_eq!(reason(&p), "labels: must be a JSON object");
    }

    #[test]
    fn value_and_timestamp_reasons() {
        for v in [
            Value::Null,
            Value::Bool,
            s("1"),
            s("NaN"),
            Value::Composite,
            Value::Num(f64::NAN),
            Value::Num(f64::INFINITY),
        ] {
            let mut p = good();
            p.value = Some(v);
            assert_eq!(reason(&p), "value: must be a finite number");
        }
        for t in [
            Value::Bool,
            Value::Composite,
            s("yesterday"),
            s("1700000000"),
            Value::Num(f64::INFINITY),
        ] {
            let mut p = good();
            p.timestamp = Some(t);
            assert_eq!(
                reason(&p),
                "timestamp: not RFC 3339 or epoch seconds/milliseconds"
            );
        }
        for t in [
            Value::Num(0.0),
            Value::Num(1_599_999_999.999_999),
            Value::Num(1e300),
            s("2030-01-01T00:00:00Z"),
        ] {
            let mut p = good();
            p.timestamp = Some(t);
            assert_eq!(reason(&p), "timestamp outside the accepted window");
        }
        let mut p = good();
        p.timestamp = Some(Value::Num(1_600_000_000.0));
        assert!(validate(&p, &W).is_ok());
        p.timestamp = Some(Value::Num(1_800_000_000_000.0));
        assert!(validate(&p, &W).is_ok());
    }

    #[test]
    fn json_escaping_matches_python() {
        let mut o = String::new();
        push_json_string(
            &mut o,
            "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é🔥\u{2028}",
        );
        assert_eq!(
            o,
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é🔥\u{2028}\""
        );
        assert_eq!(labels_json(&[]), "{}");
        assert_eq!(
            labels_json(&[("a", "1"), ("b", "x\"y")]),
            "{\"a\":\"1\",\"b\":\"x\\\"y\"}"
        );
    }

    #[test]
    fn shown_truncates_on_char_boundaries() {
        assert_eq!(shown("abc"), "abc");
        let s64 = "é".repeat(64);
        assert_eq!(shown(&s64), s64);
        assert_eq!(shown(&"é".repeat(65)), format!("{s64}…"));
    }
}
