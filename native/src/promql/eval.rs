//! Parsing, planning and evaluation (Prometheus v2.42's `promql/engine.go`).

use std::time::Instant;

use promql_parser::label::Matchers;
use promql_parser::parser::Expr;

use super::error::PromqlError;
use super::storage::Storage;
use super::value::QueryValue;

/// One query's evaluation parameters (milliseconds since the epoch).
#[derive(Debug, Clone)]
pub struct QueryParams {
    /// Instant query: `start == end`, `step == 0`.
    pub start: i64,
    pub end: i64,
    pub step: i64,
    /// How far back an instant selector looks for a sample (Prometheus's
    /// `--query.lookback-delta`, 5 minutes).
    pub lookback: i64,
    /// Past this instant evaluation stops with [`PromqlError::Timeout`].
    pub deadline: Option<Instant>,
    /// Most samples held at once (Prometheus's `--query.max-samples`, 50,000,000).
    pub max_samples: usize,
}

/// What a query reads: the series one selector matches, over `[min_t, max_t]`
/// (inclusive, ms; offsets, `@`, ranges, subqueries and the lookback applied).
#[derive(Debug, Clone)]
pub struct SelectorNeed {
    pub matchers: Matchers,
    pub min_t: i64,
    pub max_t: i64,
}

/// Parse `query`; a construct the engine does not evaluate answers
/// [`PromqlError::Unsupported`] naming it.
pub fn parse(query: &str) -> Result<Expr, PromqlError> {
    let _ = query;
    todo!("H1")
}

/// The selectors `expr` reads under `params`, one per selector in the query.
pub fn needs(expr: &Expr, params: &QueryParams) -> Vec<SelectorNeed> {
    let _ = (expr, params);
    todo!("H1")
}

/// Evaluate `expr`: an instant query (`step == 0`) gives a vector, scalar or
/// string; a range query a matrix (series sorted by labels).
pub fn evaluate(
    expr: &Expr,
    storage: &dyn Storage,
    params: &QueryParams,
) -> Result<QueryValue, PromqlError> {
    let _ = (expr, storage, params);
    todo!("H1")
}
