//! Element-wise math: abs, ceil, floor, exp, sqrt, ln, log2, log10, sgn, deg,
//! rad, the trigonometric functions, clamp, clamp_min, clamp_max, round.
//! Each drops the metric name (in `mod.rs`).

use super::Sample;

/// The one-argument function `name`, computed as Go's `math` package does.
pub(super) fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => go_log2,
        "log10" => go_log10,
        "sgn" => sgn,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        _ => return None,
    })
}

/// -1, +1, or the value itself for zeros and NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Go's `math.Log10`: `ln(x) / ln(10)` as a product.
fn go_log10(x: f64) -> f64 {
    x.ln() * (1.0 / std::f64::consts::LN_10)
}

/// Go's `math.Log2`: exact for powers of two, else `ln(frac)/ln 2 + exp`.
fn go_log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return (exp - 1) as f64;
    }
    frac.ln() * (1.0 / std::f64::consts::LN_2) + exp as f64
}

/// `x = frac × 2^exp` with `|frac|` in [0.5, 1) (Go's `math.Frexp`; zeros,
/// infinities and NaN come back unchanged with exponent 0).
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || x.is_infinite() || x.is_nan() {
        return (x, 0);
    }
    let (mut x, mut exp) = (x, 0);
    if x.abs() < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first.
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `math.Max`: +Inf wins over NaN, NaN over any other value.
pub(super) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN over any other value.
pub(super) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Every value limited to `[min, max]`; nothing at all if `max < min`.
pub(super) fn clamp(v: Vec<Sample>, t: i64, min: f64, max: f64) -> Vec<Sample> {
    if max < min {
        return Vec::new();
    }
    super::map_values(v, t, |x| go_max(min, go_min(max, x)))
}

/// Rounding to the nearest multiple of `to_nearest`, ties up, computed
/// through the inverse as Prometheus does (`floor(v/n + 0.5) * n` would
/// round differently in the last bit).
pub(super) fn round_to(to_nearest: f64) -> impl Fn(f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    move |v| (v * inverse + 0.5).floor() / inverse
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::Arg;
    use super::*;

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    fn apply(name: &str, v: f64) -> f64 {
        vec_call(
            name,
            vec![Arg::Vector(vec![sample(&[("__name__", "x")], v)])],
            0,
        )[0]
        .v
    }

    #[test]
    fn simple_functions() {
        assert_eq!(apply("abs", -2.5), 2.5);
        assert_eq!(apply("ceil", 1.2), 2.0);
        assert_eq!(apply("floor", -1.2), -2.0);
        assert_eq!(apply("exp", 0.0), 1.0);
        assert_eq!(apply("sqrt", 9.0), 3.0);
        assert!(apply("sqrt", -1.0).is_nan());
        assert_eq!(apply("ln", 1.0), 0.0);
        assert_eq!(apply("ln", 0.0), -INF);
        assert_eq!(apply("log2", 8.0), 3.0);
        assert_eq!(apply("log2", 0.25), -2.0);
        assert!(close(apply("log2", 10.0), std::f64::consts::LOG2_10));
        assert!(close(apply("log10", 1000.0), 3.0));
        assert_eq!(apply("log10", 0.0), -INF);
        assert!(apply("log10", -1.0).is_nan());
        assert_eq!(apply("deg", std::f64::consts::PI), 180.0);
        assert_eq!(apply("rad", 180.0), std::f64::consts::PI);
    }

    #[test]
    fn trigonometry_matches_prometheus_test_values() {
        // From Prometheus's trig_functions.test.
        assert!(close(apply("sin", 10.0), -0.5440211108893699));
        assert!(close(apply("cos", 20.0), 0.40808206181339196));
        assert!(close(apply("tan", 10.0), 0.6483608274590867));
        assert!(close(apply("asin", 10.0 - 10.1), -0.10016742116155944));
        assert!(apply("asin", 9.9).is_nan());
        assert!(close(apply("acos", -0.1), 1.670963747956456));
        assert!(close(apply("atan", 20.0), 1.5208379310729538));
        assert!(close(apply("sinh", 20.0), 2.4258259770489514e+08));
        assert!(close(apply("cosh", 10.0), 11013.232920103324));
        assert_eq!(apply("tanh", 20.0), 1.0);
        assert!(close(apply("asinh", 10.0), 2.99822295029797));
        assert!(close(apply("acosh", 20.0), 3.6882538673612966));
        assert!(apply("acosh", 0.5).is_nan());
        assert_eq!(apply("atanh", 1.0), INF);
        assert!(apply("sin", NAN).is_nan());
    }

    #[test]
    fn sgn_keeps_zeros_and_nan() {
        assert_eq!(apply("sgn", -3.0), -1.0);
        assert_eq!(apply("sgn", 0.1), 1.0);
        assert_eq!(apply("sgn", 0.0), 0.0);
        assert!(apply("sgn", -0.0).is_sign_negative());
        assert!(apply("sgn", NAN).is_nan());
    }

    #[test]
    fn frexp_matches_go() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(5e-324), (0.5, -1073));
        assert_eq!(go_log2(5e-324), -1074.0);
    }

    #[test]
    fn clamps_propagate_nan_and_drop_the_name() {
        let vec = || {
            Arg::Vector(vec![
                sample(&[("__name__", "x"), ("s", "a")], -50.0),
                sample(&[("__name__", "x"), ("s", "b")], 0.0),
                sample(&[("__name__", "x"), ("s", "c")], 100.0),
                sample(&[("__name__", "x"), ("s", "d")], NAN),
            ])
        };
        let values = |v: Vec<crate::promql::Sample>| v.iter().map(|s| s.v).collect::<Vec<_>>();
        let out = vec_call(
            "clamp",
            vec![vec(), Arg::Scalar(-25.0), Arg::Scalar(75.0)],
            0,
        );
        assert_eq!(out[0].labels, labels(&[("s", "a")]));
        let v = values(out);
        assert_eq!(&v[..3], &[-25.0, 0.0, 75.0]);
        assert!(v[3].is_nan());
        let v = values(vec_call(
            "clamp",
            vec![vec(), Arg::Scalar(0.0), Arg::Scalar(NAN)],
            0,
        ));
        assert!(v.iter().all(|x| x.is_nan()));
        assert!(vec_call("clamp", vec![vec(), Arg::Scalar(5.0), Arg::Scalar(-5.0)], 0).is_empty());
        let v = values(vec_call("clamp_max", vec![vec(), Arg::Scalar(75.0)], 0));
        assert_eq!(&v[..3], &[-50.0, 0.0, 75.0]);
        let v = values(vec_call("clamp_min", vec![vec(), Arg::Scalar(-25.0)], 0));
        assert_eq!(&v[..3], &[-25.0, 0.0, 100.0]);
        // Go's Max: +Inf beats NaN.
        assert_eq!(go_max(NAN, INF), INF);
        assert_eq!(go_min(-INF, NAN), -INF);
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
    }

    #[test]
    fn round_ties_up_to_the_nearest_multiple() {
        let round = |v: f64, n: Option<f64>| {
            let mut args = vec![Arg::Vector(vec![sample(&[], v)])];
            args.extend(n.map(Arg::Scalar));
            vec_call("round", args, 0)[0].v
        };
        assert_eq!(round(2.5, None), 3.0);
        assert_eq!(round(-2.5, None), -2.0);
        assert_eq!(round(1.2, None), 1.0);
        assert_eq!(round(12.0, Some(5.0)), 10.0);
        assert_eq!(round(12.5, Some(5.0)), 15.0);
        assert_eq!(round(0.26, Some(0.1)), 0.3);
        assert_eq!(round(-7.6, Some(2.0)), -8.0);
        assert!(round(NAN, None).is_nan());
    }
}
