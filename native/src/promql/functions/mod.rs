//! Every PromQL function, given its evaluated arguments at one evaluation
//! time (Prometheus v2.42's `promql/functions.go`).
//!
//! The evaluator ([`super::eval`]) evaluates a call's arguments at time `t`
//! and hands them here; a range-vector argument arrives with the window it
//! covers (the extrapolating functions need it).

use promql_parser::parser::Expr;

use super::error::PromqlError;
use super::value::{RangeSeries, Sample};

/// One evaluated argument.
#[derive(Debug, Clone)]
pub enum Arg {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(MatrixArg),
}

/// A range-vector argument at one evaluation time: each series' points in
/// `[range_start, range_end]` (inclusive, ms; Prometheus 2.42's matrix
/// selector range). `range_end` is the evaluation time minus the offset (or
/// the `@` time minus the offset); `range_start = range_end - range`.
#[derive(Debug, Clone)]
pub struct MatrixArg {
    pub series: Vec<RangeSeries>,
    pub range_start: i64,
    pub range_end: i64,
}

/// The context of one call.
pub struct Ctx<'a> {
    /// The evaluation time (ms).
    pub t: i64,
    /// The call's argument expressions as written: `absent` and
    /// `absent_over_time` take their labels from the selector's `=` matchers.
    pub exprs: &'a [Expr],
}

/// A function's value at one evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub enum FnValue {
    Vector(Vec<Sample>),
    Scalar(f64),
}

/// Call the function `name` (as the parser names it) with `args`.
/// An unknown or unsupported function answers [`PromqlError::Unsupported`].
pub fn call(name: &str, args: Vec<Arg>, ctx: &Ctx<'_>) -> Result<FnValue, PromqlError> {
    let _ = (name, args, ctx);
    todo!("H2: functions helper writes this")
}
