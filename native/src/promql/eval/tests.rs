//! The evaluator's own tests (the conformance runner covers Prometheus's
//! test files): range queries, subquery steps, `@`, what `needs` asks for,
//! errors, limits, and the speed of a dashboard-sized range query.

use std::time::{Duration, Instant};

use super::*;
use crate::chunk::STALE_NAN_BITS;
use crate::promql::storage::MemStorage;
use crate::promql::value::Series;

const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    l.sort();
    l
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> Series {
    Series {
        labels: labels(pairs),
        timestamps: samples.iter().map(|s| s.0).collect(),
        values: samples.iter().map(|s| s.1).collect(),
    }
}

fn params(start: i64, end: i64, step: i64) -> QueryParams {
    QueryParams {
        start,
        end,
        step,
        lookback: 5 * MIN,
        deadline: None,
        max_samples: 50_000_000,
    }
}

fn run(q: &str, st: &MemStorage, p: &QueryParams) -> Result<QueryValue, PromqlError> {
    evaluate(&parse(q)?, st, p)
}

fn instant(q: &str, st: &MemStorage, t: i64) -> Result<QueryValue, PromqlError> {
    run(q, st, &params(t, t, 0))
}

fn matrix(v: QueryValue) -> Vec<(Labels, Vec<(i64, f64)>)> {
    match v {
        QueryValue::Matrix(m) => m.into_iter().map(|s| (s.labels, s.points)).collect(),
        other => panic!("expected a matrix, got {other:?}"),
    }
}

fn vector(v: QueryValue) -> Vec<(Labels, f64)> {
    match v {
        QueryValue::Vector(s) => s.into_iter().map(|s| (s.labels, s.v)).collect(),
        other => panic!("expected a vector, got {other:?}"),
    }
}

/// `x{i="0".."n"}`, one sample a minute from 0 with value `i * 100 + minute`.
fn counters(n: usize, minutes: i64) -> MemStorage {
    MemStorage {
        series: (0..n)
            .map(|i| {
                let samples: Vec<(i64, f64)> = (0..=minutes)
                    .map(|m| (m * MIN, (i * 100) as f64 + m as f64))
                    .collect();
                series(&[("__name__", "x"), ("i", &i.to_string())], &samples)
            })
            .collect(),
    }
}

#[test]
fn range_query_walks_lookback_and_staleness() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let st = MemStorage {
        series: vec![series(
            &[("__name__", "m")],
            &[(0, 1.0), (2 * MIN, 2.0), (3 * MIN, stale), (4 * MIN, 4.0)],
        )],
    };
    let got = matrix(run("m", &st, &params(0, 10 * MIN, MIN)).unwrap());
    // The marker at 3m ends the series until 4m; 4m's sample lasts 5 minutes.
    assert_eq!(
        got,
        vec![(
            labels(&[("__name__", "m")]),
            vec![
                (0, 1.0),
                (MIN, 1.0),
                (2 * MIN, 2.0),
                (4 * MIN, 4.0),
                (5 * MIN, 4.0),
                (6 * MIN, 4.0),
                (7 * MIN, 4.0),
                (8 * MIN, 4.0),
                (9 * MIN, 4.0),
            ]
        )]
    );
    // A range selector leaves the marker out.
    let got = matrix(instant("m[10m]", &st, 10 * MIN).unwrap());
    assert_eq!(got[0].1, vec![(0, 1.0), (2 * MIN, 2.0), (4 * MIN, 4.0)]);
    // Both ends of the window are inclusive (Prometheus 2.x).
    assert_eq!(
        vector(instant("count_over_time(m[2m])", &st, 4 * MIN).unwrap())[0].1,
        2.0
    );
}

#[test]
fn range_query_result_sorted_by_labels_and_scalar_as_matrix() {
    let st = counters(3, 10);
    let got = matrix(run("-x", &st, &params(0, 2 * MIN, MIN)).unwrap());
    let names: Vec<&str> = got.iter().map(|(l, _)| l[0].1.as_str()).collect();
    assert_eq!(names, ["0", "1", "2"]);
    assert_eq!(
        got[2].1,
        vec![(0, -200.0), (MIN, -201.0), (2 * MIN, -202.0)]
    );
    let got = matrix(run("time() * 2", &st, &params(0, 2 * MIN, MIN)).unwrap());
    assert_eq!(
        got,
        vec![(vec![], vec![(0, 0.0), (MIN, 120.0), (2 * MIN, 240.0)])]
    );
    match instant("1 + 2", &st, 5000).unwrap() {
        QueryValue::Scalar { t, v } => assert_eq!((t, v), (5000, 3.0)),
        other => panic!("{other:?}"),
    }
    match instant(r#""hello""#, &st, 5000).unwrap() {
        QueryValue::String { t, s } => assert_eq!((t, s.as_str()), (5000, "hello")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn instant_vector_keeps_sort_and_topk_order() {
    let st = counters(4, 10);
    let order = |q: &str| -> Vec<String> {
        vector(instant(q, &st, 10 * MIN).unwrap())
            .into_iter()
            .map(|(l, _)| super::labels::get(&l, "i").to_owned())
            .collect()
    };
    assert_eq!(order("sort_desc(x)"), ["3", "2", "1", "0"]);
    assert_eq!(order("topk(3, x)"), ["3", "2", "1"]);
    assert_eq!(order("bottomk(2, x)"), ["0", "1"]);
    assert_eq!(order("x"), ["0", "1", "2", "3"]);
}

#[test]
fn topk_ties_follow_go_heap_and_sort_order() {
    // Twenty series with values 0, 1, 2, 0, 1, 2…: more than Go's
    // insertion-sort cutoff of 12, so the order of ties is that of Go's
    // container/heap followed by pdqsort.
    let st = MemStorage {
        series: (0..20)
            .map(|i| {
                series(
                    &[("__name__", "u"), ("i", &format!("{i:02}"))],
                    &[(0, (i % 3) as f64)],
                )
            })
            .collect(),
    };
    let order = |q: &str| -> Vec<String> {
        vector(instant(q, &st, 0).unwrap())
            .into_iter()
            .map(|(l, _)| super::labels::get(&l, "i").to_owned())
            .collect()
    };
    // Debian's Prometheus 2.42 answered these for the same series.
    let want = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        order("topk(20, u)"),
        want("11 08 17 14 02 05 07 16 19 04 10 13 01 09 15 00 12 06 03 18")
    );
    assert_eq!(
        order("bottomk(20, u)"),
        want("15 00 18 03 06 12 09 07 16 01 10 13 19 04 14 08 11 02 17 05")
    );
    assert_eq!(order("topk(5, u)"), want("11 08 02 05 14"));
}

#[test]
fn subquery_steps_are_multiples_of_the_step() {
    let st = counters(1, 60);
    // At 10m30s, [10m:3m] covers 30s..10m30s: steps 3m, 6m, 9m.
    let got = matrix(instant("x[10m:3m]", &st, 10 * MIN + 30_000).unwrap());
    assert_eq!(
        got[0].1,
        vec![(3 * MIN, 3.0), (6 * MIN, 6.0), (9 * MIN, 9.0)]
    );
    // An offset moves the window, not the alignment.
    let got = matrix(instant("x[10m:3m] offset 1m30s", &st, 10 * MIN + 30_000).unwrap());
    assert_eq!(
        got[0].1,
        vec![(0, 0.0), (3 * MIN, 3.0), (6 * MIN, 6.0), (9 * MIN, 9.0)]
    );
    // Without a step, 1 minute.
    let got = matrix(instant("x[3m:]", &st, 10 * MIN).unwrap());
    assert_eq!(
        got[0].1.iter().map(|p| p.0 / MIN).collect::<Vec<_>>(),
        [7, 8, 9, 10]
    );
    // In a range query every step reads the same aligned points.
    let got = matrix(
        run(
            "sum_over_time(x[5m:2m])",
            &st,
            &params(10 * MIN, 12 * MIN, MIN),
        )
        .unwrap(),
    );
    // 10m: 6+8+10; 11m: 6+8+10; 12m: 8+10+12.
    assert_eq!(
        got[0].1,
        vec![(10 * MIN, 24.0), (11 * MIN, 24.0), (12 * MIN, 30.0)]
    );
    // Nested subqueries.
    let got = vector(
        instant(
            "max_over_time(min_over_time(x[4m:2m])[6m:3m])",
            &st,
            12 * MIN,
        )
        .unwrap(),
    );
    // The outer steps are 6m, 9m, 12m; the inner minimum over 2m steps in
    // [t-4m, t] is 2 (2m, 4m, 6m), 6 (6m, 8m), 8 (8m, 10m, 12m): the max is 8.
    assert_eq!(got[0].1, 8.0);
}

#[test]
fn at_modifier_pins_the_time() {
    let st = counters(1, 60);
    let got = matrix(run("x @ 300", &st, &params(0, 2 * MIN, MIN)).unwrap());
    assert_eq!(got[0].1, vec![(0, 5.0), (MIN, 5.0), (2 * MIN, 5.0)]);
    let got = matrix(
        run(
            "x @ end() - x @ start()",
            &st,
            &params(10 * MIN, 20 * MIN, 5 * MIN),
        )
        .unwrap(),
    );
    assert_eq!(
        got[0].1.iter().map(|p| p.1).collect::<Vec<_>>(),
        [10.0, 10.0, 10.0]
    );
    let got = matrix(run("rate(x[5m] @ 600 offset 1m)", &st, &params(0, MIN, MIN)).unwrap());
    assert_eq!(got[0].1.len(), 2);
    assert!((got[0].1[0].1 - 1.0 / 60.0).abs() < 1e-12);
    // timestamp() of a selector is its sample's time.
    let got = vector(instant("timestamp(x)", &st, 10 * MIN + 30_000).unwrap());
    assert_eq!(got[0].1, 600.0);
}

#[test]
fn needs_cover_offsets_at_ranges_and_subqueries() {
    let p = params(100 * MIN, 200 * MIN, MIN);
    let n = |q: &str| -> Vec<(i64, i64)> {
        needs(&parse(q).unwrap(), &p)
            .iter()
            .map(|s| (s.min_t / MIN, s.max_t / MIN))
            .collect()
    };
    assert_eq!(n("x"), [(95, 200)]);
    assert_eq!(n("rate(x[10m] offset 5m)"), [(85, 195)]);
    assert_eq!(n("x offset -10m"), [(105, 210)]);
    assert_eq!(n("x @ 6000"), [(95, 100)]);
    assert_eq!(
        n("x @ start() + count_over_time(x[1m] @ end())"),
        [(95, 100), (199, 200)]
    );
    assert_eq!(
        n("max_over_time(rate(x[5m])[30m:1m] offset 1h)"),
        [(5, 140)]
    );
    assert_eq!(n("max_over_time(x[30m:1m] @ 6000)"), [(65, 100)]);
    let need = &needs(&parse(r#"x{job="a"}"#).unwrap(), &p)[0];
    let names: Vec<&str> = need
        .matchers
        .matchers
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["job", "__name__"]);
}

#[test]
fn vector_matching_errors_are_prometheus_messages() {
    let st = MemStorage {
        series: vec![
            series(&[("__name__", "a"), ("job", "j"), ("i", "1")], &[(0, 1.0)]),
            series(&[("__name__", "a"), ("job", "j"), ("i", "2")], &[(0, 2.0)]),
            series(&[("__name__", "b"), ("job", "j"), ("i", "1")], &[(0, 3.0)]),
            series(&[("__name__", "b"), ("job", "j"), ("i", "2")], &[(0, 4.0)]),
        ],
    };
    let err = |q: &str| instant(q, &st, 0).unwrap_err().to_string();
    assert_eq!(
        err("a + on(job) b"),
        "found duplicate series for the match group {job=\"j\"} on the right hand-side of the operation: [{__name__=\"b\", i=\"2\", job=\"j\"}, {__name__=\"b\", i=\"1\", job=\"j\"}];many-to-many matching not allowed: matching labels must be unique on one side"
    );
    assert_eq!(
        err("a + on(job) group_right b"),
        "found duplicate series for the match group {job=\"j\"} on the left hand-side of the operation: [{__name__=\"a\", i=\"2\", job=\"j\"}, {__name__=\"a\", i=\"1\", job=\"j\"}];many-to-many matching not allowed: matching labels must be unique on one side"
    );
    assert_eq!(
        err("a + ignoring(i) sum by (job) (b)"),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    assert_eq!(
        err("-{job=\"j\"}"),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(
        err("{job=\"j\"} * 1"),
        "vector cannot contain metrics with the same labelset"
    );
    // group_left keeps the many side's labels and adds the listed ones.
    let got = vector(instant("a + on(job) group_left() sum by (job) (b)", &st, 0).unwrap());
    assert_eq!(got[0], (labels(&[("i", "1"), ("job", "j")]), 8.0));
}

#[test]
fn parse_rejects_what_prometheus_2_42_lacks() {
    let unsupported = [
        r#"x{a="1" or b="2"}"#,
        "histogram_count(x)",
        "histogram_fraction(0, 1, x)",
        "sort_by_label(x, \"a\")",
        "limitk(2, x)",
        "double_exponential_smoothing(x[5m], 0.5, 0.5)",
        "x + fill(0) y",
    ];
    for q in unsupported {
        assert!(
            matches!(parse(q), Err(PromqlError::Unsupported(_))),
            "{q}: {:?}",
            parse(q)
        );
    }
    let bad = [
        "rate(x)",
        "ln(-1)",
        "exp(NaN)",
        "sum(x[5m])",
        "x +",
        "1 > 2",
        "{a=~\".*\"}",
    ];
    for q in bad {
        assert!(
            matches!(parse(q), Err(PromqlError::Parse(_))),
            "{q}: {:?}",
            parse(q)
        );
    }
    assert!(parse("holt_winters(x[5m], 0.5, 0.5)").is_ok());
    let st = MemStorage::default();
    assert!(matches!(
        run("x[5m]", &st, &params(0, MIN, MIN)),
        Err(PromqlError::Parse(m)) if m.contains("\"range vector\" for range query")
    ));
}

#[test]
fn selector_regexes_are_read_as_go_reads_them() {
    let st = MemStorage {
        series: vec![
            series(&[("__name__", "m"), ("a", "3")], &[(0, 1.0)]),
            // ARABIC-INDIC DIGIT THREE: a digit for the regex crate, not for Go.
            series(&[("__name__", "m"), ("a", "\u{663}")], &[(0, 2.0)]),
        ],
    };
    let got = vector(instant(r#"m{a=~"\\d"}"#, &st, 0).unwrap());
    assert_eq!(got, vec![(labels(&[("__name__", "m"), ("a", "3")]), 1.0)]);
    let got = vector(instant(r#"m{a!~"\\d"}"#, &st, 0).unwrap());
    assert_eq!(
        got,
        vec![(labels(&[("__name__", "m"), ("a", "\u{663}")]), 2.0)]
    );
    // Go 1.19 rejects this group syntax; Prometheus answers a parse error.
    assert!(matches!(
        parse(r#"m{a=~"(?<n>x)"}"#),
        Err(PromqlError::Parse(_))
    ));
    // The matchers `needs` hands out carry the same reading.
    let need = &needs(&parse(r#"m{a=~"\\d"}"#).unwrap(), &params(0, 0, 0))[0];
    assert!(!need.matchers.matchers[0].is_match("\u{663}"));
}

#[test]
fn deadline_and_sample_limit() {
    let st = counters(10, 100);
    let mut p = params(0, 100 * MIN, MIN);
    p.deadline = Some(Instant::now() - Duration::from_millis(1));
    assert_eq!(run("x", &st, &p), Err(PromqlError::Timeout));
    let mut p = params(0, 100 * MIN, MIN);
    p.max_samples = 500;
    assert_eq!(
        run("sum(x)", &st, &p),
        Err(PromqlError::TooManySamples(500))
    );
    p.max_samples = 5000;
    assert!(run("sum(x)", &st, &p).is_ok());
}

#[test]
fn evaluate_to_json() {
    let st = counters(1, 10);
    let v = run("x", &st, &params(0, MIN, 30_000)).unwrap();
    assert_eq!(
        String::from_utf8(v.to_json()).unwrap(),
        r#"{"resultType":"matrix","result":[{"metric":{"__name__":"x","i":"0"},"values":[[0,"0"],[30,"0"],[60,"1"]]}]}"#
    );
}

/// This thread's time on the CPU (ns), from /proc: the machine running the
/// tests is shared, so wall time says little.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// 1,000 series × 1,441 steps (a day by the minute over 15-second samples):
/// every dashboard-shaped query answers. Its time is printed (`cargo test --
/// --nocapture`), never asserted: speed is bench/query's to measure.
#[test]
fn dashboard_range_queries_answer_a_day_of_1000_series() {
    let day = 24 * 60 * MIN;
    let st = MemStorage {
        series: (0..1000)
            .map(|i| {
                let mut v = 0.0;
                let samples: Vec<(i64, f64)> = (0..=day / 15_000)
                    .map(|k| {
                        v += (i % 7) as f64 + 1.0;
                        (k * 15_000, v)
                    })
                    .collect();
                let dc = format!("dc{}", i % 10);
                series(
                    &[("__name__", "req"), ("dc", &dc), ("i", &i.to_string())],
                    &samples,
                )
            })
            .collect(),
    };
    let p = params(0, day, MIN);
    for q in [
        "req",
        "sum by (dc) (req)",
        "sum by (dc) (rate(req[5m]))",
        "avg(req) / 2",
        "req / on(i) req",
        "abs(req)",
    ] {
        // PROMQL_PERF_QUERY=<query> profiles one query alone.
        if std::env::var("PROMQL_PERF_QUERY").is_ok_and(|only| only != q) {
            continue;
        }
        let (t0, cpu0) = (Instant::now(), thread_cpu_ns());
        let got = run(q, &st, &p).unwrap();
        let (took, cpu) = (t0.elapsed(), thread_cpu_ns() - cpu0);
        assert!(matches!(got, QueryValue::Matrix(ref m) if !m.is_empty()));
        println!("{q}: {took:?} ({:.1} ms on the CPU)", cpu as f64 / 1e6);
    }
}
