//! Label enforcement: the rendered text parses back to the enforced tree (over
//! Prometheus's own test queries and crafted ones), and escape attempts end
//! with the enforced matcher on every selector.

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, VectorSelector};

use super::*;

const LABEL: &str = "hearth_namespace";
const VALUE: &str = "a";

/// Every selector of `expr` (in a matrix selector too).
fn selectors(expr: &Expr) -> Vec<&VectorSelector> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
        match e {
            Expr::VectorSelector(vs) => out.push(vs),
            Expr::MatrixSelector(ms) => out.push(&ms.vs),
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    walk(p, out);
                }
                walk(&a.expr, out);
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

/// The selector holds `LABEL="VALUE"` (in each of its or-groups, if any).
fn enforced(vs: &VectorSelector) -> bool {
    let has = |ms: &[promql_parser::label::Matcher]| {
        ms.iter()
            .any(|m| m.name == LABEL && m.op == MatchOp::Equal && m.value == VALUE)
    };
    if vs.matchers.or_matchers.is_empty() {
        has(&vs.matchers.matchers)
    } else {
        vs.matchers.or_matchers.iter().all(|g| has(g))
    }
}

/// Enforce, render, parse the text again: the tree must be the enforced one,
/// and every selector must carry the matcher. The rendered text.
fn check(query: &str) -> String {
    let mut want = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let before = selectors(&want).len();
    enforce_expr(&mut want, LABEL, VALUE).unwrap();
    let text = render(&want).unwrap();
    assert_eq!(enforce(query, LABEL, VALUE).unwrap(), text);
    let back = parse(&text).unwrap_or_else(|e| panic!("{query} → {text}: {e}"));
    assert_eq!(back, want, "{query} → {text}");
    let all = selectors(&back);
    assert_eq!(all.len(), before, "{text}");
    assert!(all.iter().all(|vs| enforced(vs)), "{query} → {text}");
    text
}

/// Parse and render without enforcing: the same tree back.
fn same_tree(query: &str) -> String {
    let want = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let text = render(&want).unwrap();
    let back = parse(&text).unwrap_or_else(|e| panic!("{query} → {text}: {e}"));
    assert_eq!(back, want, "{query} → {text}");
    text
}

/// The expression of each `eval` line of Prometheus's test files.
fn testdata_queries() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/promql/testdata");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "test") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some(rest) = line.strip_prefix("eval") else {
                continue;
            };
            // `eval[_fail|_ordered] instant at <t> <expr>`
            let Some((_, rest)) = rest.split_once(" at ") else {
                continue;
            };
            if let Some((_, expr)) = rest.trim_start().split_once(char::is_whitespace) {
                out.push(expr.trim().to_owned());
            }
        }
    }
    out
}

#[test]
fn every_testdata_query_round_trips() {
    let queries = testdata_queries();
    let mut checked = 0;
    for q in &queries {
        // Some eval_fail queries do not parse at all.
        if parse(q).is_ok() && !q.contains("info(") {
            check(q);
            same_tree(q);
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} of {} queries", queries.len());
}

#[test]
fn rendering_is_faithful() {
    for q in [
        // Strings: escapes, regexes with backslashes and quotes, UTF-8.
        r#"up{path="C:\\dir\\\"x\"", re=~"a\\.b|c\\d+\"", nl="a\nb\tc\rd", ctl="\x01\x7f"}"#,
        r#"up{job='single "quoted" \' \\', raw=~`back"quote'`}"#,
        r#"up{v="ünïcødé 日本 🎉", w!~"\u00e9.*"}"#,
        r#"label_replace(up, "dst", "$1-\\", "src", "(.*)\"")"#,
        r#"{"foo.bar"}"#,
        r#"{"ñame"="x", "le.gacy"!="y"}"#,
        r#"sum by ("ñ", job) (up)"#,
        // Durations.
        "rate(x[1h30m])",
        "rate(x[90s])",
        "rate(x[1ms])",
        "rate(x[2y])",
        "rate(x[3w])",
        "rate(x[400d])",
        "rate(x[1d1ms])",
        "max_over_time(x[5m:1m])",
        "max_over_time(x[5m:])",
        "max_over_time(rate(x[1m])[1h:5m] @ 100 offset 5m)",
        // @ and offsets.
        "x @ start()",
        "x @ end()",
        "x @ 123.456",
        "x @ -5",
        "x @ -0.001",
        "x @ 1700000000",
        "x offset -5m",
        "x offset 1h @ 10",
        "x[5m] @ 10 offset -1m",
        "x offset 1.5",
        // Numbers.
        "1e3",
        "0x1f",
        "NaN",
        "Inf",
        "-Inf",
        "+Inf",
        "-0",
        "1e300 + 1e-300",
        "0.1 + 123456789012345678901234567890",
        ".5 * -2.5e-7",
        "x ^ -1",
        "-x ^ 2",
        "-(x) ^ 2",
        "- -x",
        "-(-x)",
        "-1 * x",
        // Binary modifiers.
        "x > bool 1",
        "1 == bool 2",
        "x / on (a, b) group_left (c) y",
        "x / ignoring (a) group_right y",
        "x / ignoring () y",
        "x + on () y",
        "x and on (a) y",
        "x or ignoring (a) y",
        "x unless y",
        "x atan2 y",
        "(x + y) * z",
        "x + y * z - w / v % u",
        "x == bool on (a) y",
        // Aggregations.
        "sum(x)",
        "sum by () (x)",
        "sum without () (x)",
        "sum without (a, b) (x)",
        "sum(x) by (a)",
        "topk(5, x)",
        "bottomk by (a) (2 + 1, x)",
        "quantile(0.9, x)",
        r#"count_values("le\"x", x)"#,
        "count_values without (a) (\"v\", x)",
        "group(x)",
        // Label names that are keywords.
        "sum by (on, by, bool, offset, group_left) (x)",
        "x{on=\"1\", by=\"2\", offset=\"3\", sum=\"4\"}",
        "sum{a=\"1\"}",
        "offset",
        "start + end",
        // Comments and layout.
        "sum(\n  x # a comment\n) # another",
    ] {
        let text = same_tree(q);
        check(q);
        // No comment survives.
        assert!(
            !text.contains('#') || q.contains("\"#") || text.contains("\"#"),
            "{text}"
        );
    }
}

#[test]
fn rendered_text_examples() {
    let r = |q: &str| enforce(q, LABEL, VALUE).unwrap();
    assert_eq!(r("up"), r#"up{hearth_namespace="a"}"#);
    // The example of the stub's docstring.
    assert_eq!(
        r("sum(rate(x[90s])) by (job)"),
        r#"sum by (job) (rate(x{hearth_namespace="a"}[1m30s]))"#
    );
    assert_eq!(
        r(r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#),
        r#"sum by (job) (rate(http_requests_total{code=~"5..", hearth_namespace="a"}[5m]))"#
    );
    assert_eq!(
        r("up or on() vector(1)"),
        r#"up{hearth_namespace="a"} or on () vector(1.0)"#
    );
    assert_eq!(r("x @ -5"), r#"x{hearth_namespace="a"} @ -5.000"#);
    assert_eq!(
        r("rate(x[1h30m] offset -90s)"),
        r#"rate(x{hearth_namespace="a"}[1h30m] offset -1m30s)"#
    );
    assert_eq!(r("1e300"), "1e300");
    assert_eq!(r("0x1f"), "31.0");
    assert_eq!(r("-x"), r#"-x{hearth_namespace="a"}"#);
    assert_eq!(r("- -x"), r#"- -x{hearth_namespace="a"}"#);
    assert_eq!(
        r(r#"x{a="\x01"}"#),
        "x{a=\"\\x01\", hearth_namespace=\"a\"}"
    );
    assert_eq!(
        r(r#"{a="1" or b="2"}"#),
        r#"{a="1", hearth_namespace="a" or b="2", hearth_namespace="a"}"#
    );
}

/// Attempts to read another tenant's series: each ends with the matcher on
/// every selector (checked by `check`), and the user's own matcher on the
/// label is kept next to it (so both must hold).
#[test]
fn escape_attempts_are_enforced() {
    let attempts = [
        r#"{__name__=~".+"}"#,
        r#"{__name__=~".+", hearth_namespace=~".*"}"#,
        "up or on() vector(1)",
        r#"up or on() {hearth_namespace="b"}"#,
        r#"{hearth_namespace="b"}"#,
        r#"{hearth_namespace=~".+"}"#,
        r#"up{hearth_namespace=~".*"}"#,
        r#"up{hearth_namespace!="a"}"#,
        r#"up{hearth_namespace=~"a|b"}"#,
        r#"up{hearth_namespace="a", hearth_namespace="b"}"#,
        r#"label_replace(up, "hearth_namespace", "b", "", "")"#,
        "max_over_time(up[5m:1m])",
        "max_over_time((up or other)[1h:] offset 1h)",
        "up @ start()",
        "up @ 0 offset -1y",
        "absent(nothing)",
        "absent_over_time(nothing[5m])",
        r#"count by (__name__)({__name__=~".+"})"#,
        r#"up * ignoring(hearth_namespace) group_left other{hearth_namespace="b"}"#,
        r#"up + on(hearth_namespace) {hearth_namespace="b"}"#,
        r#"up unless {hearth_namespace="b"}"#,
        r#"up and {hearth_namespace="b"}"#,
        "((((up))))",
        "-(-(up))",
        "sum(up) # {hearth_namespace=\"b\"}\n or other",
        r#"{"up", hearth_namespace="b"}"#,
        r#"{"hearth_namespace"="b"}"#,
        r#"topk(1, {__name__=~".+"}) by (hearth_namespace)"#,
        r#"count_values("hearth_namespace", up)"#,
        r#"quantile(scalar({hearth_namespace="b"}), up)"#,
        r#"histogram_quantile(0.9, sum by (le) (rate(x_bucket{hearth_namespace="b"}[5m])))"#,
        r#"timestamp({hearth_namespace="b"})"#,
        r#"sort_desc(rate({__name__=~"a.*"}[1m])) > bool on() group_left scalar(b)"#,
        r#"{a="1" or hearth_namespace="b"}"#,
        r#"vector(time()) + on() group_left {hearth_namespace="b"}"#,
    ];
    assert!(attempts.len() >= 20);
    for q in attempts {
        let text = check(q);
        assert!(text.contains(r#"hearth_namespace="a""#), "{text}");
    }
    // A user's matcher on the label is kept: both hold, nothing of "b" is read.
    assert_eq!(
        enforce(r#"{hearth_namespace="b"}"#, LABEL, VALUE).unwrap(),
        r#"{hearth_namespace="b", hearth_namespace="a"}"#
    );
    assert_eq!(
        enforce(r#"{"hearth_namespace"="b"}"#, LABEL, VALUE).unwrap(),
        r#"{hearth_namespace="b", hearth_namespace="a"}"#
    );
    // A quoted metric name is a `__name__` matcher.
    assert_eq!(
        enforce(r#"{"up"}"#, LABEL, VALUE).unwrap(),
        r#"{__name__="up", hearth_namespace="a"}"#
    );
}

#[test]
fn refused_queries() {
    for (q, starts) in [
        ("", "parse error"),
        ("up{", "parse error"),
        ("sum(", "parse error"),
        ("rate(up)", "parse error: expected type range vector"),
        ("nosuchfn(up)", "parse error"),
        (r#"{job=~".*"}"#, "parse error"),
        (r#"{__name__=~".*", hearth_namespace=~".*"}"#, "parse error"),
        // Invalid in Prometheus too (the enforced matcher would make it valid).
        (r#"{hearth_namespace=~".*"}"#, "parse error"),
        ("up[5m] + 1", "parse error"),
    ] {
        match enforce(q, LABEL, VALUE) {
            Err(e @ PromqlError::Parse(_)) => {
                assert_eq!(e.error_type(), "bad_data");
                assert!(e.to_string().starts_with(starts), "{q}: {e}");
            }
            other => panic!("{q}: {other:?}"),
        }
    }
    assert!(matches!(
        enforce("info(up)", LABEL, VALUE),
        Err(PromqlError::Unsupported(_))
    ));
    assert!(matches!(
        enforce("up", LABEL, ""),
        Err(PromqlError::Parse(_))
    ));
    assert!(matches!(
        enforce("up offset 0.0005", LABEL, VALUE),
        Err(PromqlError::Unsupported(_))
    ));
}

#[test]
fn selectors_for_match_params() {
    let s = |v: &[&str]| {
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        enforce_selectors(&v, LABEL, VALUE)
    };
    assert_eq!(
        s(&["up", r#"{__name__=~"node_.*", job="x"}"#]).unwrap(),
        vec![
            r#"up{hearth_namespace="a"}"#.to_owned(),
            r#"{__name__=~"node_.*", job="x", hearth_namespace="a"}"#.to_owned(),
        ]
    );
    assert_eq!(
        s(&[r#"{hearth_namespace="b"}"#]).unwrap(),
        vec![r#"{hearth_namespace="b", hearth_namespace="a"}"#.to_owned()]
    );
    assert_eq!(
        s(&[]).unwrap(),
        vec![r#"{hearth_namespace="a"}"#.to_owned()]
    );
    for bad in [
        "sum(up)",
        "up[5m]",
        "up offset 5m",
        "up @ 1",
        "1",
        "up or x",
        "up{",
    ] {
        match s(&["up", bad]) {
            Err(e @ PromqlError::Parse(_)) => {
                assert!(e.to_string().starts_with("parse error"), "{bad}: {e}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let e = s(&["sum(up)"]).unwrap_err().to_string();
    assert_eq!(
        e,
        r#"parse error: "sum(up)" is not a series selector such as up{job="api"}"#
    );
}
