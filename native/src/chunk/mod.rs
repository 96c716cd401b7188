//! Compressed chunks of one series: timestamps (µs, `i64`) and values (`f64`).
//!
//! A chunk is self-describing (all integers little-endian or LEB128 varints):
//!
//! ```text
//! version      u8       1 = Gorilla payload (see `gorilla`)
//! count        uvarint  number of samples
//! first        varint   zigzag, first timestamp (µs)       — only if count ≥ 1
//! unit         uvarint  GCD of the timestamp deltas (≥ 1)  — only if count ≥ 2
//! payload      bits     Gorilla dod timestamps + XOR values, padded to a byte
//!                       with one bits (only if count ≥ 1)
//! checksum     u32 LE   low 32 bits of XXH64 (seed 0) of all preceding bytes
//! ```
//!
//! Timestamps in a chunk are strictly increasing. Every `f64` bit pattern is
//! kept exactly (NaN payloads such as Prometheus's staleness marker
//! [`STALE_NAN_BITS`], `-0.0`, infinities), and every `i64` timestamp.
//!
//! Decoding never panics, never reads out of bounds and always terminates: a
//! truncated, corrupt or padded chunk is a [`ChunkError`] (the checksum, the
//! sample count and the exact end of the payload are all checked; the one-bit
//! padding makes a count that is off by any amount fail even past the checksum).

mod bits;
pub mod gorilla;
pub mod rollup;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::varint::{get_uvarint, get_varint, put_uvarint, put_varint};

/// The only chunk format version so far.
pub const VERSION: u8 = 1;

/// Prometheus's staleness marker: a NaN with this exact bit pattern
/// (`value.StaleNaN` in Prometheus's `model/value`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Why samples cannot be encoded or a chunk cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// `timestamps` and `values` differ in length.
    LengthMismatch { timestamps: usize, values: usize },
    /// The chunk ends before its header, checksum or samples do.
    Truncated,
    /// The first byte is not a known format version.
    UnsupportedVersion(u8),
    /// The checksum does not match the bytes (a torn or corrupted chunk).
    Checksum,
    /// The bytes decode to something the encoder never writes.
    Corrupt(&'static str),
    /// Bytes or non-zero padding bits after the last sample.
    TrailingData,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::LengthMismatch { timestamps, values } => write!(
                f,
                "{timestamps} timestamps but {values} values: the lengths must be equal"
            ),
            ChunkError::Truncated => f.write_str("chunk is truncated"),
            ChunkError::UnsupportedVersion(v) => write!(f, "unsupported chunk version {v}"),
            ChunkError::Checksum => f.write_str("chunk checksum mismatch (torn or corrupted)"),
            ChunkError::Corrupt(why) => write!(f, "corrupt chunk: {why}"),
            ChunkError::TrailingData => f.write_str("corrupt chunk: data after the last sample"),
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
    let mut order: Vec<u32> = (0..timestamps.len() as u32).collect();
    // Stable: equal timestamps stay in input order, so the last is the latest write.
    order.sort_by_key(|&i| timestamps[i as usize]);
    let mut out = Samples {
        timestamps: Vec::with_capacity(order.len()),
        values: Vec::with_capacity(order.len()),
    };
    for &i in &order {
        let (t, v) = (timestamps[i as usize], values[i as usize]);
        if out.timestamps.last() == Some(&t) {
            *out.values.last_mut().expect("same length") = v;
        } else {
            out.timestamps.push(t);
            out.values.push(v);
        }
    }
    Ok(out)
}

/// Merge new samples into the decoded samples of an existing chunk.
///
/// The result is sorted by time with out-of-order samples in place. A
/// timestamp present more than once is written once: the later write wins, so
/// a new sample replaces an existing one at the same time, and among new
/// samples with the same timestamp the last one in input order wins. Values
/// are copied bit for bit (NaN payloads are preserved).
pub fn merge(
    existing: &Samples,
    timestamps: &[i64],
    values: &[f64],
) -> Result<Samples, ChunkError> {
    check_lengths(timestamps, values)?;
    if existing.is_empty() {
        return normalize(timestamps, values);
    }
    let mut ts = Vec::with_capacity(existing.len() + timestamps.len());
    ts.extend_from_slice(&existing.timestamps);
    ts.extend_from_slice(timestamps);
    let mut vs = Vec::with_capacity(ts.len());
    vs.extend_from_slice(&existing.values);
    vs.extend_from_slice(values);
    normalize(&ts, &vs)
}

/// Encode samples given in any order (sorted first; duplicates: the later
/// write wins, as in [`normalize`]).
pub fn encode(timestamps: &[i64], values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    check_lengths(timestamps, values)?;
    if timestamps.windows(2).all(|w| w[0] < w[1]) {
        Ok(encode_sorted(timestamps, values))
    } else {
        let s = normalize(timestamps, values)?;
        Ok(encode_sorted(&s.timestamps, &s.values))
    }
}

/// Encode strictly increasing timestamps with their values (same lengths).
fn encode_sorted(ts: &[i64], values: &[f64]) -> Vec<u8> {
    // Typical chunks take ~1-2 bytes per sample; reserve a little more.
    let mut out = Vec::with_capacity(24 + ts.len() * 2 + ts.len() / 2);
    out.push(VERSION);
    put_uvarint(&mut out, ts.len() as u64);
    if let Some(&first) = ts.first() {
        put_varint(&mut out, first);
        let unit = gorilla::unit(ts);
        if ts.len() >= 2 {
            put_uvarint(&mut out, unit);
        }
        gorilla::encode(&mut out, ts, values, unit);
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn checksum(bytes: &[u8]) -> u32 {
    xxhash_rust::xxh64::xxh64(bytes, 0) as u32
}

/// Header fields of a chunk, read without decoding its samples (the checksum
/// is verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub count: usize,
    /// First timestamp (µs), `None` for an empty chunk.
    pub first: Option<i64>,
}

struct Parsed<'a> {
    header: Header,
    unit: u64,
    payload: &'a [u8],
}

fn parse(data: &[u8]) -> Result<Parsed<'_>, ChunkError> {
    if data.len() < 5 {
        return Err(ChunkError::Truncated);
    }
    let (body, sum) = data.split_at(data.len() - 4);
    if body[0] != VERSION {
        return Err(ChunkError::UnsupportedVersion(body[0]));
    }
    if checksum(body) != u32::from_le_bytes(sum.try_into().expect("4 bytes")) {
        return Err(ChunkError::Checksum);
    }
    let mut pos = 1;
    let count = get_uvarint(body, &mut pos).ok_or(ChunkError::Truncated)?;
    let mut header = Header {
        count: 0,
        first: None,
    };
    let mut unit = 1;
    if count >= 1 {
        header.first = Some(get_varint(body, &mut pos).ok_or(ChunkError::Truncated)?);
    }
    if count >= 2 {
        unit = get_uvarint(body, &mut pos).ok_or(ChunkError::Truncated)?;
        if unit == 0 {
            return Err(ChunkError::Corrupt("timestamp unit 0"));
        }
    }
    let payload = &body[pos..];
    // Every sample after the first takes at least 2 bits and the first 64, so
    // a count the payload cannot hold is refused before anything is allocated.
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
    if count == 0 && !payload.is_empty() {
        return Err(ChunkError::TrailingData);
    }
    header.count = count as usize;
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

/// Decode a chunk written by [`encode`].
pub fn decode(data: &[u8]) -> Result<Samples, ChunkError> {
    let p = parse(data)?;
    let mut out = Samples {
        timestamps: Vec::with_capacity(p.header.count),
        values: Vec::with_capacity(p.header.count),
    };
    if let Some(first) = p.header.first {
        gorilla::decode(
            p.payload,
            p.header.count,
            first,
            p.unit,
            &mut out.timestamps,
            &mut out.values,
        )?;
    }
    Ok(out)
}

/// Decode a chunk, merge new samples into it ([`merge`]) and encode the result.
pub fn merge_encoded(
    chunk: &[u8],
    timestamps: &[i64],
    values: &[f64],
) -> Result<Vec<u8>, ChunkError> {
    let merged = merge(&decode(chunk)?, timestamps, values)?;
    Ok(encode_sorted(&merged.timestamps, &merged.values))
}
