//! Every PromQL function, given its evaluated arguments at one evaluation
//! time (Prometheus v2.42's `promql/functions.go`).
//!
//! The evaluator ([`super::eval`]) evaluates a call's arguments at time `t`
//! and hands them here; a range-vector argument arrives with the window it
//! covers (the extrapolating functions need it).
//!
//! Modules by kind: `range` (rate, increase, delta, irate, idelta, deriv,
//! predict_linear, holt_winters, resets, changes), `over_time` (the
//! `*_over_time` aggregations), `math` (element-wise arithmetic, clamps,
//! round, trigonometry), `labels` (label_replace, label_join), `time`
//! (time, timestamp, the date functions), `histogram` (histogram_quantile on
//! classic `le` buckets and the native-histogram functions, which find no
//! native histograms here), `vectors` (absent, absent_over_time, scalar,
//! vector, sort, sort_desc). Two pieces of Go that results depend on:
//! `go_sort` (Go 1.19's `sort.Sort`, for the order of ties) and `go_regex`
//! (Go's regular expression syntax, rewritten for the `regex` crate).
//!
//! Transcendental functions (exp, ln, the trigonometric ones) use Rust's
//! `f64` methods: they can differ from Go's `math` in the last bit.

use std::collections::HashSet;

use promql_parser::parser::Expr;

use super::error::PromqlError;
use super::value::{Labels, RangeSeries, Sample, METRIC_NAME};

pub(crate) mod go_regex;
pub(crate) mod go_sort;
mod histogram;
mod labels;
mod math;
mod over_time;
mod range;
mod time;
mod vectors;

pub use over_time::quantile;

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
///
/// A vector result never holds two samples with one label set (Prometheus
/// fails such a step with "vector cannot contain metrics with the same
/// labelset"; over a range query it checks a range function's whole matrix,
/// which the evaluator may add).
pub fn call(name: &str, args: Vec<Arg>, ctx: &Ctx<'_>) -> Result<FnValue, PromqlError> {
    let mut a = Args { name, items: args };
    let t = ctx.t;
    let out = match name {
        // Functions of a range vector, series by series (range.rs, over_time.rs).
        _ if RangeFn::from_name(name).is_some() => {
            let f = RangeFn::from_name(name).expect("checked");
            let (matrix_at, params) = match f {
                RangeFn::QuantileOverTime => (1, vec![a.scalar(0)?]),
                RangeFn::PredictLinear => (0, vec![a.scalar(1)?]),
                RangeFn::HoltWinters => (0, vec![a.scalar(1)?, a.scalar(2)?]),
                _ => (0, vec![]),
            };
            let m = a.matrix(matrix_at)?;
            let mut out = Vec::with_capacity(m.series.len());
            for s in &m.series {
                if let Some(v) = f.eval(&s.points, m.range_start, m.range_end, t, &params)? {
                    let labels = if f.keeps_metric_name() {
                        s.labels.clone()
                    } else {
                        drop_metric_name(&s.labels)
                    };
                    out.push(Sample { labels, t, v });
                }
            }
            Value::V(out)
        }
        // Element-wise math (math.rs).
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "deg"
        | "rad" | "sin" | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh"
        | "asinh" | "acosh" | "atanh" => {
            let f = math::simple(name).expect("listed above");
            Value::V(map_values(a.vector(0)?, t, f))
        }
        "clamp" => {
            let (min, max) = (a.scalar(1)?, a.scalar(2)?);
            Value::V(math::clamp(a.vector(0)?, t, min, max))
        }
        "clamp_min" => {
            let min = a.scalar(1)?;
            Value::V(map_values(a.vector(0)?, t, |v| math::go_max(min, v)))
        }
        "clamp_max" => {
            let max = a.scalar(1)?;
            Value::V(map_values(a.vector(0)?, t, |v| math::go_min(max, v)))
        }
        "round" => {
            let to_nearest = if a.len() >= 2 { a.scalar(1)? } else { 1.0 };
            Value::V(map_values(a.vector(0)?, t, math::round_to(to_nearest)))
        }
        "pi" => Value::S(std::f64::consts::PI),
        // Labels (labels.rs).
        "label_replace" => {
            let (dst, repl, src, regex) = (a.string(1)?, a.string(2)?, a.string(3)?, a.string(4)?);
            Value::V(labels::label_replace(
                a.vector(0)?,
                t,
                &dst,
                &repl,
                &src,
                &regex,
            )?)
        }
        "label_join" => {
            let dst = a.string(1)?;
            let sep = a.string(2)?;
            let srcs = (3..a.len())
                .map(|i| a.string(i))
                .collect::<Result<Vec<_>, _>>()?;
            Value::V(labels::label_join(a.vector(0)?, t, &dst, &sep, &srcs)?)
        }
        // Time (time.rs).
        "time" => Value::S(t as f64 / 1000.0),
        "timestamp" => Value::V(time::timestamp(a.vector(0)?, t)),
        "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month"
        | "month" | "year" => {
            let part = time::date_part(name).expect("listed above");
            let input = if a.len() == 0 {
                None
            } else {
                Some(a.vector(0)?)
            };
            Value::V(time::date_function(input, t, part))
        }
        // Histograms (histogram.rs).
        "histogram_quantile" => {
            let q = a.scalar(0)?;
            Value::V(histogram::histogram_quantile(q, a.vector(1)?, t))
        }
        // These read native histograms only; float samples are skipped.
        "histogram_count" | "histogram_sum" => {
            a.vector(0)?;
            Value::V(Vec::new())
        }
        "histogram_fraction" => {
            a.vector(2)?;
            Value::V(Vec::new())
        }
        // Whole vectors (vectors.rs).
        "absent" => Value::V(vectors::absent(&a.vector(0)?, t, ctx.exprs)),
        "absent_over_time" => Value::V(vectors::absent_over_time(&a.matrix(0)?, t, ctx.exprs)),
        "scalar" => Value::S(vectors::scalar(&a.vector(0)?)),
        "vector" => Value::V(vectors::vector(a.scalar(0)?, t)),
        "sort" => Value::V(vectors::sort(a.vector(0)?, t)),
        "sort_desc" => Value::V(vectors::sort_desc(a.vector(0)?, t)),
        _ => {
            return Err(PromqlError::Unsupported(format!(
                "the function {name}() (not in Prometheus 2.42)"
            )))
        }
    };
    match out {
        Value::S(v) => Ok(FnValue::Scalar(v)),
        Value::V(v) => {
            check_unique_labels(&v)?;
            Ok(FnValue::Vector(v))
        }
    }
}

/// What a function computed, before the label-set check.
enum Value {
    S(f64),
    V(Vec<Sample>),
}

/// The arguments of one call, taken out by position and type.
struct Args<'n> {
    name: &'n str,
    items: Vec<Arg>,
}

impl Args<'_> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn missing(&self, i: usize, want: &str) -> PromqlError {
        // The parser checks arity and argument types; this answers an
        // evaluator that hands something else.
        PromqlError::Execution(format!(
            "{}(): argument {} is not a {want}",
            self.name,
            i + 1
        ))
    }

    fn take(&mut self, i: usize) -> Option<Arg> {
        self.items
            .get_mut(i)
            .map(|a| std::mem::replace(a, Arg::Scalar(f64::NAN)))
    }

    fn matrix(&mut self, i: usize) -> Result<MatrixArg, PromqlError> {
        match self.take(i) {
            Some(Arg::Matrix(m)) => Ok(m),
            _ => Err(self.missing(i, "range vector")),
        }
    }

    fn vector(&mut self, i: usize) -> Result<Vec<Sample>, PromqlError> {
        match self.take(i) {
            Some(Arg::Vector(v)) => Ok(v),
            _ => Err(self.missing(i, "instant vector")),
        }
    }

    fn scalar(&self, i: usize) -> Result<f64, PromqlError> {
        match self.items.get(i) {
            Some(Arg::Scalar(v)) => Ok(*v),
            _ => Err(self.missing(i, "scalar")),
        }
    }

    fn string(&self, i: usize) -> Result<String, PromqlError> {
        match self.items.get(i) {
            Some(Arg::String(s)) => Ok(s.clone()),
            _ => Err(self.missing(i, "string")),
        }
    }
}

/// A function of a range vector, evaluated series by series: an evaluator
/// may call [`RangeFn::eval`] per series and step directly (computing each
/// series' output labels once) instead of going through [`call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    HoltWinters,
    Resets,
    Changes,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    SumOverTime,
    CountOverTime,
    StddevOverTime,
    StdvarOverTime,
    PresentOverTime,
    LastOverTime,
    QuantileOverTime,
}

impl RangeFn {
    /// The function called `name`; `None` for functions that are not
    /// evaluated series by series (`absent_over_time` looks at all series).
    pub fn from_name(name: &str) -> Option<RangeFn> {
        Some(match name {
            "rate" => RangeFn::Rate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "irate" => RangeFn::Irate,
            "idelta" => RangeFn::Idelta,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            // Prometheus 2.42's name; later versions (and the parser crate)
            // call it double_exponential_smoothing.
            "holt_winters" | "double_exponential_smoothing" => RangeFn::HoltWinters,
            "resets" => RangeFn::Resets,
            "changes" => RangeFn::Changes,
            "avg_over_time" => RangeFn::AvgOverTime,
            "min_over_time" => RangeFn::MinOverTime,
            "max_over_time" => RangeFn::MaxOverTime,
            "sum_over_time" => RangeFn::SumOverTime,
            "count_over_time" => RangeFn::CountOverTime,
            "stddev_over_time" => RangeFn::StddevOverTime,
            "stdvar_over_time" => RangeFn::StdvarOverTime,
            "present_over_time" => RangeFn::PresentOverTime,
            "last_over_time" => RangeFn::LastOverTime,
            "quantile_over_time" => RangeFn::QuantileOverTime,
            _ => return None,
        })
    }

    /// Whether the output keeps the series' metric name (only
    /// last_over_time, which acts like an offset); all others drop it.
    pub fn keeps_metric_name(self) -> bool {
        self == RangeFn::LastOverTime
    }

    /// The value for one series whose `points` (ascending, no staleness
    /// markers) lie in `[range_start, range_end]`, evaluated at `t`;
    /// `params` are the call's scalar arguments in order (quantile_over_time:
    /// φ; predict_linear: the seconds ahead; holt_winters: the smoothing and
    /// trend factors). `None`: no output sample for this series (no points,
    /// or too few for the function).
    pub fn eval(
        self,
        points: &[(i64, f64)],
        range_start: i64,
        range_end: i64,
        t: i64,
        params: &[f64],
    ) -> Result<Option<f64>, PromqlError> {
        if points.is_empty() {
            return Ok(None);
        }
        let param = |i: usize| params.get(i).copied().unwrap_or(f64::NAN);
        let p = points;
        Ok(match self {
            RangeFn::Rate => range::rate(p, range_start, range_end),
            RangeFn::Increase => range::increase(p, range_start, range_end),
            RangeFn::Delta => range::delta(p, range_start, range_end),
            RangeFn::Irate => range::irate(p),
            RangeFn::Idelta => range::idelta(p),
            RangeFn::Deriv => range::deriv(p),
            RangeFn::PredictLinear => range::predict_linear(p, t, param(0)),
            RangeFn::HoltWinters => range::holt_winters(p, param(0), param(1))?,
            RangeFn::Resets => Some(range::resets(p)),
            RangeFn::Changes => Some(range::changes(p)),
            RangeFn::AvgOverTime => Some(over_time::avg(p)),
            RangeFn::MinOverTime => Some(over_time::min(p)),
            RangeFn::MaxOverTime => Some(over_time::max(p)),
            RangeFn::SumOverTime => Some(over_time::sum(p)),
            RangeFn::CountOverTime => Some(over_time::count(p)),
            RangeFn::StddevOverTime => Some(over_time::stddev(p)),
            RangeFn::StdvarOverTime => Some(over_time::stdvar(p)),
            RangeFn::PresentOverTime => Some(1.0),
            RangeFn::LastOverTime => Some(p[p.len() - 1].1),
            RangeFn::QuantileOverTime => Some(over_time::quantile_over_time(param(0), p)),
        })
    }
}

/// For a function that maps every sample's value on its own and drops the
/// metric name (abs … atanh, clamp_min, clamp_max, round): that map, given
/// the call's scalar arguments in order after the vector. An evaluator may
/// apply it to each series' points instead of building a vector of samples
/// per step for [`call`] (which computes the same). `None` for any other
/// function.
pub fn value_map(name: &str, scalars: &[f64]) -> Option<Box<dyn Fn(f64) -> f64>> {
    let param = |i: usize| scalars.get(i).copied().unwrap_or(f64::NAN);
    match name {
        "clamp_min" => {
            let min = param(0);
            Some(Box::new(move |v| math::go_max(min, v)))
        }
        "clamp_max" => {
            let max = param(0);
            Some(Box::new(move |v| math::go_min(max, v)))
        }
        "round" => {
            let to_nearest = if scalars.is_empty() { 1.0 } else { param(0) };
            Some(Box::new(math::round_to(to_nearest)))
        }
        _ => math::simple(name).map(|f| Box::new(f) as Box<dyn Fn(f64) -> f64>),
    }
}

/// `f` applied to every sample's value, the metric name dropped.
fn map_values(v: Vec<Sample>, t: i64, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.into_iter()
        .map(|s| Sample {
            labels: drop_metric_name_owned(s.labels),
            t,
            v: f(s.v),
        })
        .collect()
}

/// `labels` without the metric name.
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| n != METRIC_NAME)
        .cloned()
        .collect()
}

fn drop_metric_name_owned(mut labels: Labels) -> Labels {
    labels.retain(|(n, _)| n != METRIC_NAME);
    labels
}

/// Prometheus's check on a function's output vector.
fn check_unique_labels(v: &[Sample]) -> Result<(), PromqlError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(v.len());
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(PromqlError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}

/// One step of Kahan-Babuška-Neumaier summation, as Prometheus's
/// `kahanSumInc`: adds `inc` to `sum` and the lost low-order part to `c`.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Go's `%f` (six decimals; `NaN`, `+Inf`, `-Inf`), for error messages.
pub(crate) fn go_fmt_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub fn labels(pairs: &[(&str, &str)]) -> Labels {
        let mut l: Labels = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        l.sort();
        l
    }

    pub fn sample(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample {
            labels: labels(pairs),
            t: 0,
            v,
        }
    }

    pub fn ctx(t: i64) -> Ctx<'static> {
        Ctx { t, exprs: &[] }
    }

    /// `call` answering a vector.
    pub fn vec_call(name: &str, args: Vec<Arg>, t: i64) -> Vec<Sample> {
        match call(name, args, &ctx(t)).unwrap() {
            FnValue::Vector(v) => v,
            other => panic!("{name}: not a vector: {other:?}"),
        }
    }

    /// A one-series matrix argument over `[start, end]`.
    pub fn matrix(start: i64, end: i64, points: &[(i64, f64)]) -> Arg {
        Arg::Matrix(MatrixArg {
            series: vec![RangeSeries {
                labels: labels(&[("__name__", "m"), ("a", "b")]),
                points: points.to_vec(),
            }],
            range_start: start,
            range_end: end,
        })
    }

    /// The single value a range function gives for `points` in `[start, end]`.
    pub fn range_value(name: &str, start: i64, end: i64, points: &[(i64, f64)]) -> Option<f64> {
        let v = vec_call(name, vec![matrix(start, end, points)], end);
        assert!(v.len() <= 1);
        v.first().map(|s| s.v)
    }

    pub fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn duplicate_label_sets_after_dropping_the_name_fail() {
        let m = Arg::Matrix(MatrixArg {
            series: vec![
                RangeSeries {
                    labels: labels(&[("__name__", "a"), ("x", "1")]),
                    points: vec![(0, 1.0), (10, 2.0)],
                },
                RangeSeries {
                    labels: labels(&[("__name__", "b"), ("x", "1")]),
                    points: vec![(0, 1.0), (10, 2.0)],
                },
            ],
            range_start: 0,
            range_end: 10,
        });
        let err = call("changes", vec![m.clone()], &ctx(10)).unwrap_err();
        assert_eq!(
            err,
            PromqlError::Execution("vector cannot contain metrics with the same labelset".into())
        );
        // last_over_time keeps the name: no collision.
        assert_eq!(vec_call("last_over_time", vec![m], 10).len(), 2);
    }

    #[test]
    fn range_functions_series_by_series() {
        let f = RangeFn::from_name("rate").unwrap();
        assert!(!f.keeps_metric_name());
        let p = [(0, 0.0), (10_000, 10.0)];
        assert_eq!(f.eval(&p, 0, 10_000, 10_000, &[]), Ok(Some(1.0)));
        assert_eq!(f.eval(&p[..1], 0, 10_000, 10_000, &[]), Ok(None));
        assert_eq!(f.eval(&[], 0, 10_000, 10_000, &[]), Ok(None));
        let q = RangeFn::from_name("quantile_over_time").unwrap();
        assert_eq!(q.eval(&p, 0, 10_000, 10_000, &[0.5]), Ok(Some(5.0)));
        assert!(RangeFn::from_name("last_over_time")
            .unwrap()
            .keeps_metric_name());
        assert_eq!(RangeFn::from_name("absent_over_time"), None);
        let hw = RangeFn::from_name("holt_winters").unwrap();
        assert!(hw.eval(&p, 0, 10_000, 10_000, &[2.0, 0.5]).is_err());
        assert_eq!(hw.eval(&[], 0, 10_000, 10_000, &[2.0, 0.5]), Ok(None));
    }

    #[test]
    fn value_map_agrees_with_call() {
        let names = [
            "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "deg", "rad",
            "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
            "atanh",
        ];
        let values = [
            -2.5,
            -0.0,
            0.0,
            0.3,
            1.0,
            7.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let check = |name: &str, scalars: &[f64]| {
            let f = value_map(name, scalars).unwrap();
            for v in values {
                let mut args = vec![Arg::Vector(vec![sample(&[("__name__", "x")], v)])];
                args.extend(scalars.iter().map(|&s| Arg::Scalar(s)));
                let want = vec_call(name, args, 0)[0].v;
                let got = f(v);
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{name}({v})"
                );
            }
        };
        for name in names {
            check(name, &[]);
        }
        check("round", &[]);
        check("round", &[0.3]);
        check("clamp_min", &[0.5]);
        check("clamp_max", &[f64::NAN]);
        assert!(value_map("clamp", &[0.0, 1.0]).is_none());
        assert!(value_map("rate", &[]).is_none());
    }

    #[test]
    fn series_without_points_give_no_sample() {
        let v = vec_call("count_over_time", vec![matrix(0, 10, &[])], 10);
        assert!(v.is_empty());
    }

    #[test]
    fn unknown_functions_are_unsupported() {
        let err = call(
            "first_over_time",
            vec![matrix(0, 10, &[(1, 1.0)])],
            &ctx(10),
        )
        .unwrap_err();
        assert!(matches!(err, PromqlError::Unsupported(m) if m.contains("first_over_time")));
    }

    #[test]
    fn wrong_argument_types_are_errors_not_panics() {
        let err = call("rate", vec![Arg::Scalar(1.0)], &ctx(0)).unwrap_err();
        assert!(matches!(err, PromqlError::Execution(_)));
    }

    #[test]
    fn kahan_keeps_the_low_order_part() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1e100, 1.0, -1e100] {
            (s, c) = kahan_sum_inc(v, s, c);
        }
        assert_eq!(s + c, 1.0);
    }

    #[test]
    fn go_percent_f() {
        assert_eq!(go_fmt_f(2.0), "2.000000");
        assert_eq!(go_fmt_f(-0.5), "-0.500000");
        assert_eq!(go_fmt_f(f64::INFINITY), "+Inf");
        assert_eq!(go_fmt_f(f64::NAN), "NaN");
    }
}
