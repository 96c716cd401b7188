//! Prometheus names for OTLP metrics and attributes, as Prometheus's OTLP
//! receiver makes them (github.com/prometheus/otlptranslator, the
//! "UnderscoreEscapingWithSuffixes" strategy, which follows OpenTelemetry's
//! Prometheus compatibility specification):
//!
//! - metric name: every character other than `[A-Za-z0-9:]` separates words,
//!   the words are joined with `_` (so runs of `_` collapse and leading or
//!   trailing `_` go); the unit is added as a suffix unless a word of the name
//!   already is that unit (`s` → `seconds`, `By` → `bytes`, `m/s` →
//!   `meters_per_second`, `{packet}` dropped, `1` → nothing); a monotonic
//!   cumulative sum ends in `_total`, a gauge with unit `1` in `_ratio`; a name
//!   starting with a digit gets a `_` prefix;
//! - label name: characters other than `[A-Za-z0-9]` become `_`, runs of `_`
//!   collapse to one, a leading digit gets a `key_` prefix; a name that is
//!   only underscores is invalid.

use std::borrow::Cow;

/// How the metric is exposed, as far as naming cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// A monotonic sum with cumulative temporality.
    Counter,
    /// Anything else: non-monotonic or delta sums, histograms, summaries.
    Other,
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// The unit's main and `per_…` suffixes (either may be empty), cleaned.
fn unit_suffixes(unit: &str) -> (String, String) {
    let usable = |u: &str| !u.is_empty() && !u.contains(['{', '}']);
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p)),
        None => (unit.trim(), None),
    };
    let main = if usable(main) { unit_word(main) } else { "" };
    let per = match per.map(str::trim) {
        Some(p) if usable(p) => format!("per_{}", per_unit_word(p)),
        _ => String::new(),
    };
    (clean_unit(main), clean_unit(&per))
}

/// Invalid characters to `_`, runs of `_` collapsed, no leading `_`.
fn clean_unit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if metric_char(c) { c } else { '_' };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    out
}

/// The Prometheus name of a metric (may be empty, which is invalid).
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut words: Vec<&str> = name
        .split(|c| !metric_char(c))
        .filter(|w| !w.is_empty())
        .collect();
    let (main, per) = unit_suffixes(unit);
    let mut main = main.as_str();
    if words.contains(&main) {
        main = "";
    }
    let mut per = match per.as_str() {
        "per_" => "",
        p => p.strip_suffix('_').unwrap_or(p),
    };
    if words.contains(&per) {
        per = "";
    }
    if !per.is_empty() {
        main = main.strip_suffix('_').unwrap_or(main);
    }
    for suffix in [main, per] {
        if !suffix.is_empty() {
            words.push(suffix);
        }
    }
    let mut type_suffix = |word: &'static str| {
        words.retain(|w| *w != word);
        words.push(word);
    };
    match kind {
        Kind::Counter => type_suffix("total"),
        Kind::Gauge if unit == "1" => type_suffix("ratio"),
        _ => {}
    }
    let joined = words.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

fn label_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Only `[A-Za-z0-9_]`, no `__`, at least one letter or digit (one pass: the
/// common case, checked for every attribute of every point).
fn already_clean(name: &[u8]) -> bool {
    let (mut any, mut underscore) = (false, false);
    for &c in name {
        match c {
            b'_' if underscore => return false,
            b'_' => underscore = true,
            c if c.is_ascii_alphanumeric() => (any, underscore) = (true, false),
            _ => return false,
        }
    }
    any
}

/// The Prometheus name of an attribute key, or `None` if it has none (empty,
/// or only underscores once cleaned). Borrowed when already valid.
pub fn label_name(key: &str) -> Option<Cow<'_, str>> {
    if key.is_empty() {
        return None;
    }
    // `__reserved__` names keep their double underscores.
    let (reserved, inner) = match key.strip_prefix("__").and_then(|k| k.strip_suffix("__")) {
        Some(inner) if key.len() >= 4 => (true, inner),
        _ => (false, key),
    };
    if !key.starts_with(|c: char| c.is_ascii_digit()) && already_clean(inner.as_bytes()) {
        return Some(Cow::Borrowed(key));
    }
    let mut out = String::with_capacity(key.len() + 4);
    if reserved {
        out.push_str("__");
    }
    let mut prev_underscore = false;
    for c in inner.chars() {
        if label_char(c) {
            out.push(c);
            prev_underscore = false;
        } else if !prev_underscore {
            out.push('_');
            prev_underscore = true;
        }
    }
    if reserved {
        out.push_str("__");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    if out.chars().all(|c| c == '_') {
        return None;
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases from otlptranslator's metric_namer_test.go / normalize_label_test.go.
    #[test]
    fn metric_names() {
        let cases = [
            (
                "system.filesystem.usage",
                "By",
                Kind::Gauge,
                "system_filesystem_usage_bytes",
            ),
            (
                "http.server.duration",
                "ms",
                Kind::Other,
                "http_server_duration_milliseconds",
            ),
            ("requests", "1", Kind::Counter, "requests_total"),
            ("requests_total", "", Kind::Counter, "requests_total"),
            ("total_requests", "", Kind::Counter, "requests_total"),
            ("cpu.utilization", "1", Kind::Gauge, "cpu_utilization_ratio"),
            ("cpu.utilization", "1", Kind::Other, "cpu_utilization"),
            ("packets", "{packet}", Kind::Counter, "packets_total"),
            ("speed", "m/s", Kind::Gauge, "speed_meters_per_second"),
            ("rate", "1/s", Kind::Gauge, "rate_per_second"),
            ("latency_seconds", "s", Kind::Other, "latency_seconds"),
            ("foo__bar..baz_", "", Kind::Gauge, "foo_bar_baz"),
            ("2xx.count", "", Kind::Gauge, "_2xx_count"),
            ("métrique", "", Kind::Gauge, "m_trique"),
            ("a:b", "", Kind::Gauge, "a:b"),
            ("...", "", Kind::Gauge, ""),
            ("memory", "MiBy", Kind::Gauge, "memory_mebibytes"),
            ("temp", "Cel", Kind::Gauge, "temp_celsius"),
            ("odd", "foo bar", Kind::Gauge, "odd_foo_bar"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(
                metric_name(name, unit, kind),
                want,
                "{name} {unit} {kind:?}"
            );
        }
    }

    #[test]
    fn label_names() {
        let cases = [
            ("service.name", Some("service_name")),
            ("http_method", Some("http_method")),
            ("a..b", Some("a_b")),
            ("a__b", Some("a_b")),
            ("0key", Some("key_0key")),
            ("__name__", Some("__name__")),
            ("__a.b__", Some("__a_b__")),
            ("_private", Some("_private")),
            ("ключ", None),
            ("___", None),
            ("", None),
            ("käse", Some("k_se")),
        ];
        for (key, want) in cases {
            assert_eq!(label_name(key).as_deref(), want, "{key}");
        }
    }
}
