//! Series identity: canonical encoding and the 64-bit series hash.
//!
//! A metric series is identified by its namespace, its name and its labels
//! (a string → string map). The series dictionary (`metric_series.hash`) is
//! keyed by [`series_hash`], so the hash must not depend on the order in which
//! a client sent the labels, and two different identities must never share an
//! encoding.
//!
//! # Canonical encoding (version 1)
//!
//! All integers are `u32`, little-endian. Strings are UTF-8 bytes, not
//! normalised (no Unicode normalisation, no case folding, no trimming).
//!
//! ```text
//! u32 len(namespace) ‖ namespace bytes
//! u32 len(name)      ‖ name bytes
//! u32 label_count
//! for each label, in ascending byte order of its key:
//!     u32 len(key)   ‖ key bytes
//!     u32 len(value) ‖ value bytes
//! ```
//!
//! Every field is length-prefixed and the label count is explicit, so the
//! encoding is injective: `("a", "bc")` and `("ab", "c")` encode differently,
//! as do a label moved into the name, an empty label value versus a missing
//! label, and so on. Keys are sorted by their UTF-8 bytes (`str` ordering in
//! Rust, which equals code-point ordering), so Python's `sorted()` on `str`
//! keys gives the same order.
//!
//! # Hash
//!
//! [`series_hash`] is XXH64 (seed 0) of the canonical encoding, with the
//! unsigned 64-bit result reinterpreted as a two's-complement `i64` so that it
//! fits a PostgreSQL `bigint` column unchanged.

use std::fmt;

use xxhash_rust::xxh64::xxh64;

/// Seed used for XXH64. Part of the on-disk contract: changing it changes
/// every stored series hash.
pub const SEED: u64 = 0;

/// Why a series identity cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesError {
    /// The same label key appears more than once.
    DuplicateLabel(String),
    /// A string, or the number of labels, does not fit the `u32` length prefix.
    TooLong {
        /// Which part was too long: `"namespace"`, `"name"`, `"label key"`,
        /// `"label value"` or `"label count"`.
        field: &'static str,
        /// Its length in bytes (or count of labels).
        len: usize,
    },
}

impl fmt::Display for SeriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeriesError::DuplicateLabel(key) => write!(f, "duplicate label key {key:?}"),
            SeriesError::TooLong { field, len } => {
                write!(f, "{field} too long: {len} exceeds the u32 length prefix")
            }
        }
    }
}

impl std::error::Error for SeriesError {}

fn len_u32(field: &'static str, len: usize) -> Result<u32, SeriesError> {
    u32::try_from(len).map_err(|_| SeriesError::TooLong { field, len })
}

fn put_str(out: &mut Vec<u8>, field: &'static str, s: &str) -> Result<(), SeriesError> {
    out.extend_from_slice(&len_u32(field, s.len())?.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Sort labels by key (byte order) in place and reject duplicate keys.
///
/// The sort is stable but duplicate keys are an error, so the result is
/// independent of the input order.
pub fn sort_labels<K: AsRef<str>, V: AsRef<str>>(labels: &mut [(K, V)]) -> Result<(), SeriesError> {
    labels.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    if let Some(w) = labels
        .windows(2)
        .find(|w| w[0].0.as_ref() == w[1].0.as_ref())
    {
        return Err(SeriesError::DuplicateLabel(w[0].0.as_ref().to_owned()));
    }
    Ok(())
}

/// Append the canonical encoding to `out`, given labels **already sorted by
/// key with no duplicates** (see [`sort_labels`]).
///
/// On error `out` may hold a partial encoding; truncate it if you reuse it.
pub fn encode_sorted_into<K: AsRef<str>, V: AsRef<str>>(
    out: &mut Vec<u8>,
    namespace: &str,
    name: &str,
    sorted_labels: &[(K, V)],
) -> Result<(), SeriesError> {
    debug_assert!(sorted_labels
        .windows(2)
        .all(|w| w[0].0.as_ref() < w[1].0.as_ref()));
    let payload: usize = sorted_labels
        .iter()
        .map(|(k, v)| 8 + k.as_ref().len() + v.as_ref().len())
        .sum();
    out.reserve(12 + namespace.len() + name.len() + payload);
    put_str(out, "namespace", namespace)?;
    put_str(out, "name", name)?;
    out.extend_from_slice(&len_u32("label count", sorted_labels.len())?.to_le_bytes());
    for (k, v) in sorted_labels {
        put_str(out, "label key", k.as_ref())?;
        put_str(out, "label value", v.as_ref())?;
    }
    Ok(())
}

/// The namespace of a canonical encoding made by this module (its first
/// field), without reading the rest.
///
/// # Panics
/// As [`decode_encoded`].
pub fn decode_namespace(encoded: &[u8]) -> &str {
    let (len, rest) = encoded.split_at(4);
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    std::str::from_utf8(&rest[..len]).expect("encoded from a str")
}

/// `(namespace, name, labels)` of a canonical encoding made by this module.
///
/// # Panics
/// If `encoded` is not such an encoding (it is only ever read back by the
/// code that wrote it).
pub fn decode_encoded(encoded: &[u8]) -> (&str, &str, Vec<(&str, &str)>) {
    fn next_u32(rest: &mut &[u8]) -> usize {
        let (n, tail) = rest.split_at(4);
        *rest = tail;
        u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize
    }
    fn next_str<'a>(rest: &mut &'a [u8]) -> &'a str {
        let len = next_u32(rest);
        let (s, tail) = rest.split_at(len);
        *rest = tail;
        std::str::from_utf8(s).expect("encoded from a str")
    }
    let mut rest = encoded;
    let namespace = next_str(&mut rest);
    let name = next_str(&mut rest);
    let count = next_u32(&mut rest);
    let labels = (0..count)
        .map(|_| (next_str(&mut rest), next_str(&mut rest)))
        .collect();
    (namespace, name, labels)
}

/// Reusable encoder for callers that produce labels one at a time and cannot
/// keep the `&str`s alive together (e.g. the Python binding, where each string
/// is borrowed from a temporary object), or that encode many identities in a
/// row without allocating per identity.
///
/// ```
/// use _native::series::{Encoder, canonical_encoding};
/// let mut enc = Encoder::default();
/// let mut out = Vec::new();
/// enc.push_label("b", "2").unwrap();
/// enc.push_label("a", "1").unwrap();
/// enc.finish_into(&mut out, "ns", "m").unwrap();
/// assert_eq!(out, canonical_encoding("ns", "m", &[("a", "1"), ("b", "2")]).unwrap());
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    /// Each pushed label, already encoded (`len key ‖ key ‖ len value ‖ value`).
    scratch: Vec<u8>,
    /// Per label: (start of its entry in `scratch`, key length, entry length).
    entries: Vec<(usize, usize, usize)>,
}

impl Encoder {
    /// Add one label to the identity being built.
    pub fn push_label(&mut self, key: &str, value: &str) -> Result<(), SeriesError> {
        let start = self.scratch.len();
        let res = put_str(&mut self.scratch, "label key", key)
            .and_then(|()| put_str(&mut self.scratch, "label value", value));
        if let Err(e) = res {
            self.clear();
            return Err(e);
        }
        self.entries
            .push((start, key.len(), self.scratch.len() - start));
        Ok(())
    }

    /// Forget the labels pushed so far.
    pub fn clear(&mut self) {
        self.scratch.clear();
        self.entries.clear();
    }

    /// Append the canonical encoding of `(namespace, name, pushed labels)` to
    /// `out` and reset the encoder for the next identity (also on error).
    pub fn finish_into(
        &mut self,
        out: &mut Vec<u8>,
        namespace: &str,
        name: &str,
    ) -> Result<(), SeriesError> {
        let res = self.finish_inner(out, namespace, name);
        self.clear();
        res
    }

    fn finish_inner(
        &mut self,
        out: &mut Vec<u8>,
        namespace: &str,
        name: &str,
    ) -> Result<(), SeriesError> {
        let scratch = &self.scratch;
        let key = |&(start, klen, _): &(usize, usize, usize)| &scratch[start + 4..start + 4 + klen];
        self.entries.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        if let Some(w) = self.entries.windows(2).find(|w| key(&w[0]) == key(&w[1])) {
            let k = String::from_utf8_lossy(key(&w[0])).into_owned();
            return Err(SeriesError::DuplicateLabel(k));
        }
        out.reserve(12 + namespace.len() + name.len() + scratch.len());
        put_str(out, "namespace", namespace)?;
        put_str(out, "name", name)?;
        out.extend_from_slice(&len_u32("label count", self.entries.len())?.to_le_bytes());
        for &(start, _, len) in &self.entries {
            out.extend_from_slice(&scratch[start..start + len]);
        }
        Ok(())
    }
}

/// The canonical encoding of a series identity (labels in any order).
pub fn canonical_encoding(
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Result<Vec<u8>, SeriesError> {
    let mut sorted = labels.to_vec();
    sort_labels(&mut sorted)?;
    let mut out = Vec::new();
    encode_sorted_into(&mut out, namespace, name, &sorted)?;
    Ok(out)
}

/// XXH64 (seed [`SEED`]) of an already canonical encoding, as a signed `i64`.
#[inline]
pub fn hash_encoded(encoded: &[u8]) -> i64 {
    xxh64(encoded, SEED) as i64
}

/// The series hash of `(namespace, name, labels)`; labels may be in any order.
///
/// Returns [`SeriesError::DuplicateLabel`] if a key repeats.
pub fn series_hash(
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Result<i64, SeriesError> {
    canonical_encoding(namespace, name, labels).map(|e| hash_encoded(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (namespace, name, labels) of a test case.
    type Identity<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    /// (namespace, name, labels, pinned series_hash).
    type Pinned = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        i64,
    );

    fn h(ns: &str, name: &str, labels: &[(&str, &str)]) -> i64 {
        series_hash(ns, name, labels).unwrap()
    }

    #[test]
    fn encoding_layout_is_exact() {
        let e = canonical_encoding("ns", "m", &[("b", "2"), ("a", "")]).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(b"ns");
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(b"m");
        want.extend_from_slice(&2u32.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(b"a");
        want.extend_from_slice(&0u32.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(b"b");
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(b"2");
        assert_eq!(e, want);
    }

    #[test]
    fn empty_everything_encoding() {
        assert_eq!(canonical_encoding("", "", &[]).unwrap(), vec![0u8; 12]);
    }

    #[test]
    fn label_order_does_not_matter() {
        let a = [
            ("method", "GET"),
            ("code", "200"),
            ("path", "/x"),
            ("host", "h1"),
        ];
        let base = h("app", "http_requests_total", &a);
        // every rotation and the reverse
        for r in 0..a.len() {
            let mut v = a.to_vec();
            v.rotate_left(r);
            assert_eq!(h("app", "http_requests_total", &v), base);
            v.reverse();
            assert_eq!(h("app", "http_requests_total", &v), base);
        }
    }

    #[test]
    fn injective_on_boundaries() {
        // namespace/name split
        assert_ne!(h("a", "bc", &[]), h("ab", "c", &[]));
        assert_ne!(h("", "abc", &[]), h("abc", "", &[]));
        // key/value split
        assert_ne!(h("n", "m", &[("a", "bc")]), h("n", "m", &[("ab", "c")]));
        // label vs no label, empty label
        assert_ne!(h("n", "m", &[]), h("n", "m", &[("", "")]));
        assert_ne!(h("n", "m", &[("k", "")]), h("n", "m", &[]));
        // one label vs two
        assert_ne!(
            h("n", "m", &[("a", "1"), ("b", "2")]),
            h("n", "m", &[("a", "1\u{0}\u{0}\u{0}\u{0}b")])
        );
        // name smuggling a label encoding
        let smuggled = canonical_encoding("n", "m", &[("k", "v")]).unwrap();
        let smuggled = String::from_utf8(smuggled[4 + 1 + 4..].to_vec()).unwrap();
        assert_ne!(h("n", &smuggled, &[]), h("n", "m", &[("k", "v")]));
        // swapped key and value
        assert_ne!(h("n", "m", &[("a", "b")]), h("n", "m", &[("b", "a")]));
    }

    #[test]
    fn distinct_encodings_for_distinct_identities() {
        let ids: Vec<Identity> = vec![
            ("", "", vec![]),
            ("a", "", vec![]),
            ("", "a", vec![]),
            ("", "", vec![("a", "")]),
            ("", "", vec![("", "a")]),
            ("a", "a", vec![("a", "a")]),
            ("a", "a", vec![("a", "a"), ("b", "")]),
            ("aa", "", vec![]),
        ];
        let encs: Vec<_> = ids
            .iter()
            .map(|(n, m, l)| canonical_encoding(n, m, l).unwrap())
            .collect();
        for i in 0..encs.len() {
            for j in i + 1..encs.len() {
                assert_ne!(encs[i], encs[j], "{:?} vs {:?}", ids[i], ids[j]);
            }
        }
    }

    #[test]
    fn duplicate_keys_rejected() {
        assert_eq!(
            series_hash("n", "m", &[("a", "1"), ("b", "2"), ("a", "1")]),
            Err(SeriesError::DuplicateLabel("a".to_owned()))
        );
        assert_eq!(
            series_hash("n", "m", &[("", "x"), ("", "y")]),
            Err(SeriesError::DuplicateLabel(String::new()))
        );
    }

    #[test]
    fn keys_sort_by_bytes_not_locale() {
        // 'Z' (0x5A) < '_' (0x5F) < 'a' (0x61) < 'é' (0xC3 0xA9)
        let e =
            canonical_encoding("", "", &[("é", "4"), ("a", "3"), ("_", "2"), ("Z", "1")]).unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0];
        for (k, v) in [("Z", "1"), ("_", "2"), ("a", "3"), ("é", "4")] {
            want.extend_from_slice(&(k.len() as u32).to_le_bytes());
            want.extend_from_slice(k.as_bytes());
            want.extend_from_slice(&(v.len() as u32).to_le_bytes());
            want.extend_from_slice(v.as_bytes());
        }
        assert_eq!(e, want);
        // Upper case sorts before lower case; shorter prefix first.
        let mut l = vec![("b", ""), ("B", ""), ("ab", ""), ("a", "")];
        sort_labels(&mut l).unwrap();
        assert_eq!(l, vec![("B", ""), ("a", ""), ("ab", ""), ("b", "")]);
    }

    #[test]
    fn hash_is_xxh64_seed0_of_encoding_as_i64() {
        let e = canonical_encoding("app", "up", &[("job", "api")]).unwrap();
        assert_eq!(h("app", "up", &[("job", "api")]), xxh64(&e, 0) as i64);
        // the reinterpretation is two's complement, not a clamp
        assert_eq!(hash_encoded(&e) as u64, xxh64(&e, 0));
    }

    #[test]
    fn xxh64_known_answers() {
        // Reference values from the xxHash specification / test suite.
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
    }

    /// Pinned vectors: the same table is checked by the Python reference
    /// (tests/native/test_series_hash.py). Changing any of these breaks every
    /// stored `metric_series.hash`.
    const PINNED: &[Pinned] = &[
        ("", "", &[], -1193816722499823622),
        ("app", "up", &[], -8116185657382163713),
        (
            "app",
            "http_requests_total",
            &[
                ("method", "GET"),
                ("code", "200"),
                ("path", "/api/v1/users"),
            ],
            -8407851450238911828,
        ),
        ("a", "bc", &[], 2341529375075494388),
        ("ab", "c", &[], 3157496833014429138),
        ("n", "m", &[("k", "")], -7715300900583299957),
        (
            "télémétrie",
            "température_°C",
            &[("城市", "東京"), ("emoji", "🔥")],
            6902207761750791063,
        ),
    ];

    #[test]
    fn encoder_matches_canonical_encoding_and_resets() {
        let cases: Vec<Identity> = vec![
            ("", "", vec![]),
            (
                "app",
                "x",
                vec![("z", "1"), ("a", ""), ("é", "ü"), ("A", "long value here")],
            ),
            ("n", "m", vec![("k", "v")]),
        ];
        let mut enc = Encoder::default();
        let mut out = Vec::new();
        for (ns, name, labels) in &cases {
            out.clear();
            for (k, v) in labels {
                enc.push_label(k, v).unwrap();
            }
            enc.finish_into(&mut out, ns, name).unwrap();
            assert_eq!(out, canonical_encoding(ns, name, labels).unwrap());
        }
        enc.push_label("a", "1").unwrap();
        enc.push_label("a", "2").unwrap();
        assert_eq!(
            enc.finish_into(&mut out, "n", "m"),
            Err(SeriesError::DuplicateLabel("a".into()))
        );
        // reset after the error
        out.clear();
        enc.finish_into(&mut out, "n", "m").unwrap();
        assert_eq!(out, canonical_encoding("n", "m", &[]).unwrap());
    }

    #[test]
    fn pinned_vectors() {
        for (ns, name, labels, want) in PINNED {
            let got = h(ns, name, labels);
            println!("PIN {ns:?} {name:?} {labels:?} = {got}");
            assert_eq!(got, *want, "{ns:?} {name:?} {labels:?}");
        }
    }

    #[test]
    fn many_labels_and_long_strings() {
        let keys: Vec<String> = (0..500).map(|i| format!("k{i:04}")).collect();
        let vals: Vec<String> = (0..500).map(|i| "v".repeat(i)).collect();
        let mut labels: Vec<(&str, &str)> = keys
            .iter()
            .map(String::as_str)
            .zip(vals.iter().map(String::as_str))
            .collect();
        let a = h("ns", "name", &labels);
        labels.reverse();
        assert_eq!(h("ns", "name", &labels), a);
    }
}
