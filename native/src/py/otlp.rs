//! Bindings for `crate::ingest::otlp`.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

use super::ingest::DecodedBatch;
use crate::ingest::otlp::{self, Target};
use crate::ingest::{point::Window, Options};

/// decode_otlp(body, *, json, gzip, namespace, namespace_label, now_us, min_time_us, max_time_us, max_decompressed)
/// --
///
/// Decode an OTLP/HTTP ``ExportMetricsServiceRequest`` (GIL released).
#[pyfunction]
#[pyo3(signature = (body, *, json, gzip, namespace, namespace_label, now_us, min_time_us, max_time_us, max_decompressed))]
#[allow(clippy::too_many_arguments)]
fn decode_otlp(
    py: Python<'_>,
    body: PyBackedBytes,
    json: bool,
    gzip: bool,
    namespace: &str,
    namespace_label: &str,
    now_us: i64,
    min_time_us: i64,
    max_time_us: i64,
    max_decompressed: usize,
) -> PyResult<DecodedBatch> {
    let opts = Options {
        window: Window {
            now_us,
            min_time_us,
            max_time_us,
        },
        gzip,
        max_decompressed,
    };
    let target = Target {
        namespace,
        namespace_label,
    };
    let batch = py.detach(|| otlp::decode(&body, json, &opts, &target))?;
    Ok(DecodedBatch::new(batch))
}

/// encode_otlp_response(rejected_data_points, error_message)
/// --
///
/// A protobuf ``ExportMetricsServiceResponse`` (``partial_success`` only when set).
#[pyfunction]
fn encode_otlp_response<'py>(
    py: Python<'py>,
    rejected_data_points: i64,
    error_message: &str,
) -> Bound<'py, PyBytes> {
    PyBytes::new(
        py,
        &otlp::encode_response(rejected_data_points, error_message),
    )
}

/// encode_rpc_status(code, message)
/// --
///
/// A protobuf ``google.rpc.Status`` (an OTLP/HTTP error body).
#[pyfunction]
fn encode_rpc_status<'py>(py: Python<'py>, code: i32, message: &str) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &otlp::encode_status(code, message))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_otlp, m)?)?;
    m.add_function(wrap_pyfunction!(encode_otlp_response, m)?)?;
    m.add_function(wrap_pyfunction!(encode_rpc_status, m)?)?;
    Ok(())
}
