//! The series an evaluation reads.

use promql_parser::label::Matchers;

use super::value::Series;

/// Where the evaluator finds series. Implementations return the series whose
/// labels satisfy every matcher (a missing label matches as `""`), with their
/// samples cut to `[min_t, max_t]` (inclusive, milliseconds) — or uncut: the
/// evaluator never reads outside the range it asked for.
pub trait Storage {
    fn select(&self, matchers: &Matchers, min_t: i64, max_t: i64) -> Vec<&Series>;
}

/// Series held in memory: what the service fetched for one query, or what a
/// test file loaded.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    pub series: Vec<Series>,
}

impl Storage for MemStorage {
    fn select(&self, matchers: &Matchers, _min_t: i64, _max_t: i64) -> Vec<&Series> {
        let _ = matchers;
        todo!("H1: eval helper writes this")
    }
}
