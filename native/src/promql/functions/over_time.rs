//! The `*_over_time` aggregations of one series' points in a window
//! (avg, min, max, sum, count, quantile, stddev, stdvar; last and present are
//! one-liners in `mod.rs`). Each gets at least one point.

use std::cmp::Ordering;

use super::kahan_sum_inc;

type Points = [(i64, f64)];

/// The mean, updated incrementally with Kahan compensation; an infinite mean
/// stays as it is unless an infinity of the other sign or a NaN arrives
/// (`Inf + x - Inf` would otherwise turn it into NaN).
pub(super) fn avg(p: &Points) -> f64 {
    let (mut mean, mut count, mut c) = (0.0_f64, 0.0, 0.0);
    for &(_, v) in p {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// The largest value; NaN only if every value is NaN.
pub(super) fn max(p: &Points) -> f64 {
    let mut max = p[0].1;
    for &(_, v) in p {
        if v > max || max.is_nan() {
            max = v;
        }
    }
    max
}

/// The smallest value; NaN only if every value is NaN.
pub(super) fn min(p: &Points) -> f64 {
    let mut min = p[0].1;
    for &(_, v) in p {
        if v < min || min.is_nan() {
            min = v;
        }
    }
    min
}

/// The Kahan-compensated sum.
pub(super) fn sum(p: &Points) -> f64 {
    let (mut sum, mut c) = (0.0_f64, 0.0);
    for &(_, v) in p {
        (sum, c) = kahan_sum_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

pub(super) fn count(p: &Points) -> f64 {
    p.len() as f64
}

/// Population variance by Welford's method, both running sums compensated.
pub(super) fn stdvar(p: &Points) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for &(_, v) in p {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

pub(super) fn stddev(p: &Points) -> f64 {
    stdvar(p).sqrt()
}

pub(super) fn quantile_over_time(q: f64, p: &Points) -> f64 {
    let mut values: Vec<f64> = p.iter().map(|&(_, v)| v).collect();
    quantile(q, &mut values)
}

/// The φ-quantile of `values` (sorted in place, NaN first), interpolating
/// linearly between the two nearest ranks, as Prometheus's `quantile`: NaN
/// for no values or φ = NaN, -Inf for φ < 0, +Inf for φ > 1. The `quantile`
/// aggregation computes the same.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).expect("not NaN"),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (n - 1.0).min(lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::Arg;
    use super::*;

    const INF: f64 = f64::INFINITY;
    const NAN: f64 = f64::NAN;

    fn pts(vs: &[f64]) -> Vec<(i64, f64)> {
        vs.iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 1000, v))
            .collect()
    }

    fn value(name: &str, vs: &[f64]) -> f64 {
        range_value(name, 0, 100_000, &pts(vs)).unwrap()
    }

    #[test]
    fn avg_is_the_mean_and_keeps_infinities() {
        assert_eq!(value("avg_over_time", &[1.0, 2.0, 3.0, 6.0]), 3.0);
        assert_eq!(value("avg_over_time", &[1.0, INF, 3.0]), INF);
        assert_eq!(value("avg_over_time", &[INF, INF, 3.0]), INF);
        assert_eq!(value("avg_over_time", &[-INF, 1.0]), -INF);
        assert!(value("avg_over_time", &[INF, -INF]).is_nan());
        assert!(value("avg_over_time", &[INF, NAN]).is_nan());
        assert!(value("avg_over_time", &[1.0, NAN]).is_nan());
        assert_eq!(value("avg_over_time", &[-2.0]), -2.0);
    }

    #[test]
    fn min_and_max_skip_nan_unless_only_nan() {
        assert_eq!(value("min_over_time", &[2.0, 0.0, 3.0]), 0.0);
        assert_eq!(value("min_over_time", &[NAN, 0.0, 1.0]), 0.0);
        assert_eq!(value("min_over_time", &[2.0, NAN, 1.0]), 1.0);
        assert!(value("min_over_time", &[NAN, NAN]).is_nan());
        assert_eq!(value("max_over_time", &[2.0, 0.0, NAN]), 2.0);
        assert_eq!(value("max_over_time", &[NAN, 0.0, 1.0]), 1.0);
        assert!(value("max_over_time", &[NAN]).is_nan());
    }

    #[test]
    fn sum_count_present_last() {
        assert_eq!(value("sum_over_time", &[1.0, 2.0, 3.5]), 6.5);
        assert_eq!(value("sum_over_time", &[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(value("sum_over_time", &[INF, 1.0]), INF);
        assert_eq!(value("count_over_time", &[1.0, NAN, 3.0]), 3.0);
        assert_eq!(value("present_over_time", &[NAN]), 1.0);
        assert!(value("last_over_time", &[1.0, NAN]).is_nan());
        let v = vec_call(
            "last_over_time",
            vec![matrix(0, 10, &[(0, 1.0), (5, 4.0)])],
            10,
        );
        assert_eq!(v[0].labels, labels(&[("__name__", "m"), ("a", "b")]));
        assert_eq!(v[0].v, 4.0);
    }

    #[test]
    fn stddev_and_stdvar_are_population_statistics() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, variance 4.
        let vs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(value("stdvar_over_time", &vs), 4.0);
        assert_eq!(value("stddev_over_time", &vs), 2.0);
        assert_eq!(value("stddev_over_time", &[3.0]), 0.0);
        assert!(value("stdvar_over_time", &[1.0, NAN]).is_nan());
    }

    #[test]
    fn quantile_interpolates_and_checks_phi() {
        let q = |phi: f64, vs: &[f64]| {
            let args = vec![Arg::Scalar(phi), matrix(0, 100_000, &pts(vs))];
            vec_call("quantile_over_time", args, 100_000)[0].v
        };
        assert_eq!(q(0.5, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(q(0.0, &[4.0, 1.0, 3.0]), 1.0);
        assert_eq!(q(1.0, &[4.0, 1.0, 3.0]), 4.0);
        assert_eq!(q(0.75, &[0.0, 10.0]), 7.5);
        assert_eq!(q(-1.0, &[1.0]), -INF);
        assert_eq!(q(1.5, &[1.0]), INF);
        assert!(q(NAN, &[1.0]).is_nan());
        // NaN sorts first.
        assert!(q(0.0, &[1.0, NAN]).is_nan());
        assert_eq!(q(1.0, &[1.0, NAN]), 1.0);
        assert!(quantile(0.5, &mut []).is_nan());
    }
}
