//! Bindings for `crate::ingest`: decoding metric bodies and encoding their
//! points as write-log blocks.

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};

use super::series_map::{SeriesMap, UnmappedSeries};
use crate::ingest::{self, point::Window, Batch, Format, Options};

create_exception!(
    hearth_core._native,
    IngestError,
    PyValueError,
    "The body as a whole cannot be decoded. Base of MalformedBody, BodyTooLarge and UnknownFormat."
);
create_exception!(
    hearth_core._native,
    MalformedBody,
    IngestError,
    "The body is not what its format says (not JSON, a bad CSV header, not UTF-8, bad gzip)."
);
create_exception!(
    hearth_core._native,
    BodyTooLarge,
    IngestError,
    "The gzip body decompresses to more than max_decompressed bytes."
);
create_exception!(
    hearth_core._native,
    UnknownFormat,
    IngestError,
    "The format name is not \"json\", \"ndjson\" or \"csv\"."
);

impl From<ingest::IngestError> for PyErr {
    fn from(e: ingest::IngestError) -> PyErr {
        let msg = e.to_string();
        match e {
            ingest::IngestError::Malformed(_) => MalformedBody::new_err(msg),
            ingest::IngestError::TooLarge { .. } => BodyTooLarge::new_err(msg),
            ingest::IngestError::UnknownFormat(_) => UnknownFormat::new_err(msg),
        }
    }
}

/// `(hash, namespace, name, labels_json)` of series `i`.
fn identity_tuple(batch: &Batch, i: usize) -> (i64, String, String, String) {
    let id = batch.identity(i);
    (batch.series[i].hash, id.namespace, id.name, id.labels_json)
}

/// The decoded, validated points of one body.
#[pyclass(frozen, module = "hearth_core._native")]
pub struct DecodedBatch {
    batch: Batch,
}

impl DecodedBatch {
    /// Wrap a batch a protocol decoder made (the other binding modules).
    pub(super) fn new(batch: Batch) -> Self {
        DecodedBatch { batch }
    }
}

#[pymethods]
impl DecodedBatch {
    /// Items seen (accepted + rejected).
    #[getter]
    fn total(&self) -> usize {
        self.batch.total
    }

    /// Accepted points.
    #[getter]
    fn accepted(&self) -> usize {
        self.batch.points.len()
    }

    /// ``(index, reason)`` of each rejected item, in input order.
    #[getter]
    fn rejected(&self) -> Vec<(usize, String)> {
        self.batch.rejected.clone()
    }

    /// Earliest time of the accepted points (µs since the Unix epoch).
    #[getter]
    fn min_time_us(&self) -> Option<i64> {
        self.batch.min_time_us
    }

    /// Latest time of the accepted points (µs since the Unix epoch).
    #[getter]
    fn max_time_us(&self) -> Option<i64> {
        self.batch.max_time_us
    }

    /// Rejected samples older than the accepted window (retention).
    #[getter]
    fn too_old(&self) -> usize {
        self.batch.too_old
    }

    /// What the protocol carried but is not stored, e.g. ``{"exemplars": 3}``.
    #[getter]
    fn ignored(&self) -> Vec<(&'static str, u64)> {
        self.batch.ignored.clone()
    }

    /// series()
    /// --
    ///
    /// Unique series of the accepted points: ``(hash, namespace, name, labels_json)``.
    fn series(&self) -> Vec<(i64, String, String, String)> {
        (0..self.batch.series.len())
            .map(|i| identity_tuple(&self.batch, i))
            .collect()
    }

    /// encode_block(series_ids)
    /// --
    ///
    /// One write-log block of every accepted point (see ``encode_block``).
    fn encode_block<'py>(
        &self,
        py: Python<'py>,
        series_ids: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids: Vec<i64> = self
            .batch
            .series
            .iter()
            .map(|s| match series_ids.get_item(s.hash)? {
                Some(id) => id.extract::<i64>(),
                None => Err(PyKeyError::new_err(s.hash)),
            })
            .collect::<PyResult<_>>()?;
        let batch = &self.batch;
        let out = py.detach(|| batch.encode_block(&ids))?;
        Ok(PyBytes::new(py, &out))
    }

    /// missing_series(map)
    /// --
    ///
    /// ``series()`` restricted to the series ``map`` does not hold.
    fn missing_series(&self, map: &Bound<'_, SeriesMap>) -> Vec<(i64, String, String, String)> {
        let batch = &self.batch;
        // Python tuples only for the unknown; the lookups (≈ 2 ns each) keep the GIL.
        let missing = batch.unmapped(&map.get().read());
        missing
            .into_iter()
            .map(|i| identity_tuple(batch, i))
            .collect()
    }

    /// encode_block_mapped(map)
    /// --
    ///
    /// ``encode_block`` with the series ids of ``map`` (GIL released).
    fn encode_block_mapped<'py>(
        &self,
        py: Python<'py>,
        map: &Bound<'py, SeriesMap>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let map = map.get();
        let batch = &self.batch;
        let out = py.detach(|| {
            // The read lock is held only for the lookups, not the encoding.
            let ids = batch.mapped_ids(&map.read());
            ids.map(|ids| batch.encode_block(&ids))
        });
        let out = out.map_err(UnmappedSeries::new_err)??;
        Ok(PyBytes::new(py, &out))
    }

    /// encode_remote_write(namespace_label)
    /// --
    ///
    /// Every accepted point as a Prometheus remote write 1.0 body (GIL released).
    fn encode_remote_write<'py>(
        &self,
        py: Python<'py>,
        namespace_label: &str,
    ) -> Bound<'py, PyBytes> {
        let batch = &self.batch;
        let out = py.detach(|| ingest::remote_write::encode_remote_write(batch, namespace_label));
        PyBytes::new(py, &out)
    }

    /// namespaces()
    /// --
    ///
    /// The distinct namespaces of the accepted points, sorted.
    fn namespaces(&self) -> Vec<&str> {
        self.batch.namespaces()
    }

    /// without_series(hashes)
    /// --
    ///
    /// A copy without the points of the series whose hash is in ``hashes``.
    fn without_series(&self, py: Python<'_>, hashes: Vec<i64>) -> DecodedBatch {
        let batch = &self.batch;
        DecodedBatch {
            batch: py.detach(|| batch.without(&hashes)),
        }
    }

    fn __len__(&self) -> usize {
        self.batch.points.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<DecodedBatch total={} accepted={} rejected={} series={}>",
            self.batch.total,
            self.batch.points.len(),
            self.batch.rejected.len(),
            self.batch.series.len()
        )
    }
}

/// decode_points(body, format, *, now_us, min_time_us, max_time_us, gzip=False, max_decompressed=268435456)
/// --
///
/// Decode, validate and hash the points of a request body (GIL released).
#[pyfunction]
#[pyo3(signature = (body, format, *, now_us, min_time_us, max_time_us, gzip = false, max_decompressed = 268_435_456))]
#[allow(clippy::too_many_arguments)]
fn decode_points(
    py: Python<'_>,
    body: PyBackedBytes,
    format: &str,
    now_us: i64,
    min_time_us: i64,
    max_time_us: i64,
    gzip: bool,
    max_decompressed: usize,
) -> PyResult<DecodedBatch> {
    let format: Format = format.parse()?;
    let opts = Options {
        window: Window {
            now_us,
            min_time_us,
            max_time_us,
        },
        gzip,
        max_decompressed,
    };
    let batch = py.detach(move || ingest::decode(&body, format, &opts))?;
    Ok(DecodedBatch { batch })
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("IngestError", py.get_type::<IngestError>())?;
    m.add("MalformedBody", py.get_type::<MalformedBody>())?;
    m.add("BodyTooLarge", py.get_type::<BodyTooLarge>())?;
    m.add("UnknownFormat", py.get_type::<UnknownFormat>())?;
    m.add_class::<DecodedBatch>()?;
    m.add_function(wrap_pyfunction!(decode_points, m)?)?;
    Ok(())
}
