//! timestamp() and the date functions (minute, hour, day_of_week,
//! day_of_month, day_of_year, days_in_month, month, year), all in UTC.
//! (`time()` is one line in `mod.rs`.)
//!
//! The calendar arithmetic follows Go's `time` package (seconds since its
//! absolute zero year as an unsigned count), so every input, however far
//! from now, gives the date Prometheus gives.

use super::{drop_metric_name_owned, map_values, Sample};

/// Each sample's own timestamp in seconds (the evaluator hands a bare
/// selector's samples with their stored times), the metric name dropped.
pub(super) fn timestamp(v: Vec<Sample>, t: i64) -> Vec<Sample> {
    v.into_iter()
        .map(|s| Sample {
            v: s.t as f64 / 1000.0,
            labels: drop_metric_name_owned(s.labels),
            t,
        })
        .collect()
}

/// The part of a date a date function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DatePart {
    Minute,
    Hour,
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    DaysInMonth,
    Month,
    Year,
}

pub(super) fn date_part(name: &str) -> Option<DatePart> {
    Some(match name {
        "minute" => DatePart::Minute,
        "hour" => DatePart::Hour,
        "day_of_week" => DatePart::DayOfWeek,
        "day_of_month" => DatePart::DayOfMonth,
        "day_of_year" => DatePart::DayOfYear,
        "days_in_month" => DatePart::DaysInMonth,
        "month" => DatePart::Month,
        "year" => DatePart::Year,
        _ => return None,
    })
}

/// A date function of each sample's value (Unix seconds, the fraction
/// dropped), the metric name dropped; without an argument, of the
/// evaluation time, as a one-sample vector with no labels.
pub(super) fn date_function(input: Option<Vec<Sample>>, t: i64, part: DatePart) -> Vec<Sample> {
    match input {
        None => vec![Sample {
            labels: Vec::new(),
            t,
            v: date_value(t / 1000, part),
        }],
        Some(v) => map_values(v, t, |x| date_value(go_float_to_int(x), part)),
    }
}

/// Go's `int64(x)` on amd64: truncation, and the "integer indefinite"
/// `i64::MIN` for NaN and values out of range.
fn go_float_to_int(x: f64) -> i64 {
    let limit = -(i64::MIN as f64); // 2^63
    if x.is_nan() || !(-limit..limit).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

const SECONDS_PER_DAY: u64 = 86_400;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_PER_100_YEARS: u64 = 365 * 100 + 24;
const DAYS_PER_4_YEARS: u64 = 365 * 4 + 1;
/// Go's absolute zero year and the seconds from it to the Unix epoch.
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
const UNIX_TO_ABSOLUTE: i64 = 9_223_372_028_715_321_600;

fn date_value(unix_seconds: i64, part: DatePart) -> f64 {
    // Go wraps out-of-range times around; so does this.
    let abs = unix_seconds.wrapping_add(UNIX_TO_ABSOLUTE) as u64;
    match part {
        DatePart::Minute => ((abs % 3600) / 60) as f64,
        DatePart::Hour => ((abs % SECONDS_PER_DAY) / 3600) as f64,
        // The absolute zero day was a Monday.
        DatePart::DayOfWeek => {
            (((abs.wrapping_add(SECONDS_PER_DAY)) % (7 * SECONDS_PER_DAY)) / SECONDS_PER_DAY) as f64
        }
        _ => {
            let d = civil_date(abs);
            match part {
                DatePart::DayOfMonth => d.day as f64,
                DatePart::DayOfYear => (d.yday + 1) as f64,
                DatePart::DaysInMonth => days_in(d.month, d.year) as f64,
                DatePart::Month => d.month as f64,
                _ => d.year as f64,
            }
        }
    }
}

struct CivilDate {
    year: i64,
    /// 1 to 12.
    month: u32,
    /// 1 to 31.
    day: u32,
    /// Day of the year from 0.
    yday: u32,
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days before each month's start in a common year (index 12: the year).
const DAYS_BEFORE: [u32; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

fn days_in(month: u32, year: i64) -> u32 {
    if month == 2 && is_leap(year) {
        29
    } else {
        DAYS_BEFORE[month as usize] - DAYS_BEFORE[month as usize - 1]
    }
}

/// The date of `abs` seconds after Go's absolute zero (Go's `absDate`).
fn civil_date(abs: u64) -> CivilDate {
    let mut d = abs / SECONDS_PER_DAY;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    // The last 100-year cycle of 400 has one more leap day.
    n = d / DAYS_PER_100_YEARS;
    n -= n >> 2;
    y += 100 * n;
    d -= DAYS_PER_100_YEARS * n;
    n = d / DAYS_PER_4_YEARS;
    y += 4 * n;
    d -= DAYS_PER_4_YEARS * n;
    // The last year of 4 is a leap year.
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let yday = d as u32;
    let mut day = yday;
    if is_leap(year) {
        if day == 31 + 29 - 1 {
            return CivilDate {
                year,
                month: 2,
                day: 29,
                yday,
            };
        }
        if day > 31 + 29 - 1 {
            day -= 1;
        }
    }
    // Guess the month assuming 31-day months; it is at most one low.
    let mut month = day / 31;
    let end = DAYS_BEFORE[month as usize + 1];
    let begin = if day >= end {
        month += 1;
        end
    } else {
        DAYS_BEFORE[month as usize]
    };
    CivilDate {
        year,
        month: month + 1,
        day: day - begin + 1,
        yday,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{call, Arg, FnValue};
    use super::*;

    fn date(name: &str, unix: f64) -> f64 {
        let args = vec![Arg::Vector(vec![sample(
            &[("__name__", "x"), ("a", "b")],
            unix,
        )])];
        let v = vec_call(name, args, 0);
        assert_eq!(v[0].labels, labels(&[("a", "b")]));
        v[0].v
    }

    #[test]
    fn date_functions_match_prometheus_tests() {
        // 2006-01-02 22:04:05 UTC, a Monday.
        let t = 1136239445.0;
        assert_eq!(date("year", t), 2006.0);
        assert_eq!(date("month", t), 1.0);
        assert_eq!(date("day_of_month", t), 2.0);
        assert_eq!(date("day_of_year", t), 2.0);
        assert_eq!(date("day_of_week", t), 1.0);
        assert_eq!(date("hour", t), 22.0);
        assert_eq!(date("minute", t), 4.0);
        assert_eq!(date("year", 1230767999.0), 2008.0);
        assert_eq!(date("year", 1230768000.0), 2009.0);
        // 2016-02-29 23:59:59 and 2016-03-01 00:00:00.
        assert_eq!(date("month", 1456790399.0), 2.0);
        assert_eq!(date("day_of_month", 1456790399.0), 29.0);
        assert_eq!(date("month", 1456790400.0), 3.0);
        assert_eq!(date("day_of_month", 1456790400.0), 1.0);
        assert_eq!(date("day_of_year", 1483191420.0), 366.0);
        assert_eq!(date("day_of_year", 1672493820.0), 365.0);
        assert_eq!(date("days_in_month", 1454284800.0), 29.0);
        assert_eq!(date("days_in_month", 1485907200.0), 28.0);
        assert_eq!(date("days_in_month", 1485907200.0 + 60.0 * 86400.0), 30.0);
        // The fraction is dropped; before the epoch works too.
        assert_eq!(date("minute", 59.9), 0.0);
        assert_eq!(date("year", -1.0), 1969.0);
        assert_eq!(date("day_of_week", -86400.0), 3.0);
        assert_eq!(date("days_in_month", -1.0), 31.0);
        // 2000-02-29 (a 400-year leap year); 1900-03-01 (not a leap year).
        assert_eq!(date("day_of_month", 951782400.0), 29.0);
        assert_eq!(date("day_of_year", -2203891200.0), 60.0);
        // Chrono agrees over a range of days.
        for day in (-800_000i64..800_000).step_by(997) {
            let secs = day * 86400 + 3723;
            let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            use chrono::Datelike;
            assert_eq!(date("year", secs as f64), dt.year() as f64, "{secs}");
            assert_eq!(date("month", secs as f64), dt.month() as f64, "{secs}");
            assert_eq!(date("day_of_month", secs as f64), dt.day() as f64, "{secs}");
            assert_eq!(
                date("day_of_year", secs as f64),
                dt.ordinal() as f64,
                "{secs}"
            );
            let wd = dt.weekday().num_days_from_sunday() as f64;
            assert_eq!(date("day_of_week", secs as f64), wd, "{secs}");
        }
    }

    #[test]
    fn without_an_argument_the_evaluation_time() {
        // Time 0: 1970-01-01 00:00, a Thursday; the result has no labels.
        for (name, want) in [
            ("year", 1970.0),
            ("month", 1.0),
            ("day_of_week", 4.0),
            ("hour", 0.0),
        ] {
            let v = vec_call(name, vec![], 0);
            assert_eq!(
                v,
                vec![Sample {
                    labels: vec![],
                    t: 0,
                    v: want
                }]
            );
        }
        assert_eq!(vec_call("minute", vec![], 3_599_999)[0].v, 59.0);
        assert_eq!(
            vec_call("days_in_month", vec![], 40 * 86_400_000)[0].v,
            28.0
        );
    }

    #[test]
    fn nan_and_huge_values_do_not_panic() {
        assert!(date("year", f64::NAN).is_finite());
        assert!(date("month", 1e300).is_finite());
        assert!(date("day_of_month", -1e300).is_finite());
    }

    #[test]
    fn time_and_timestamp() {
        assert_eq!(
            call("time", vec![], &ctx(1)).unwrap(),
            FnValue::Scalar(0.001)
        );
        let mut s = sample(&[("__name__", "x"), ("a", "b")], 5.0);
        s.t = 1_500;
        let v = vec_call("timestamp", vec![Arg::Vector(vec![s])], 10_000);
        assert_eq!(
            v,
            vec![Sample {
                labels: labels(&[("a", "b")]),
                t: 10_000,
                v: 1.5
            }]
        );
    }
}
