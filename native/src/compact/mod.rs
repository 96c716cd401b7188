//! Compaction kernel of the metric store: fold the write-log blocks of one
//! pass into per-series, per-window chunks and recompute their 1-hour rollups,
//! in one call per batch (no per-series round trips through Python).
//!
//! A window is `[start, start + window_us)` with `start` a multiple of
//! `window_us`; `window_us` must be a positive multiple of an hour, so every
//! hour bucket lies inside one window and a window's rollups follow from its
//! chunk alone.
//!
//! Merging: the blocks come in write order. Per series and timestamp the later
//! write wins — a later block over an earlier one, within a block the later
//! sample — and new samples win over the existing chunk's. Values are copied
//! bit for bit (NaN payloads, staleness markers).
//!
//! Idempotence (crash safety: a pass whose transaction did not commit is
//! redone from the same blocks): compacting the same blocks into the chunks a
//! pass produced gives the same chunks and rollups, because every block sample
//! is already in the chunk with the value the later write gave it.
//!
//! Rollups: for each window, the hours from the first hour a new sample touched
//! to the window's end are recomputed from the merged samples (the `rollups`
//! semantics of [`crate::chunk::rollup`]). Hours after the first touched one
//! are included because a changed sample changes the next sample's counter
//! increase, which may lie in a later hour. The increase of the window's first
//! sample needs the last value before the window: the caller may pass it
//! (`prev`); without it that sample adds nothing to its hour's increase. A late
//! sample that changes a window's last value changes the next window's first
//! increase: [`rebase`] recomputes that window's rollups with the new `prev`
//! (its chunk is unchanged).

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

use crate::block::{self, BlockError};
use crate::chunk::rollup::{self, Edge, Rollup};
use crate::chunk::{self, bucket_start, ChunkError, Codec, Samples};

/// One hour in microseconds: the rollup bucket of a compaction.
pub const HOUR_US: i64 = 3_600_000_000;

/// Key of a chunk: `(series_id, window_start_us)`.
pub type WindowKey = (i64, i64);

/// Why a pass cannot be compacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactError {
    /// `window_us` is not a positive multiple of [`HOUR_US`].
    Window(i64),
    /// `blocks[index]` is not a valid block.
    Block { index: usize, error: BlockError },
    /// The existing chunk of `key` is not valid, or the merged samples cannot
    /// be encoded (more than [`chunk::MAX_SAMPLES`]).
    Chunk { key: WindowKey, error: ChunkError },
}

impl fmt::Display for CompactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompactError::Window(w) => write!(
                f,
                "window_us must be a positive multiple of {HOUR_US} (one hour), not {w}"
            ),
            CompactError::Block { index, error } => write!(f, "blocks[{index}]: {error}"),
            CompactError::Chunk { key, error } => {
                write!(f, "chunk ({}, {}): {error}", key.0, key.1)
            }
        }
    }
}

impl std::error::Error for CompactError {}

/// The result of compaction for one touched `(series, window)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Compacted {
    pub series_id: i64,
    pub window_start_us: i64,
    /// The merged chunk (the codec the call asked for).
    pub chunk: Vec<u8>,
    pub samples: usize,
    pub min_time_us: i64,
    pub max_time_us: i64,
    /// 1-hour rollups of the hours from the first touched one to the window's
    /// end that hold a sample other than a staleness marker, in hour order.
    pub rollups: Vec<Rollup>,
    /// Touched hours without a rollup (only staleness markers left): a rollup
    /// row stored for them before is obsolete.
    pub empty_hours: Vec<i64>,
    /// The first and last raw entries ([`Edge`]) of the same hours, including
    /// hours holding only staleness markers (PromQL's rollup plan reads them).
    pub edges: Vec<Edge>,
    /// The window's last value that is neither a staleness marker nor NaN: the
    /// baseline of the next window's first counter increase (`prev`).
    pub last_value: Option<f64>,
    /// The baseline this window's rollups used (the window before's last value
    /// from this pass, else `prev`): stored with the chunk, it is the `prev` of
    /// the next pass that re-merges the window, so that pass needs no lookup.
    pub baseline: Option<f64>,
}

/// A pass's result as columns, ready for one multi-row write per table (no
/// object per window or hour on the caller's side).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    pub chunks: ChunkColumns,
    pub hours: HourColumns,
    pub empty_hours: EmptyHourColumns,
    pub edges: EdgeColumns,
}

/// One row per touched window, in key order (the fields of [`Compacted`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkColumns {
    pub series_ids: Vec<i64>,
    pub window_starts_us: Vec<i64>,
    pub samples: Vec<i64>,
    pub min_us: Vec<i64>,
    pub max_us: Vec<i64>,
    pub last_values: Vec<Option<f64>>,
    pub data: Vec<Vec<u8>>,
    pub baselines: Vec<Option<f64>>,
}

/// One row per recomputed hour (the fields of [`Rollup`] and its series).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourColumns {
    pub series_ids: Vec<i64>,
    pub buckets_us: Vec<i64>,
    pub counts: Vec<i64>,
    pub sums: Vec<f64>,
    pub mins: Vec<f64>,
    pub maxs: Vec<f64>,
    pub lasts: Vec<f64>,
    pub last_times_us: Vec<i64>,
    pub increases: Vec<f64>,
}

impl HourColumns {
    fn push(&mut self, series_id: i64, r: &Rollup) {
        self.series_ids.push(series_id);
        self.buckets_us.push(r.bucket_us);
        self.counts.push(r.count);
        self.sums.push(r.sum);
        self.mins.push(r.min);
        self.maxs.push(r.max);
        self.lasts.push(r.last);
        self.last_times_us.push(r.last_time_us);
        self.increases.push(r.increase);
    }
}

/// One row per touched hour left with only staleness markers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmptyHourColumns {
    pub series_ids: Vec<i64>,
    pub buckets_us: Vec<i64>,
}

/// One row per recomputed hour holding any raw entry (the fields of [`Edge`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeColumns {
    pub series_ids: Vec<i64>,
    pub buckets_us: Vec<i64>,
    pub first_times_us: Vec<i64>,
    pub firsts: Vec<f64>,
    pub end_times_us: Vec<i64>,
    pub ends: Vec<f64>,
}

impl EdgeColumns {
    pub fn push(&mut self, series_id: i64, e: &Edge) {
        self.series_ids.push(series_id);
        self.buckets_us.push(e.bucket_us);
        self.first_times_us.push(e.first_time_us);
        self.firsts.push(e.first);
        self.end_times_us.push(e.end_time_us);
        self.ends.push(e.end);
    }
}

impl From<Vec<Compacted>> for Columns {
    fn from(windows: Vec<Compacted>) -> Columns {
        let mut out = Columns::default();
        let (c, h, e) = (&mut out.chunks, &mut out.hours, &mut out.empty_hours);
        for w in windows {
            for r in &w.rollups {
                h.push(w.series_id, r);
            }
            for edge in &w.edges {
                out.edges.push(w.series_id, edge);
            }
            for b in w.empty_hours {
                e.series_ids.push(w.series_id);
                e.buckets_us.push(b);
            }
            c.series_ids.push(w.series_id);
            c.window_starts_us.push(w.window_start_us);
            c.samples.push(w.samples as i64);
            c.min_us.push(w.min_time_us);
            c.max_us.push(w.max_time_us);
            c.last_values.push(w.last_value);
            c.data.push(w.chunk);
            c.baselines.push(w.baseline);
        }
        out
    }
}

fn check_window(window_us: i64) -> Result<(), CompactError> {
    if window_us > 0 && window_us % HOUR_US == 0 {
        Ok(())
    } else {
        Err(CompactError::Window(window_us))
    }
}

fn decode_blocks<B: AsRef<[u8]>>(blocks: &[B]) -> Result<Vec<block::Block>, CompactError> {
    blocks
        .iter()
        .enumerate()
        .map(|(index, b)| {
            block::decode(b.as_ref()).map_err(|error| CompactError::Block { index, error })
        })
        .collect()
}

/// Split one series' sorted samples into runs of one window each.
fn windows<'a>(
    ts: &'a [i64],
    window_us: i64,
) -> impl Iterator<Item = (i64, std::ops::Range<usize>)> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        let &t = ts.get(start)?;
        let w = bucket_start(t, window_us);
        let len = ts[start..]
            .iter()
            .position(|&u| bucket_start(u, window_us) != w)
            .unwrap_or(ts.len() - start);
        let r = start..start + len;
        start += len;
        Some((w, r))
    })
}

/// The `(series_id, window_start_us)` keys the blocks' samples fall into,
/// sorted and distinct: the chunks a caller fetches before [`compact`].
pub fn touched_windows<B: AsRef<[u8]>>(
    blocks: &[B],
    window_us: i64,
) -> Result<Vec<WindowKey>, CompactError> {
    check_window(window_us)?;
    let mut keys = Vec::new();
    for (index, b) in blocks.iter().enumerate() {
        let block =
            block::decode(b.as_ref()).map_err(|error| CompactError::Block { index, error })?;
        for run in block.runs() {
            keys.extend(windows(run.timestamps, window_us).map(|(w, _)| (run.series_id, w)));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// Compact one pass: the blocks (in write order) merged into the existing
/// chunks of the windows they touch (`existing`, keyed by
/// `(series_id, window_start_us)`; a missing key is an empty window; keys the
/// blocks do not touch are ignored), every chunk written with `codec`.
///
/// `prev` optionally gives, per key, the last value before the window, for the
/// counter increase of the window's first sample (see the module docs).
///
/// Returns one [`Compacted`] per touched key, in key order.
pub fn compact<B: AsRef<[u8]>, C: AsRef<[u8]>>(
    blocks: &[B],
    existing: &HashMap<WindowKey, C>,
    window_us: i64,
    codec: Codec,
    prev: &HashMap<WindowKey, f64>,
) -> Result<Vec<Compacted>, CompactError> {
    check_window(window_us)?;
    let decoded = decode_blocks(blocks)?;
    let mut out: Vec<Compacted> = Vec::new();
    for (series_id, new) in block::fold(&decoded) {
        for (window_start_us, r) in windows(&new.timestamps, window_us) {
            let key = (series_id, window_start_us);
            // The window just before, merged in this same pass, is newer than any stored
            // baseline the caller looked up for it.
            let in_pass = out.last().filter(|c| {
                c.series_id == series_id && c.window_start_us == window_start_us - window_us
            });
            let baseline = match in_pass {
                Some(c) => c.last_value,
                None => prev.get(&key).copied(),
            };
            let err = |error| CompactError::Chunk { key, error };
            let (new_ts, new_vs) = (&new.timestamps[r.clone()], &new.values[r]);
            let merged = match existing.get(&key) {
                Some(data) => {
                    let old = chunk::decode(data.as_ref()).map_err(err)?;
                    let end = window_start_us.saturating_add(window_us);
                    if old
                        .timestamps
                        .iter()
                        .any(|&t| t < window_start_us || t >= end)
                    {
                        return Err(err(ChunkError::Corrupt(
                            "existing chunk holds samples outside its window",
                        )));
                    }
                    chunk::merge_sorted(&old, new_ts, new_vs)
                }
                None => Samples {
                    timestamps: new_ts.to_vec(),
                    values: new_vs.to_vec(),
                },
            };
            let data =
                chunk::encode_with(codec, &merged.timestamps, &merged.values).map_err(err)?;
            let first_hour = bucket_start(new_ts[0], HOUR_US);
            let mut all = rollup::rollups(&merged.timestamps, &merged.values, HOUR_US, baseline)
                .map_err(err)?;
            all.retain(|h| h.bucket_us >= first_hour);
            let mut edges =
                rollup::edges(&merged.timestamps, &merged.values, HOUR_US).map_err(err)?;
            edges.retain(|h| h.bucket_us >= first_hour);
            let mut empty_hours: Vec<i64> = Vec::new();
            for &t in new_ts {
                let h = bucket_start(t, HOUR_US);
                if empty_hours.last() != Some(&h) && all.iter().all(|r| r.bucket_us != h) {
                    empty_hours.push(h);
                }
            }
            out.push(Compacted {
                series_id,
                window_start_us,
                chunk: data,
                samples: merged.len(),
                min_time_us: merged.timestamps[0],
                max_time_us: *merged.timestamps.last().expect("at least one new sample"),
                rollups: all,
                empty_hours,
                edges,
                last_value: merged.values.iter().rev().copied().find(|v| !v.is_nan()),
                baseline,
            });
        }
    }
    Ok(out)
}

/// [`compact`] as [`Columns`].
pub fn compact_columns<B: AsRef<[u8]>, C: AsRef<[u8]>>(
    blocks: &[B],
    existing: &HashMap<WindowKey, C>,
    window_us: i64,
    codec: Codec,
    prev: &HashMap<WindowKey, f64>,
) -> Result<Columns, CompactError> {
    compact(blocks, existing, window_us, codec, prev).map(Columns::from)
}

/// The 1-hour rollups of stored chunks recomputed with a new baseline (`prev`,
/// per key; a key without one has none): what a window's rollups become when a
/// late sample changed the last value of the window before it. Only the hour
/// of the first counter increase can differ, but every hour of the chunk is
/// returned (at most `window_us / HOUR_US`). Rows in key order.
pub fn rebase<C: AsRef<[u8]>>(
    chunks: &HashMap<WindowKey, C>,
    prev: &HashMap<WindowKey, f64>,
) -> Result<HourColumns, CompactError> {
    let mut keys: Vec<&WindowKey> = chunks.keys().collect();
    keys.sort_unstable();
    let mut h = HourColumns::default();
    for &key in keys {
        let err = |error| CompactError::Chunk { key, error };
        let samples = chunk::decode(chunks[&key].as_ref()).map_err(err)?;
        let all = rollup::rollups(
            &samples.timestamps,
            &samples.values,
            HOUR_US,
            prev.get(&key).copied(),
        )
        .map_err(err)?;
        for r in &all {
            h.push(key.0, r);
        }
    }
    Ok(h)
}
