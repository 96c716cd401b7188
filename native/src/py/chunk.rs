//! Bindings for `crate::chunk` and `crate::block`: compressed series chunks,
//! their rollups, and write-log blocks.
//!
//! Inputs are copied into owned vectors with the GIL held; encoding, decoding,
//! merging and rollups then run with the GIL released.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::block;
use crate::chunk::{self, rollup, Codec};

create_exception!(
    hearth_core._native,
    ChunkError,
    PyValueError,
    "Samples cannot be encoded as a chunk, or bytes are not a valid chunk (truncated, corrupt, unknown version)."
);
create_exception!(
    hearth_core._native,
    BlockError,
    PyValueError,
    "Samples cannot be encoded as a write-log block, or bytes are not a valid block (torn, corrupt, unknown version)."
);

impl From<chunk::ChunkError> for PyErr {
    fn from(e: chunk::ChunkError) -> PyErr {
        ChunkError::new_err(e.to_string())
    }
}

impl From<block::BlockError> for PyErr {
    fn from(e: block::BlockError) -> PyErr {
        BlockError::new_err(e.to_string())
    }
}

pub(super) fn codec(name: &str) -> PyResult<Codec> {
    match name {
        "pco" => Ok(Codec::Pco),
        "gorilla" => Ok(Codec::Gorilla),
        _ => Err(PyValueError::new_err(format!(
            "codec must be \"pco\" or \"gorilla\", not {name:?}"
        ))),
    }
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Pco => "pco",
        Codec::Gorilla => "gorilla",
    }
}

/// encode_chunk(timestamps_us, values, codec="pco")
/// --
///
/// Compress one series' samples into a chunk (GIL released).
#[pyfunction]
#[pyo3(signature = (timestamps_us, values, codec = "pco"))]
fn encode_chunk(
    py: Python<'_>,
    timestamps_us: Vec<i64>,
    values: Vec<f64>,
    codec: &str,
) -> PyResult<Vec<u8>> {
    let codec = self::codec(codec)?;
    Ok(py.detach(move || chunk::encode_with(codec, &timestamps_us, &values))?)
}

/// decode_chunk(data)
/// --
///
/// The samples of a chunk: ``(timestamps_us, values)`` (GIL released).
#[pyfunction]
fn decode_chunk(py: Python<'_>, data: PyBackedBytes) -> PyResult<(Vec<i64>, Vec<f64>)> {
    let s = py.detach(move || chunk::decode(&data))?;
    Ok((s.timestamps, s.values))
}

/// chunk_header(data)
/// --
///
/// ``(codec, count, first_timestamp_us)`` of a chunk, without decoding it.
#[pyfunction]
fn chunk_header(data: &[u8]) -> PyResult<(&'static str, usize, Option<i64>)> {
    let h = chunk::header(data)?;
    Ok((codec_name(h.codec), h.count, h.first))
}

pub(super) type RollupRow = (i64, i64, f64, f64, f64, f64, i64, f64);

/// rollups(timestamps_us, values, bucket_seconds, prev_value=None)
/// --
///
/// Per-bucket rollups of one series' samples (GIL released).
#[pyfunction]
#[pyo3(signature = (timestamps_us, values, bucket_seconds, prev_value = None))]
fn rollups(
    py: Python<'_>,
    timestamps_us: Vec<i64>,
    values: Vec<f64>,
    bucket_seconds: i64,
    prev_value: Option<f64>,
) -> PyResult<Vec<RollupRow>> {
    let width = bucket_seconds
        .checked_mul(1_000_000)
        .filter(|&w| w > 0)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "bucket_seconds must be positive and at most {}, not {bucket_seconds}",
                i64::MAX / 1_000_000
            ))
        })?;
    let rows = py.detach(move || rollup::rollups(&timestamps_us, &values, width, prev_value))?;
    Ok(rows.into_iter().map(rollup_row).collect())
}

pub(super) fn rollup_row(r: rollup::Rollup) -> RollupRow {
    (
        r.bucket_us,
        r.count,
        r.sum,
        r.min,
        r.max,
        r.last,
        r.last_time_us,
        r.increase,
    )
}

/// chunk_edges(chunks)
/// --
///
/// The hourly edges of stored chunks, as columns (GIL released).
#[pyfunction]
fn chunk_edges(
    py: Python<'_>,
    chunks: Vec<(i64, PyBackedBytes)>,
) -> PyResult<super::compact::EdgeCols> {
    let cols = py.detach(move || -> Result<_, chunk::ChunkError> {
        let mut cols = crate::compact::EdgeColumns::default();
        for (series_id, data) in &chunks {
            let s = chunk::decode(data)?;
            for e in rollup::edges(&s.timestamps, &s.values, crate::compact::HOUR_US)? {
                cols.push(*series_id, &e);
            }
        }
        Ok(cols)
    })?;
    Ok(super::compact::edge_cols(cols))
}

/// encode_block(series_ids, timestamps_us, values)
/// --
///
/// One write-log block of a batch's samples (GIL released).
#[pyfunction]
fn encode_block(
    py: Python<'_>,
    series_ids: Vec<i64>,
    timestamps_us: Vec<i64>,
    values: Vec<f64>,
) -> PyResult<Vec<u8>> {
    Ok(py.detach(move || block::encode(&series_ids, &timestamps_us, &values))?)
}

/// decode_block(data)
/// --
///
/// The three columns of a block, sorted by (series, time) (GIL released).
#[pyfunction]
fn decode_block(py: Python<'_>, data: PyBackedBytes) -> PyResult<(Vec<i64>, Vec<i64>, Vec<f64>)> {
    let b = py.detach(move || block::decode(&data))?;
    Ok((b.series_ids, b.timestamps, b.values))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ChunkError", py.get_type::<ChunkError>())?;
    m.add("BlockError", py.get_type::<BlockError>())?;
    m.add("CHUNK_MAX_SAMPLES", chunk::MAX_SAMPLES)?;
    m.add("STALE_NAN_BITS", chunk::STALE_NAN_BITS)?;
    m.add_function(wrap_pyfunction!(encode_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(decode_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(chunk_header, m)?)?;
    m.add_function(wrap_pyfunction!(rollups, m)?)?;
    m.add_function(wrap_pyfunction!(chunk_edges, m)?)?;
    m.add_function(wrap_pyfunction!(encode_block, m)?)?;
    m.add_function(wrap_pyfunction!(decode_block, m)?)?;
    Ok(())
}
