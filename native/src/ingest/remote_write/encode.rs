//! Encoding of a [`Batch`] as a Prometheus remote write 1.0 body: a
//! `prometheus.WriteRequest` ([`super::proto`]'s field numbers), snappy
//! block-compressed — what Hearth sends a Prometheus-compatible backend in
//! remote mode.
//!
//! One `TimeSeries` per unique series of the batch, in order of first
//! appearance, with its labels sorted by name (byte order, as Prometheus keeps
//! them): `__name__` = the series name, `<namespace_label>` = its namespace,
//! then its own labels. An own label named `__name__` or like the namespace
//! label is left out (the name and the namespace win: a series carries each
//! label once), and so is a label with an empty value (Prometheus treats it
//! as absent). Hearth series that differ only in such left-out labels are one
//! series in the backend, and are sent as one (their samples merged in input
//! order).
//!
//! Samples of a series are sorted by time, in milliseconds (µs floored, as
//! the backend stores ms). Of two samples of a series that fall in the same
//! millisecond, the later in input order is kept: the backend refuses a second
//! sample at a timestamp it already holds with a different value (a
//! "duplicate sample for timestamp" 400 that would fail the whole request),
//! and keeping the last write matches what Hearth's own store does
//! (compaction: the later write wins). Values are kept bit for bit (NaN
//! payloads such as the staleness marker, ±Inf, -0.0).
//!
//! The protobuf is written by hand, straight from the batch's key arena: no
//! message structs, no allocation per series or per sample beyond one scratch
//! array of the samples grouped by series and the output itself.

use std::collections::HashMap;

use super::NAME_LABEL;
use crate::ingest::Batch;

/// `WriteRequest.timeseries` (field 1, length-delimited).
const TAG_TIMESERIES: u8 = 1 << 3 | 2;
/// `TimeSeries.labels` (field 1, length-delimited).
const TAG_LABELS: u8 = 1 << 3 | 2;
/// `TimeSeries.samples` (field 2, length-delimited).
const TAG_SAMPLES: u8 = 2 << 3 | 2;
/// `Label.name` (field 1, length-delimited).
const TAG_LABEL_NAME: u8 = 1 << 3 | 2;
/// `Label.value` (field 2, length-delimited).
const TAG_LABEL_VALUE: u8 = 2 << 3 | 2;
/// `Sample.value` (field 1, fixed64).
const TAG_SAMPLE_VALUE: u8 = 1 << 3 | 1;
/// `Sample.timestamp` (field 2, varint).
const TAG_SAMPLE_TIMESTAMP: u8 = 2 << 3;

/// The snappy-compressed remote write 1.0 body of every accepted point of
/// `batch`, each series' namespace in the label `namespace_label`.
pub fn encode_remote_write(batch: &Batch, namespace_label: &str) -> Vec<u8> {
    let raw = write_request(batch, namespace_label);
    // snap refuses only inputs over 2^32 - 1 bytes; a batch is bounded by the
    // request limits far below that.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("a remote write body under 4 GiB")
}

/// The uncompressed `prometheus.WriteRequest` of `batch`.
pub fn write_request(batch: &Batch, namespace_label: &str) -> Vec<u8> {
    // Common case: no series has a label the backend does not see, so each
    // (distinct) Hearth series is a distinct backend series.
    let each: Vec<u32> = (0..batch.series.len() as u32).collect();
    if let Some(out) = encode_series(batch, namespace_label, &each, &each, true) {
        return out;
    }
    let merged = backend_series(batch, namespace_label);
    encode_series(
        batch,
        namespace_label,
        &merged.of_series,
        &merged.first,
        false,
    )
    .expect("not given up without `stop_at_unsent`")
}

/// Encode the backend series `first` (a batch series of each), the batch
/// series' points grouped by `group_of`; `None` when `stop_at_unsent` and a
/// series has a label that is not sent.
fn encode_series(
    batch: &Batch,
    namespace_label: &str,
    group_of: &[u32],
    first: &[u32],
    stop_at_unsent: bool,
) -> Option<Vec<u8>> {
    let (starts, mut samples) = group_samples(batch, group_of, first.len());
    // Own labels take at most their key encoding's size; name and namespace
    // labels ~30 bytes and the namespace label's name, a sample ≤ 22 bytes.
    let size = batch.keys.len()
        + batch.series.len() * (32 + namespace_label.len())
        + batch.points.len() * 22;
    let mut out = Vec::with_capacity(size);
    let mut labels: Vec<RawLabel<'_>> = Vec::new();
    for (g, &s) in first.iter().enumerate() {
        if sent_labels(batch, s as usize, namespace_label, &mut labels) && stop_at_unsent {
            return None;
        }
        let group = &mut samples[starts[g] as usize..starts[g + 1] as usize];
        let kept = sort_and_dedupe(group);
        put_series(&mut out, &labels, &group[..kept]);
    }
    Some(out)
}

/// A label as bytes (UTF-8 already checked when the batch was built; the
/// encoder only copies and compares them, and byte order is `str` order).
type RawLabel<'a> = (&'a [u8], &'a [u8]);

/// The labels series `i` of `batch` is sent with, sorted by name, into
/// `labels`; whether some own label was left out.
fn sent_labels<'a>(
    batch: &'a Batch,
    i: usize,
    namespace_label: &'a str,
    labels: &mut Vec<RawLabel<'a>>,
) -> bool {
    let key = &batch.keys[batch.series[i].key.clone()];
    let (namespace, name) = series_labels(key, labels);
    let own = labels.len();
    labels.retain(|&(k, v)| !unsent(k, v, namespace_label));
    let left_out = labels.len() != own;
    // The own labels are sorted (canonical encoding): insert the two in place.
    for extra in [
        (NAME_LABEL.as_bytes(), name),
        (namespace_label.as_bytes(), namespace),
    ] {
        let at = labels.partition_point(|l| bytes_less(l.0, extra.0));
        labels.insert(at, extra);
    }
    left_out
}

/// `a < b` for short strings: a loop, cheaper than a call to `memcmp` for
/// label names (a fifth of the encoding time went to those calls).
#[inline]
fn bytes_less(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// An own label of a series that is not sent.
fn unsent(k: &[u8], v: &[u8], namespace_label: &str) -> bool {
    v.is_empty() || k == NAME_LABEL.as_bytes() || k == namespace_label.as_bytes()
}

/// The backend's series of a batch: Hearth series that differ only in labels
/// the backend does not see (an empty value, an own `__name__` or namespace
/// label) are one series there, and must be sent as one (two time series with
/// equal labels in one request would carry duplicate timestamps).
struct BackendSeries {
    /// Backend series of each batch series.
    of_series: Vec<u32>,
    /// First batch series of each backend series (in order of appearance).
    first: Vec<u32>,
}

/// Key the series of `batch` by their sent labels (the rare case).
fn backend_series(batch: &Batch, namespace_label: &str) -> BackendSeries {
    let n = batch.series.len();
    let mut labels = Vec::new();
    let mut seen: HashMap<Vec<RawLabel<'_>>, u32> = HashMap::new();
    let mut out = BackendSeries {
        of_series: Vec::with_capacity(n),
        first: Vec::new(),
    };
    for i in 0..n {
        sent_labels(batch, i, namespace_label, &mut labels);
        let next = out.first.len() as u32;
        let g = *seen.entry(labels.clone()).or_insert(next);
        if g == next {
            out.first.push(i as u32);
        }
        out.of_series.push(g);
    }
    out
}

/// A sample in the backend's units: (ms, value).
type MsSample = (i64, f64);

/// The points of `batch` grouped by backend series (a counting sort, stable:
/// input order within a group): `samples[starts[g]..starts[g + 1]]` are
/// group `g`'s.
fn group_samples(batch: &Batch, group_of: &[u32], groups: usize) -> (Vec<u32>, Vec<MsSample>) {
    let mut starts = vec![0u32; groups + 1];
    for p in &batch.points {
        starts[group_of[p.series as usize] as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut samples = vec![(0i64, 0f64); batch.points.len()];
    for p in &batch.points {
        let slot = &mut next[group_of[p.series as usize] as usize];
        samples[*slot as usize] = (p.time_us.div_euclid(1000), p.value);
        *slot += 1;
    }
    (starts, samples)
}

/// Sort one series' samples by time (stably) and keep, of those in one
/// millisecond, the last in input order; how many are kept (at the front).
fn sort_and_dedupe(group: &mut [MsSample]) -> usize {
    if !group.windows(2).all(|w| w[0].0 <= w[1].0) {
        group.sort_by_key(|s| s.0);
    }
    let mut kept = 0;
    for r in 0..group.len() {
        if kept > 0 && group[kept - 1].0 == group[r].0 {
            group[kept - 1] = group[r];
        } else {
            group[kept] = group[r];
            kept += 1;
        }
    }
    kept
}

/// Read a canonical series encoding ([`crate::series`]): `(namespace, name)`,
/// its labels into `labels` (cleared first).
fn series_labels<'a>(key: &'a [u8], labels: &mut Vec<RawLabel<'a>>) -> (&'a [u8], &'a [u8]) {
    fn next_u32(rest: &mut &[u8]) -> usize {
        let (n, tail) = rest.split_at(4);
        *rest = tail;
        u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize
    }
    fn next_str<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
        let len = next_u32(rest);
        let (s, tail) = rest.split_at(len);
        *rest = tail;
        s
    }
    labels.clear();
    let mut rest = key;
    let namespace = next_str(&mut rest);
    let name = next_str(&mut rest);
    for _ in 0..next_u32(&mut rest) {
        let k = next_str(&mut rest);
        labels.push((k, next_str(&mut rest)));
    }
    (namespace, name)
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits; 0 takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length of a `Label` message.
fn label_len(k: &[u8], v: &[u8]) -> usize {
    2 + varint_len(k.len() as u64) + k.len() + varint_len(v.len() as u64) + v.len()
}

/// Length of a `Sample` message: both fields always written (a 0.0 value
/// too, so that -0.0 keeps its sign).
fn sample_len(ms: i64) -> usize {
    1 + 8 + 1 + varint_len(ms as u64)
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One `WriteRequest.timeseries` entry.
fn put_series(out: &mut Vec<u8>, labels: &[RawLabel<'_>], samples: &[MsSample]) {
    let labels_len: usize = (labels.iter())
        .map(|(k, v)| {
            let n = label_len(k, v);
            1 + varint_len(n as u64) + n
        })
        .sum();
    // A sample message is at most 20 bytes: its length is one varint byte.
    let samples_len: usize = samples.iter().map(|s| 2 + sample_len(s.0)).sum();
    let len = labels_len + samples_len;
    out.reserve(len + 11);
    out.push(TAG_TIMESERIES);
    put_varint(out, len as u64);
    for (k, v) in labels {
        out.push(TAG_LABELS);
        put_varint(out, label_len(k, v) as u64);
        put_bytes(out, TAG_LABEL_NAME, k);
        put_bytes(out, TAG_LABEL_VALUE, v);
    }
    for &(ms, value) in samples {
        out.push(TAG_SAMPLES);
        out.push(sample_len(ms) as u8);
        out.push(TAG_SAMPLE_VALUE);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
        out.push(TAG_SAMPLE_TIMESTAMP);
        put_varint(out, ms as u64);
    }
}

#[cfg(test)]
mod tests;
