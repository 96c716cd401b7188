//! Compressed chunks of one series: timestamps (µs, `i64`) and values (`f64`).
//!
//! A chunk is self-describing (all integers little-endian or LEB128 varints):
//!
//! ```text
//! codec        u8       the format version: 2 = pcodec (the default), 1 = Gorilla
//! count        uvarint  number of samples (at most MAX_SAMPLES)
//! first        varint   zigzag, first timestamp (µs)               — if count ≥ 1
//! codec 2 (pcodec), if count ≥ 1 (see `pcodec`):
//!   ts_len     uvarint  length of the timestamps' pco file
//!   ts         bytes    pco standalone file of the i64 timestamps
//!   values     bytes    pco standalone file of the f64 values (up to the checksum)
//! codec 1 (Gorilla, see `gorilla`):
//!   unit       uvarint  GCD of the timestamp deltas (≥ 1)           — if count ≥ 2
//!   payload    bits     dod timestamps + XOR values, padded to a byte with
//!                       one bits                                     — if count ≥ 1
//! checksum     u32 LE   low 32 bits of XXH64 (seed 0) of all preceding bytes
//! ```
//!
//! pcodec is the chunk codec: 2.8–5× smaller than Gorilla on scrape data
//! (1.3× on full-precision noise) and fast enough (bench/ingest/CODECS.md).
//! Gorilla stays readable and writable for chunks that are rewritten often,
//! where its 3–15× faster encoding counts.
//!
//! Timestamps in a chunk are strictly increasing. Every `f64` bit pattern is
//! kept exactly (NaN payloads such as Prometheus's staleness marker
//! [`STALE_NAN_BITS`], `-0.0`, infinities), and every `i64` timestamp.
//!
//! Decoding never panics, never reads out of bounds and always terminates: a
//! truncated, corrupt or padded chunk is a [`ChunkError`] (the checksum, the
//! sample count and the exact end of the payload are all checked; Gorilla's
//! one-bit padding makes a count that is off by any amount fail even past the
//! checksum, and pco must yield exactly the count).

mod bits;
pub mod gorilla;
pub mod pcodec;
pub mod rollup;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::varint::{get_uvarint, get_varint, put_uvarint, put_varint};

/// Chunk codecs; the discriminant is the chunk's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Delta-of-delta timestamps and XOR values, as Prometheus's XOR chunks.
    Gorilla = 1,
    /// pcodec (`pco`) for both columns.
    #[default]
    Pco = 2,
}

impl Codec {
    fn from_byte(b: u8) -> Option<Codec> {
        match b {
            1 => Some(Codec::Gorilla),
            2 => Some(Codec::Pco),
            _ => None,
        }
    }
}

/// Most samples one chunk holds (a chunk of ~3 months of 15-s scrapes, or
/// 12 days of 1-s ones). It bounds what a decoder allocates for a forged
/// header: pco can store a constant series in almost no bytes, so the length
/// of a chunk says little about its sample count.
pub const MAX_SAMPLES: usize = 1 << 20;

/// Prometheus's staleness marker: a NaN with this exact bit pattern
/// (`value.StaleNaN` in Prometheus's `model/value`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Start of the bucket (or chunk window) of `t` (µs): `floor(t / width) *
/// width`, saturating at `i64::MIN`.
#[inline]
pub fn bucket_start(t: i64, width_us: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(width_us))
}

/// Why samples cannot be encoded or a chunk cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// `timestamps` and `values` differ in length.
    LengthMismatch { timestamps: usize, values: usize },
    /// More than [`MAX_SAMPLES`] samples for one chunk.
    TooManySamples(usize),
    /// The chunk ends before its header, checksum or samples do.
    Truncated,
    /// The first byte is not a known format version.
    UnsupportedVersion(u8),
    /// The checksum does not match the bytes (a torn or corrupted chunk).
    Checksum,
    /// The bytes decode to something the encoder never writes.
    Corrupt(&'static str),
    /// Bytes (or padding bits that are not ones) after the last sample.
    TrailingData,
    /// The pco decoder refused the bytes (its message).
    Pcodec(String),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::LengthMismatch { timestamps, values } => write!(
                f,
                "{timestamps} timestamps but {values} values: the lengths must be equal"
            ),
            ChunkError::TooManySamples(n) => {
                write!(
                    f,
                    "{n} samples do not fit one chunk (at most {MAX_SAMPLES})"
                )
            }
            ChunkError::Truncated => f.write_str("chunk is truncated"),
            ChunkError::UnsupportedVersion(v) => write!(f, "unsupported chunk version {v}"),
            ChunkError::Checksum => f.write_str("chunk checksum mismatch (torn or corrupted)"),
            ChunkError::Corrupt(why) => write!(f, "corrupt chunk: {why}"),
            ChunkError::TrailingData => f.write_str("corrupt chunk: data after the last sample"),
            ChunkError::Pcodec(why) => write!(f, "corrupt chunk: pcodec: {why}"),
        }
    }
}

impl std::error::Error for ChunkError {}

/// Decoded samples of one series, in strictly increasing time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

fn check_lengths(timestamps: &[i64], values: &[f64]) -> Result<(), ChunkError> {
    if timestamps.len() == values.len() {
        Ok(())
    } else {
        Err(ChunkError::LengthMismatch {
            timestamps: timestamps.len(),
            values: values.len(),
        })
    }
}

/// Sort samples by time; of samples with the same timestamp only the last
/// one (in input order) is kept — the later write wins.
pub fn normalize(timestamps: &[i64], values: &[f64]) -> Result<Samples, ChunkError> {
    check_lengths(timestamps, values)?;
    if timestamps.windows(2).all(|w| w[0] < w[1]) {
        return Ok(Samples {
            timestamps: timestamps.to_vec(),
            values: values.to_vec(),
        });
    }
    let mut order: Vec<usize> = (0..timestamps.len()).collect();
    // Stable: equal timestamps stay in input order, so the last is the latest write.
    order.sort_by_key(|&i| timestamps[i]);
    let mut out = Samples {
        timestamps: Vec::with_capacity(order.len()),
        values: Vec::with_capacity(order.len()),
    };
    for &i in &order {
        let (t, v) = (timestamps[i], values[i]);
        if out.timestamps.last() == Some(&t) {
            *out.values.last_mut().expect("same length") = v;
        } else {
            out.timestamps.push(t);
            out.values.push(v);
        }
    }
    Ok(out)
}

/// Merge two sorted, distinct-timestamp sample lists in one pass; `new` wins
/// on equal timestamps (the later write). Values are copied bit for bit.
pub fn merge_sorted(old: &Samples, new_ts: &[i64], new_vs: &[f64]) -> Samples {
    let n = old.len() + new_ts.len();
    let mut out = Samples {
        timestamps: Vec::with_capacity(n),
        values: Vec::with_capacity(n),
    };
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new_ts.len() {
        let take_new = match (old.timestamps.get(i), new_ts.get(j)) {
            (Some(&a), Some(&b)) => {
                if a == b {
                    i += 1;
                }
                b <= a
            }
            (None, _) => true,
            (_, None) => false,
        };
        if take_new {
            out.timestamps.push(new_ts[j]);
            out.values.push(new_vs[j]);
            j += 1;
        } else {
            out.timestamps.push(old.timestamps[i]);
            out.values.push(old.values[i]);
            i += 1;
        }
    }
    out
}

/// Encode samples given in any order with the default codec (pcodec).
///
/// Samples are sorted first; of duplicate timestamps the later write wins, as
/// in [`normalize`].
pub fn encode(timestamps: &[i64], values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    encode_with(Codec::default(), timestamps, values)
}

/// [`encode`] with a chosen codec.
pub fn encode_with(
    codec: Codec,
    timestamps: &[i64],
    values: &[f64],
) -> Result<Vec<u8>, ChunkError> {
    check_lengths(timestamps, values)?;
    if timestamps.windows(2).all(|w| w[0] < w[1]) {
        encode_sorted(codec, timestamps, values)
    } else {
        let s = normalize(timestamps, values)?;
        encode_sorted(codec, &s.timestamps, &s.values)
    }
}

/// Encode strictly increasing timestamps with their values (same lengths).
fn encode_sorted(codec: Codec, ts: &[i64], values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    if ts.len() > MAX_SAMPLES {
        return Err(ChunkError::TooManySamples(ts.len()));
    }
    let mut out = Vec::with_capacity(32 + ts.len() * 2);
    out.push(codec as u8);
    put_uvarint(&mut out, ts.len() as u64);
    if let Some(&first) = ts.first() {
        put_varint(&mut out, first);
        match codec {
            Codec::Pco => pcodec::encode(&mut out, ts, values),
            Codec::Gorilla => {
                let unit = gorilla::unit(ts);
                if ts.len() >= 2 {
                    put_uvarint(&mut out, unit);
                }
                gorilla::encode(&mut out, ts, values, unit);
            }
        }
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}

fn checksum(bytes: &[u8]) -> u32 {
    xxhash_rust::xxh64::xxh64(bytes, 0) as u32
}

/// Header fields of a chunk, read without decoding its samples (the checksum
/// is verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub codec: Codec,
    pub count: usize,
    /// First timestamp (µs), `None` for an empty chunk.
    pub first: Option<i64>,
}

struct Parsed<'a> {
    header: Header,
    /// Gorilla's timestamp unit (1 for pcodec).
    unit: u64,
    payload: &'a [u8],
}

fn parse(data: &[u8]) -> Result<Parsed<'_>, ChunkError> {
    if data.len() < 5 {
        return Err(ChunkError::Truncated);
    }
    let (body, sum) = data.split_at(data.len() - 4);
    let codec = Codec::from_byte(body[0]).ok_or(ChunkError::UnsupportedVersion(body[0]))?;
    if checksum(body) != u32::from_le_bytes(sum.try_into().expect("4 bytes")) {
        return Err(ChunkError::Checksum);
    }
    let mut pos = 1;
    let count = get_uvarint(body, &mut pos).ok_or(ChunkError::Truncated)?;
    if count > MAX_SAMPLES as u64 {
        return Err(ChunkError::Corrupt("sample count above MAX_SAMPLES"));
    }
    let mut header = Header {
        codec,
        count: count as usize,
        first: None,
    };
    if count >= 1 {
        header.first = Some(get_varint(body, &mut pos).ok_or(ChunkError::Truncated)?);
    }
    let mut unit = 1;
    if codec == Codec::Gorilla && count >= 2 {
        unit = get_uvarint(body, &mut pos).ok_or(ChunkError::Truncated)?;
        if unit == 0 {
            return Err(ChunkError::Corrupt("timestamp unit 0"));
        }
    }
    let payload = &body[pos..];
    if count == 0 && !payload.is_empty() {
        return Err(ChunkError::TrailingData);
    }
    if codec == Codec::Gorilla {
        // Every sample after the first takes at least 2 bits and the first 64.
        let max = if payload.len() < 8 {
            0
        } else {
            1 + (payload.len() as u64 * 8 - 64) / 2
        };
        if count > max {
            return Err(if count >= 1 && payload.len() < 8 {
                ChunkError::Truncated
            } else {
                ChunkError::Corrupt("sample count larger than the payload can hold")
            });
        }
    }
    Ok(Parsed {
        header,
        unit,
        payload,
    })
}

/// Read and verify a chunk's header (and checksum) without decoding it.
pub fn header(data: &[u8]) -> Result<Header, ChunkError> {
    parse(data).map(|p| p.header)
}

/// Decode a chunk written by [`encode`] or [`encode_with`] (either codec).
pub fn decode(data: &[u8]) -> Result<Samples, ChunkError> {
    let p = parse(data)?;
    let mut out = Samples {
        timestamps: Vec::with_capacity(p.header.count),
        values: Vec::with_capacity(p.header.count),
    };
    if let Some(first) = p.header.first {
        let (n, ts, vs) = (p.header.count, &mut out.timestamps, &mut out.values);
        match p.header.codec {
            Codec::Pco => pcodec::decode(p.payload, n, first, ts, vs)?,
            Codec::Gorilla => gorilla::decode(p.payload, n, first, p.unit, ts, vs)?,
        }
    }
    Ok(out)
}
