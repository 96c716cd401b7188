//! Label-set helpers: hashing (the identity of a series in every map of the
//! evaluator), dropping the metric name, match signatures, Go's formatting of
//! label sets in error messages.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use xxhash_rust::xxh64::Xxh64;

use super::super::value::{Labels, METRIC_NAME};

/// A hasher for keys that are hashes already.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Keys are hashes already; the multiplication spreads tuples of them.
        self.0 = self.0.rotate_left(29) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;
pub(crate) type IdMap<V> = HashMap<u64, V, IdBuild>;

const SEP: u8 = 0xff;

/// The hash of a label set (names and values separated as Prometheus's
/// `labels.Hash` separates them).
pub(crate) fn hash_labels(l: &[(String, String)]) -> u64 {
    let mut h = Xxh64::new(0);
    for (n, v) in l {
        h.update(n.as_bytes());
        h.update(&[SEP]);
        h.update(v.as_bytes());
        h.update(&[SEP]);
    }
    h.digest()
}

/// The value of label `name`, `""` when missing.
pub(crate) fn get<'a>(l: &'a Labels, name: &str) -> &'a str {
    l.iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

pub(crate) fn drop_name(l: &Labels) -> Labels {
    l.iter()
        .filter(|(n, _)| n != METRIC_NAME)
        .cloned()
        .collect()
}

/// Set (or with an empty value, delete) a label, keeping the set sorted.
pub(crate) fn set(l: &mut Labels, name: &str, value: &str) {
    match l.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            l.remove(i);
        }
        Ok(i) => l[i].1 = value.to_owned(),
        Err(_) if value.is_empty() => {}
        Err(i) => l.insert(i, (name.to_owned(), value.to_owned())),
    }
}

/// The match signature of a series for `on(names)` (only those labels) or
/// `ignoring(names)` (every label but those and the metric name).
pub(crate) fn signature(l: &Labels, on: bool, names: &[String]) -> u64 {
    let mut h = Xxh64::new(0);
    for (n, v) in l {
        let listed = names.iter().any(|x| x == n);
        if on == listed && (on || n != METRIC_NAME) {
            h.update(n.as_bytes());
            h.update(&[SEP]);
            h.update(v.as_bytes());
            h.update(&[SEP]);
        }
    }
    h.digest()
}

/// Prometheus's `Labels.MatchLabels`: the labels a signature is made of.
pub(crate) fn match_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    l.iter()
        .filter(|(n, _)| {
            let listed = names.iter().any(|x| x == n);
            on == listed && (on || n != METRIC_NAME)
        })
        .cloned()
        .collect()
}

/// A label set as Prometheus's `Labels.String()` writes it in messages:
/// `{__name__="up", job="a"}`.
pub(crate) fn labels_string(l: &Labels) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(n);
        s.push('=');
        s.push_str(&go_quote(v));
    }
    s.push('}');
    s
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as Go's `%v` prints it: `strconv.FormatFloat(v, 'g', -1, 64)`,
/// the exponent form when the decimal exponent is below -4 or at least 6
/// (`1e+19`, `123456`, `1.234567e+06`).
pub(crate) fn go_v(v: f64) -> String {
    use super::super::value::{format_float, format_float_exp};
    if !v.is_finite() || v == 0.0 {
        return format_float(v);
    }
    let e = format!("{v:e}");
    let exp: i32 = e
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        format_float_exp(v)
    } else {
        format_float(v)
    }
}

/// Shares one `Rc` per distinct label set among the results of a node.
#[derive(Default)]
pub(crate) struct Interner {
    map: IdMap<Rc<Labels>>,
}

impl Interner {
    pub(crate) fn intern(&mut self, l: Labels) -> (Rc<Labels>, u64) {
        let h = hash_labels(&l);
        let rc = self.map.entry(h).or_insert_with(|| Rc::new(l)).clone();
        (rc, h)
    }
}
