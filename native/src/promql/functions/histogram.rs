//! histogram_quantile over classic histograms: series of cumulative bucket
//! counts told apart by their `le` (upper bound) label.

use std::collections::HashMap;

use super::go_sort::go_sort_by;
use super::Sample;
use crate::promql::value::{Labels, METRIC_NAME};

/// The label holding a bucket's upper bound.
const BUCKET_LABEL: &str = "le";

/// The φ-quantile of each histogram in `v`: samples grouped by their labels
/// other than `le` (the metric name included); samples without a parseable
/// `le` are skipped. Each result has the group's labels without `le` and the
/// metric name.
pub(super) fn histogram_quantile(q: f64, v: Vec<Sample>, t: i64) -> Vec<Sample> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for s in v {
        let Some(upper) = s
            .labels
            .iter()
            .find(|(n, _)| n == BUCKET_LABEL)
            .and_then(|(_, value)| parse_go_float(value))
        else {
            continue;
        };
        let key: Labels = s
            .labels
            .into_iter()
            .filter(|(n, _)| n != BUCKET_LABEL)
            .collect();
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                let out_labels = key
                    .iter()
                    .filter(|(n, _)| n != METRIC_NAME)
                    .cloned()
                    .collect();
                groups.push((out_labels, Vec::new()));
                index.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        groups[i].1.push((upper, s.v));
    }
    groups
        .into_iter()
        .map(|(labels, mut buckets)| Sample {
            labels,
            t,
            v: bucket_quantile(q, &mut buckets),
        })
        .collect()
}

/// Prometheus's `bucketQuantile` on `(upper bound, cumulative count)` pairs:
/// NaN for φ = NaN, -Inf below 0, +Inf above 1; NaN without a `+Inf` bucket,
/// with fewer than two buckets (after merging equal bounds) or no
/// observations. Counts that fall with a rising bound are lifted to the
/// highest count before them (scrapes are not atomic). A rank in the `+Inf`
/// bucket answers the highest finite bound; a rank in the first bucket with
/// a bound ≤ 0 answers that bound; otherwise linear interpolation within the
/// bucket (from 0 for the first).
pub(super) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort with Go's comparison: a NaN bound compares false both ways
    // and stays where the algorithm leaves it.
    go_sort_by(buckets, |a, b| a.0 < b.0);
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(buckets);
    ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let n = buckets.len();
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].1 >= rank);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Buckets with the same bound become one with their counts added.
fn coalesce(buckets: &mut Vec<(f64, f64)>) {
    let mut out = 0;
    for i in 1..buckets.len() {
        if buckets[i].0 == buckets[out].0 {
            buckets[out].1 += buckets[i].1;
        } else {
            out += 1;
            buckets[out] = buckets[i];
        }
    }
    buckets.truncate(out + 1);
}

fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    let mut max = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
}

/// Go's `sort.Search`: the smallest `i` in `[0, n)` with `f(i)`, by binary
/// search (so NaN counts land where Go's search lands), `n` if none.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal (`0x1p-3`)
/// notation, `Inf`/`Infinity`/`NaN` in any case; `None` where Go answers an
/// error, including a finite notation out of range.
fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        // Go accepts no sign on NaN.
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex)?
    } else {
        // Rust's grammar otherwise matches Go's (no underscores without a
        // base prefix), bar the spelled-out specials handled above.
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// `h.hhhp±d` (after `0x`): the binary exponent is required, as in Go.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0.0_f64;
    let mut scale = 0i32;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    for c in frac.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
        scale -= 4;
    }
    Some(v * 2f64.powi(exp.saturating_add(scale)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::Arg;
    use super::*;

    const INF: f64 = f64::INFINITY;

    fn hq(q: f64, buckets: &[(&str, f64)]) -> Vec<Sample> {
        let v = buckets
            .iter()
            .map(|&(le, count)| {
                sample(&[("__name__", "h_bucket"), ("job", "a"), ("le", le)], count)
            })
            .collect();
        vec_call(
            "histogram_quantile",
            vec![Arg::Scalar(q), Arg::Vector(v)],
            0,
        )
    }

    fn hq1(q: f64, buckets: &[(&str, f64)]) -> f64 {
        let v = hq(q, buckets);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].labels, labels(&[("job", "a")]));
        v[0].v
    }

    const B: [(&str, f64); 4] = [("0.1", 10.0), ("0.2", 20.0), ("0.5", 30.0), ("+Inf", 40.0)];

    #[test]
    fn interpolates_within_the_bucket() {
        // rank 20 of 40 → the end of bucket 0.2.
        assert!(close(hq1(0.5, &B), 0.2));
        // rank 5: halfway into the first bucket, from 0.
        assert!(close(hq1(0.125, &B), 0.05));
        // rank 25: half of (0.2, 0.5].
        assert!(close(hq1(0.625, &B), 0.35));
        // rank 36 is in +Inf: the highest finite bound.
        assert_eq!(hq1(0.9, &B), 0.5);
        assert_eq!(hq1(0.0, &B), 0.0);
        assert_eq!(hq1(1.0, &B), 0.5);
    }

    #[test]
    fn phi_out_of_range() {
        assert_eq!(hq1(-0.1, &B), -INF);
        assert_eq!(hq1(1.1, &B), INF);
        assert!(hq1(f64::NAN, &B).is_nan());
    }

    #[test]
    fn needs_an_inf_bucket_two_buckets_and_observations() {
        assert!(hq1(0.5, &[("0.1", 1.0), ("0.2", 2.0)]).is_nan());
        assert!(hq1(0.5, &[("+Inf", 3.0)]).is_nan());
        assert!(hq1(0.5, &[("0.1", 0.0), ("+Inf", 0.0)]).is_nan());
        // Equal bounds merge: "1" and "1.0" are one bucket.
        assert!(hq1(0.5, &[("+Inf", 2.0), ("+inf", 1.0)]).is_nan());
        assert!(close(
            hq1(0.5, &[("1", 1.0), ("1.0", 1.0), ("+Inf", 4.0)]),
            1.0
        ));
    }

    #[test]
    fn non_positive_first_bound_answers_the_bound() {
        assert_eq!(hq1(0.1, &[("-1", 5.0), ("0", 8.0), ("+Inf", 10.0)]), -1.0);
        assert!(close(
            hq1(0.65, &[("-1", 5.0), ("1", 8.0), ("+Inf", 10.0)]),
            0.0
        ));
    }

    #[test]
    fn a_nan_bound_sorts_as_in_go() {
        // Go's sort compares a NaN bound false both ways: here nothing moves.
        // Rank 4 of 8 lands in the NaN bucket: interpolated from 0.1 to NaN.
        let b = [("0.1", 2.0), ("NaN", 4.0), ("1", 6.0), ("+Inf", 8.0)];
        assert!(hq1(0.5, &b).is_nan());
        // Rank 1 lands in the first bucket.
        assert!(close(hq1(0.125, &b), 0.05));
        // NaN first, 0.5 lifted to its count 4; rank 6 lands in +Inf: the
        // bound before it.
        let b = [("NaN", 4.0), ("0.5", 2.0), ("+Inf", 8.0)];
        assert_eq!(hq1(0.75, &b), 0.5);
        assert!(hq1(0.25, &b).is_nan());
    }

    #[test]
    fn non_monotonic_counts_are_lifted() {
        // 0.2 drops to 15: lifted to 20, so rank 20 ends in bucket 0.1.
        let b = [("0.1", 20.0), ("0.2", 15.0), ("0.5", 30.0), ("+Inf", 40.0)];
        assert!(close(hq1(0.5, &b), 0.1));
    }

    #[test]
    fn groups_by_labels_other_than_le_and_skips_bad_bounds() {
        let mk = |name: &str, job: &str, le: &str, v: f64| {
            sample(&[("__name__", name), ("job", job), ("le", le)], v)
        };
        let v = vec![
            mk("h_bucket", "a", "1", 1.0),
            mk("h_bucket", "b", "1", 2.0),
            mk("h_bucket", "a", "+Inf", 2.0),
            mk("h_bucket", "b", "+Inf", 2.0),
            mk("h_bucket", "a", "garbage", 100.0),
            sample(&[("__name__", "h_bucket"), ("job", "a")], 100.0),
        ];
        let out = vec_call(
            "histogram_quantile",
            vec![Arg::Scalar(0.5), Arg::Vector(v)],
            0,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, labels(&[("job", "a")]));
        assert_eq!(out[0].v, 1.0);
        assert_eq!(out[1].labels, labels(&[("job", "b")]));
        assert_eq!(out[1].v, 0.5);
        // Two metric names with the same other labels collide.
        let v = vec![
            mk("x_bucket", "a", "+Inf", 1.0),
            mk("y_bucket", "a", "+Inf", 1.0),
        ];
        let err = super::super::call(
            "histogram_quantile",
            vec![Arg::Scalar(0.5), Arg::Vector(v)],
            &ctx(0),
        );
        assert!(err.is_err());
    }

    #[test]
    fn go_float_parsing() {
        assert_eq!(parse_go_float("0.25"), Some(0.25));
        assert_eq!(parse_go_float("+Inf"), Some(INF));
        assert_eq!(parse_go_float("-infinity"), Some(-INF));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float(".5"), Some(0.5));
        assert_eq!(parse_go_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_go_float("-0x1.8p1"), Some(-3.0));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        for bad in ["", "+", "1e400", "0x1", "1_0", "abc", " 1", "+nan", "1.2.3"] {
            assert_eq!(parse_go_float(bad), None, "{bad}");
        }
    }
}
