//! PyO3 binding layer: the `hearth_core._native` extension module.
//!
//! Kept thin on purpose: convert Python objects to Rust data, call the
//! pure-Rust core (`crate::series`, …), convert the result back. Long-running
//! work runs with the GIL released (`Python::detach`).

use std::cell::RefCell;

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::series;

mod bucket;
mod chunk;
mod compact;
mod flags;
mod influx;
mod ingest;
mod otlp;
mod promql;
mod query;
mod remote_write;
mod series_map;

create_exception!(
    hearth_core._native,
    SeriesError,
    PyValueError,
    "A series identity cannot be encoded (duplicate label key, or a string longer than 4 GiB)."
);

impl From<series::SeriesError> for PyErr {
    fn from(e: series::SeriesError) -> PyErr {
        SeriesError::new_err(e.to_string())
    }
}

/// `TypeError` naming the offending object, chained to the original error.
fn type_error(py: Python<'_>, context: String, cause: PyErr) -> PyErr {
    let err = PyTypeError::new_err(context);
    err.set_cause(py, Some(cause));
    err
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Borrow a label key or value as `&str`, or raise a descriptive `TypeError`.
fn label_str<'a>(obj: &'a Bound<'_, PyAny>, what: &str, key: Option<&str>) -> PyResult<&'a str> {
    match obj.cast::<PyString>() {
        Ok(s) => s.to_str(),
        Err(e) => {
            let at = key.map(|k| format!(" for key {k:?}")).unwrap_or_default();
            Err(type_error(
                obj.py(),
                format!("label {what}{at} must be str, not {}", type_name(obj)),
                e.into(),
            ))
        }
    }
}

/// Append the canonical encoding of one identity to `out` (GIL held).
///
/// Each label string is borrowed only while it is copied into the encoder, so
/// no Python object is kept and nothing is allocated per call once `enc` and
/// `out` have grown.
fn encode_into(
    enc: &mut series::Encoder,
    out: &mut Vec<u8>,
    namespace: &str,
    name: &str,
    labels: &Bound<'_, PyDict>,
) -> PyResult<()> {
    enc.clear();
    for (k, v) in labels.iter() {
        let k = label_str(&k, "key", None)?;
        let v = label_str(&v, "value", Some(k))?;
        enc.push_label(k, v)?;
    }
    enc.finish_into(out, namespace, name)?;
    Ok(())
}

/// series_hash(namespace, name, labels)
/// --
///
/// Signed 64-bit XXH64 (seed 0) of the canonical encoding of
/// ``(namespace, name, labels)``. Label order does not matter.
#[pyfunction]
fn series_hash(namespace: &str, name: &str, labels: &Bound<'_, PyDict>) -> PyResult<i64> {
    thread_local! {
        // Reused across calls: a single hash allocates nothing once warm.
        static SCRATCH: RefCell<(series::Encoder, Vec<u8>)> = RefCell::default();
    }
    SCRATCH.with(|cell| {
        // No Python code can run while the cell is borrowed (dict iteration and
        // str access call no user code), but never panic on re-entry: fall back
        // to fresh buffers.
        let mut fresh = None;
        let mut guard = cell.try_borrow_mut().ok();
        let (enc, buf) = match guard.as_deref_mut() {
            Some(pair) => pair,
            None => fresh.insert(Default::default()),
        };
        buf.clear();
        encode_into(enc, buf, namespace, name, labels)?;
        Ok(series::hash_encoded(buf))
    })
}

/// canonical_encoding(namespace, name, labels)
/// --
///
/// The canonical byte encoding that ``series_hash`` hashes.
#[pyfunction]
fn canonical_encoding(
    namespace: &str,
    name: &str,
    labels: &Bound<'_, PyDict>,
) -> PyResult<Vec<u8>> {
    let mut buf = Vec::with_capacity(128);
    encode_into(
        &mut series::Encoder::default(),
        &mut buf,
        namespace,
        name,
        labels,
    )?;
    Ok(buf)
}

fn encode_item(
    enc: &mut series::Encoder,
    out: &mut Vec<u8>,
    index: usize,
    item: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = item.py();
    let bad = |e: PyErr| {
        type_error(
            py,
            format!(
                "items[{index}] must be a tuple (namespace: str, name: str, labels: dict[str, str]), got {}",
                type_name(item)
            ),
            e,
        )
    };
    let tuple = item.cast::<PyTuple>().map_err(|e| bad(e.into()))?;
    if tuple.len() != 3 {
        return Err(PyTypeError::new_err(format!(
            "items[{index}] must be a 3-tuple (namespace, name, labels), got {} elements",
            tuple.len()
        )));
    }
    let ns = tuple.get_item(0)?;
    let name = tuple.get_item(1)?;
    let labels = tuple.get_item(2)?;
    let ns = ns.cast::<PyString>().map_err(|e| bad(e.into()))?.to_str()?;
    let name = name
        .cast::<PyString>()
        .map_err(|e| bad(e.into()))?
        .to_str()?;
    let labels = labels.cast::<PyDict>().map_err(|e| bad(e.into()))?;
    encode_into(enc, out, ns, name, labels).map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) {
            let msg = format!("items[{index}]: {}", e.value(py));
            type_error(py, msg, e)
        } else {
            e
        }
    })
}

/// series_hashes(items)
/// --
///
/// ``series_hash`` for each ``(namespace, name, labels)`` tuple, in order.
///
/// Python objects are converted to canonical encodings first; the hashing
/// itself runs with the GIL released.
#[pyfunction]
fn series_hashes(py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    let list = items.cast::<PyList>().ok();
    let n = list.map_or(0, |l| l.len());
    let mut arena: Vec<u8> = Vec::with_capacity(n * 96);
    let mut ends: Vec<usize> = Vec::with_capacity(n);
    let mut enc = series::Encoder::default();
    let mut push = |i: usize, item: &Bound<'_, PyAny>| -> PyResult<()> {
        encode_item(&mut enc, &mut arena, i, item)?;
        ends.push(arena.len());
        Ok(())
    };
    match list {
        Some(list) => {
            for (i, item) in list.iter().enumerate() {
                push(i, &item)?;
            }
        }
        None => {
            for (i, item) in items.try_iter()?.enumerate() {
                push(i, &item?)?;
            }
        }
    }
    Ok(py.detach(move || {
        let mut start = 0;
        ends.iter()
            .map(|&end| {
                let h = series::hash_encoded(&arena[start..end]);
                start = end;
                h
            })
            .collect()
    }))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SeriesError", m.py().get_type::<SeriesError>())?;
    m.add_function(wrap_pyfunction!(series_hash, m)?)?;
    m.add_function(wrap_pyfunction!(series_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_encoding, m)?)?;
    bucket::register(m)?;
    chunk::register(m)?;
    compact::register(m)?;
    flags::register(m)?;
    influx::register(m)?;
    ingest::register(m)?;
    otlp::register(m)?;
    query::register(m)?;
    remote_write::register(m)?;
    promql::register(m)?;
    series_map::register(m)?;
    Ok(())
}
