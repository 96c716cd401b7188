//! Timestamps of ingested points: RFC 3339 strings and epoch numbers, as
//! microseconds since the Unix epoch.
//!
//! Hand-written rather than taken from `chrono`/`jiff`: the accepted grammar
//! is part of the ingestion contract (the Python reference decoder in
//! `tests/native/ingest_reference.py` implements exactly the same one), and
//! the parser runs once per point on the hot path.

/// Epoch numbers with an absolute value at or above this are milliseconds,
/// below it seconds (1e11 s is the year 5138; 1e11 ms is March 1973).
pub const MILLIS_THRESHOLD: f64 = 1e11;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parse an RFC 3339 date-time into µs since the Unix epoch.
///
/// Grammar (RFC 3339 §5.6 `date-time`): `YYYY-MM-DD`, a separator `T`, `t`
/// or a space, `HH:MM:SS`, optionally `.` and 1 to 9 fraction digits
/// (truncated to µs), then `Z`, `z` or `±HH:MM`. Calendar fields are range
/// checked (day within its month, hour ≤ 23, minute and second ≤ 59 — no leap
/// second). Nothing else is accepted: no surrounding whitespace, no missing
/// offset, no week or ordinal dates.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_s: i64 = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hh = digits(&[*h1, *h2], 0, 2)?;
            let mm = digits(&[*m1, *m2], 0, 2)?;
            if hh > 23 || mm > 59 {
                return None;
            }
            let off = i64::from(hh * 3600 + mm * 60);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_s;
    Some(secs * 1_000_000 + micros)
}

/// µs since the Unix epoch of an epoch number: seconds, or milliseconds when
/// `|n| >= 1e11`. Rounded to the nearest µs (halves away from zero) and
/// saturated to the `i64` range. `None` if `n` is not finite.
pub fn epoch_number_us(n: f64) -> Option<i64> {
    if !n.is_finite() {
        return None;
    }
    let scale = if n.abs() >= MILLIS_THRESHOLD {
        1e3
    } else {
        1e6
    };
    // `as` saturates (and the product is finite: |n| < 1.8e308 / 1e6 is not
    // guaranteed, but an infinite product saturates too).
    Some((n * scale).round() as i64)
}

/// Whether `s` is a plain decimal float literal: an optional sign, digits with
/// an optional decimal point (at least one digit overall), an optional
/// exponent. No whitespace, underscores, `inf` or `nan`. The CSV columns
/// `value` and `timestamp` use this grammar (then `str::parse::<f64>`).
pub fn is_float_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut ndigits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        ndigits += i - frac_start;
    }
    if ndigits == 0 {
        return false;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Parse a float literal (see [`is_float_literal`]); `None` if the grammar
/// does not match. The result may be infinite (`1e400`).
pub fn parse_float_literal(s: &str) -> Option<f64> {
    if is_float_literal(s) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn rfc3339_basic_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-01-01T00:00:00Z"), Some(946_684_800 * S));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(1_700_000_000 * S)
        );
        // lower-case t/z and a space separator
        assert_eq!(
            parse_rfc3339("2023-11-14t22:13:20z"),
            Some(1_700_000_000 * S)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14 22:13:20Z"),
            Some(1_700_000_000 * S)
        );
    }

    #[test]
    fn rfc3339_offsets() {
        let z = parse_rfc3339("2023-11-14T22:13:20Z").unwrap();
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(z));
        assert_eq!(parse_rfc3339("2023-11-14T20:43:20-01:30"), Some(z));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20-00:00"), Some(z));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20+23:59").unwrap(),
            z - (23 * 3600 + 59 * 60) * S
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+24:00"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+02:60"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+0200"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20+02"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), None);
    }

    #[test]
    fn rfc3339_fractions_truncate_to_micros() {
        let base = 1_700_000_000 * S;
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.5Z"),
            Some(base + 500_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456Z"),
            Some(base + 123_456)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.1234569Z"),
            Some(base + 123_456)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.999999999Z"),
            Some(base + 999_999)
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.0000000001Z"), None); // 10 digits
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.Z"), None);
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20,5Z"), None);
        // before the epoch: the fraction still counts forward from the second
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.9999999Z"), Some(-1));
    }

    #[test]
    fn rfc3339_calendar_ranges() {
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        assert_eq!(parse_rfc3339("1900-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-04-31T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-00-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-01-00T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-01-01T24:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-01-01T23:60:00Z"), None);
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), None); // no leap seconds
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200 * S)
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Some(253_402_300_799 * S)
        );
    }

    #[test]
    fn rfc3339_rejects_garbage() {
        for s in [
            "",
            "2023",
            "2023-11-14",
            "2023-11-14T22:13Z",
            " 2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20Z ",
            "2023-11-14X22:13:20Z",
            "2023/11/14T22:13:20Z",
            "+2023-11-14T22:13:20Z",
            "2023-1-14T22:13:20Z",
            "2023-11-14T22:13:20ZZ",
            "２０２３-11-14T22:13:20Z",
            "2023-11-14T22:13:20.1é",
            "1700000000",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s:?}");
        }
    }

    #[test]
    fn epoch_seconds_vs_millis() {
        assert_eq!(epoch_number_us(0.0), Some(0));
        assert_eq!(epoch_number_us(1_700_000_000.0), Some(1_700_000_000 * S));
        assert_eq!(
            epoch_number_us(1_700_000_000.25),
            Some(1_700_000_000 * S + 250_000)
        );
        // just below the threshold: seconds (year 5138)
        assert_eq!(epoch_number_us(99_999_999_999.0), Some(99_999_999_999 * S));
        // at the threshold: milliseconds
        assert_eq!(epoch_number_us(1e11), Some(100_000_000 * S));
        assert_eq!(
            epoch_number_us(1_700_000_000_123.0),
            Some(1_700_000_000_123_000)
        );
        assert_eq!(
            epoch_number_us(1_700_000_000_123.5),
            Some(1_700_000_000_123_500)
        );
        // negative: the rule uses the absolute value
        assert_eq!(epoch_number_us(-5.5), Some(-5_500_000));
        assert_eq!(epoch_number_us(-1e11), Some(-100_000_000 * S));
        // rounding to the nearest µs, halves away from zero
        assert_eq!(epoch_number_us(0.0000005), Some(1));
        assert_eq!(epoch_number_us(-0.0000005), Some(-1));
        assert_eq!(epoch_number_us(0.0000004), Some(0));
        // saturation, non-finite
        assert_eq!(epoch_number_us(1e300), Some(i64::MAX));
        assert_eq!(epoch_number_us(-1e300), Some(i64::MIN));
        assert_eq!(epoch_number_us(f64::NAN), None);
        assert_eq!(epoch_number_us(f64::INFINITY), None);
    }

    #[test]
    fn float_literals() {
        for s in [
            "0", "-1", "+1", "1.", ".5", "1.5e3", "1E-3", "-0.0", "1e400", "007",
        ] {
            assert!(is_float_literal(s), "{s:?}");
        }
        for s in [
            "", "+", "-", ".", "e5", "1e", "1e+", " 1", "1 ", "1_000", "inf", "NaN", "Infinity",
            "0x10", "1..2", "1.2.3", "1e5.5", "١",
        ] {
            assert!(!is_float_literal(s), "{s:?}");
        }
        assert_eq!(parse_float_literal("1.5e3"), Some(1500.0));
        assert_eq!(parse_float_literal("1e400"), Some(f64::INFINITY));
        assert_eq!(parse_float_literal("nan"), None);
    }
}
