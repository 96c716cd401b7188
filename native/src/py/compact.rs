//! Bindings for `crate::compact`: one call folds a compaction pass's write-log
//! blocks into per-window chunks and their hourly rollups.
//!
//! Blocks and chunks come in as bytes (copied into owned buffers with the GIL
//! held); decoding, merging, encoding and rollups run with the GIL released,
//! and the result is columns (one list per field) ready for the multi-row
//! writes — no Python object per window, hour or sample besides the values.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use super::chunk::{codec, BlockError, ChunkError};
use crate::compact::{self as kernel, CompactError, WindowKey};

impl From<CompactError> for PyErr {
    fn from(e: CompactError) -> PyErr {
        let msg = e.to_string();
        match e {
            CompactError::Window(_) => PyValueError::new_err(msg),
            CompactError::Block { .. } => BlockError::new_err(msg),
            CompactError::Chunk { .. } => ChunkError::new_err(msg),
        }
    }
}

/// touched_windows(blocks, window_us)
/// --
///
/// Sorted, distinct ``(series_id, window_start_us)`` keys the blocks' samples
/// fall into (GIL released).
#[pyfunction]
fn touched_windows(
    py: Python<'_>,
    blocks: Vec<PyBackedBytes>,
    window_us: i64,
) -> PyResult<Vec<WindowKey>> {
    Ok(py.detach(move || kernel::touched_windows(&blocks, window_us))?)
}

type ChunkCols = (
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<Option<f64>>,
    Vec<Vec<u8>>,
    Vec<Option<f64>>,
);
type HourCols = (
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    Vec<i64>,
    Vec<f64>,
);
type EmptyHourCols = (Vec<i64>, Vec<i64>);
pub(super) type EdgeCols = (Vec<i64>, Vec<i64>, Vec<i64>, Vec<f64>, Vec<i64>, Vec<f64>);

pub(super) fn edge_cols(e: kernel::EdgeColumns) -> EdgeCols {
    (
        e.series_ids,
        e.buckets_us,
        e.first_times_us,
        e.firsts,
        e.end_times_us,
        e.ends,
    )
}

/// compact_columns(blocks, existing, window_us, codec="pco", prev_values=None)
/// --
///
/// Merge a pass's blocks into the existing chunks of the windows they touch
/// and recompute the affected hourly rollups, as columns (GIL released).
#[pyfunction]
#[pyo3(signature = (blocks, existing, window_us, codec = "pco", prev_values = None))]
fn compact_columns(
    py: Python<'_>,
    blocks: Vec<PyBackedBytes>,
    existing: HashMap<WindowKey, PyBackedBytes>,
    window_us: i64,
    codec: &str,
    prev_values: Option<HashMap<WindowKey, f64>>,
) -> PyResult<(ChunkCols, HourCols, EmptyHourCols, EdgeCols)> {
    let codec = self::codec(codec)?;
    let prev = prev_values.unwrap_or_default();
    let kernel::Columns {
        chunks: c,
        hours: h,
        empty_hours: e,
        edges,
    } = py.detach(move || kernel::compact_columns(&blocks, &existing, window_us, codec, &prev))?;
    Ok((
        (
            c.series_ids,
            c.window_starts_us,
            c.samples,
            c.min_us,
            c.max_us,
            c.last_values,
            c.data,
            c.baselines,
        ),
        (
            h.series_ids,
            h.buckets_us,
            h.counts,
            h.sums,
            h.mins,
            h.maxs,
            h.lasts,
            h.last_times_us,
            h.increases,
        ),
        (e.series_ids, e.buckets_us),
        edge_cols(edges),
    ))
}

/// rebase_rollups(chunks, prev_values)
/// --
///
/// The hourly rollups of stored chunks recomputed with new baselines, as
/// columns (GIL released).
#[pyfunction]
fn rebase_rollups(
    py: Python<'_>,
    chunks: HashMap<WindowKey, PyBackedBytes>,
    prev_values: HashMap<WindowKey, f64>,
) -> PyResult<HourCols> {
    let h = py.detach(move || kernel::rebase(&chunks, &prev_values))?;
    Ok((
        h.series_ids,
        h.buckets_us,
        h.counts,
        h.sums,
        h.mins,
        h.maxs,
        h.lasts,
        h.last_times_us,
        h.increases,
    ))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HOUR_US", kernel::HOUR_US)?;
    m.add_function(wrap_pyfunction!(touched_windows, m)?)?;
    m.add_function(wrap_pyfunction!(compact_columns, m)?)?;
    m.add_function(wrap_pyfunction!(rebase_rollups, m)?)?;
    Ok(())
}
