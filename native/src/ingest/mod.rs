//! Decoding of metric ingestion bodies (JSON, NDJSON, CSV; optionally gzip)
//! into validated points keyed by series.
//!
//! Pure Rust; the Python binding is `crate::py::ingest`. The flow is:
//! decompress ([`gunzip`]) → parse ([`json`], [`csv`]) into [`point::RawPoint`]s
//! → validate ([`point::validate`]) → hash the series ([`crate::series`]) and
//! collect the accepted [`Point`]s in a [`Batch`]. Binary COPY encoding of a
//! batch is in [`crate::copy`].
//!
//! Errors come in two kinds: an [`IngestError`] when the body as a whole is
//! unusable — one variant per way a caller answers it (malformed, too large
//! once decompressed, an unknown format name) — and a per-item rejection
//! (`(index, reason)` in [`Batch::rejected`]) for everything else.

pub mod csv;
pub mod influx;
pub mod json;
pub mod otlp;
pub mod point;
pub mod remote_write;
pub mod time;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::str::FromStr;

use crate::block::{self, BlockError};
use crate::series;
use crate::series_map::{Hash, SeriesMap};
use point::{RawPoint, ValidPoint, Window};

pub use json::DefaultParser;

/// Why the body as a whole cannot be decoded. The variants differ in how a
/// server answers them (a client error in the body, a body too large, a bug in
/// the caller), so each becomes its own Python exception class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body is not what its format says: not JSON, not an array of
    /// points, a bad CSV header, not UTF-8, corrupt or truncated gzip.
    #[error("{0}")]
    Malformed(String),
    /// Decompressed, the body would be larger than `limit` bytes.
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The format name is not one of [`Format`]'s (shown shortened).
    #[error("unknown format {0:?} (expected \"json\", \"ndjson\" or \"csv\")")]
    UnknownFormat(String),
}

/// Wire format of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of point objects, or `{"points": [...]}`.
    Json,
    /// One point object per line; blank lines are skipped.
    Ndjson,
    /// A header row naming the columns, then one point per row.
    Csv,
}

impl FromStr for Format {
    type Err = IngestError;

    fn from_str(s: &str) -> Result<Self, IngestError> {
        match s {
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            _ => Err(IngestError::UnknownFormat(point::shown(s).into())),
        }
    }
}

/// How to decode a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub window: Window,
    /// The body is gzip (one or more members).
    pub gzip: bool,
    /// Largest accepted decompressed size, in bytes.
    pub max_decompressed: usize,
}

/// An accepted point. `series` indexes [`Batch::series`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub series: u32,
    pub time_us: i64,
    pub value: f64,
}

/// A unique series of a batch: its hash, and where its canonical encoding
/// lies in [`Batch::keys`] (the identity is spelled out only for the series a
/// caller does not know yet: [`Batch::identity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// [`series::series_hash`] of the identity.
    pub hash: i64,
    key: std::ops::Range<usize>,
}

/// A series identity spelled out, for the series dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub namespace: String,
    pub name: String,
    /// Compact JSON object, keys sorted (see [`point::labels_json`]).
    pub labels_json: String,
}

/// The result of decoding one body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Items seen (accepted + rejected).
    pub total: usize,
    /// Accepted points, in input order.
    pub points: Vec<Point>,
    /// `(index, reason)` of each rejected item, in input order.
    pub rejected: Vec<(usize, String)>,
    /// Unique series of the accepted points, in order of first appearance.
    pub series: Vec<Series>,
    /// The canonical encodings ([`series::encode_sorted_into`]) of the series,
    /// one after another.
    keys: Vec<u8>,
    /// Earliest and latest time of the accepted points.
    pub min_time_us: Option<i64>,
    pub max_time_us: Option<i64>,
    /// Rejected items whose time is before the window (older than retention).
    pub too_old: usize,
    /// What a protocol decoder accepted but does not store (exemplars, native
    /// histograms, metadata, …): `(what, count)`, each `what` once.
    pub ignored: Vec<(&'static str, u64)>,
}

impl Batch {
    /// Series `i` spelled out (namespace, name, labels as JSON).
    pub fn identity(&self, i: usize) -> Identity {
        let (namespace, name, labels) =
            series::decode_encoded(&self.keys[self.series[i].key.clone()]);
        Identity {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            labels_json: point::labels_json(&labels),
        }
    }

    /// The distinct namespaces of the accepted points, sorted.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut out: Vec<&str> = (self.series.iter())
            .map(|s| series::decode_namespace(&self.keys[s.key.clone()]))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Indexes (into [`Batch::series`]) of the series `map` does not hold.
    pub fn unmapped(&self, map: &SeriesMap) -> Vec<usize> {
        (self.series.iter().enumerate())
            .filter(|(_, s)| !map.contains(s.hash))
            .map(|(i, _)| i)
            .collect()
    }

    /// `series_id` of each series (by index) from `map`, or the hash of the
    /// first series it lacks.
    pub fn mapped_ids(&self, map: &SeriesMap) -> Result<Vec<i64>, Hash> {
        (self.series.iter())
            .map(|s| map.get(s.hash).map(i64::from).ok_or(s.hash))
            .collect()
    }

    /// The batch without the points of the series whose hash is in `refused`
    /// (a cardinality limit refused creating them); counts and times follow.
    pub fn without(&self, refused: &[i64]) -> Batch {
        let keep: Vec<bool> = (self.series.iter())
            .map(|s| !refused.contains(&s.hash))
            .collect();
        let mut renumber = vec![u32::MAX; self.series.len()];
        let mut out = Batch {
            total: self.total,
            rejected: self.rejected.clone(),
            too_old: self.too_old,
            ignored: self.ignored.clone(),
            keys: self.keys.clone(),
            ..Batch::default()
        };
        for (i, s) in self.series.iter().enumerate() {
            if keep[i] {
                renumber[i] = out.series.len() as u32;
                out.series.push(s.clone());
            }
        }
        for p in &self.points {
            let idx = renumber[p.series as usize];
            if idx != u32::MAX {
                out.points.push(Point { series: idx, ..*p });
                let t = p.time_us;
                out.min_time_us = Some(out.min_time_us.map_or(t, |m| m.min(t)));
                out.max_time_us = Some(out.max_time_us.map_or(t, |m| m.max(t)));
            }
        }
        out
    }

    /// One write-log block ([`block::encode`]) of every accepted point, with
    /// `ids[i]` the `series_id` of series `i`.
    pub fn encode_block(&self, ids: &[i64]) -> Result<Vec<u8>, BlockError> {
        let series: Vec<i64> = self.points.iter().map(|p| ids[p.series as usize]).collect();
        let times: Vec<i64> = self.points.iter().map(|p| p.time_us).collect();
        let values: Vec<f64> = self.points.iter().map(|p| p.value).collect();
        block::encode(&series, &times, &values)
    }
}

/// `Hasher` for keys that already are good hashes (series hashes).
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = i as u64;
    }
}

type HashIndex = HashMap<i64, u32, BuildHasherDefault<IdentityHasher>>;

/// Accumulates validated points into a [`Batch`]; the decoders feed it one
/// item at a time, in input order.
pub struct Builder {
    window: Window,
    batch: Batch,
    by_hash: HashIndex,
}

impl Builder {
    pub fn new(window: Window) -> Self {
        Builder {
            window,
            batch: Batch::default(),
            by_hash: HashIndex::default(),
        }
    }

    /// Pre-size for about `n` items.
    pub fn reserve(&mut self, n: usize) {
        self.batch.points.reserve(n);
    }

    /// Validate one item and accept or reject it.
    pub fn point(&mut self, p: &RawPoint<'_>) {
        match point::validate(p, &self.window) {
            Ok(v) => self.accept(v),
            Err(reason) => self.reject(reason),
        }
    }

    /// Validate one sample of a protocol that names its series itself
    /// ([`point::validate_sample`]) and accept or reject it.
    pub fn sample(
        &mut self,
        namespace: &str,
        name: &str,
        labels: Vec<(&str, &str)>,
        time_us: i64,
        value: f64,
    ) {
        match point::validate_sample(namespace, name, labels, time_us, value, &self.window) {
            Ok(v) => self.accept(v),
            Err(reason) => {
                if time_us < self.window.min_time_us && reason == point::OUTSIDE_WINDOW {
                    self.batch.too_old += 1;
                }
                self.reject(reason)
            }
        }
    }

    /// Count `n` things of kind `what` the protocol carried but Hearth does not
    /// store.
    pub fn ignore(&mut self, what: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        match self.batch.ignored.iter_mut().find(|(w, _)| *w == what) {
            Some((_, c)) => *c += n,
            None => self.batch.ignored.push((what, n)),
        }
    }

    /// Reject the next item.
    pub fn reject(&mut self, reason: impl Into<String>) {
        self.batch.rejected.push((self.batch.total, reason.into()));
        self.batch.total += 1;
    }

    fn accept(&mut self, mut v: ValidPoint<'_>) {
        // Keys are unique (validated), so an unstable sort is deterministic.
        v.labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // Encoded straight into the batch's key arena; dropped again if the series is known.
        let keys = &mut self.batch.keys;
        let start = keys.len();
        if let Err(e) = series::encode_sorted_into(keys, v.namespace, v.name, &v.labels) {
            keys.truncate(start);
            // Unreachable with the length limits of `validate`.
            return self.reject(format!("series: {e}"));
        }
        let hash = series::hash_encoded(&keys[start..]);
        let next = self.batch.series.len() as u32;
        let idx = *self.by_hash.entry(hash).or_insert(next);
        if idx == next {
            let key = start..keys.len();
            self.batch.series.push(Series { hash, key });
        } else {
            keys.truncate(start);
        }
        let t = v.time_us;
        self.batch.points.push(Point {
            series: idx,
            time_us: t,
            value: v.value,
        });
        self.batch.min_time_us = Some(self.batch.min_time_us.map_or(t, |m| m.min(t)));
        self.batch.max_time_us = Some(self.batch.max_time_us.map_or(t, |m| m.max(t)));
        self.batch.total += 1;
    }

    pub fn finish(self) -> Batch {
        self.batch
    }
}

/// Decompress a gzip body (one or more members), refusing more than `max`
/// bytes of output.
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    // ISIZE of the last member (size mod 2^32) as a capacity hint, bounded by
    // the limit and by deflate's best ratio (~1032:1).
    let hint = match body.len() {
        n if n >= 18 => u32::from_le_bytes(body[n - 4..].try_into().expect("4 bytes")) as usize,
        _ => 0,
    };
    let cap = hint.min(max).min(body.len().saturating_mul(1032));
    let mut out = Vec::with_capacity(cap);
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Malformed(format!("body is not valid gzip: {e}")))?;
    if out.len() > max {
        return Err(IngestError::TooLarge { limit: max });
    }
    Ok(out)
}

/// Decode a body with the default JSON parser.
pub fn decode(body: &[u8], format: Format, opts: &Options) -> Result<Batch, IngestError> {
    decode_with::<DefaultParser>(body, format, opts)
}

/// Decode a body with a chosen JSON parser (for benchmarks and tests).
pub fn decode_with<P: json::JsonParser>(
    body: &[u8],
    format: Format,
    opts: &Options,
) -> Result<Batch, IngestError> {
    let inflated;
    let body = if opts.gzip {
        inflated = gunzip(body, opts.max_decompressed)?;
        &inflated[..]
    } else {
        body
    };
    let mut b = Builder::new(opts.window);
    match format {
        Format::Json => {
            b.reserve(body.len() / 96);
            P::document(body, &mut b)?;
        }
        Format::Ndjson => {
            b.reserve(body.len() / 96);
            json::decode_ndjson::<P>(body, &mut b);
        }
        Format::Csv => csv::decode_csv::<P>(body, &mut b)?,
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests;
