//! Bindings for `crate::compact`: one call folds a compaction pass's write-log
//! blocks into per-window chunks and their hourly rollups.
//!
//! Blocks and chunks come in as bytes (copied into owned buffers with the GIL
//! held); decoding, merging, encoding and rollups run with the GIL released,
//! and the result is one small tuple per touched window — no Python object per
//! sample.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use super::chunk::{codec, rollup_row, BlockError, ChunkError, RollupRow};
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

type CompactedRow = (
    i64,
    i64,
    Vec<u8>,
    usize,
    i64,
    i64,
    Vec<RollupRow>,
    Vec<i64>,
    Option<f64>,
);

/// compact(blocks, existing, window_us, codec="pco", prev_values=None)
/// --
///
/// Merge a pass's blocks into the existing chunks of the windows they touch
/// and recompute the affected hourly rollups (GIL released).
#[pyfunction]
#[pyo3(name = "compact", signature = (blocks, existing, window_us, codec = "pco", prev_values = None))]
fn compact_windows(
    py: Python<'_>,
    blocks: Vec<PyBackedBytes>,
    existing: HashMap<WindowKey, PyBackedBytes>,
    window_us: i64,
    codec: &str,
    prev_values: Option<HashMap<WindowKey, f64>>,
) -> PyResult<Vec<CompactedRow>> {
    let codec = self::codec(codec)?;
    let prev = prev_values.unwrap_or_default();
    let out = py.detach(move || kernel::compact(&blocks, &existing, window_us, codec, &prev))?;
    Ok(out
        .into_iter()
        .map(|c| {
            (
                c.series_id,
                c.window_start_us,
                c.chunk,
                c.samples,
                c.min_time_us,
                c.max_time_us,
                c.rollups.into_iter().map(rollup_row).collect(),
                c.empty_hours,
                c.last_value,
            )
        })
        .collect())
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HOUR_US", kernel::HOUR_US)?;
    m.add_function(wrap_pyfunction!(touched_windows, m)?)?;
    m.add_function(wrap_pyfunction!(compact_windows, m)?)?;
    Ok(())
}
