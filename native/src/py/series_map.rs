//! Binding for `crate::series_map`: the worker's hash → `series_id` cache,
//! shared between the event loop (inserts) and encoder threads (lookups).

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use crate::series_map;

create_exception!(
    hearth_core._native,
    UnmappedSeries,
    PyKeyError,
    "A series hash of the batch is not in the SeriesMap (the argument is the hash)."
);

/// SeriesMap(capacity)
/// --
///
/// Bounded series hash → series_id map with insertion-order eviction.
///
/// Frozen with a lock inside so that encoder threads read it with the GIL
/// released while the event loop inserts. Rule that keeps this deadlock-free:
/// no code waits for the GIL while holding the lock. Short calls keep the GIL
/// (waiting at most for another thread's lookups): releasing it for
/// microseconds could cost the caller a switch interval to get it back.
#[pyclass(frozen, module = "hearth_core._native")]
pub struct SeriesMap {
    inner: RwLock<series_map::SeriesMap>,
}

impl SeriesMap {
    /// The map for reading (a panic cannot leave it half-updated in a way that
    /// matters: at worst an entry is missing and is looked up again).
    pub(super) fn read(&self) -> RwLockReadGuard<'_, series_map::SeriesMap> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, series_map::SeriesMap> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl SeriesMap {
    #[new]
    fn new(capacity: usize) -> PyResult<Self> {
        if capacity == 0 {
            return Err(PyValueError::new_err("capacity must be at least 1"));
        }
        Ok(SeriesMap {
            inner: RwLock::new(series_map::SeriesMap::new(capacity)),
        })
    }

    /// Most entries kept between inserts.
    #[getter]
    fn capacity(&self) -> usize {
        self.read().capacity()
    }

    fn __len__(&self) -> usize {
        self.read().len()
    }

    /// get(hash)
    /// --
    ///
    /// The series_id of ``hash``, or None.
    fn get(&self, hash: i64) -> Option<i32> {
        self.read().get(hash)
    }

    /// insert_many(items)
    /// --
    ///
    /// Insert or replace each ``(hash, series_id)``, evicting the oldest others when full.
    fn insert_many(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<()> {
        let items = items
            .try_iter()?
            .map(|item| item?.extract::<(i64, i32)>())
            .collect::<PyResult<Vec<_>>>()?;
        py.detach(|| self.write().insert_many(items));
        Ok(())
    }

    /// clear()
    /// --
    ///
    /// Drop every entry.
    fn clear(&self, py: Python<'_>) {
        py.detach(|| self.write().clear());
    }

    fn __repr__(&self) -> String {
        let m = self.read();
        let (len, capacity) = (m.len(), m.capacity());
        drop(m);
        format!("<SeriesMap len={len} capacity={capacity}>")
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("UnmappedSeries", m.py().get_type::<UnmappedSeries>())?;
    m.add_class::<SeriesMap>()?;
    Ok(())
}
