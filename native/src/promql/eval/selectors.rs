//! The series of each selector, and instant and range selectors over them.

use std::rc::Rc;

use super::super::storage::Storage;
use super::labels::hash_labels;
use super::plan::{Sel, SelSpec};
use super::{Ev, Ser};
use crate::chunk::STALE_NAN_BITS;
use crate::promql::error::PromqlError;
use crate::promql::value::Labels;

/// One selected series: its labels (shared by every value derived from it)
/// and its samples.
pub(crate) struct SelSeries<'s> {
    pub lab: Rc<Labels>,
    pub h: u64,
    pub ts: &'s [i64],
    pub vs: &'s [f64],
}

pub(crate) fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Select every selector's series, sorted by labels, their samples limited to
/// the time range the whole query reads (as Prometheus's querier limits them).
pub(crate) fn load<'s>(storage: &'s dyn Storage, specs: &[SelSpec]) -> Vec<Vec<SelSeries<'s>>> {
    let min_t = specs.iter().map(|s| s.min_t).min().unwrap_or(0);
    let max_t = specs.iter().map(|s| s.max_t).max().unwrap_or(0);
    specs
        .iter()
        .map(|spec| {
            let mut found = storage.select(&spec.matchers, spec.min_t, spec.max_t);
            found.sort_by(|a, b| a.labels.cmp(&b.labels));
            found.dedup_by(|a, b| a.labels == b.labels);
            found
                .into_iter()
                .map(|s| {
                    let n = s.timestamps.len().min(s.values.len());
                    let ts = &s.timestamps[..n];
                    let lo = ts.partition_point(|&t| t < min_t);
                    let hi = ts.partition_point(|&t| t <= max_t);
                    let hi = hi.max(lo);
                    SelSeries {
                        lab: Rc::new(s.labels.clone()),
                        h: hash_labels(&s.labels),
                        ts: &ts[lo..hi],
                        vs: &s.values[lo..hi],
                    }
                })
                .collect()
        })
        .collect()
}

/// Move a cursor `j` (the first sample after some earlier time) forward to
/// the first sample after `t`: a few steps in a line, then a binary search.
pub(crate) fn advance_past(ts: &[i64], mut j: usize, t: i64) -> usize {
    for _ in 0..8 {
        if j < ts.len() && ts[j] <= t {
            j += 1;
        } else {
            return j;
        }
    }
    j + ts[j..].partition_point(|&x| x <= t)
}

/// Move a cursor forward to the first sample at or after `t`.
pub(crate) fn advance_to(ts: &[i64], mut j: usize, t: i64) -> usize {
    for _ in 0..8 {
        if j < ts.len() && ts[j] < t {
            j += 1;
        } else {
            return j;
        }
    }
    j + ts[j..].partition_point(|&x| x < t)
}

/// The sample an instant selector sees at `rf`: the latest in
/// `[rf - lookback, rf]`, unless it is a staleness marker. `j` is a cursor
/// (the first sample after the previous `rf`), moved forward.
pub(crate) fn sample_at(
    ts: &[i64],
    vs: &[f64],
    j: &mut usize,
    rf: i64,
    lookback: i64,
) -> Option<(i64, f64)> {
    *j = advance_past(ts, *j, rf);
    if *j == 0 {
        return None;
    }
    let k = *j - 1;
    let (t, v) = (ts[k], vs[k]);
    if t < rf - lookback || is_stale(v) {
        None
    } else {
        Some((t, v))
    }
}

/// A window `[mint, maxt]` of a series, both ends inclusive, staleness markers
/// left out. `lo`/`hi` are cursors moved forward (windows only move forward).
#[allow(clippy::too_many_arguments)]
pub(crate) fn window(
    ts: &[i64],
    vs: &[f64],
    lo: &mut usize,
    hi: &mut usize,
    mint: i64,
    maxt: i64,
    out: &mut Vec<(i64, f64)>,
) {
    *lo = advance_to(ts, *lo, mint);
    *hi = advance_past(ts, (*hi).max(*lo), maxt);
    for k in *lo..*hi {
        if !is_stale(vs[k]) {
            out.push((ts[k], vs[k]));
        }
    }
}

impl Ev<'_, '_> {
    /// An instant selector at every step: the point is the series' value, the
    /// time the step's.
    pub(crate) fn vector_selector(&self, s: &Sel) -> Result<Vec<Ser>, PromqlError> {
        let mut out = Vec::new();
        let lookback = self.sh.lookback;
        for ser in &self.sh.series[s.id] {
            self.check_deadline()?;
            let mut pts = Vec::new();
            let mut j = 0;
            for ts in self.steps() {
                let rf = s.at.unwrap_or(ts) - s.offset;
                if let Some((_, v)) = sample_at(ser.ts, ser.vs, &mut j, rf, lookback) {
                    pts.push((ts, v));
                }
            }
            if !pts.is_empty() {
                self.hold(pts.len())?;
                out.push(Ser {
                    lab: ser.lab.clone(),
                    h: ser.h,
                    pts,
                });
            }
        }
        Ok(out)
    }

    /// A range selector evaluated on its own (an instant query of `x[5m]`):
    /// the samples of `[t - offset - range, t - offset]`.
    pub(crate) fn matrix_selector(&self, s: &Sel, range: i64) -> Result<Vec<Ser>, PromqlError> {
        let maxt = s.at.unwrap_or(self.start) - s.offset;
        let mint = maxt - range;
        let mut out = Vec::new();
        for ser in &self.sh.series[s.id] {
            self.check_deadline()?;
            let (mut lo, mut hi) = (0, 0);
            let mut pts = Vec::new();
            window(ser.ts, ser.vs, &mut lo, &mut hi, mint, maxt, &mut pts);
            if !pts.is_empty() {
                self.hold(pts.len())?;
                out.push(Ser {
                    lab: ser.lab.clone(),
                    h: ser.h,
                    pts,
                });
            }
        }
        Ok(out)
    }
}
