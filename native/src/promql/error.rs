//! Why a query has no answer, in the classes Prometheus's HTTP API answers with.

use std::fmt;

/// A failed query. The HTTP layer maps each variant to Prometheus's
/// `errorType` and status: `Parse` → `bad_data` 400; `Unsupported`,
/// `Execution`, `TooManySamples` → `execution` 422; `Timeout` → `timeout` 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromqlError {
    /// The query does not parse, or is ill-typed (`parse error: …`).
    Parse(String),
    /// Valid PromQL that this engine does not evaluate; the message names the
    /// construct (e.g. `"the or-matcher syntax {a="1" or b="2"}"`).
    Unsupported(String),
    /// Evaluation failed as Prometheus's would (e.g. many-to-many matching,
    /// duplicate series for the match group, vector cannot contain metrics
    /// with the same labelset).
    Execution(String),
    /// The query's deadline passed.
    Timeout,
    /// More samples than `QueryParams::max_samples` would be held at once.
    TooManySamples(usize),
}

impl fmt::Display for PromqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromqlError::Parse(m) => write!(f, "{m}"),
            PromqlError::Unsupported(m) => write!(f, "not supported: {m}"),
            PromqlError::Execution(m) => write!(f, "{m}"),
            PromqlError::Timeout => write!(f, "query timed out in expression evaluation"),
            PromqlError::TooManySamples(n) => write!(
                f,
                "query processing would load too many samples into memory in query execution (limit {n})"
            ),
        }
    }
}

impl std::error::Error for PromqlError {}

impl PromqlError {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            PromqlError::Parse(_) => "bad_data",
            PromqlError::Timeout => "timeout",
            _ => "execution",
        }
    }
}
