//! Read kernel of the metric store: answer one analytics query over the raw
//! samples of stored chunks and not yet compacted write-log blocks, in one call
//! (no per-series round trips through Python).
//!
//! Merging is compaction's rule ([`crate::compact`]): per series and timestamp
//! the later write wins — the blocks (given in write order, all newer than
//! every chunk) over the chunks, a later block over an earlier one, within a
//! block the later sample. Values are bit for bit (NaN payloads, staleness
//! markers).
//!
//! Aggregation reuses [`crate::chunk::rollup::rollups`] per series over its
//! samples in `[lo, hi)`, one bucket per query step, so staleness markers, NaN
//! and counter resets mean exactly what they mean in stored rollups. A
//! series' windows are then combined per group ([`Agg`]).

pub mod edges;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use crate::block::{self, BlockError};
use crate::chunk::rollup::{self, Rollup};
use crate::chunk::{self, ChunkError, Codec, Samples};

/// How the windows of a group's series combine into one value per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Σsum / Σcount.
    Avg,
    /// Σsum, adding the series in the order they are listed.
    Sum,
    /// Smallest min; a NaN min counts only when every series' min is NaN.
    Min,
    /// Largest max; a NaN max counts only when every series' max is NaN.
    Max,
    /// Σcount (samples other than staleness markers).
    Count,
    /// The `last` with the greatest `last_time`; on a tie the series listed
    /// first wins.
    Last,
    /// Σ increase / step in seconds over the series that have samples both in
    /// the window and in the one before it (the baseline).
    Rate,
}

impl FromStr for Agg {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Agg, QueryError> {
        Ok(match s {
            "avg" => Agg::Avg,
            "sum" => Agg::Sum,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            "last" => Agg::Last,
            "rate" => Agg::Rate,
            _ => {
                return Err(QueryError::Invalid(format!(
                    "agg must be one of avg, sum, min, max, count, last, rate, not {s:?}"
                )))
            }
        })
    }
}

/// Why a query cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Bad arguments (range, step, aggregation, series list); the message says which.
    Invalid(String),
    /// `chunks[index]` is not a valid chunk.
    Chunk { index: usize, error: ChunkError },
    /// `blocks[index]` is not a valid block.
    Block { index: usize, error: BlockError },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Invalid(why) => f.write_str(why),
            QueryError::Chunk { index, error } => write!(f, "chunks[{index}]: {error}"),
            QueryError::Block { index, error } => write!(f, "blocks[{index}]: {error}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// The time range of a query: samples with `lo_us <= t < hi_us` count, and
/// windows starting at or after `first_us` are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub lo_us: i64,
    pub first_us: i64,
    pub hi_us: i64,
    pub step_us: i64,
}

impl Range {
    fn check(&self) -> Result<(), QueryError> {
        if self.step_us <= 0 {
            return Err(QueryError::Invalid(format!(
                "step_us must be positive, not {}",
                self.step_us
            )));
        }
        if !(self.lo_us <= self.first_us && self.first_us <= self.hi_us) {
            return Err(QueryError::Invalid(format!(
                "need lo_us <= first_us <= hi_us, got {} / {} / {}",
                self.lo_us, self.first_us, self.hi_us
            )));
        }
        Ok(())
    }
}

/// The answer for one group: window starts (ascending) and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupWindows {
    pub group: i64,
    pub starts_us: Vec<i64>,
    pub values: Vec<f64>,
}

/// The stored samples of a query, decoded lazily per series.
struct Sources<'a, C> {
    chunks: &'a [(i64, C)],
    /// Series id → indices into `chunks`, in input order.
    chunks_of: HashMap<i64, Vec<usize>>,
    /// The blocks folded per series (ascending id, later write won).
    folded: Vec<(i64, Samples)>,
    lo_us: i64,
    hi_us: i64,
}

impl<'a, C: AsRef<[u8]>> Sources<'a, C> {
    /// Index the chunks of the series `wanted` accepts and fold all blocks.
    fn new<B: AsRef<[u8]>>(
        chunks: &'a [(i64, C)],
        blocks: &[B],
        lo_us: i64,
        hi_us: i64,
        wanted: impl Fn(i64) -> bool,
    ) -> Result<Self, QueryError> {
        let mut chunks_of: HashMap<i64, Vec<usize>> = HashMap::new();
        for (i, (sid, _)) in chunks.iter().enumerate() {
            if wanted(*sid) {
                chunks_of.entry(*sid).or_default().push(i);
            }
        }
        let decoded = blocks
            .iter()
            .enumerate()
            .map(|(index, b)| {
                block::decode(b.as_ref()).map_err(|error| QueryError::Block { index, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut folded = block::fold(&decoded);
        folded.retain(|(sid, _)| wanted(*sid));
        Ok(Sources {
            chunks,
            chunks_of,
            folded,
            lo_us,
            hi_us,
        })
    }

    /// Ids of every series with a chunk or block sample (ascending, distinct).
    fn series_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.chunks_of.keys().copied().collect();
        ids.extend(self.folded.iter().map(|(sid, _)| *sid));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The merged samples of one series in `[lo, hi)`, timestamps strictly
    /// increasing.
    fn samples(&self, series_id: i64) -> Result<Samples, QueryError> {
        let (lo, hi) = (self.lo_us, self.hi_us);
        let mut ts: Vec<i64> = Vec::new();
        let mut vs: Vec<f64> = Vec::new();
        let mut push = |t: &[i64], v: &[f64]| {
            let a = t.partition_point(|&x| x < lo);
            let b = t.partition_point(|&x| x < hi);
            if a < b {
                ts.extend_from_slice(&t[a..b]);
                vs.extend_from_slice(&v[a..b]);
            }
        };
        for &index in self.chunks_of.get(&series_id).into_iter().flatten() {
            let s = chunk::decode(self.chunks[index].1.as_ref())
                .map_err(|error| QueryError::Chunk { index, error })?;
            push(&s.timestamps, &s.values);
        }
        if let Ok(at) = self
            .folded
            .binary_search_by_key(&series_id, |(sid, _)| *sid)
        {
            let s = &self.folded[at].1;
            push(&s.timestamps, &s.values);
        }
        // Chunks in input order, then the blocks: a stable sort by time keeps
        // that order among equal timestamps and `normalize` keeps the last.
        Ok(chunk::normalize(&ts, &vs).expect("columns pushed in pairs"))
    }
}

/// Per-window accumulator of one group.
#[derive(Debug, Clone, Copy)]
struct Acc {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
    last_time_us: i64,
    /// Σ increase / step over the qualifying series (rate only).
    rate: f64,
}

impl Acc {
    fn new(r: &Rollup) -> Acc {
        Acc {
            count: 0,
            sum: 0.0,
            min: r.min,
            max: r.max,
            last: r.last,
            last_time_us: r.last_time_us,
            rate: 0.0,
        }
    }

    fn add(&mut self, r: &Rollup) {
        self.count += r.count;
        self.sum += r.sum;
        if r.min < self.min || self.min.is_nan() {
            self.min = r.min;
        }
        if r.max > self.max || self.max.is_nan() {
            self.max = r.max;
        }
        // Strictly greater: on a tie the series listed earlier keeps `last`.
        if r.last_time_us > self.last_time_us {
            self.last = r.last;
            self.last_time_us = r.last_time_us;
        }
    }

    fn value(&self, agg: Agg) -> f64 {
        match agg {
            Agg::Avg => self.sum / self.count as f64,
            Agg::Sum => self.sum,
            Agg::Min => self.min,
            Agg::Max => self.max,
            Agg::Count => self.count as f64,
            Agg::Last => self.last,
            Agg::Rate => self.rate,
        }
    }
}

/// Fold one series' rollups (bucket order) into its group's windows.
fn accumulate(
    windows: &mut BTreeMap<i64, Acc>,
    rollups: &[Rollup],
    range: &Range,
    agg: Agg,
    step_seconds: f64,
) {
    for (i, r) in rollups.iter().enumerate() {
        if r.bucket_us < range.first_us {
            continue;
        }
        if agg == Agg::Rate {
            let baseline = i
                .checked_sub(1)
                .map(|p| rollups[p].bucket_us)
                .zip(r.bucket_us.checked_sub(range.step_us))
                .is_some_and(|(prev, want)| prev == want);
            if !baseline {
                continue;
            }
            windows
                .entry(r.bucket_us)
                .or_insert_with(|| Acc::new(r))
                .rate += r.increase / step_seconds;
        } else {
            windows
                .entry(r.bucket_us)
                .or_insert_with(|| Acc::new(r))
                .add(r);
        }
    }
}

/// Answer one analytics query: per group, one value per step window.
///
/// `series` lists `(series_id, group)` (each series once, `group >= 0`);
/// `chunks` are `(series_id, chunk)` in any order (chunks of series not in
/// `series` are not decoded); `blocks` are write-log blocks in write order,
/// newer than every chunk (their samples of unlisted series are ignored).
///
/// Per listed series, its merged samples in `[lo, hi)` get the rollups of
/// [`rollup::rollups`] with buckets of `step_us` and no `prev` (the increase
/// of its first sample in the range is 0). Windows starting before
/// `first_us` are not answered; for [`Agg::Rate`] the one just before a
/// window is its baseline, so `lo_us = first_us - step_us` gives the first
/// window a baseline. Per group, a window is answered when at least one of
/// its series contributed (for rate: qualified); groups without windows are
/// left out. Groups come in ascending order, windows ascending.
pub fn aggregate_windows<C: AsRef<[u8]>, B: AsRef<[u8]>>(
    series: &[(i64, i64)],
    chunks: &[(i64, C)],
    blocks: &[B],
    range: Range,
    agg: Agg,
) -> Result<Vec<GroupWindows>, QueryError> {
    range.check()?;
    let mut seen = HashSet::with_capacity(series.len());
    for &(sid, group) in series {
        if group < 0 {
            return Err(QueryError::Invalid(format!(
                "group index of series {sid} must be >= 0, not {group}"
            )));
        }
        if !seen.insert(sid) {
            return Err(QueryError::Invalid(format!(
                "series {sid} is listed more than once"
            )));
        }
    }
    let sources = Sources::new(chunks, blocks, range.lo_us, range.hi_us, |sid| {
        seen.contains(&sid)
    })?;
    let step_seconds = range.step_us as f64 / 1e6;
    let mut groups: BTreeMap<i64, BTreeMap<i64, Acc>> = BTreeMap::new();
    for &(sid, group) in series {
        let s = sources.samples(sid)?;
        if s.is_empty() {
            continue;
        }
        let rollups = rollup::rollups(&s.timestamps, &s.values, range.step_us, None)
            .expect("normalized samples have equal lengths");
        accumulate(
            groups.entry(group).or_default(),
            &rollups,
            &range,
            agg,
            step_seconds,
        );
    }
    Ok(groups
        .into_iter()
        .filter(|(_, windows)| !windows.is_empty())
        .map(|(group, windows)| GroupWindows {
            group,
            starts_us: windows.keys().copied().collect(),
            values: windows.values().map(|a| a.value(agg)).collect(),
        })
        .collect())
}

/// The merged samples of every series (or of `series_ids` only) in
/// `[lo_us, hi_us)`, in ascending series id; series without samples there are
/// left out. Staleness markers are included: they are stored samples.
pub fn series_samples<C: AsRef<[u8]>, B: AsRef<[u8]>>(
    chunks: &[(i64, C)],
    blocks: &[B],
    lo_us: i64,
    hi_us: i64,
    series_ids: Option<&[i64]>,
) -> Result<Vec<(i64, Samples)>, QueryError> {
    let wanted: Option<HashSet<i64>> = series_ids.map(|ids| ids.iter().copied().collect());
    let sources = Sources::new(chunks, blocks, lo_us, hi_us, |sid| {
        wanted.as_ref().is_none_or(|w| w.contains(&sid))
    })?;
    let mut out = Vec::new();
    for sid in sources.series_ids() {
        let s = sources.samples(sid)?;
        if !s.is_empty() {
            out.push((sid, s));
        }
    }
    Ok(out)
}

/// Decode every chunk and encode it again with `codec` (sealing an open
/// Gorilla chunk as pcodec). The error names the index of a bad chunk.
pub fn reencode_chunks<C: AsRef<[u8]>>(
    chunks: &[C],
    codec: Codec,
) -> Result<Vec<Vec<u8>>, QueryError> {
    chunks
        .iter()
        .enumerate()
        .map(|(index, data)| {
            let s =
                chunk::decode(data.as_ref()).map_err(|error| QueryError::Chunk { index, error })?;
            chunk::encode_with(codec, &s.timestamps, &s.values)
                .map_err(|error| QueryError::Chunk { index, error })
        })
        .collect()
}
