//! Bindings of the PromQL engine (`crate::promql`) for the Prometheus query API.
//!
//! One query is two calls: `promql_needs` says which selectors over which time
//! ranges it reads (the service turns them into SQL), then `promql_eval` takes
//! the series the service found and their stored chunks and write-log blocks,
//! merges them with compaction's rule (`crate::query::series_samples`: the
//! later write wins), converts µs to ms, evaluates and returns the `data`
//! member of Prometheus's answer as JSON bytes — all with the GIL released.
//! `promql_selectors` / `promql_match_series` parse and apply the `match[]`
//! selectors of the metadata routes (series, labels, label values), and
//! `log_series_ids` names the series a write-log holds in a time range.
//!
//! The engine runs on a thread of its own with a large stack (deeply nested
//! queries recurse deeply); a panic in it is caught and raised as `PromqlError`
//! with error type `internal` (Prometheus's class for its own failures), never
//! as an uncaught `PanicException`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::Expr;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::promql::{self, Labels, MemStorage, QueryParams, Series, METRIC_NAME};
use crate::query as kernel;

create_exception!(
    hearth_core._native,
    PromqlError,
    PyValueError,
    "A query that has no answer; `error_type` is Prometheus's errorType, `message` its error."
);

/// `PromqlError(message)` carrying `error_type` and `message` as attributes
/// (an abi3 module cannot subclass a built-in exception as a `#[pyclass]`).
fn promql_error(py: Python<'_>, error_type: &str, message: String) -> PyErr {
    let err = PromqlError::new_err(message.clone());
    let value = err.value(py);
    match value
        .setattr("error_type", error_type)
        .and_then(|()| value.setattr("message", message))
    {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// Why a call failed, before it becomes a Python exception (built after the
/// GIL is taken back).
#[derive(Debug)]
enum Failure {
    Query(promql::PromqlError),
    /// Stored bytes that do not decode, or a panic: Prometheus's `internal`.
    Internal(String),
}

impl From<promql::PromqlError> for Failure {
    fn from(e: promql::PromqlError) -> Failure {
        Failure::Query(e)
    }
}

impl Failure {
    fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Query(e) => promql_error(py, e.error_type(), e.to_string()),
            Failure::Internal(m) => promql_error(py, "internal", m),
        }
    }
}

/// Run `f`, turning a panic into [`Failure::Internal`].
fn guarded<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        Err(Failure::Internal(format!("PromQL engine failure: {why}")))
    })
}

/// Stack of the thread that parses, plans and evaluates. The parser, the planner and the
/// evaluator recurse over the expression tree (and dropping it recurses too): a query nested
/// a hundred thousand levels deep (a 1 MiB form body of `-(…` or `1+1+…`) must not overflow a
/// default 8 MiB stack — that aborts the process instead of raising. The size is reserved
/// address space; pages are committed only as the recursion reaches them.
const ENGINE_STACK: usize = 512 << 20;

/// Queries up to this long run on the calling thread: their trees are at most this deep, a
/// few MiB of stack at worst, well inside a default 8 MiB one — and starting a thread per call
/// cost more than planning a dashboard query does.
const INLINE_QUERY_BYTES: usize = 512;

/// Run `f` (panics caught): inline for a query of at most [`INLINE_QUERY_BYTES`], else on a
/// thread with [`ENGINE_STACK`], waiting for it.
fn on_engine_stack<T: Send>(
    query_bytes: usize,
    f: impl FnOnce() -> Result<T, Failure> + Send,
) -> Result<T, Failure> {
    if query_bytes <= INLINE_QUERY_BYTES {
        return guarded(f);
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("promql".to_owned())
            .stack_size(ENGINE_STACK)
            .spawn_scoped(scope, || guarded(f))
            .map_err(|e| Failure::Internal(format!("cannot start the PromQL thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(Failure::Internal("PromQL engine failure".to_owned())))
    })
}

/// Deepest nesting of `(`, `[` and `{` a query may have. Real queries nest a few levels; the
/// parser and the evaluator recurse per level, and half a million levels (a 1 MiB body of
/// `(((…`) overflow even [`ENGINE_STACK`].
const MAX_NESTING: usize = 1000;

/// Refuse a query nested deeper than [`MAX_NESTING`] before it reaches the parser (string
/// literals skipped; a bracket in a comment counts, which only errs on the side of refusing).
fn check_nesting(query: &str) -> Result<(), promql::PromqlError> {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in query.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' | '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    if deepest > MAX_NESTING {
        return Err(promql::PromqlError::Parse(format!(
            "parse error: the query nests parentheses, brackets or braces {deepest} levels deep \
             (at most {MAX_NESTING})"
        )));
    }
    Ok(())
}

/// `(label, op, value)`: a matcher as the service turns it into SQL.
type MatcherTuple = (String, String, String);

fn matcher_tuple(m: &Matcher) -> MatcherTuple {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    };
    (m.name.clone(), op.to_owned(), m.value.clone())
}

/// The matchers every matching series satisfies. A selector with `or`
/// groups (`{a="1" or b="2"}`) gives none: no single conjunction holds for all
/// its series, and an empty list only widens what the service fetches (the
/// engine applies the selector exactly).
fn conjunction(m: &Matchers) -> Vec<MatcherTuple> {
    if m.or_matchers.is_empty() {
        m.matchers.iter().map(matcher_tuple).collect()
    } else {
        Vec::new()
    }
}

fn params(
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    lookback_ms: i64,
    deadline: Option<Instant>,
    max_samples: usize,
) -> QueryParams {
    QueryParams {
        start: start_ms,
        end: end_ms,
        step: step_ms,
        lookback: lookback_ms,
        deadline,
        max_samples,
    }
}

type Need = (Vec<MatcherTuple>, i64, i64, bool);

/// promql_needs(query, start_ms, end_ms, step_ms, lookback_ms)
/// --
///
/// Parse ``query`` and list what it reads: per selector ``(matchers, min_t_ms,
/// max_t_ms)`` (inclusive), matchers as ``(label, op, value)``.
#[pyfunction]
fn promql_needs(
    py: Python<'_>,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    lookback_ms: i64,
) -> PyResult<Vec<Need>> {
    let p = params(start_ms, end_ms, step_ms, lookback_ms, None, usize::MAX);
    let plan = || {
        on_engine_stack(query.len(), || {
            check_nesting(query)?;
            let expr = promql::parse(query)?;
            Ok(promql::needs(&expr, &p)
                .into_iter()
                .map(|n| (conjunction(&n.matchers), n.min_t, n.max_t, n.hour_edges))
                .collect())
        })
    };
    // Planning a dashboard query takes microseconds: keeping the GIL is cheaper than handing
    // it to another thread and waiting up to a switch interval (5 ms) to get it back.
    let planned = if query.len() <= INLINE_QUERY_BYTES {
        plan()
    } else {
        py.detach(plan)
    };
    planned.map_err(|f| f.into_pyerr(py))
}

/// A series' labels in the engine's shape: sorted by name, `__name__` among
/// them, empty values left out (an empty label is no label in Prometheus).
fn engine_labels(name: String, labels: HashMap<String, String>) -> Labels {
    let mut out: Labels = labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    out.push((METRIC_NAME.to_owned(), name));
    out.sort_unstable();
    out
}

/// Samples in ms: µs floored, and of samples falling in one millisecond the
/// last (latest) one kept.
fn to_millis(timestamps_us: &[i64], values: &[f64]) -> (Vec<i64>, Vec<f64>) {
    let mut ts: Vec<i64> = Vec::with_capacity(timestamps_us.len());
    let mut vs: Vec<f64> = Vec::with_capacity(values.len());
    for (&t, &v) in timestamps_us.iter().zip(values) {
        let ms = t.div_euclid(1000);
        if ts.last() == Some(&ms) {
            *vs.last_mut().expect("pushed in pairs") = v;
        } else {
            ts.push(ms);
            vs.push(v);
        }
    }
    (ts, vs)
}

/// The µs range `[lo, hi)` covering every need's `[min_t, max_t]` (ms).
fn needed_range(needs: &[promql::SelectorNeed]) -> Option<(i64, i64)> {
    let lo = needs.iter().map(|n| n.min_t).min()?;
    let hi = needs.iter().map(|n| n.max_t).max()?;
    Some((
        lo.saturating_mul(1000),
        hi.saturating_add(1).saturating_mul(1000),
    ))
}

/// The labelled series the engine reads, built from the stored samples.
fn storage<C: AsRef<[u8]>, B: AsRef<[u8]>>(
    series: Vec<(i64, String, HashMap<String, String>)>,
    chunks: &[(i64, C)],
    blocks: &[B],
    edges: &[(i64, PyBackedBytes)],
    range: Option<(i64, i64)>,
    max_samples: usize,
) -> Result<MemStorage, Failure> {
    let Some((lo_us, hi_us)) = range else {
        return Ok(MemStorage::default());
    };
    let ids: Vec<i64> = series.iter().map(|(sid, _, _)| *sid).collect();
    let mut merged = kernel::series_samples(chunks, blocks, lo_us, hi_us, Some(&ids))
        .map_err(|e| Failure::Internal(format!("stored samples cannot be read: {e}")))?;
    if !edges.is_empty() {
        // Edges are raw entries: their union with the raw samples read for other selectors
        // (or for the hours the log still holds) is a subset of the raw series, which every
        // selector reads exactly as it reads the raw one.
        let thinned = kernel::edges::decode(edges).map_err(|e| Failure::Internal(e.to_string()))?;
        merged = kernel::edges::union(merged, thinned);
    }
    let total: usize = merged.iter().map(|(_, s)| s.len()).sum();
    if total > max_samples {
        return Err(promql::PromqlError::TooManySamples(max_samples).into());
    }
    let mut labels_of: HashMap<i64, Labels> = series
        .into_iter()
        .map(|(sid, name, labels)| (sid, engine_labels(name, labels)))
        .collect();
    let mut out: Vec<Series> = merged
        .into_iter()
        .filter_map(|(sid, s)| {
            let labels = labels_of.remove(&sid)?;
            let (timestamps, values) = to_millis(&s.timestamps, &s.values);
            Some(Series {
                labels,
                timestamps,
                values,
            })
        })
        .collect();
    out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    Ok(MemStorage { series: out })
}

type SeriesRow = (i64, String, HashMap<String, String>);

/// promql_eval(query, start_ms, end_ms, step_ms, lookback_ms, series, chunks, blocks, timeout_s, max_samples, edges, detach=True)
/// --
///
/// Evaluate ``query`` over the stored samples of ``series`` (``(series_id, name,
/// labels)``); the ``data`` member of Prometheus's answer as JSON bytes. With the
/// GIL released unless ``detach`` is false (a small evaluation the service runs on
/// its event loop: releasing and taking back the GIL costs more than it does).
#[pyfunction]
#[pyo3(signature = (query, start_ms, end_ms, step_ms, lookback_ms, series, chunks, blocks, timeout_s, max_samples, edges, detach=true))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn promql_eval(
    py: Python<'_>,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    lookback_ms: i64,
    series: Vec<SeriesRow>,
    chunks: Vec<(i64, PyBackedBytes)>,
    blocks: Vec<PyBackedBytes>,
    timeout_s: f64,
    max_samples: usize,
    edges: Vec<(i64, PyBackedBytes)>,
    detach: bool,
) -> PyResult<Vec<u8>> {
    let started = Instant::now();
    // A timeout too large for an Instant is no deadline at all.
    let deadline = Duration::try_from_secs_f64(timeout_s.max(0.0))
        .ok()
        .and_then(|d| started.checked_add(d));
    let p = params(
        start_ms,
        end_ms,
        step_ms,
        lookback_ms,
        deadline,
        max_samples,
    );
    let run = move || {
        on_engine_stack(query.len(), || {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(promql::PromqlError::Timeout.into());
            }
            check_nesting(query)?;
            let expr = promql::parse(query)?;
            let range = needed_range(&promql::needs(&expr, &p));
            let store = storage(series, &chunks, &blocks, &edges, range, max_samples)?;
            let value = promql::evaluate(&expr, &store, &p)?;
            Ok(value.to_json())
        })
    };
    let out = if detach { py.detach(run) } else { run() };
    out.map_err(|f| f.into_pyerr(py))
}

/// Parse one `match[]` value: a vector selector and nothing else, its metric
/// name folded into the matchers as `__name__="…"`.
fn metric_selector(text: &str) -> Result<Matchers, promql::PromqlError> {
    check_nesting(text)?;
    let bad = |why: String| promql::PromqlError::Parse(format!("parse error: {why}"));
    match promql_parser::parser::parse(text).map_err(bad)? {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            let mut m = vs.matchers;
            if let Some(name) = vs.name {
                let has_name = m
                    .matchers
                    .iter()
                    .any(|x| x.name == METRIC_NAME && x.op == MatchOp::Equal && x.value == name);
                if !has_name {
                    m.matchers
                        .push(Matcher::new(MatchOp::Equal, METRIC_NAME, &name));
                }
            }
            Ok(m)
        }
        _ => {
            // The selector as given, shortened: a message is no place for a megabyte.
            let shown: String = text.chars().take(100).collect();
            let more = if shown.len() < text.len() { "…" } else { "" };
            Err(bad(format!(
                "{shown:?}{more} is not a series selector such as up{{job=\"api\"}}"
            )))
        }
    }
}

fn metric_selectors(texts: &[String]) -> Result<Vec<Matchers>, Failure> {
    texts
        .iter()
        .map(|t| metric_selector(t).map_err(Failure::from))
        .collect()
}

/// promql_selectors(selectors)
/// --
///
/// Parse each ``match[]`` selector; its matchers as ``(label, op, value)``.
#[pyfunction]
fn promql_selectors(py: Python<'_>, selectors: Vec<String>) -> PyResult<Vec<Vec<MatcherTuple>>> {
    let longest = selectors.iter().map(String::len).max().unwrap_or(0);
    py.detach(|| {
        on_engine_stack(longest, || {
            Ok(metric_selectors(&selectors)?
                .iter()
                .map(conjunction)
                .collect())
        })
    })
    .map_err(|f| f.into_pyerr(py))
}

fn all_match(ms: &[Matcher], name: &str, labels: &HashMap<String, String>) -> bool {
    ms.iter().all(|m| {
        let value = if m.name == METRIC_NAME {
            name
        } else {
            labels.get(&m.name).map_or("", String::as_str)
        };
        m.is_match(value)
    })
}

fn selects(m: &Matchers, name: &str, labels: &HashMap<String, String>) -> bool {
    all_match(&m.matchers, name, labels)
        && (m.or_matchers.is_empty() || m.or_matchers.iter().any(|g| all_match(g, name, labels)))
}

/// promql_match_series(selectors, series)
/// --
///
/// Indices of the ``(name, labels)`` in ``series`` that any selector matches.
#[pyfunction]
fn promql_match_series(
    py: Python<'_>,
    selectors: Vec<String>,
    series: Vec<(String, HashMap<String, String>)>,
) -> PyResult<Vec<usize>> {
    let longest = selectors.iter().map(String::len).max().unwrap_or(0);
    py.detach(move || {
        on_engine_stack(longest, || {
            let sets = metric_selectors(&selectors)?;
            Ok(series
                .iter()
                .enumerate()
                .filter(|(_, (name, labels))| sets.iter().any(|m| selects(m, name, labels)))
                .map(|(i, _)| i)
                .collect())
        })
    })
    .map_err(|f| f.into_pyerr(py))
}

/// promql_enforce(query, label, value)
/// --
///
/// ``query`` with the matcher ``label="value"`` on every selector, as PromQL text.
#[pyfunction]
fn promql_enforce(py: Python<'_>, query: &str, label: &str, value: &str) -> PyResult<String> {
    let run = || {
        on_engine_stack(query.len(), || {
            check_nesting(query)?;
            Ok(promql::enforce::enforce(query, label, value)?)
        })
    };
    // As for promql_needs: a dashboard query takes microseconds, keep the GIL.
    let out = if query.len() <= INLINE_QUERY_BYTES {
        run()
    } else {
        py.detach(run)
    };
    out.map_err(|f| f.into_pyerr(py))
}

/// promql_enforce_selectors(selectors, label, value)
/// --
///
/// Each ``match[]`` selector with ``label="value"`` added (``[{label="value"}]`` for none).
#[pyfunction]
fn promql_enforce_selectors(
    py: Python<'_>,
    selectors: Vec<String>,
    label: &str,
    value: &str,
) -> PyResult<Vec<String>> {
    let longest = selectors.iter().map(String::len).max().unwrap_or(0);
    py.detach(|| {
        on_engine_stack(longest, || {
            selectors.iter().try_for_each(|s| check_nesting(s))?;
            Ok(promql::enforce::enforce_selectors(
                &selectors, label, value,
            )?)
        })
    })
    .map_err(|f| f.into_pyerr(py))
}

/// log_series_ids(blocks, lo_us, hi_us)
/// --
///
/// Ids of the series with samples in ``[lo_us, hi_us)`` in write-log blocks.
#[pyfunction]
fn log_series_ids(
    py: Python<'_>,
    blocks: Vec<PyBackedBytes>,
    lo_us: i64,
    hi_us: i64,
) -> PyResult<Vec<i64>> {
    let none: &[(i64, &[u8])] = &[];
    let merged = py.detach(|| kernel::series_samples(none, &blocks, lo_us, hi_us, None))?;
    Ok(merged.into_iter().map(|(sid, _)| sid).collect())
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PromqlError", m.py().get_type::<PromqlError>())?;
    m.add_function(wrap_pyfunction!(promql_needs, m)?)?;
    m.add_function(wrap_pyfunction!(promql_eval, m)?)?;
    m.add_function(wrap_pyfunction!(promql_selectors, m)?)?;
    m.add_function(wrap_pyfunction!(promql_match_series, m)?)?;
    m.add_function(wrap_pyfunction!(log_series_ids, m)?)?;
    m.add_function(wrap_pyfunction!(promql_enforce, m)?)?;
    m.add_function(wrap_pyfunction!(promql_enforce_selectors, m)?)?;
    Ok(())
}
