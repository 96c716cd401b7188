//! PromQL: Prometheus's query language, parsed by the `promql-parser` crate and
//! evaluated here with Prometheus v2.42's semantics (the version of Debian's
//! `prometheus` package, which the differential tests compare against).
//!
//! The engine is pure: it reads series from a [`Storage`] and never does I/O.
//! The service (Python) first asks [`eval::needs`] which selectors over which
//! time ranges a query reads, fetches those series (chunks, write-log blocks or
//! rollup-thinned samples) into a [`MemStorage`], and then calls
//! [`eval::evaluate`]. Prometheus's own PromQL test files (v2.42.0,
//! `testdata/`, Apache-2.0) run against this engine in `cargo test`
//! (`conformance`).
//!
//! Layout: `value` (labels, samples, results and their JSON), `storage` (the
//! series an evaluation reads), `eval` (parsing, planning, step evaluation,
//! selectors, aggregations, binary operators, subqueries), `functions` (every
//! PromQL function, given its evaluated arguments).

pub mod enforce;
pub mod error;
pub mod eval;
pub mod functions;
pub mod storage;
pub mod value;

#[cfg(test)]
mod conformance;

pub use error::PromqlError;
pub use eval::{evaluate, needs, parse, QueryParams, SelectorNeed};
pub use storage::{MemStorage, Storage};
pub use value::{Labels, QueryValue, RangeSeries, Sample, Series, METRIC_NAME};
