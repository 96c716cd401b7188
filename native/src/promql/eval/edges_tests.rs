//! Which selectors the rollup plan may answer from hourly edges.

use super::*;

const H: i64 = HOUR_MS;

fn flags(query: &str, start: i64, end: i64, step: i64, lookback: i64) -> Vec<bool> {
    let p = QueryParams {
        start,
        end,
        step,
        lookback,
        deadline: None,
        max_samples: usize::MAX,
    };
    needs(&parse(query).unwrap(), &p)
        .into_iter()
        .map(|n| n.hour_edges)
        .collect()
}

#[test]
fn instant_selectors_at_whole_hours_read_edges() {
    let l = 300_000;
    assert_eq!(flags("sum by (dc) (x)", 10 * H, 40 * H, H, l), [true]);
    assert_eq!(flags("x", 10 * H, 10 * H, 0, l), [true]);
    assert_eq!(flags("x offset 2h", 10 * H, 40 * H, 3 * H, l), [true]);
    assert_eq!(flags("x @ 7200", 5, 500_000, 15_000, l), [true]);
    assert_eq!(flags("x @ 7200 offset 1h", 5, 500_000, 15_000, l), [true]);
    // both sides of an expression, each judged alone
    assert_eq!(
        flags("x / x offset 30m", 10 * H, 40 * H, H, l),
        [true, false]
    );
    assert_eq!(flags("timestamp(x) - x @ 100", 0, 0, 0, l), [true, false]);
}

#[test]
fn anything_else_reads_raw_samples() {
    let l = 300_000;
    assert_eq!(flags("x", 10 * H + 1, 40 * H, H, l), [false]); // start off the hour
    assert_eq!(flags("x", 10 * H, 40 * H, 30 * 60_000, l), [false]); // step under an hour
    assert_eq!(flags("x offset 1m", 10 * H, 40 * H, H, l), [false]);
    assert_eq!(flags("x @ 7201", 0, 0, 0, l), [false]);
    assert_eq!(flags("rate(x[1h])", 10 * H, 40 * H, H, l), [false]); // a range
    assert_eq!(
        flags("max_over_time(x[2h:1h])", 10 * H, 40 * H, H, l),
        [false]
    ); // subquery
    assert_eq!(flags("x", 10 * H, 40 * H, H, 2 * H), [false]); // lookback past the hour before
}
