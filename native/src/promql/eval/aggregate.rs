//! Aggregation operators (`aggregation` in Prometheus 2.42's engine.go), with
//! its float arithmetic step for step: avg as an incremental mean that keeps
//! an infinite mean, stddev/stdvar by Welford's method, topk/bottomk through
//! Go's `container/heap` and `sort.Sort`, groups in order of appearance.

use std::collections::HashMap;
use std::rc::Rc;

use super::super::functions;
use super::super::functions::go_sort::go_sort_by;
use super::super::value::{format_float, Labels, METRIC_NAME};
use super::labels::{go_quote, go_v, hash_labels, set, IdBuild, IdMap};
use super::plan::{Agg, AggOp, Ty};
use super::{Ev, Ser, Sm, Val};
use crate::promql::error::PromqlError;

/// Go's float64 bounds of `convertibleToInt64`.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

/// One group's running state at one step.
#[derive(Default, Clone)]
struct Acc {
    /// The step this state belongs to (0: none yet).
    stamp: usize,
    value: f64,
    mean: f64,
    count: usize,
    heap: Vec<Sm>,
    values: Vec<f64>,
}

/// The labels of the group a series falls in.
fn group_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    let listed = |n: &String| grouping.binary_search(n).is_ok();
    if without {
        l.iter()
            .filter(|(n, _)| n != METRIC_NAME && !listed(n))
            .cloned()
            .collect()
    } else if grouping.is_empty() {
        Vec::new()
    } else {
        l.iter().filter(|(n, _)| listed(n)).cloned().collect()
    }
}

/// `model.LabelName.IsValid` of Prometheus 2.42.
fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

// Go's container/heap, with the `Less` of vectorByValueHeap (topk) or
// vectorByReverseValueHeap (bottomk): a NaN is always "less".
fn heap_less(h: &[Sm], i: usize, j: usize, top: bool) -> bool {
    let (a, b) = (h[i].v, h[j].v);
    a.is_nan() || if top { a < b } else { a > b }
}

fn heap_up(h: &mut [Sm], mut j: usize, top: bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !heap_less(h, j, i, top) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Sm], i0: usize, n: usize, top: bool) {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && heap_less(h, j2, j1, top) {
            j = j2;
        }
        if !heap_less(h, j, i, top) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

fn heap_push(h: &mut Vec<Sm>, s: Sm, top: bool) {
    h.push(s);
    let n = h.len() - 1;
    heap_up(h, n, top);
}

fn heap_pop(h: &mut Vec<Sm>, top: bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    heap_down(h, 0, n, top);
    h.pop();
}

impl Ev<'_, '_> {
    pub(crate) fn aggregate(&self, a: &Agg) -> Result<Vec<Ser>, PromqlError> {
        let mut param_mat: Option<Vec<Ser>> = None;
        let mut param_str: Option<String> = None;
        if let Some(p) = &a.param {
            if p.ty() == Ty::String {
                if let Val::Str(s) = self.eval(p)? {
                    param_str = Some(s);
                }
            } else {
                param_mat = Some(self.eval_mat(p)?);
            }
        }
        let input = self.eval_mat(&a.expr)?;
        let out = if a.op == AggOp::CountValues {
            self.count_values(a, param_str.unwrap_or_default(), &input)?
        } else {
            self.aggregate_floats(a, param_mat.as_deref(), &input)?
        };
        self.release(&input);
        if let Some(m) = &param_mat {
            self.release(m);
        }
        Ok(out)
    }

    fn aggregate_floats(
        &self,
        a: &Agg,
        param: Option<&[Ser]>,
        input: &[Ser],
    ) -> Result<Vec<Ser>, PromqlError> {
        // Each input series' group, and each group's labels, computed once.
        let mut groups: Vec<(Rc<Labels>, u64)> = Vec::new();
        let mut by_hash: IdMap<usize> = IdMap::default();
        let gid: Vec<usize> = input
            .iter()
            .map(|s| {
                let l = group_labels(&s.lab, &a.grouping, a.without);
                let h = hash_labels(&l);
                *by_hash.entry(h).or_insert_with(|| {
                    groups.push((Rc::new(l), h));
                    groups.len() - 1
                })
            })
            .collect();
        let mut accs: Vec<Acc> = vec![Acc::default(); groups.len()];
        let mut order: Vec<usize> = Vec::new();
        let mut step_id = 0usize;
        let op = a.op;
        let inputs: Vec<&[Ser]> = match param {
            Some(p) => vec![p, input],
            None => vec![input],
        };
        self.range_eval(&inputs, |_, vecs, out| {
            step_id += 1;
            let (p, vec) = match param {
                Some(_) => (vecs[0].first().map_or(f64::NAN, |s| s.v), &vecs[1]),
                None => (0.0, &vecs[0]),
            };
            let mut k = 0usize;
            if matches!(op, AggOp::Topk | AggOp::Bottomk) {
                if !(MIN_INT64..=MAX_INT64).contains(&p) {
                    return Err(PromqlError::Execution(format!(
                        "Scalar value {} overflows int64",
                        go_v(p)
                    )));
                }
                let ki = p as i64;
                if ki < 1 {
                    return Ok(());
                }
                k = usize::try_from(ki).unwrap_or(usize::MAX);
            }
            let top = op == AggOp::Topk;
            order.clear();
            for s in vec {
                let g = gid[s.sid as usize];
                let acc = &mut accs[g];
                if acc.stamp != step_id {
                    acc.stamp = step_id;
                    order.push(g);
                    acc.value = s.v;
                    acc.mean = s.v;
                    acc.count = 1;
                    acc.heap.clear();
                    acc.values.clear();
                    match op {
                        AggOp::Stddev | AggOp::Stdvar => acc.value = 0.0,
                        AggOp::Topk | AggOp::Bottomk => acc.heap.push(s.clone()),
                        AggOp::Quantile => acc.values.push(s.v),
                        AggOp::Group => acc.value = 1.0,
                        _ => {}
                    }
                    continue;
                }
                match op {
                    AggOp::Sum => acc.value += s.v,
                    AggOp::Avg => {
                        acc.count += 1;
                        if acc.mean.is_infinite() {
                            if s.v.is_infinite() && (acc.mean > 0.0) == (s.v > 0.0) {
                                // Infinities of one sign: the mean stays.
                                continue;
                            }
                            if !s.v.is_infinite() && !s.v.is_nan() {
                                // A finite value cannot move an infinite mean.
                                continue;
                            }
                        }
                        let n = acc.count as f64;
                        acc.mean += s.v / n - acc.mean / n;
                    }
                    AggOp::Group => {}
                    AggOp::Max => {
                        if acc.value < s.v || acc.value.is_nan() {
                            acc.value = s.v;
                        }
                    }
                    AggOp::Min => {
                        if acc.value > s.v || acc.value.is_nan() {
                            acc.value = s.v;
                        }
                    }
                    AggOp::Count | AggOp::CountValues => acc.count += 1,
                    AggOp::Stddev | AggOp::Stdvar => {
                        acc.count += 1;
                        let delta = s.v - acc.mean;
                        acc.mean += delta / acc.count as f64;
                        acc.value += delta * (s.v - acc.mean);
                    }
                    AggOp::Topk | AggOp::Bottomk => {
                        let h = &mut acc.heap;
                        let head = h[0].v;
                        let better = if top { head < s.v } else { head > s.v };
                        if h.len() < k || better || head.is_nan() {
                            if h.len() == k {
                                if k == 1 {
                                    h[0] = s.clone();
                                    continue;
                                }
                                heap_pop(h, top);
                            }
                            heap_push(h, s.clone(), top);
                        }
                    }
                    AggOp::Quantile => acc.values.push(s.v),
                }
            }
            for &g in &order {
                let acc = &mut accs[g];
                let value = match op {
                    AggOp::Avg => acc.mean,
                    AggOp::Count | AggOp::CountValues => acc.count as f64,
                    AggOp::Stdvar => acc.value / acc.count as f64,
                    AggOp::Stddev => (acc.value / acc.count as f64).sqrt(),
                    AggOp::Topk | AggOp::Bottomk => {
                        // sort.Sort(sort.Reverse(heap)).
                        if acc.heap.len() > 1 {
                            let less = |x: &Sm, y: &Sm| {
                                y.v.is_nan() || if top { y.v < x.v } else { y.v > x.v }
                            };
                            go_sort_by(&mut acc.heap, less);
                        }
                        for s in acc.heap.drain(..) {
                            out.push(Sm { sid: 0, ..s });
                        }
                        continue;
                    }
                    AggOp::Quantile => functions::quantile(p, &mut acc.values),
                    _ => acc.value,
                };
                let (lab, h) = &groups[g];
                out.push(Sm {
                    lab: lab.clone(),
                    h: *h,
                    v: value,
                    sid: 0,
                });
            }
            Ok(())
        })
    }

    /// `count_values("label", v)`: the groups include the value as a label.
    fn count_values(&self, a: &Agg, label: String, input: &[Ser]) -> Result<Vec<Ser>, PromqlError> {
        let mut grouping = a.grouping.clone();
        if !a.without {
            grouping.push(label.clone());
            grouping.sort();
        }
        self.range_eval(&[input], |_, vecs, out| {
            if !valid_label_name(&label) {
                return Err(PromqlError::Execution(format!(
                    "invalid label name {}",
                    go_quote(&label)
                )));
            }
            let mut index: HashMap<u64, usize, IdBuild> = HashMap::default();
            let mut groups: Vec<(Rc<Labels>, u64, usize)> = Vec::new();
            for s in &vecs[0] {
                let mut metric = (*s.lab).clone();
                set(&mut metric, &label, &format_float(s.v));
                let l = group_labels(&metric, &grouping, a.without);
                let h = hash_labels(&l);
                match index.get(&h) {
                    Some(&i) => groups[i].2 += 1,
                    None => {
                        index.insert(h, groups.len());
                        groups.push((Rc::new(l), h, 1));
                    }
                }
            }
            for (lab, h, n) in groups {
                out.push(Sm {
                    lab,
                    h,
                    v: n as f64,
                    sid: 0,
                });
            }
            Ok(())
        })
    }
}
