//! Functions of a whole vector: absent, absent_over_time, scalar, vector,
//! sort, sort_desc.

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};

use super::go_sort::go_sort_by;
use super::{MatrixArg, Sample};
use crate::promql::value::{Labels, METRIC_NAME};

/// 1 with the selector's labels if the vector is empty; else nothing.
pub(super) fn absent(v: &[Sample], t: i64, exprs: &[Expr]) -> Vec<Sample> {
    if !v.is_empty() {
        return Vec::new();
    }
    // The argument as written, parentheses unwrapped (Prometheus's engine
    // unwraps every argument of a call): only a selector lends labels.
    let labels = match unparen(exprs.first()) {
        Some(Expr::VectorSelector(vs)) => absent_labels(vs),
        _ => Vec::new(),
    };
    vec![Sample { labels, t, v: 1.0 }]
}

/// 1 with the selector's labels if no series has a sample in the window;
/// else nothing.
pub(super) fn absent_over_time(m: &MatrixArg, t: i64, exprs: &[Expr]) -> Vec<Sample> {
    if m.series.iter().any(|s| !s.points.is_empty()) {
        return Vec::new();
    }
    // A subquery lends no labels.
    let labels = match unparen(exprs.first()) {
        Some(Expr::MatrixSelector(ms)) => absent_labels(&ms.vs),
        _ => Vec::new(),
    };
    vec![Sample { labels, t, v: 1.0 }]
}

fn unparen(mut e: Option<&Expr>) -> Option<&Expr> {
    while let Some(Expr::Paren(p)) = e {
        e = Some(&p.expr);
    }
    e
}

/// The labels a selector matches exactly: each name's `=` matcher, unless
/// the name has another matcher before (Prometheus's historic rule: in
/// `x{job="a",job="b"}` job is dropped). An empty value sets nothing.
fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut out: Labels = Vec::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        let pos = out.iter().position(|(n, _)| *n == m.name);
        if matches!(m.op, MatchOp::Equal) && !has.contains(&m.name.as_str()) {
            has.push(&m.name);
            match pos {
                Some(i) if m.value.is_empty() => {
                    out.remove(i);
                }
                Some(i) => out[i].1 = m.value.clone(),
                None if m.value.is_empty() => {}
                None => out.push((m.name.clone(), m.value.clone())),
            }
        } else if let Some(i) = pos {
            out.remove(i);
        }
    }
    out.sort();
    out
}

/// The single sample's value, NaN unless there is exactly one.
pub(super) fn scalar(v: &[Sample]) -> f64 {
    match v {
        [s] => s.v,
        _ => f64::NAN,
    }
}

/// The scalar as a one-sample vector without labels.
pub(super) fn vector(v: f64, t: i64) -> Vec<Sample> {
    vec![Sample {
        labels: Vec::new(),
        t,
        v,
    }]
}

/// Ascending by value, NaN last (Prometheus sorts descending with NaN first
/// and reverses, through Go's unstable sort; its comparisons are kept).
pub(super) fn sort(mut v: Vec<Sample>, t: i64) -> Vec<Sample> {
    go_sort_by(&mut v, |a, b| b.v.is_nan() || b.v > a.v);
    stamp(v, t)
}

/// Descending by value, NaN last.
pub(super) fn sort_desc(mut v: Vec<Sample>, t: i64) -> Vec<Sample> {
    go_sort_by(&mut v, |a, b| b.v.is_nan() || b.v < a.v);
    stamp(v, t)
}

fn stamp(mut v: Vec<Sample>, t: i64) -> Vec<Sample> {
    for s in &mut v {
        s.t = t;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{call, Arg, Ctx, FnValue};
    use super::*;
    use crate::promql::RangeSeries;

    fn arg_expr(q: &str) -> Expr {
        match promql_parser::parser::parse(q).unwrap() {
            Expr::Call(c) => *c.args.args[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    fn absent_of(q: &str) -> Vec<Sample> {
        let exprs = [arg_expr(q)];
        let ctx = Ctx {
            t: 5,
            exprs: &exprs,
        };
        let arg = if q.starts_with("absent_over_time") {
            Arg::Matrix(MatrixArg {
                series: vec![],
                range_start: 0,
                range_end: 5,
            })
        } else {
            Arg::Vector(vec![])
        };
        let name = q.split('(').next().unwrap();
        match call(name, vec![arg], &ctx).unwrap() {
            FnValue::Vector(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absent_takes_the_equality_matchers() {
        let one = |l: &[(&str, &str)]| {
            vec![Sample {
                labels: labels(l),
                t: 5,
                v: 1.0,
            }]
        };
        assert_eq!(absent_of("absent(nonexistent)"), one(&[]));
        assert_eq!(
            absent_of(
                r#"absent(nonexistent{job="testjob", instance="testinstance", method=~".x"})"#
            ),
            one(&[("instance", "testinstance"), ("job", "testjob")])
        );
        assert_eq!(
            absent_of(r#"absent(nonexistent{job="testjob",job="testjob2",foo="bar"})"#),
            one(&[("foo", "bar")])
        );
        assert_eq!(
            absent_of(r#"absent(nonexistent{job="testjob",job="testjob2",job="three",foo="bar"})"#),
            one(&[("foo", "bar")])
        );
        assert_eq!(
            absent_of(r#"absent(nonexistent{job="testjob",job=~"testjob2",foo="bar"})"#),
            one(&[("foo", "bar")])
        );
        assert_eq!(
            absent_of(r#"absent({__name__="x", a="b"})"#),
            one(&[("a", "b")])
        );
        assert_eq!(absent_of(r#"absent(x{a=""})"#), one(&[]));
        assert_eq!(absent_of(r#"absent(((x{a="b"})))"#), one(&[("a", "b")]));
        assert_eq!(
            absent_of(r#"absent_over_time((x{a="b"}[1m]))"#),
            one(&[("a", "b")])
        );
        assert_eq!(
            absent_of(r#"absent(sum(nonexistent{job="testjob"}))"#),
            one(&[])
        );
        assert_eq!(
            absent_of(r#"absent_over_time(http_requests{handler="/foo"}[5m])"#),
            one(&[("handler", "/foo")])
        );
        assert_eq!(
            absent_of(r#"absent_over_time(x{handler="/foo", handler="/bar", instance="1"}[5m])"#),
            one(&[("instance", "1")])
        );
        assert_eq!(
            absent_of(r#"absent_over_time({instance="1"}[5m:5s])"#),
            one(&[])
        );
    }

    #[test]
    fn absent_of_something_is_nothing() {
        let v = vec![sample(&[("a", "b")], 1.0)];
        assert!(absent(&v, 0, &[]).is_empty());
        let m = MatrixArg {
            series: vec![
                RangeSeries {
                    labels: labels(&[("a", "1")]),
                    points: vec![],
                },
                RangeSeries {
                    labels: labels(&[("a", "2")]),
                    points: vec![(1, 1.0)],
                },
            ],
            range_start: 0,
            range_end: 5,
        };
        assert!(absent_over_time(&m, 5, &[]).is_empty());
    }

    #[test]
    fn scalar_and_vector() {
        let ctx = ctx(7);
        let s = |v: Vec<Sample>| call("scalar", vec![Arg::Vector(v)], &ctx).unwrap();
        assert_eq!(s(vec![sample(&[("a", "b")], 3.0)]), FnValue::Scalar(3.0));
        assert!(matches!(s(vec![]), FnValue::Scalar(v) if v.is_nan()));
        let two = vec![sample(&[("a", "b")], 3.0), sample(&[("a", "c")], 3.0)];
        assert!(matches!(s(two), FnValue::Scalar(v) if v.is_nan()));
        assert_eq!(
            call("vector", vec![Arg::Scalar(2.0)], &ctx).unwrap(),
            FnValue::Vector(vec![Sample {
                labels: vec![],
                t: 7,
                v: 2.0
            }])
        );
        assert_eq!(
            call("pi", vec![], &ctx).unwrap(),
            FnValue::Scalar(std::f64::consts::PI)
        );
    }

    #[test]
    fn sort_orders_by_value_nan_last_and_keeps_names() {
        let v = || {
            Arg::Vector(vec![
                sample(&[("__name__", "m"), ("i", "0")], 2.0),
                sample(&[("__name__", "m"), ("i", "1")], f64::NAN),
                sample(&[("__name__", "m"), ("i", "2")], 1.0),
                sample(&[("__name__", "m"), ("i", "3")], 3.0),
            ])
        };
        let order = |out: Vec<Sample>| {
            assert!(out.iter().all(|s| s.labels[0].0 == "__name__"));
            out.iter()
                .map(|s| s.labels[1].1.clone())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(order(vec_call("sort", vec![v()], 0)), "2,0,3,1");
        assert_eq!(order(vec_call("sort_desc", vec![v()], 0)), "3,0,2,1");
    }
}
