//! Bindings for `crate::ingest::remote_write`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use super::ingest::DecodedBatch;
use crate::ingest::point::Window;
use crate::ingest::remote_write::{self, Options, Version};

/// decode_remote_write(body, *, version, namespace, namespace_label, now_us, min_time_us, max_time_us, max_decompressed)
/// --
///
/// Decode a snappy-compressed remote write body, 1.0 (``prometheus.WriteRequest``) or 2.0
/// (``io.prometheus.write.v2.Request``), validate and hash its samples (GIL released).
#[pyfunction]
#[pyo3(signature = (body, *, version, namespace, namespace_label, now_us, min_time_us, max_time_us, max_decompressed))]
#[allow(clippy::too_many_arguments)]
fn decode_remote_write(
    py: Python<'_>,
    body: PyBackedBytes,
    version: u8,
    namespace: &str,
    namespace_label: &str,
    now_us: i64,
    min_time_us: i64,
    max_time_us: i64,
    max_decompressed: usize,
) -> PyResult<DecodedBatch> {
    let version = match version {
        1 => Version::V1,
        2 => Version::V2,
        _ => {
            return Err(PyValueError::new_err(format!(
                "version must be 1 or 2, not {version}"
            )))
        }
    };
    let opts = Options {
        window: Window {
            now_us,
            min_time_us,
            max_time_us,
        },
        version,
        namespace,
        namespace_label,
        max_decompressed,
    };
    let batch = py.detach(|| remote_write::decode(&body, &opts))?;
    Ok(DecodedBatch::new(batch))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_remote_write, m)?)?;
    Ok(())
}
