//! Prometheus v2.42.0's own PromQL test files (`testdata/*.test`) run against
//! this engine as Prometheus's `promql/test.go` runs them: `load <interval>`
//! (expanding notation `a+bxN`, `a-bxN`, `axN`, `_`, `_xN`, `stale`, `Inf`,
//! `NaN`), `clear`, `eval instant at <t> <expr>`, `eval_ordered`,
//! `eval_fail`. Every eval runs
//! - as an instant query at `t`,
//! - as a range query from `t - 1m` to `t + 1m` by `1m`, compared at `t`
//!   (not for `eval_ordered`: a range query's order is undefined),
//! - unless the expression calls a function that depends on the evaluation
//!   time, again with `@ t` set on every selector and subquery outside an
//!   `@` subquery, at the times `-10t, 0, t/5, t, 10t` (`-1000, 0, 1000`
//!   ms for `t = 0`), instant and range;
//!
//! and passes when every run does. Values compare as Prometheus compares
//! them: equal, both NaN, or within a relative error of 1e-6.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr};

use super::eval::{evaluate, parse, QueryParams};
use super::storage::MemStorage;
use super::value::{Labels, QueryValue, Series, METRIC_NAME};
use crate::chunk::STALE_NAN_BITS;

/// Cases this engine does not run, with the reason. Keep it empty unless a
/// case tests something the engine deliberately does not have.
const SKIPPED: &[(&str, &str, &str)] = &[];

const LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Prometheus's test engine runs with `MaxSamples: 10000`.
const MAX_SAMPLES: usize = 10_000;

/// What an eval expects.
#[derive(Debug)]
enum Expected {
    Scalar(f64),
    /// Label set → (position from 1, value).
    Vector(HashMap<Labels, (usize, f64)>),
}

#[derive(Debug)]
struct Eval {
    line: usize,
    expr: String,
    at: i64,
    fail: bool,
    ordered: bool,
    expected: Expected,
}

#[derive(Debug)]
enum Cmd {
    Clear,
    Load(Vec<(Labels, Vec<(i64, f64)>)>),
    Eval(Eval),
}

/// Go's `model.ParseDuration` (`1h30m`, `5m`, `100ms`, `1d`, `1w`, `1y`).
fn parse_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let mut total = 0i64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    while !rest.is_empty() {
        let n = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let v: i64 = rest[..n].parse().map_err(|e| format!("{s:?}: {e}"))?;
        rest = &rest[n..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next() {
                Some('s') => (1000, 1),
                Some('m') => (60_000, 1),
                Some('h') => (3_600_000, 1),
                Some('d') => (86_400_000, 1),
                Some('w') => (7 * 86_400_000, 1),
                Some('y') => (365 * 86_400_000, 1),
                _ => return Err(format!("invalid duration {s:?}")),
            }
        };
        rest = &rest[len..];
        total += v * unit;
    }
    Ok(total)
}

/// A number as the test format reads it (Go's `ParseInt(s, 0, 64)`, then
/// `ParseFloat`).
fn parse_number(s: &str) -> Result<f64, String> {
    let t = s.trim_start_matches(['+', '-']);
    let neg = s.starts_with('-');
    let sign = if neg { -1.0 } else { 1.0 };
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => return Ok(sign * f64::INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if let Ok(v) = i64::from_str_radix(h, 16) {
            return Ok(sign * v as f64);
        }
    }
    if s.len() - t.len() > 1 {
        return Err(format!("invalid number {s:?}"));
    }
    if let Ok(v) = s.parse::<i64>() {
        return Ok(v as f64);
    }
    s.parse::<f64>()
        .map_err(|_| format!("invalid number {s:?}"))
}

/// Read a quoted string (`"…"` with Go escapes, `'…'`, or `` `…` ``) at the
/// start of `s`; answers the value and the rest.
fn read_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let (_, q) = chars.next().ok_or("expected a string")?;
    if !matches!(q, '"' | '\'' | '`') {
        return Err(format!("expected a string at {s:?}"));
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Ok((out, &s[i + 1..]));
        }
        if c == '\\' && q != '`' {
            let (_, e) = chars.next().ok_or("unterminated escape")?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                    let v = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                    out.push(char::from_u32(v).ok_or("invalid \\u escape")?);
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
        }
    }
    Err(format!("unterminated string in {s:?}"))
}

/// `name{l="v", …} rest` or `{…} rest` → (sorted labels, rest).
fn parse_metric(line: &str) -> Result<(Labels, &str), String> {
    let name_len = line
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map_or(line.len(), |(i, _)| i);
    let mut labels: Labels = Vec::new();
    if name_len > 0 {
        labels.push((METRIC_NAME.to_owned(), line[..name_len].to_owned()));
    }
    let mut rest = &line[name_len..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = r.trim_start();
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let n = rest
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(rest.len(), |(i, _)| i);
            if n == 0 {
                return Err(format!("bad label in {line:?}"));
            }
            let name = rest[..n].to_owned();
            let r = rest[n..].trim_start();
            let r = r
                .strip_prefix('=')
                .ok_or_else(|| format!("expected = in {line:?}"))?;
            let (value, r) = read_quoted(r.trim_start())?;
            labels.retain(|(l, _)| l != &name);
            if !value.is_empty() {
                labels.push((name, value));
            }
            rest = r.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            }
        }
    }
    labels.sort();
    Ok((labels, rest))
}

/// One value item of a sequence: `None` for an omitted sample.
fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    if let Some(r) = item.strip_prefix('_') {
        let n = match r.strip_prefix('x') {
            Some(n) => n.parse::<usize>().map_err(|e| format!("{item:?}: {e}"))?,
            None if r.is_empty() => 1,
            None => return Err(format!("bad item {item:?}")),
        };
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    if item == "stale" {
        out.push(Some(f64::from_bits(STALE_NAN_BITS)));
        return Ok(());
    }
    let (base, times) = match item.rfind('x') {
        Some(i) if item[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < item.len() => (
            &item[..i],
            Some(item[i + 1..].parse::<usize>().map_err(|e| e.to_string())?),
        ),
        _ => (item, None),
    };
    // Split `a+b` / `a-b` at a sign that is not the first character and does
    // not follow an exponent marker.
    let bytes = base.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, delta) = match split {
        Some(i) => (parse_number(&base[..i])?, parse_number(&base[i..])?),
        None => (parse_number(base)?, 0.0),
    };
    match times {
        None => {
            if split.is_some() {
                return Err(format!("bad item {item:?}"));
            }
            out.push(Some(start));
        }
        Some(n) => {
            // Repeated addition, as Prometheus's parser expands it.
            let mut v = start;
            for _ in 0..=n {
                out.push(Some(v));
                v += delta;
            }
        }
    }
    Ok(())
}

fn parse_series_desc(line: &str) -> Result<(Labels, Vec<Option<f64>>), String> {
    let (labels, rest) = parse_metric(line)?;
    let mut vals = Vec::new();
    for item in rest.split_whitespace() {
        expand_item(item, &mut vals)?;
    }
    Ok((labels, vals))
}

fn parse_file(text: &str) -> Result<Vec<Cmd>, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if word == "clear" {
            cmds.push(Cmd::Clear);
            i += 1;
        } else if word == "load" {
            let gap = parse_duration(l[4..].trim()).map_err(|e| format!("line {}: {e}", i + 1))?;
            // Within one load, a later definition of a series replaces an
            // earlier one.
            let mut defs: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let (labels, vals) =
                    parse_series_desc(lines[i]).map_err(|e| format!("line {}: {e}", i + 1))?;
                let samples: Vec<(i64, f64)> = vals
                    .iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| (k as i64 * gap, v)))
                    .collect();
                defs.retain(|(l, _)| l != &labels);
                defs.push((labels, samples));
                i += 1;
            }
            cmds.push(Cmd::Load(defs));
        } else if word.starts_with("eval") {
            let line_no = i + 1;
            let (fail, ordered) = match word.as_str() {
                "eval" => (false, false),
                "eval_fail" => (true, false),
                "eval_ordered" => (false, true),
                _ => return Err(format!("line {line_no}: invalid command {l:?}")),
            };
            let rest = l[word.len()..].trim_start();
            let rest = rest
                .strip_prefix("instant")
                .ok_or_else(|| format!("line {line_no}: expected instant"))?
                .trim_start();
            let rest = rest
                .strip_prefix("at")
                .ok_or_else(|| format!("line {line_no}: expected at"))?
                .trim_start();
            let (at, expr) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("line {line_no}: no expression"))?;
            let at = parse_duration(at).map_err(|e| format!("line {line_no}: {e}"))?;
            let mut expected = Expected::Vector(HashMap::new());
            let mut pos = 0;
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                if let Ok(v) = parse_number(lines[i]) {
                    expected = Expected::Scalar(v);
                    i += 1;
                    break;
                }
                pos += 1;
                let (labels, vals) =
                    parse_series_desc(lines[i]).map_err(|e| format!("line {}: {e}", i + 1))?;
                if vals.len() != 1 {
                    return Err(format!("line {}: expected one value", i + 1));
                }
                if let Expected::Vector(m) = &mut expected {
                    m.insert(labels, (pos, vals[0].unwrap_or(f64::NAN)));
                }
                i += 1;
            }
            cmds.push(Cmd::Eval(Eval {
                line: line_no,
                expr: expr.trim().to_owned(),
                at,
                fail,
                ordered,
                expected,
            }));
        } else {
            return Err(format!("line {}: invalid command {l:?}", i + 1));
        }
    }
    Ok(cmds)
}

/// Prometheus's `almostEqual` for test values.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < EPSILON * min_normal;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

fn fmt_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A result, compactly, for failure messages.
fn describe(v: &QueryValue) -> String {
    match v {
        QueryValue::Scalar { v, .. } => format!("scalar {v}"),
        QueryValue::String { s, .. } => format!("string {s:?}"),
        QueryValue::Vector(samples) => {
            let items: Vec<String> = samples
                .iter()
                .map(|s| format!("{} {}", fmt_labels(&s.labels), s.v))
                .collect();
            format!("[{}]", items.join(", "))
        }
        QueryValue::Matrix(m) => format!("a matrix of {} series", m.len()),
    }
}

/// Compare a result with the expectation (`compareResult`).
fn compare(e: &Eval, got: &QueryValue, ordered: bool) -> Result<(), String> {
    match (got, &e.expected) {
        (QueryValue::Matrix(_), _) => Err("received range result on instant evaluation".into()),
        (QueryValue::String { .. }, _) => Err("received a string result".into()),
        (QueryValue::Scalar { v, .. }, Expected::Scalar(want)) => {
            if almost_equal(*want, *v) {
                Ok(())
            } else {
                Err(format!("expected scalar {want} but got {v}"))
            }
        }
        (QueryValue::Scalar { v, .. }, Expected::Vector(_)) => {
            Err(format!("expected a vector but got scalar {v}"))
        }
        (QueryValue::Vector(samples), want) => {
            let empty = HashMap::new();
            let want = match want {
                Expected::Vector(m) => m,
                Expected::Scalar(_) => &empty,
            };
            for (i, s) in samples.iter().enumerate() {
                let Some(&(pos, v)) = want.get(&s.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result",
                        fmt_labels(&s.labels)
                    ));
                };
                if ordered && pos != i + 1 {
                    return Err(format!(
                        "expected metric {} at position {pos} but was at {}",
                        fmt_labels(&s.labels),
                        i + 1
                    ));
                }
                if !almost_equal(v, s.v) {
                    return Err(format!(
                        "expected {v} for {} but got {}",
                        fmt_labels(&s.labels),
                        s.v
                    ));
                }
            }
            if let Expected::Scalar(v) = &e.expected {
                return Err(format!("expected scalar {v} but got a vector"));
            }
            for l in want.keys() {
                if !samples.iter().any(|s| &s.labels == l) {
                    return Err(format!("expected metric {} not found", fmt_labels(l)));
                }
            }
            Ok(())
        }
    }
}

/// The functions whose result depends on the evaluation time.
fn at_unsafe(name: &str) -> bool {
    super::eval::is_at_modifier_unsafe(name)
}

/// Set `@ at` on every selector and subquery that has none, outside
/// subqueries with an `@`; answers whether the expression calls an
/// evaluation-time-dependent function there (`atModifierTestCases`).
fn set_at(e: &mut Expr, at: &AtModifier, unsafe_call: &mut bool) {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() {
                vs.at = Some(at.clone());
            }
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.at.is_none() {
                ms.vs.at = Some(at.clone());
            }
        }
        Expr::Subquery(s) => {
            if s.at.is_none() {
                s.at = Some(at.clone());
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                set_at(p, at, unsafe_call);
            }
            set_at(&mut a.expr, at, unsafe_call);
        }
        Expr::Unary(u) => set_at(&mut u.expr, at, unsafe_call),
        Expr::Binary(b) => {
            set_at(&mut b.lhs, at, unsafe_call);
            set_at(&mut b.rhs, at, unsafe_call);
        }
        Expr::Paren(p) => set_at(&mut p.expr, at, unsafe_call),
        Expr::Call(c) => {
            *unsafe_call |= at_unsafe(c.func.name);
            for a in &mut c.args.args {
                set_at(a, at, unsafe_call);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn at_modifier(ms: i64) -> AtModifier {
    let d = Duration::from_millis(ms.unsigned_abs());
    AtModifier::At(if ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    })
}

fn params(start: i64, end: i64, step: i64) -> QueryParams {
    QueryParams {
        start,
        end,
        step,
        lookback: LOOKBACK_MS,
        deadline: None,
        max_samples: MAX_SAMPLES,
    }
}

/// Run one eval (every variant); `Err` says what went wrong.
fn run_eval(e: &Eval, storage: &MemStorage) -> Result<(), String> {
    let expr = match parse(&e.expr) {
        Ok(x) => x,
        Err(err) if e.fail => {
            let _ = err;
            return Ok(());
        }
        Err(err) => return Err(format!("parse error: {err}")),
    };
    let mut variants: Vec<(Expr, i64)> = vec![(expr.clone(), e.at)];
    let mut with_at = expr.clone();
    let mut unsafe_call = false;
    set_at(&mut with_at, &at_modifier(e.at), &mut unsafe_call);
    if !unsafe_call {
        let times: Vec<i64> = if e.at == 0 {
            vec![-1000, 0, 1000]
        } else {
            vec![-10 * e.at, 0, e.at / 5, e.at, 10 * e.at]
        };
        variants.extend(times.into_iter().map(|t| (with_at.clone(), t)));
    }
    for (i, (x, t)) in variants.iter().enumerate() {
        let label = if i == 0 {
            String::new()
        } else {
            format!(" (with @ {}, at {t})", e.at)
        };
        let res = evaluate(x, storage, &params(*t, *t, 0));
        let got = match res {
            Err(_) if e.fail => continue,
            Err(err) => return Err(format!("error{label}: {err}")),
            Ok(_) if e.fail => return Err(format!("expected an error{label}")),
            Ok(v) => v,
        };
        compare(e, &got, e.ordered)
            .map_err(|m| format!("{m}{label}\n    got: {}", describe(&got)))?;

        // The same in range mode, checked at the middle step.
        let range = evaluate(x, storage, &params(t - 60_000, t + 60_000, 60_000))
            .map_err(|err| format!("error in range mode{label}: {err}"))?;
        if e.ordered {
            continue;
        }
        let QueryValue::Matrix(m) = range else {
            return Err(format!("range mode{label} did not give a matrix"));
        };
        let samples: Vec<super::value::Sample> = m
            .iter()
            .filter_map(|s| {
                s.points
                    .iter()
                    .find(|p| p.0 == *t)
                    .map(|p| super::value::Sample {
                        labels: s.labels.clone(),
                        t: *t,
                        v: p.1,
                    })
            })
            .collect();
        let at_t = match got {
            QueryValue::Scalar { .. } => match samples.first() {
                Some(s) => QueryValue::Scalar { t: *t, v: s.v },
                None => return Err(format!("range mode{label}: no scalar at {t}")),
            },
            _ => QueryValue::Vector(samples),
        };
        compare(e, &at_t, false)
            .map_err(|m| format!("{m} (range mode{label})\n    got: {}", describe(&at_t)))?;
    }
    Ok(())
}

/// Load samples as Prometheus's appender would add them to existing series.
fn load(storage: &mut MemStorage, defs: &[(Labels, Vec<(i64, f64)>)]) {
    for (labels, samples) in defs {
        let idx = match storage.series.iter().position(|s| &s.labels == labels) {
            Some(i) => i,
            None => {
                storage.series.push(Series {
                    labels: labels.clone(),
                    timestamps: Vec::new(),
                    values: Vec::new(),
                });
                storage.series.len() - 1
            }
        };
        let s = &mut storage.series[idx];
        let mut all: Vec<(i64, f64)> = s
            .timestamps
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .collect();
        for &(t, v) in samples {
            if !all.iter().any(|p| p.0 == t) {
                all.push((t, v));
            }
        }
        all.sort_by_key(|p| p.0);
        s.timestamps = all.iter().map(|p| p.0).collect();
        s.values = all.iter().map(|p| p.1).collect();
    }
}

struct FileResult {
    passed: usize,
    skipped: usize,
    failures: Vec<String>,
}

fn run_file(name: &str, text: &str) -> FileResult {
    let mut res = FileResult {
        passed: 0,
        skipped: 0,
        failures: Vec::new(),
    };
    let cmds = match parse_file(text) {
        Ok(c) => c,
        Err(e) => {
            res.failures
                .push(format!("{name}: cannot read the file: {e}"));
            return res;
        }
    };
    let mut storage = MemStorage::default();
    for cmd in &cmds {
        match cmd {
            Cmd::Clear => storage = MemStorage::default(),
            Cmd::Load(defs) => load(&mut storage, defs),
            Cmd::Eval(e) => {
                if SKIPPED.iter().any(|(f, x, _)| *f == name && *x == e.expr) {
                    res.skipped += 1;
                    continue;
                }
                match run_eval(e, &storage) {
                    Ok(()) => res.passed += 1,
                    Err(m) => res.failures.push(format!(
                        "{name}:{} eval{} at {}ms `{}`: {m}\n    expected: {:?}",
                        e.line,
                        if e.fail {
                            "_fail"
                        } else if e.ordered {
                            "_ordered"
                        } else {
                            ""
                        },
                        e.at,
                        e.expr,
                        e.expected
                    )),
                }
            }
        }
    }
    res
}

#[test]
fn prometheus_test_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/promql/testdata");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".test"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no test files in {}", dir.display());
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    let (mut total_pass, mut total) = (0, 0);
    for n in &names {
        let text = std::fs::read_to_string(dir.join(n)).expect("test file");
        let r = run_file(n, &text);
        let count = r.passed + r.failures.len();
        summary.push(format!(
            "{n}: {}/{count} passed{}",
            r.passed,
            if r.skipped > 0 {
                format!(", {} skipped", r.skipped)
            } else {
                String::new()
            }
        ));
        total_pass += r.passed;
        total += count;
        failures.extend(r.failures);
    }
    summary.push(format!("total: {total_pass}/{total} passed"));
    let summary = summary.join("\n");
    println!("{summary}");
    assert!(
        failures.is_empty(),
        "{summary}\n\n{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation() {
        let (l, v) =
            parse_series_desc(r#"m{a="b", c="d\"e"} 1+1x3 _ 5 -2-0.5x2 _x2 stale Inf -Inf 0x2"#)
                .unwrap();
        assert_eq!(
            l,
            vec![
                ("__name__".to_string(), "m".to_string()),
                ("a".into(), "b".into()),
                ("c".into(), "d\"e".into())
            ]
        );
        let got: Vec<String> = v
            .iter()
            .map(|x| match x {
                None => "_".to_string(),
                Some(f) if f.to_bits() == STALE_NAN_BITS => "stale".into(),
                Some(f) => f.to_string(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "1", "2", "3", "4", "_", "5", "-2", "-2.5", "-3", "_", "_", "stale", "inf", "-inf",
                "0", "0", "0"
            ]
        );
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("100ms").unwrap(), 100);
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.001));
        assert!(almost_equal(f64::NAN, f64::NAN));
    }
}
