//! Label enforcement in PromQL, as prom-label-proxy does it: every vector and
//! matrix selector of a query gets the matcher `label="value"`, so that a
//! tenant's query reads only its own series in a shared backend; then the
//! query is written back as PromQL text for the backend.
//!
//! The matcher is added to every selector wherever it is (aggregations, both
//! sides of every binary operator — `or`/`unless`/`and` and `on()`/
//! `ignoring()` forms included —, function arguments, subqueries, parentheses,
//! unary minus), next to the user's own matchers: a matcher the user wrote on
//! the same label is kept too, so both must hold (`{hearth_namespace="other"}`
//! selects nothing rather than another tenant's series). A selector with
//! `or`-groups (`{a="1" or b="2"}`, promql-parser's extension) gets the matcher
//! in every group. What a query computes from the selected data is not
//! restricted: `label_replace(up, "hearth_namespace", "b", "", "")` renames the
//! label on the tenant's own series, `vector(1)` or `absent(x)` invent series
//! — none of it reads another tenant's data. The experimental `info()`
//! function is refused: it reads `target_info` series through a selector that
//! is not in the query text.
//!
//! The text is written by this module's renderer, not by promql-parser's
//! `Display`, which drops an `@` time before 1970 (`@ -5` renders `@ 0.000`),
//! turns `by ()`/`ignoring ()` into nothing (the same query, a different
//! tree), writes numbers in full (`1e300` as 301 digits), and leaves control
//! characters unescaped. The renderer writes the tree as parsed: every
//! parenthesis is a node of the tree, so operators keep their grouping; the
//! metric name stays an identifier; strings are double-quoted with `\\`, `\"`,
//! `\n`, `\r`, `\t` and `\xNN` escapes (Go's and promql-parser's unquoting
//! agree on these); durations are whole units `1y2w3d4h5m6s7ms`; numbers are
//! Rust's shortest round-trip form (`1e300`, `0.1`, `NaN`, `Inf`, `-Inf`);
//! comments disappear. Prometheus 2.42 parses the result to the same query.
//! Constructs newer than 2.42 that promql-parser accepts (quoted UTF-8 label
//! names, `fill()` modifiers, `or`-groups, `limitk`) are written in their own
//! syntax for a backend that knows them.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{
    AtModifier, BinModifier, Expr, LabelModifier, Offset, VectorMatchCardinality, VectorSelector,
};

use super::eval::plan;
use super::PromqlError;

/// `query` with `label="value"` enforced on every selector, as PromQL text.
pub fn enforce(query: &str, label: &str, value: &str) -> Result<String, PromqlError> {
    check_enforced(label, value)?;
    let mut expr = parse(query)?;
    enforce_expr(&mut expr, label, value)?;
    render(&expr)
}

/// Each `match[]` selector (a series selector, e.g. `up{job="api"}`) with
/// `label="value"` enforced. No selector at all gives `{label="value"}`: every
/// series of the tenant, what the metadata routes mean without `match[]`.
pub fn enforce_selectors(
    selectors: &[String],
    label: &str,
    value: &str,
) -> Result<Vec<String>, PromqlError> {
    check_enforced(label, value)?;
    if selectors.is_empty() {
        let mut vs = VectorSelector::default();
        add_matcher(&mut vs, label, value);
        return render(&Expr::VectorSelector(vs)).map(|s| vec![s]);
    }
    selectors
        .iter()
        .map(|text| {
            let mut expr = parse(text)?;
            match &expr {
                Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {}
                _ => {
                    // The selector as given, shortened: a message is no place for a megabyte.
                    let shown: String = text.chars().take(100).collect();
                    let more = if shown.len() < text.len() { "…" } else { "" };
                    return Err(PromqlError::Parse(format!(
                        "parse error: {shown:?}{more} is not a series selector such as up{{job=\"api\"}}"
                    )));
                }
            }
            enforce_expr(&mut expr, label, value)?;
            render(&expr)
        })
        .collect()
}

/// The enforced matcher must select something: an empty value would match
/// every series without the label.
fn check_enforced(label: &str, value: &str) -> Result<(), PromqlError> {
    if label.is_empty() || value.is_empty() {
        return Err(PromqlError::Parse(format!(
            "the enforced matcher {label:?}={value:?} needs a label name and a non-empty value"
        )));
    }
    Ok(())
}

fn parse(query: &str) -> Result<Expr, PromqlError> {
    plan::register_functions();
    promql_parser::parser::parse(query)
        .map_err(|m| PromqlError::Parse(plan::prometheus_message(&m)))
}

fn add_matcher(vs: &mut VectorSelector, label: &str, value: &str) {
    let m = Matcher::new(MatchOp::Equal, label, value);
    let Matchers {
        matchers,
        or_matchers,
    } = &mut vs.matchers;
    for group in or_matchers.iter_mut() {
        group.push(m.clone());
    }
    if or_matchers.is_empty() || !matchers.is_empty() {
        matchers.push(m);
    }
}

fn enforce_expr(expr: &mut Expr, label: &str, value: &str) -> Result<(), PromqlError> {
    match expr {
        Expr::VectorSelector(vs) => add_matcher(vs, label, value),
        Expr::MatrixSelector(ms) => add_matcher(&mut ms.vs, label, value),
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                enforce_expr(p, label, value)?;
            }
            enforce_expr(&mut a.expr, label, value)?;
        }
        Expr::Unary(u) => enforce_expr(&mut u.expr, label, value)?,
        Expr::Binary(b) => {
            enforce_expr(&mut b.lhs, label, value)?;
            enforce_expr(&mut b.rhs, label, value)?;
        }
        Expr::Paren(p) => enforce_expr(&mut p.expr, label, value)?,
        Expr::Subquery(s) => enforce_expr(&mut s.expr, label, value)?,
        Expr::Call(c) => {
            if c.func.name == "info" {
                return Err(PromqlError::Unsupported(
                    "the function info (it reads series no selector of the query names)".into(),
                ));
            }
            for arg in &mut c.args.args {
                enforce_expr(arg, label, value)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::Extension(_) => {
            return Err(PromqlError::Unsupported("extension expressions".into()));
        }
    }
    Ok(())
}

/// `expr` as PromQL text (see the module documentation).
pub fn render(expr: &Expr) -> Result<String, PromqlError> {
    let mut out = String::new();
    write_expr(&mut out, expr)?;
    Ok(out)
}

fn write_expr(out: &mut String, expr: &Expr) -> Result<(), PromqlError> {
    match expr {
        Expr::Aggregate(a) => {
            out.push_str(&a.op.to_string());
            match &a.modifier {
                Some(LabelModifier::Include(ls)) => write_labels(out, " by ", &ls.labels),
                Some(LabelModifier::Exclude(ls)) => write_labels(out, " without ", &ls.labels),
                None => {}
            }
            out.push_str(" (");
            if let Some(p) = &a.param {
                write_expr(out, p)?;
                out.push_str(", ");
            }
            write_expr(out, &a.expr)?;
            out.push(')');
        }
        Expr::Unary(u) => {
            out.push('-');
            let at = out.len();
            write_expr(out, &u.expr)?;
            // `--x` is not a token anywhere, but keep the signs apart for readers.
            if out[at..].starts_with('-') {
                out.insert(at, ' ');
            }
        }
        Expr::Binary(b) => {
            write_expr(out, &b.lhs)?;
            out.push(' ');
            out.push_str(&b.op.to_string());
            if let Some(m) = &b.modifier {
                write_bin_modifier(out, m);
            }
            out.push(' ');
            write_expr(out, &b.rhs)?;
        }
        Expr::Paren(p) => {
            out.push('(');
            write_expr(out, &p.expr)?;
            out.push(')');
        }
        Expr::Subquery(s) => {
            write_expr(out, &s.expr)?;
            out.push('[');
            write_duration(out, &s.range)?;
            out.push(':');
            if let Some(step) = &s.step {
                write_duration(out, step)?;
            }
            out.push(']');
            write_at_offset(out, &s.at, &s.offset)?;
        }
        Expr::NumberLiteral(n) => write_number(out, n.val),
        Expr::StringLiteral(s) => write_string(out, &s.val),
        Expr::VectorSelector(vs) => {
            write_selector(out, vs);
            write_at_offset(out, &vs.at, &vs.offset)?;
        }
        Expr::MatrixSelector(ms) => {
            write_selector(out, &ms.vs);
            out.push('[');
            write_duration(out, &ms.range)?;
            out.push(']');
            write_at_offset(out, &ms.vs.at, &ms.vs.offset)?;
        }
        Expr::Call(c) => {
            out.push_str(c.func.name);
            out.push('(');
            for (i, arg) in c.args.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, arg)?;
            }
            out.push(')');
        }
        Expr::Extension(_) => {
            return Err(PromqlError::Unsupported("extension expressions".into()));
        }
    }
    Ok(())
}

fn write_bin_modifier(out: &mut String, m: &BinModifier) {
    if m.return_bool {
        out.push_str(" bool");
    }
    match &m.matching {
        Some(LabelModifier::Include(ls)) => write_labels(out, " on ", &ls.labels),
        Some(LabelModifier::Exclude(ls)) => write_labels(out, " ignoring ", &ls.labels),
        None => {}
    }
    match &m.card {
        VectorMatchCardinality::ManyToOne(ls) => write_labels(out, " group_left ", &ls.labels),
        VectorMatchCardinality::OneToMany(ls) => write_labels(out, " group_right ", &ls.labels),
        VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => {}
    }
    let fill = &m.fill_values;
    let mut fill_value = |word: &str, v: f64| {
        let _ = write!(out, " {word} (");
        write_number(out, v);
        out.push(')');
    };
    match (fill.lhs, fill.rhs) {
        (Some(l), Some(r)) if l.to_bits() == r.to_bits() => fill_value("fill", l),
        (l, r) => {
            if let Some(l) = l {
                fill_value("fill_left", l);
            }
            if let Some(r) = r {
                fill_value("fill_right", r);
            }
        }
    }
}

/// `{keyword}(a, b)` (a grouping list; names that are not identifiers quoted).
fn write_labels(out: &mut String, keyword: &str, labels: &[String]) {
    out.push_str(keyword);
    out.push('(');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_label_name(out, l);
    }
    out.push(')');
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a label name written bare.
fn is_label_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: a metric name written bare.
fn is_metric_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn write_label_name(out: &mut String, name: &str) {
    if is_label_identifier(name) {
        out.push_str(name);
    } else {
        // Prometheus 3's quoted label names; 2.42 has none (nor such labels).
        write_string(out, name);
    }
}

fn write_matcher(out: &mut String, m: &Matcher) {
    write_label_name(out, &m.name);
    out.push_str(match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    });
    write_string(out, &m.value);
}

fn write_matcher_list(out: &mut String, ms: &[Matcher]) {
    for (i, m) in ms.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_matcher(out, m);
    }
}

/// `name{matchers}` (the braces always: an enforced selector has a matcher).
fn write_selector(out: &mut String, vs: &VectorSelector) {
    let mut matchers = &vs.matchers.matchers;
    let folded;
    match &vs.name {
        Some(name) if is_metric_identifier(name) => out.push_str(name),
        Some(name) => {
            // Not from the parser (its names are identifiers), but keep it exact.
            let mut all = vec![Matcher::new(MatchOp::Equal, super::METRIC_NAME, name)];
            all.extend(matchers.iter().cloned());
            folded = all;
            matchers = &folded;
        }
        None => {}
    }
    out.push('{');
    write_matcher_list(out, matchers);
    for (i, group) in vs.matchers.or_matchers.iter().enumerate() {
        if i > 0 || !matchers.is_empty() {
            out.push_str(" or ");
        }
        write_matcher_list(out, group);
    }
    out.push('}');
}

/// A double-quoted string literal.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Shortest form that reads back to the same f64 (`1e300`, `0.1`, `5.0`).
        let _ = write!(out, "{v:?}");
    }
}

/// A duration in whole units, largest first (`1h30m`, `90d`, `1s500ms`).
fn write_duration(out: &mut String, d: &Duration) -> Result<(), PromqlError> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(PromqlError::Unsupported(format!(
            "a duration finer than a millisecond ({d:?})"
        )));
    }
    let mut ms = d.as_millis();
    if ms == 0 {
        out.push_str("0s");
        return Ok(());
    }
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    for (unit, size) in UNITS {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    Ok(())
}

fn write_at_offset(
    out: &mut String,
    at: &Option<AtModifier>,
    offset: &Option<Offset>,
) -> Result<(), PromqlError> {
    match at {
        Some(AtModifier::Start) => out.push_str(" @ start()"),
        Some(AtModifier::End) => out.push_str(" @ end()"),
        Some(AtModifier::At(t)) => {
            // The parser keeps whole milliseconds, before 1970 too.
            let (sign, d) = match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => ("", d),
                Err(e) => ("-", e.duration()),
            };
            let ms = d.as_millis();
            let _ = write!(out, " @ {sign}{}.{:03}", ms / 1000, ms % 1000);
        }
        None => {}
    }
    match offset {
        // A zero offset is no offset (and "offset 0s" does not parse everywhere).
        Some(Offset::Pos(d) | Offset::Neg(d)) if d.is_zero() => {}
        Some(Offset::Pos(d)) => {
            out.push_str(" offset ");
            write_duration(out, d)?;
        }
        Some(Offset::Neg(d)) => {
            out.push_str(" offset -");
            write_duration(out, d)?;
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
