//! The series an evaluation reads.

use promql_parser::label::{Matcher, Matchers};

use super::value::{Labels, Series};

/// Where the evaluator finds series. Implementations return the series whose
/// labels satisfy every matcher (a missing label matches as `""`), with their
/// samples cut to `[min_t, max_t]` (inclusive, milliseconds) — or uncut: the
/// evaluator never reads outside the range it asked for.
pub trait Storage {
    fn select(&self, matchers: &Matchers, min_t: i64, max_t: i64) -> Vec<&Series>;
}

/// Series held in memory: what the service fetched for one query, or what a
/// test file loaded.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    pub series: Vec<Series>,
}

impl Storage for MemStorage {
    /// Every series whose labels satisfy all of `matchers.matchers` (and, if
    /// `or_matchers` is set, every matcher of at least one of its groups), in
    /// the order they were added. Samples are not cut: the evaluator reads
    /// only the range it asked for.
    fn select(&self, matchers: &Matchers, _min_t: i64, _max_t: i64) -> Vec<&Series> {
        self.series
            .iter()
            .filter(|s| series_matches(&s.labels, matchers))
            .collect()
    }
}

/// Whether a label set satisfies `matchers`; a label the set lacks matches as
/// the empty string, as in Prometheus.
pub fn series_matches(labels: &Labels, matchers: &Matchers) -> bool {
    let all = |ms: &[Matcher]| ms.iter().all(|m| m.is_match(label_value(labels, &m.name)));
    all(&matchers.matchers)
        && (matchers.or_matchers.is_empty() || matchers.or_matchers.iter().any(|g| all(g)))
}

fn label_value<'a>(labels: &'a Labels, name: &str) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::label::MatchOp;

    fn series(pairs: &[(&str, &str)]) -> Series {
        Series {
            labels: pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            timestamps: vec![1, 2, 3],
            values: vec![1.0, 2.0, 3.0],
        }
    }

    fn re(s: &str) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{s})$")).unwrap()
    }

    #[test]
    fn select_applies_every_matcher_with_missing_labels_as_empty() {
        let st = MemStorage {
            series: vec![
                series(&[("__name__", "up"), ("job", "a")]),
                series(&[("__name__", "up"), ("job", "b"), ("zone", "x")]),
                series(&[("__name__", "down"), ("job", "a")]),
            ],
        };
        let sel = |ms: Vec<Matcher>| {
            st.select(&Matchers::new(ms), 0, 10)
                .iter()
                .map(|s| s.labels.clone())
                .collect::<Vec<_>>()
        };
        let up = Matcher::new(MatchOp::Equal, "__name__", "up");
        assert_eq!(sel(vec![up.clone()]).len(), 2);
        // zone="" matches the series without a zone.
        let got = sel(vec![up.clone(), Matcher::new(MatchOp::Equal, "zone", "")]);
        assert_eq!(got, vec![st.series[0].labels.clone()]);
        let got = sel(vec![Matcher::new(MatchOp::NotRe(re("a|x")), "job", "a|x")]);
        assert_eq!(got, vec![st.series[1].labels.clone()]);
        let got = sel(vec![up, Matcher::new(MatchOp::Re(re(".+")), "zone", ".+")]);
        assert_eq!(got, vec![st.series[1].labels.clone()]);
        // Samples come back uncut.
        assert_eq!(
            st.select(&Matchers::new(vec![]), 2, 2)[0].timestamps,
            vec![1, 2, 3]
        );
    }
}
