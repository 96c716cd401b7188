//! Bindings of the feature-flag evaluator (`crate::flags`).
//!
//! Evaluating a request's flags takes microseconds, so every call keeps the GIL: releasing
//! and re-taking it would cost more than the work (and, with other threads runnable, up to a
//! switch interval). Answers are written into a per-thread buffer and copied once into the
//! returned `bytes`.

use std::cell::RefCell;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::flags::{self, Defaults};

create_exception!(
    hearth_core._native,
    FlagStateError,
    PyValueError,
    "A client-API state that cannot be compiled; `path` names the member (`$.features[3]`)."
);

create_exception!(
    hearth_core._native,
    FlagContextError,
    PyValueError,
    "A request body whose context cannot be read; `path` names the member (`$.context.currentTime`)."
);

/// `exc_type(message)` carrying `path` as an attribute.
fn with_path(err: PyErr, py: Python<'_>, path: &str) -> PyErr {
    match err.value(py).setattr("path", path) {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn state_error(py: Python<'_>, e: flags::StateError) -> PyErr {
    with_path(FlagStateError::new_err(e.to_string()), py, &e.path)
}

fn context_error(py: Python<'_>, e: flags::ContextError) -> PyErr {
    with_path(FlagContextError::new_err(e.to_string()), py, &e.path)
}

/// Run `write` into this thread's reusable buffer and return what it wrote as `bytes`.
fn answer<'py>(
    py: Python<'py>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<bool, flags::ContextError>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|cell| {
        // No Python code runs while the buffer is borrowed; never panic on re-entry anyway.
        let mut fresh = Vec::new();
        let mut guard = cell.try_borrow_mut().ok();
        let buf = guard.as_deref_mut().unwrap_or(&mut fresh);
        buf.clear();
        let wrote = write(buf).map_err(|e| context_error(py, e))?;
        let out = wrote.then(|| PyBytes::new(py, buf));
        if buf.capacity() > 1 << 20 {
            *buf = Vec::new(); // one huge answer must not pin its memory
        }
        Ok(out)
    })
}

/// [`answer`] for a call that always writes a whole document.
fn document<'py>(
    py: Python<'py>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), flags::ContextError>,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = answer(py, |buf| write(buf).map(|()| true))?;
    Ok(out.unwrap_or_else(|| PyBytes::new(py, b"")))
}

/// One environment's flags compiled for evaluation.
#[pyclass(frozen, module = "hearth_core._native", name = "FlagSet")]
pub struct FlagSet {
    inner: flags::FlagSet,
}

#[pymethods]
impl FlagSet {
    #[new]
    fn new(py: Python<'_>, state: &[u8]) -> PyResult<Self> {
        flags::FlagSet::new(state)
            .map(|inner| FlagSet { inner })
            .map_err(|e| state_error(py, e))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("<FlagSet of {} flags>", self.inner.len())
    }

    /// names()
    /// --
    ///
    /// The flag names, in the state's order.
    fn names(&self) -> Vec<&str> {
        self.inner.names().collect()
    }

    /// evaluate(body, *, remote_address=None, session_id=None)
    /// --
    ///
    /// Every flag evaluated for the context in ``body``: ``{"flags": [...]}`` as JSON.
    #[pyo3(signature = (body, *, remote_address = None, session_id = None))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        body: &[u8],
        remote_address: Option<&str>,
        session_id: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let defaults = Defaults {
            remote_address,
            session_id,
        };
        document(py, |buf| self.inner.evaluate(body, defaults, buf))
    }

    /// evaluate_one(name, body)
    /// --
    ///
    /// The flag ``name`` evaluated for the context in ``body`` as one JSON object, or None
    /// when there is no such flag.
    fn evaluate_one<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        body: &[u8],
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        answer(py, |buf| {
            self.inner
                .evaluate_one(name, body, Defaults::default(), buf)
        })
    }

    /// frontend(body, *, remote_address=None, session_id=None)
    /// --
    ///
    /// Unleash's frontend API answer (enabled flags with their variants):
    /// ``{"toggles": [...]}`` as JSON.
    #[pyo3(signature = (body, *, remote_address = None, session_id = None))]
    fn frontend<'py>(
        &self,
        py: Python<'py>,
        body: &[u8],
        remote_address: Option<&str>,
        session_id: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let defaults = Defaults {
            remote_address,
            session_id,
        };
        document(py, |buf| self.inner.frontend(body, defaults, buf))
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FlagStateError", m.py().get_type::<FlagStateError>())?;
    m.add("FlagContextError", m.py().get_type::<FlagContextError>())?;
    m.add_class::<FlagSet>()?;
    Ok(())
}
