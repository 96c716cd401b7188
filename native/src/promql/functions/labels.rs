//! label_replace and label_join. Both keep the metric name (it is a label
//! like any other to them, and may be their destination).

use std::cell::RefCell;

use regex::Regex;

use super::{go_regex, PromqlError, Sample};
use crate::promql::value::Labels;

/// Prometheus's label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit()))
}

fn get<'l>(labels: &'l Labels, name: &str) -> &'l str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Sets `name` to `value` (an empty value deletes it), keeping the order.
fn set(labels: &mut Labels, name: &str, value: String) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => labels[i].1 = value,
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, (name.to_string(), value)),
    }
}

thread_local! {
    /// The last few label_replace patterns compiled on this thread: a range
    /// query calls label_replace once per step with the same pattern.
    static COMPILED: RefCell<Vec<(String, Option<Regex>)>> = const { RefCell::new(Vec::new()) };
}

/// `pattern` anchored at both ends and compiled; `None` if it is invalid.
fn compiled(pattern: &str) -> Option<Regex> {
    const KEEP: usize = 8;
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, re)) = cache.iter().find(|(p, _)| p == pattern) {
            return re.clone();
        }
        // Anchored as Prometheus anchors (by text: `a\Q` takes `)$` for
        // literals there, and fails), then read as Go reads it.
        let re = go_regex::translate(&format!("^(?:{pattern})$"))
            .ok()
            .and_then(|p| Regex::new(&p).ok());
        if cache.len() == KEEP {
            cache.remove(0);
        }
        cache.push((pattern.to_string(), re.clone()));
        re
    })
}

/// For each sample whose `src` label value matches `regex` (anchored at both
/// ends), `dst` becomes `replacement` with `$1`, `${name}`… expanded (Go's
/// `Regexp.Expand`); an empty result deletes `dst`. No match: unchanged.
pub(super) fn label_replace(
    v: Vec<Sample>,
    t: i64,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<Sample>, PromqlError> {
    let re = compiled(regex).ok_or_else(|| {
        PromqlError::Execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    if !is_valid_label_name(dst) {
        return Err(PromqlError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let caps = re.captures(get(&s.labels, src));
        if let Some(caps) = caps {
            let mut res = String::new();
            expand(&mut res, replacement, &caps, &names);
            set(&mut s.labels, dst, res);
        }
        out.push(Sample {
            labels: s.labels,
            t,
            v: s.v,
        });
    }
    Ok(out)
}

/// Go's `Regexp.Expand`: `$$` is `$`; `$name` takes the longest run of
/// letters, digits and `_` as the name (`$1x` is group `1x`), `${name}`
/// delimits it; a number names a group by index (no leading zeros), else by
/// name; an unknown or unmatched group expands to nothing; a `$` not
/// followed by a name is kept as it is.
fn expand(dst: &mut String, template: &str, caps: &regex::Captures<'_>, names: &[Option<&str>]) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        dst.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(n) => caps.get(n),
            None => names
                .iter()
                .position(|n| *n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            dst.push_str(m.as_str());
        }
    }
    dst.push_str(rest);
}

/// The name after a `$`: `(name, rest)`, or `None` if malformed.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let after = body[end..].strip_prefix('}')?;
        Some((name, after))
    } else {
        Some((name, &body[end..]))
    }
}

/// A group index: ASCII digits, no leading zero, below 10^8 (Go's limit).
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

/// `dst` becomes the values of `srcs` (empty for absent labels) joined by
/// `sep`; an empty result deletes it.
pub(super) fn label_join(
    v: Vec<Sample>,
    t: i64,
    dst: &str,
    sep: &str,
    srcs: &[String],
) -> Result<Vec<Sample>, PromqlError> {
    if let Some(bad) = srcs.iter().find(|s| !is_valid_label_name(s)) {
        return Err(PromqlError::Execution(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    if !is_valid_label_name(dst) {
        return Err(PromqlError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let joined = srcs
            .iter()
            .map(|src| get(&s.labels, src))
            .collect::<Vec<_>>()
            .join(sep);
        set(&mut s.labels, dst, joined);
        out.push(Sample {
            labels: s.labels,
            t,
            v: s.v,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::{call, Arg};
    use super::*;

    fn replace(l: &[(&str, &str)], dst: &str, repl: &str, src: &str, re: &str) -> Labels {
        let args = vec![
            Arg::Vector(vec![sample(l, 1.0)]),
            Arg::String(dst.into()),
            Arg::String(repl.into()),
            Arg::String(src.into()),
            Arg::String(re.into()),
        ];
        vec_call("label_replace", args, 0).remove(0).labels
    }

    #[test]
    fn label_replace_expands_groups_and_keeps_the_name() {
        let l = [("__name__", "m"), ("src", "source-value-10")];
        assert_eq!(
            replace(
                &l,
                "dst",
                "destination-value-$1",
                "src",
                "source-value-(.*)"
            ),
            labels(&[
                ("__name__", "m"),
                ("dst", "destination-value-10"),
                ("src", "source-value-10")
            ])
        );
        // Anchored: a partial match is no match.
        assert_eq!(replace(&l, "dst", "x", "src", "value-(.*)"), labels(&l));
        // ${1} delimits; $1x is the (missing) group "1x".
        assert_eq!(
            replace(&l, "dst", "${1}x|$1x|$$|$", "src", "source-value-(.*)"),
            labels(&[
                ("__name__", "m"),
                ("dst", "10x||$|$"),
                ("src", "source-value-10")
            ])
        );
        // Named groups.
        assert_eq!(
            replace(&l, "dst", "$num-${num}", "src", "source-value-(?P<num>.*)"),
            labels(&[
                ("__name__", "m"),
                ("dst", "10-10"),
                ("src", "source-value-10")
            ])
        );
        // An empty result deletes the destination; a missing source is "".
        assert_eq!(
            replace(&l, "src", "", "src", ".*"),
            labels(&[("__name__", "m")])
        );
        assert_eq!(
            replace(&l, "dst", "empty", "nonexistent", ""),
            labels(&[
                ("__name__", "m"),
                ("dst", "empty"),
                ("src", "source-value-10")
            ])
        );
        // The metric name can be the destination.
        assert_eq!(
            replace(&l, "__name__", "n_$1", "src", "source-value-(.*)"),
            labels(&[("__name__", "n_10"), ("src", "source-value-10")])
        );
    }

    #[test]
    fn label_replace_errors() {
        let args = |dst: &str, re: &str| {
            vec![
                Arg::Vector(vec![]),
                Arg::String(dst.into()),
                Arg::String("".into()),
                Arg::String("src".into()),
                Arg::String(re.into()),
            ]
        };
        let err = call("label_replace", args("dst", "(.*"), &ctx(0)).unwrap_err();
        assert_eq!(
            err,
            PromqlError::Execution("invalid regular expression in label_replace(): (.*".into())
        );
        let err = call("label_replace", args("\\invalid", ".*"), &ctx(0)).unwrap_err();
        assert_eq!(
            err,
            PromqlError::Execution(
                "invalid destination label name in label_replace(): \\invalid".into()
            )
        );
        assert!(call("label_replace", args("1x", ".*"), &ctx(0)).is_err());
        // Go's syntax: (?<name>) is not in Go 1.19; a lone { is a literal.
        assert!(call("label_replace", args("dst", "(?<n>.*)"), &ctx(0)).is_err());
        assert!(call("label_replace", args("dst", "a{"), &ctx(0)).is_ok());
    }

    #[test]
    fn label_replace_collisions_fail() {
        let args = vec![
            Arg::Vector(vec![sample(&[("a", "1")], 1.0), sample(&[("a", "2")], 2.0)]),
            Arg::String("a".into()),
            Arg::String("x".into()),
            Arg::String("a".into()),
            Arg::String(".*".into()),
        ];
        assert!(call("label_replace", args, &ctx(0)).is_err());
    }

    fn join(l: &[(&str, &str)], dst: &str, sep: &str, srcs: &[&str]) -> Result<Labels, String> {
        let mut args = vec![
            Arg::Vector(vec![sample(l, 1.0)]),
            Arg::String(dst.into()),
            Arg::String(sep.into()),
        ];
        args.extend(srcs.iter().map(|s| Arg::String(s.to_string())));
        match call("label_join", args, &ctx(0)) {
            Ok(super::super::FnValue::Vector(mut v)) => Ok(v.remove(0).labels),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn label_join_joins_and_checks_names() {
        let l = [("__name__", "m"), ("a", "x"), ("b", "y")];
        assert_eq!(
            join(&l, "d", "-", &["a", "b", "missing"]).unwrap(),
            labels(&[("__name__", "m"), ("a", "x"), ("b", "y"), ("d", "x-y-")])
        );
        // No sources: the destination is deleted.
        assert_eq!(
            join(&l, "a", ",", &[]).unwrap(),
            labels(&[("__name__", "m"), ("b", "y")])
        );
        assert_eq!(
            join(&l, "d", ",", &["a", "1bad"]).unwrap_err(),
            "invalid source label name in label_join(): 1bad"
        );
        assert_eq!(
            join(&l, "bad-dst", ",", &["a"]).unwrap_err(),
            "invalid destination label name in label_join(): bad-dst"
        );
    }
}
