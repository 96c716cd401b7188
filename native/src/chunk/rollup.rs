//! Per-bucket rollups of one series' samples, computed in the same pass that
//! writes its chunk.
//!
//! Special values, exactly:
//! - A Prometheus staleness marker (the NaN with bits [`STALE_NAN_BITS`]) is
//!   not a sample: it is skipped for every field, including `increase`. A
//!   bucket holding only markers has no rollup.
//! - Any other NaN is a sample, as in Prometheus's `*_over_time` functions: it
//!   is counted, makes `sum` NaN, is `last` when it is the latest sample, and
//!   `min`/`max` ignore it unless every sample of the bucket is NaN (then they
//!   are NaN). It does not take part in `increase` (neither as a value nor as a
//!   reset).
//! - ±Inf are ordinary values with IEEE arithmetic: `sum` may become ±Inf or
//!   NaN (+Inf + −Inf), and an increase from +Inf to +Inf is NaN, as
//!   Prometheus's `increase` computes it.
//!
//! `sum` adds in time order. `increase` is the counter increase of the bucket
//! with resets accounted as Prometheus does: each sample adds `v − previous`
//! when `v ≥ previous`, and `v` itself when the value dropped (a reset: the
//! counter restarted from 0). The previous sample may lie in an earlier bucket
//! or, for the first sample, be given as `prev` (the last value before these
//! samples); without it the first sample adds nothing. The sum of the buckets'
//! increases is the increase over the whole range.

use super::{bucket_start, normalize, ChunkError, STALE_NAN_BITS};

/// Aggregates of one bucket `[bucket_us, bucket_us + width)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    pub bucket_us: i64,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub last_time_us: i64,
    pub increase: f64,
}

/// Is `v` Prometheus's staleness marker (bit for bit)?
#[inline]
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Rollups of one series per bucket of `width_us` microseconds, in bucket order.
///
/// Samples may come in any order: they are sorted first and of duplicate
/// timestamps the later write wins ([`normalize`]).
///
/// # Panics
/// If `width_us <= 0`.
pub fn rollups(
    timestamps: &[i64],
    values: &[f64],
    width_us: i64,
    prev: Option<f64>,
) -> Result<Vec<Rollup>, ChunkError> {
    assert!(width_us > 0, "bucket width must be positive");
    let sorted;
    let (ts, vs) = if timestamps.windows(2).all(|w| w[0] < w[1]) && timestamps.len() == values.len()
    {
        (timestamps, values)
    } else {
        sorted = normalize(timestamps, values)?;
        (&sorted.timestamps[..], &sorted.values[..])
    };
    let mut out: Vec<Rollup> = Vec::new();
    let mut prev = prev.filter(|p| !p.is_nan());
    for (&t, &v) in ts.iter().zip(vs) {
        if is_stale(v) {
            continue;
        }
        let bucket_us = bucket_start(t, width_us);
        let r = match out.last_mut() {
            Some(r) if r.bucket_us == bucket_us => r,
            _ => {
                out.push(Rollup {
                    bucket_us,
                    count: 0,
                    sum: 0.0,
                    min: v,
                    max: v,
                    last: v,
                    last_time_us: t,
                    increase: 0.0,
                });
                out.last_mut().expect("just pushed")
            }
        };
        r.count += 1;
        r.sum += v;
        if v < r.min || r.min.is_nan() {
            r.min = v;
        }
        if v > r.max || r.max.is_nan() {
            r.max = v;
        }
        r.last = v;
        r.last_time_us = t;
        if !v.is_nan() {
            if let Some(p) = prev {
                r.increase += if v < p { v } else { v - p };
            }
            prev = Some(v);
        }
    }
    Ok(out)
}

/// The first and the last raw entry of one bucket — staleness markers and NaN
/// included, values bit for bit — of every bucket holding any entry.
///
/// They are what an instant PromQL selector reads at a bucket boundary `t`:
/// the latest sample in `[t - lookback, t]` (lookback ≤ the bucket width) is
/// the bucket starting at `t`'s first entry when that lies at `t`, else the
/// bucket before's last entry; a staleness marker there means no value. So a
/// series thinned to its buckets' edges answers such a selector exactly as
/// its raw samples do, at every bucket boundary (`crate::promql`'s rollup
/// plan).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub bucket_us: i64,
    pub first_time_us: i64,
    pub first: f64,
    pub end_time_us: i64,
    pub end: f64,
}

/// The [`Edge`]s of one series per bucket of `width_us`, in bucket order.
/// Samples may come in any order (as in [`rollups`]).
///
/// # Panics
/// If `width_us <= 0`.
pub fn edges(timestamps: &[i64], values: &[f64], width_us: i64) -> Result<Vec<Edge>, ChunkError> {
    assert!(width_us > 0, "bucket width must be positive");
    let sorted;
    let (ts, vs) = if timestamps.windows(2).all(|w| w[0] < w[1]) && timestamps.len() == values.len()
    {
        (timestamps, values)
    } else {
        sorted = normalize(timestamps, values)?;
        (&sorted.timestamps[..], &sorted.values[..])
    };
    let mut out: Vec<Edge> = Vec::new();
    for (&t, &v) in ts.iter().zip(vs) {
        let bucket_us = bucket_start(t, width_us);
        match out.last_mut() {
            Some(e) if e.bucket_us == bucket_us => {
                e.end_time_us = t;
                e.end = v;
            }
            _ => out.push(Edge {
                bucket_us,
                first_time_us: t,
                first: v,
                end_time_us: t,
                end: v,
            }),
        }
    }
    Ok(out)
}
