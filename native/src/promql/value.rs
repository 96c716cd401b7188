//! Labels, samples, the series storage hands out, and query results with
//! their JSON in Prometheus's HTTP API shape.

/// The label holding a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// A label set: `(name, value)` pairs sorted by name, no empty values, the
/// metric name (if any) as the label [`METRIC_NAME`].
pub type Labels = Vec<(String, String)>;

/// One stored series: its labels and its samples in ascending time order
/// (milliseconds since the epoch, unique timestamps). Staleness markers are
/// kept as samples whose value has the bits `crate::chunk::STALE_NAN_BITS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// One element of an instant vector. `t` is the evaluation time, except in
/// the vector a bare vector selector hands to `timestamp()`, where it is the
/// sample's own timestamp (as in Prometheus).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector or of a range query's matrix result:
/// `(time ms, value)` in ascending time.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar { t: i64, v: f64 },
    String { t: i64, s: String },
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
}

impl QueryValue {
    /// The `data` member of Prometheus's answer:
    /// `{"resultType":"vector","result":[{"metric":{…},"value":[1700000000.5,"1"]}]}`;
    /// times as float seconds, values as strings formatted as Go's
    /// `strconv.FormatFloat(v, 'f', -1, 64)` (`"NaN"`, `"+Inf"`, `"-Inf"`).
    pub fn to_json(&self) -> Vec<u8> {
        todo!("H1: eval helper writes this")
    }
}
