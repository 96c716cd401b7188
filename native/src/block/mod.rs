//! Write-log blocks: the samples of one ingest batch as one compact binary
//! block, columnar and sorted by (series, time).
//!
//! Layout (integers little-endian unless varint):
//!
//! ```text
//! magic     3 bytes  "HLB"
//! version   u8       1
//! count     u32      samples
//! runs      u32      distinct series (runs of equal series id)
//! base      i64      smallest timestamp (µs), 0 when empty
//! checksum  u64      XXH64 (seed 0) of bytes 0..20 followed by the body
//! body:
//!   values      count × u64   f64 bits, in (series, time) order
//!   per run:    series id: first run zigzag varint of the id, later runs
//!               uvarint of the increase over the previous run's id (≥ 1);
//!               then uvarint run length (≥ 1)
//!   per run:    uvarint first timestamp − base, then per further sample
//!               uvarint delta to the previous timestamp (≥ 0)
//! ```
//!
//! Samples are sorted by (series, time) with a stable sort: samples with the
//! same series and timestamp stay in input order, so whoever folds the block
//! into chunks can still let the later write win. The checksum makes a torn or
//! corrupted block an error on read; the decoder also checks every count, run
//! and the exact end of the body, never panics, never reads out of bounds and
//! allocates no more than the block's size justifies.

#[cfg(test)]
mod tests;

use std::fmt;

use xxhash_rust::xxh64::Xxh64;

use crate::chunk::Samples;
use crate::varint::{get_uvarint, get_varint, put_uvarint, put_varint};

pub const MAGIC: &[u8; 3] = b"HLB";
pub const VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 28;
/// Bytes of the header the checksum covers (all but the checksum itself).
const HASHED_HEADER: usize = 20;

/// Why samples cannot be encoded or a block cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// The three columns differ in length.
    LengthMismatch {
        series_ids: usize,
        timestamps: usize,
        values: usize,
    },
    /// More samples than a block holds (`u32::MAX`).
    TooLarge(usize),
    /// The block ends before its header or body does.
    Truncated,
    /// The bytes do not start with the block magic.
    BadMagic,
    /// A block format version this code does not know.
    UnsupportedVersion(u8),
    /// The checksum does not match (a torn or corrupted block).
    Checksum,
    /// The bytes decode to something the encoder never writes.
    Corrupt(&'static str),
    /// Bytes after the end of the body.
    TrailingData,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::LengthMismatch {
                series_ids,
                timestamps,
                values,
            } => write!(
                f,
                "{series_ids} series ids, {timestamps} timestamps and {values} values: the lengths must be equal"
            ),
            BlockError::TooLarge(n) => write!(f, "{n} samples do not fit one block (at most {})", u32::MAX),
            BlockError::Truncated => f.write_str("block is truncated"),
            BlockError::BadMagic => f.write_str("not a write-log block (bad magic)"),
            BlockError::UnsupportedVersion(v) => write!(f, "unsupported block version {v}"),
            BlockError::Checksum => f.write_str("block checksum mismatch (torn or corrupted)"),
            BlockError::Corrupt(why) => write!(f, "corrupt block: {why}"),
            BlockError::TrailingData => f.write_str("corrupt block: data after the end of the body"),
        }
    }
}

impl std::error::Error for BlockError {}

/// A decoded block: three columns sorted by (series id, time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub series_ids: Vec<i64>,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// The samples of one series in a block, in time order (duplicates kept, in
/// write order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesRun<'a> {
    pub series_id: i64,
    pub timestamps: &'a [i64],
    pub values: &'a [f64],
}

impl Block {
    pub fn len(&self) -> usize {
        self.series_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series_ids.is_empty()
    }

    /// The block grouped by series, in ascending series id.
    pub fn runs(&self) -> impl Iterator<Item = SeriesRun<'_>> {
        let mut start = 0;
        std::iter::from_fn(move || {
            let id = *self.series_ids.get(start)?;
            let len = self.series_ids[start..]
                .iter()
                .position(|&s| s != id)
                .unwrap_or(self.series_ids.len() - start);
            let r = start..start + len;
            start += len;
            Some(SeriesRun {
                series_id: id,
                timestamps: &self.timestamps[r.clone()],
                values: &self.values[r],
            })
        })
    }
}

/// Encode one batch's samples (any order) as a block.
pub fn encode(
    series_ids: &[i64],
    timestamps: &[i64],
    values: &[f64],
) -> Result<Vec<u8>, BlockError> {
    let n = series_ids.len();
    if timestamps.len() != n || values.len() != n {
        return Err(BlockError::LengthMismatch {
            series_ids: n,
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    let count = u32::try_from(n).map_err(|_| BlockError::TooLarge(n))?;
    let sorted =
        (1..n).all(|i| (series_ids[i - 1], timestamps[i - 1]) <= (series_ids[i], timestamps[i]));
    let order: Option<Vec<u32>> = (!sorted).then(|| {
        let mut keyed: Vec<(i64, i64, u32)> = (0..count)
            .map(|i| (series_ids[i as usize], timestamps[i as usize], i))
            .collect();
        // The index breaks ties, so an unstable sort keeps write order.
        keyed.sort_unstable();
        keyed.into_iter().map(|k| k.2).collect()
    });
    let at = |k: usize| order.as_ref().map_or(k, |o| o[k] as usize);
    let base = timestamps.iter().copied().min().unwrap_or(0);

    let mut out = Vec::with_capacity(HEADER_LEN + n * 11);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // runs, filled in below
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // checksum, filled in below
    for k in 0..n {
        out.extend_from_slice(&values[at(k)].to_bits().to_le_bytes());
    }
    let mut runs = 0u32;
    let mut k = 0;
    let mut prev_id = 0i64;
    let mut run_lens = Vec::new();
    while k < n {
        let id = series_ids[at(k)];
        let len = (k..n).take_while(|&j| series_ids[at(j)] == id).count();
        if runs == 0 {
            put_varint(&mut out, id);
        } else {
            put_uvarint(&mut out, id.wrapping_sub(prev_id) as u64);
        }
        put_uvarint(&mut out, len as u64);
        run_lens.push(len);
        prev_id = id;
        runs += 1;
        k += len;
    }
    let mut k = 0;
    for len in run_lens {
        let mut prev = base;
        for j in k..k + len {
            let t = timestamps[at(j)];
            put_uvarint(&mut out, t.wrapping_sub(prev) as u64);
            prev = t;
        }
        k += len;
    }
    out[8..12].copy_from_slice(&runs.to_le_bytes());
    let sum = hash(&out[..HASHED_HEADER], &out[HEADER_LEN..]);
    out[HASHED_HEADER..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

fn hash(header: &[u8], body: &[u8]) -> u64 {
    let mut h = Xxh64::new(0);
    h.update(header);
    h.update(body);
    h.digest()
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

/// Decode a block written by [`encode`].
pub fn decode(data: &[u8]) -> Result<Block, BlockError> {
    if data.len() < 4 {
        return Err(if MAGIC.starts_with(data) {
            BlockError::Truncated
        } else {
            BlockError::BadMagic
        });
    }
    if &data[..3] != MAGIC {
        return Err(BlockError::BadMagic);
    }
    if data[3] != VERSION {
        return Err(BlockError::UnsupportedVersion(data[3]));
    }
    if data.len() < HEADER_LEN {
        return Err(BlockError::Truncated);
    }
    let count = u32_at(data, 4) as usize;
    let runs = u32_at(data, 8) as usize;
    let base = u64_at(data, 12) as i64;
    let body = &data[HEADER_LEN..];
    // Each run takes at least 2 bytes and each sample 9 (8 value bytes and a
    // timestamp varint): a short body is a torn block, refused before the
    // checksum pass and before any allocation.
    if (body.len() as u64) < count as u64 * 9 + runs as u64 * 2 {
        return Err(BlockError::Truncated);
    }
    if hash(&data[..HASHED_HEADER], body) != u64_at(data, HASHED_HEADER) {
        return Err(BlockError::Checksum);
    }
    if runs > count || (runs == 0) != (count == 0) {
        return Err(BlockError::Corrupt(
            "run count does not fit the sample count",
        ));
    }
    let (value_bytes, rest) = body.split_at(count * 8);
    let values: Vec<f64> = value_bytes
        .chunks_exact(8)
        .map(|b| f64::from_bits(u64::from_le_bytes(b.try_into().expect("8 bytes"))))
        .collect();
    let mut pos = 0;
    let mut series_ids = Vec::with_capacity(count);
    let mut run_lens = Vec::with_capacity(runs);
    let mut id = 0i64;
    for r in 0..runs {
        id = if r == 0 {
            get_varint(rest, &mut pos).ok_or(BlockError::Truncated)?
        } else {
            let d = get_uvarint(rest, &mut pos).ok_or(BlockError::Truncated)?;
            id.checked_add_unsigned(d)
                .filter(|_| d != 0)
                .ok_or(BlockError::Corrupt("series ids not strictly increasing"))?
        };
        let len = get_uvarint(rest, &mut pos).ok_or(BlockError::Truncated)?;
        if len == 0 || len > (count - series_ids.len()) as u64 {
            return Err(BlockError::Corrupt(
                "run lengths do not add up to the sample count",
            ));
        }
        series_ids.resize(series_ids.len() + len as usize, id);
        run_lens.push(len as usize);
    }
    if series_ids.len() != count {
        return Err(BlockError::Corrupt(
            "run lengths do not add up to the sample count",
        ));
    }
    let mut timestamps = Vec::with_capacity(count);
    for len in run_lens {
        let mut t = base;
        for _ in 0..len {
            let d = get_uvarint(rest, &mut pos).ok_or(BlockError::Truncated)?;
            t = t
                .checked_add_unsigned(d)
                .ok_or(BlockError::Corrupt("timestamp overflows i64"))?;
            timestamps.push(t);
        }
    }
    if pos != rest.len() {
        return Err(BlockError::TrailingData);
    }
    Ok(Block {
        series_ids,
        timestamps,
        values,
    })
}

/// The samples of several blocks (in write order) grouped by series, for
/// folding them into chunks.
///
/// Series come in ascending id order; each series' samples are sorted by time
/// with one sample per timestamp: the later write wins — a later block over an
/// earlier one, and within a block the later sample in input order. Values are
/// copied bit for bit.
pub fn fold(blocks: &[Block]) -> Vec<(i64, Samples)> {
    let total: usize = blocks.iter().map(Block::len).sum();
    // (block, row) in write order; a stable sort by (series, time) keeps
    // that order among equal keys, so the last of a run of equals is the latest.
    let mut order: Vec<(u32, u32)> = Vec::with_capacity(total);
    for (b, block) in blocks.iter().enumerate() {
        order.extend((0..block.len() as u32).map(|r| (b as u32, r)));
    }
    let key = |&(b, r): &(u32, u32)| {
        let block = &blocks[b as usize];
        (block.series_ids[r as usize], block.timestamps[r as usize])
    };
    // Each block is sorted already: the sort only merges runs.
    order.sort_by_key(key);
    let mut out: Vec<(i64, Samples)> = Vec::new();
    for &(b, r) in &order {
        let block = &blocks[b as usize];
        let (id, t, v) = (
            block.series_ids[r as usize],
            block.timestamps[r as usize],
            block.values[r as usize],
        );
        match out.last_mut() {
            Some((last_id, s)) if *last_id == id => {
                if s.timestamps.last() == Some(&t) {
                    *s.values.last_mut().expect("same length") = v;
                } else {
                    s.timestamps.push(t);
                    s.values.push(v);
                }
            }
            _ => out.push((
                id,
                Samples {
                    timestamps: vec![t],
                    values: vec![v],
                },
            )),
        }
    }
    out
}
