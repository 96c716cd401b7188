//! Bindings for `crate::ingest::influx`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use super::ingest::DecodedBatch;
use crate::ingest::influx::{self, Options, Precision};
use crate::ingest::point::Window;

/// decode_influx(body, *, precision, gzip, namespace, namespace_label, now_us, min_time_us, max_time_us, max_decompressed)
/// --
///
/// Decode an InfluxDB line protocol body (GIL released); rejections are
/// ``(line_index, reason)``.
#[pyfunction]
#[pyo3(signature = (body, *, precision, gzip, namespace, namespace_label, now_us, min_time_us, max_time_us, max_decompressed))]
#[allow(clippy::too_many_arguments)]
fn decode_influx(
    py: Python<'_>,
    body: PyBackedBytes,
    precision: &str,
    gzip: bool,
    namespace: &str,
    namespace_label: &str,
    now_us: i64,
    min_time_us: i64,
    max_time_us: i64,
    max_decompressed: usize,
) -> PyResult<DecodedBatch> {
    let precision: Precision = precision.parse().map_err(PyValueError::new_err)?;
    let opts = Options {
        window: Window {
            now_us,
            min_time_us,
            max_time_us,
        },
        precision,
        gzip,
        max_decompressed,
        namespace,
        namespace_label,
    };
    let batch = py.detach(|| influx::decode(&body, &opts))?;
    Ok(DecodedBatch::new(batch))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_influx, m)?)?;
    Ok(())
}
