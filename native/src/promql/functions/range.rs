//! The range functions over one series' points in a window: rate, increase,
//! delta (Prometheus's `extrapolatedRate`), irate, idelta, deriv,
//! predict_linear, holt_winters, resets, changes.
//!
//! Points are `(ms, value)` in ascending time, staleness markers already
//! left out by the matrix selector.

use super::{go_fmt_f, kahan_sum_inc, PromqlError};

type Points = [(i64, f64)];

pub(super) fn rate(p: &Points, range_start: i64, range_end: i64) -> Option<f64> {
    extrapolated_rate(p, range_start, range_end, true, true)
}

pub(super) fn increase(p: &Points, range_start: i64, range_end: i64) -> Option<f64> {
    extrapolated_rate(p, range_start, range_end, true, false)
}

pub(super) fn delta(p: &Points, range_start: i64, range_end: i64) -> Option<f64> {
    extrapolated_rate(p, range_start, range_end, false, false)
}

/// The change over the window `[range_start, range_end]`, extrapolated to
/// its edges: to an edge when the first/last sample lies within 1.1 average
/// sample intervals of it, otherwise half an interval beyond the sample; a
/// counter not back beyond its extrapolated zero. Counter resets (a drop)
/// add the value before the drop. `None` with fewer than two samples.
fn extrapolated_rate(
    p: &Points,
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (first_t, first_v) = p[0];
    let (last_t, last_v) = p[p.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }

    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (p.len() - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter starts at zero: do not extrapolate back past the time
        // the slope says it was zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Per-second rate between the last two samples (a drop is a reset: the
/// last value is the increase).
pub(super) fn irate(p: &Points) -> Option<f64> {
    instant_value(p, true)
}

/// Difference between the last two samples.
pub(super) fn idelta(p: &Points) -> Option<f64> {
    instant_value(p, false)
}

fn instant_value(p: &Points, is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (last_t, last_v) = p[p.len() - 1];
    let (prev_t, prev_v) = p[p.len() - 2];
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let interval = last_t - prev_t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares slope and the intercept at `intercept_time` (x in seconds
/// from it), summed with Kahan compensation as Prometheus does. A constant
/// series has slope 0 (NaN both if the constant is infinite).
fn linear_regression(p: &Points, intercept_time: i64) -> (f64, f64) {
    let init_y = p[0].1;
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for (i, &(t, v)) in p.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Per-second slope by least squares (x measured from the first sample,
/// which keeps the sums small).
pub(super) fn deriv(p: &Points) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    Some(linear_regression(p, p[0].0).0)
}

/// The least-squares line's value `duration` seconds after the evaluation
/// time `t`.
pub(super) fn predict_linear(p: &Points, t: i64, duration: f64) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(p, t);
    Some(slope * duration + intercept)
}

/// Double exponential smoothing with smoothing factor `sf` and trend factor
/// `tf`, both required in (0, 1).
pub(super) fn holt_winters(p: &Points, sf: f64, tf: f64) -> Result<Option<f64>, PromqlError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(PromqlError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_fmt_f(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(PromqlError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_fmt_f(tf)
        )));
    }
    if p.len() < 2 {
        return Ok(None);
    }
    // s1 the smoothed value, s0 the previous one, b the trend.
    let mut s0 = 0.0;
    let mut s1 = p[0].1;
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

/// How often the value dropped.
pub(super) fn resets(p: &Points) -> f64 {
    p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64
}

/// How often the value changed (NaN to NaN is no change).
pub(super) fn changes(p: &Points) -> f64 {
    p.windows(2)
        .filter(|w| {
            let (prev, cur) = (w[0].1, w[1].1);
            cur != prev && !(cur.is_nan() && prev.is_nan())
        })
        .count() as f64
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{call, Arg, FnValue, MatrixArg};
    use super::*;

    const S: i64 = 1000;

    #[test]
    fn rate_extrapolates_to_the_window_edges() {
        // Values 0, 10, …, 40 every 10 s from 10 s to 50 s, window [0, 60 s]:
        // both edges are 10 s away (< 1.1 × 10 s). The counter's zero point is
        // its first sample (value 0), so the start is not extrapolated.
        let p: Vec<_> = (1..=5)
            .map(|i| (i * 10 * S, (i - 1) as f64 * 10.0))
            .collect();
        // duration_to_zero = 40 × 0/40 = 0 → start 0; end 10 → 40 × 50/40 = 50.
        assert_eq!(range_value("increase", 0, 60 * S, &p), Some(50.0));
        assert!(close(
            range_value("rate", 0, 60 * S, &p).unwrap(),
            50.0 / 60.0
        ));
        // delta is not a counter: no zero cut, both edges: 40 × 60/40.
        assert_eq!(range_value("delta", 0, 60 * S, &p), Some(60.0));
    }

    #[test]
    fn rate_extrapolates_half_an_interval_past_far_edges() {
        // Samples at 30, 40, 50 s (values 100, 110, 120) in [0, 100 s]: the
        // start is 30 s away, the end 50 s (≥ 11 s): half an interval (5 s)
        // each: 20 × 30/20 = 30.
        let p = [(30 * S, 100.0), (40 * S, 110.0), (50 * S, 120.0)];
        assert_eq!(range_value("increase", 0, 100 * S, &p), Some(30.0));
        assert_eq!(range_value("rate", 0, 100 * S, &p), Some(0.3));
    }

    #[test]
    fn counter_zero_point_limits_the_start() {
        // Samples at 10 s and 20 s, values 5 and 15 in [0, 20 s]: the counter
        // was zero at 5 s; start extrapolation 5 s instead of 10 s: 10 × 15/10.
        let p = [(10 * S, 5.0), (20 * S, 15.0)];
        assert_eq!(range_value("increase", 0, 20 * S, &p), Some(15.0));
        // delta extrapolates the full 10 s: 10 × 20/10.
        assert_eq!(range_value("delta", 0, 20 * S, &p), Some(20.0));
    }

    #[test]
    fn counter_resets_add_the_value_before_the_drop() {
        // 0, 10, 2, 7 at 0..30 s in [0, 30 s]: increase 10 + 2 + 5 = 17.
        let p = [(0, 0.0), (10 * S, 10.0), (20 * S, 2.0), (30 * S, 7.0)];
        assert_eq!(range_value("increase", 0, 30 * S, &p), Some(17.0));
        assert_eq!(range_value("resets", 0, 30 * S, &p), Some(1.0));
        // delta ignores resets: 7 - 0.
        assert_eq!(range_value("delta", 0, 30 * S, &p), Some(7.0));
    }

    #[test]
    fn rate_needs_two_samples() {
        assert_eq!(range_value("rate", 0, 60 * S, &[(10 * S, 1.0)]), None);
        assert_eq!(range_value("irate", 0, 60 * S, &[(10 * S, 1.0)]), None);
        assert_eq!(range_value("deriv", 0, 60 * S, &[(10 * S, 1.0)]), None);
    }

    #[test]
    fn irate_and_idelta_use_the_last_two_samples() {
        let p = [(0, 1.0), (10 * S, 50.0), (15 * S, 60.0)];
        assert_eq!(range_value("irate", 0, 20 * S, &p), Some(2.0));
        assert_eq!(range_value("idelta", 0, 20 * S, &p), Some(10.0));
        // A drop is a reset for irate: the last value over the interval.
        let p = [(0, 1.0), (10 * S, 50.0), (15 * S, 5.0)];
        assert_eq!(range_value("irate", 0, 20 * S, &p), Some(1.0));
        assert_eq!(range_value("idelta", 0, 20 * S, &p), Some(-45.0));
    }

    #[test]
    fn deriv_is_the_least_squares_slope() {
        // y = 3 + 2x (x in s): slope 2.
        let p: Vec<_> = (0..5)
            .map(|i| (i * 15 * S, 3.0 + 2.0 * 15.0 * i as f64))
            .collect();
        assert!(close(range_value("deriv", 0, 60 * S, &p).unwrap(), 2.0));
        // Constant: 0; constant infinite: NaN.
        assert_eq!(
            range_value("deriv", 0, 60 * S, &[(0, 4.0), (S, 4.0)]),
            Some(0.0)
        );
        let inf = range_value(
            "deriv",
            0,
            60 * S,
            &[(0, f64::INFINITY), (S, f64::INFINITY)],
        );
        assert!(inf.unwrap().is_nan());
    }

    #[test]
    fn predict_linear_extends_the_line_from_the_evaluation_time() {
        // y = 10 + x/s at 0..40 s; evaluated at 60 s, 30 s ahead: y(90 s) = 100.
        let p: Vec<_> = (0..5)
            .map(|i| (i * 10 * S, 10.0 + 10.0 * i as f64))
            .collect();
        let args = vec![matrix(0, 60 * S, &p), Arg::Scalar(30.0)];
        let v = vec_call("predict_linear", args, 60 * S);
        assert!(close(v[0].v, 100.0), "{}", v[0].v);
        // Constant series: the constant.
        let args = vec![
            matrix(0, 60 * S, &[(0, 7.0), (S, 7.0)]),
            Arg::Scalar(1000.0),
        ];
        assert_eq!(vec_call("predict_linear", args, 60 * S)[0].v, 7.0);
    }

    #[test]
    fn holt_winters_smooths_and_checks_its_factors() {
        // 1, 2, 4 with sf = tf = 0.5: s=1, b=1; i=1: s=0.5*2+0.5*(1+1)=2;
        // i=2: b=0.5*(2-1)+0.5*1=1, s=0.5*4+0.5*(2+1)=3.5.
        let p = [(0, 1.0), (S, 2.0), (2 * S, 4.0)];
        let args = vec![matrix(0, 2 * S, &p), Arg::Scalar(0.5), Arg::Scalar(0.5)];
        assert_eq!(vec_call("holt_winters", args, 2 * S)[0].v, 3.5);
        let args = vec![matrix(0, 2 * S, &p), Arg::Scalar(1.0), Arg::Scalar(0.5)];
        let err = call("holt_winters", args, &ctx(0)).unwrap_err();
        assert_eq!(
            err,
            PromqlError::Execution(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000".into()
            )
        );
        let args = vec![matrix(0, 2 * S, &p), Arg::Scalar(0.5), Arg::Scalar(0.0)];
        let err = call("holt_winters", args, &ctx(0)).unwrap_err();
        assert!(err.to_string().starts_with("invalid trend factor"));
        // No series: nothing to check, no error (as in Prometheus).
        let empty = Arg::Matrix(MatrixArg {
            series: vec![],
            range_start: 0,
            range_end: 1,
        });
        let args = vec![empty, Arg::Scalar(5.0), Arg::Scalar(0.5)];
        assert_eq!(
            call("holt_winters", args, &ctx(0)).unwrap(),
            FnValue::Vector(vec![])
        );
    }

    #[test]
    fn changes_treats_nan_to_nan_as_no_change() {
        let nan = f64::NAN;
        let p = [(0, 1.0), (1, 1.0), (2, nan), (3, nan), (4, 2.0), (5, 2.0)];
        assert_eq!(range_value("changes", 0, 5, &p), Some(2.0));
        assert_eq!(range_value("changes", 0, 5, &[(0, 1.0)]), Some(0.0));
        // resets: NaN compares false.
        assert_eq!(range_value("resets", 0, 5, &p), Some(0.0));
    }

    #[test]
    fn rate_drops_the_metric_name() {
        let v = vec_call(
            "rate",
            vec![matrix(0, 10 * S, &[(0, 0.0), (10 * S, 10.0)])],
            10 * S,
        );
        assert_eq!(v[0].labels, labels(&[("a", "b")]));
        assert_eq!(v[0].t, 10 * S);
    }
}
