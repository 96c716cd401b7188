//! Bindings for `crate::query`: the metric store's read kernel.
//!
//! Chunks and blocks come in as bytes (owned buffers taken with the GIL held);
//! decoding, merging and aggregating run with the GIL released, and the result
//! is one tuple of two lists per group or series.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use super::chunk::{codec, BlockError, ChunkError};
use crate::query::{self as kernel, Agg, QueryError, Range};

impl From<QueryError> for PyErr {
    fn from(e: QueryError) -> PyErr {
        let msg = e.to_string();
        match e {
            QueryError::Invalid(_) => PyValueError::new_err(msg),
            QueryError::Chunk { .. } => ChunkError::new_err(msg),
            QueryError::Block { .. } => BlockError::new_err(msg),
        }
    }
}

type Columns<T> = (i64, Vec<T>, Vec<f64>);

/// aggregate_windows(series, chunks, blocks, lo_us, first_us, hi_us, step_us, agg)
/// --
///
/// One analytics query over the raw samples of chunks and write-log blocks:
/// ``(group_index, window_starts_us, values)`` per group (GIL released).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the Python signature
fn aggregate_windows(
    py: Python<'_>,
    series: Vec<(i64, i64)>,
    chunks: Vec<(i64, PyBackedBytes)>,
    blocks: Vec<PyBackedBytes>,
    lo_us: i64,
    first_us: i64,
    hi_us: i64,
    step_us: i64,
    agg: &str,
) -> PyResult<Vec<Columns<i64>>> {
    let agg: Agg = agg.parse()?;
    let range = Range {
        lo_us,
        first_us,
        hi_us,
        step_us,
    };
    let groups =
        py.detach(move || kernel::aggregate_windows(&series, &chunks, &blocks, range, agg))?;
    Ok(groups
        .into_iter()
        .map(|g| (g.group, g.starts_us, g.values))
        .collect())
}

/// series_samples(chunks, blocks, lo_us, hi_us, series_ids=None)
/// --
///
/// The merged samples per series in ``[lo_us, hi_us)``:
/// ``(series_id, timestamps_us, values)`` in ascending id (GIL released).
#[pyfunction]
#[pyo3(signature = (chunks, blocks, lo_us, hi_us, series_ids = None))]
fn series_samples(
    py: Python<'_>,
    chunks: Vec<(i64, PyBackedBytes)>,
    blocks: Vec<PyBackedBytes>,
    lo_us: i64,
    hi_us: i64,
    series_ids: Option<Vec<i64>>,
) -> PyResult<Vec<Columns<i64>>> {
    let out = py.detach(move || {
        kernel::series_samples(&chunks, &blocks, lo_us, hi_us, series_ids.as_deref())
    })?;
    Ok(out
        .into_iter()
        .map(|(sid, s)| (sid, s.timestamps, s.values))
        .collect())
}

/// reencode_chunks(chunks, codec)
/// --
///
/// Every chunk decoded and encoded again with ``codec`` (GIL released).
#[pyfunction]
fn reencode_chunks(
    py: Python<'_>,
    chunks: Vec<PyBackedBytes>,
    codec: &str,
) -> PyResult<Vec<Vec<u8>>> {
    let codec = self::codec(codec)?;
    Ok(py.detach(move || kernel::reencode_chunks(&chunks, codec))?)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aggregate_windows, m)?)?;
    m.add_function(wrap_pyfunction!(series_samples, m)?)?;
    m.add_function(wrap_pyfunction!(reencode_chunks, m)?)?;
    Ok(())
}
