//! Bindings for `crate::bucket`: Unleash-compatible feature-flag bucketing.

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::{type_error, type_name};
use crate::bucket;

create_exception!(
    hearth_core._native,
    BucketError,
    PyValueError,
    "A bucket cannot be computed (a variant total weight of 0)."
);

impl From<bucket::BucketError> for PyErr {
    fn from(e: bucket::BucketError) -> PyErr {
        BucketError::new_err(e.to_string())
    }
}

/// Batches at most this long are hashed with the GIL held.
///
/// Hashing one `"{group}:{user_id}"` key takes tens of nanoseconds, while
/// releasing and re-acquiring the GIL costs far more than that and, when
/// other threads are runnable, can make us wait up to a whole switch interval
/// (5 ms by default) to get it back. Typical calls evaluate a handful of
/// flags for one request, so only large batches are worth the hand-off.
const DETACH_THRESHOLD: usize = 64;

/// murmur3_x86_32(data, seed=0)
/// --
///
/// MurmurHash3 x86 32-bit of ``data`` as an unsigned 32-bit integer.
#[pyfunction]
#[pyo3(signature = (data, seed = 0))]
fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    bucket::murmur3_x86_32(data, seed)
}

/// rollout_bucket(group, user_id)
/// --
///
/// Unleash rollout bucket ``1..100`` of ``user_id`` in ``group``.
#[pyfunction]
fn rollout_bucket(group: &str, user_id: &str) -> u32 {
    bucket::rollout_bucket(group, user_id)
}

/// variant_bucket(group, user_id, total_weight)
/// --
///
/// Unleash variant bucket ``1..total_weight`` of ``user_id`` in ``group``.
#[pyfunction]
fn variant_bucket(group: &str, user_id: &str, total_weight: u32) -> PyResult<u32> {
    Ok(bucket::variant_bucket(group, user_id, total_weight)?)
}

/// rollout_buckets(groups, user_id)
/// --
///
/// ``rollout_bucket(group, user_id)`` for each group, in order.
#[pyfunction]
fn rollout_buckets(py: Python<'_>, groups: &Bound<'_, PyAny>, user_id: &str) -> PyResult<Vec<u32>> {
    // A str is an iterable of str: never bucket its characters silently.
    if groups.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "groups must be an iterable of str, not str",
        ));
    }
    let list = groups.cast::<PyList>().ok();
    let n = list.map_or(0, |l| l.len());
    // Owned copies of every key "{group}:{user_id}", back to back, so the
    // hashing needs no Python object (and may run without the GIL).
    let mut arena: Vec<u8> = Vec::with_capacity(n * (user_id.len() + 24));
    let mut ends: Vec<usize> = Vec::with_capacity(n);
    let mut push = |i: usize, item: &Bound<'_, PyAny>| -> PyResult<()> {
        let group = item.cast::<PyString>().map_err(|e| {
            type_error(
                py,
                format!("groups[{i}] must be str, not {}", type_name(item)),
                e.into(),
            )
        })?;
        bucket::push_key(&mut arena, group.to_str()?, user_id);
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
            for (i, item) in groups.try_iter()?.enumerate() {
                push(i, &item?)?;
            }
        }
    }
    let detach = ends.len() > DETACH_THRESHOLD;
    let hash_all = move || {
        let mut start = 0;
        ends.iter()
            .map(|&end| {
                let b = bucket::rollout_bucket_of_key(&arena[start..end]);
                start = end;
                b
            })
            .collect()
    };
    Ok(if detach {
        py.detach(hash_all)
    } else {
        hash_all()
    })
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BucketError", m.py().get_type::<BucketError>())?;
    m.add_function(wrap_pyfunction!(murmur3_x86_32, m)?)?;
    m.add_function(wrap_pyfunction!(rollout_bucket, m)?)?;
    m.add_function(wrap_pyfunction!(rollout_buckets, m)?)?;
    m.add_function(wrap_pyfunction!(variant_bucket, m)?)?;
    Ok(())
}
