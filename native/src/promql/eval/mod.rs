//! Parsing, planning and evaluation (Prometheus v2.42's `promql/engine.go`).
//!
//! As in Prometheus, every node is evaluated once for all the steps of the
//! query: an instant vector or scalar becomes a matrix with at most one point
//! per step (`Ser`), and a node combining its children walks the steps with
//! one cursor per child series (`Ev::range_eval`). An instant query is a
//! range query with one step. Subqueries evaluate their inner expression with
//! their own steps (multiples of the subquery step since the epoch); a
//! step-invariant subtree (every selector in it has an `@`) is evaluated at
//! the first step and repeated.
//!
//! Modules: `plan` (AST → evaluated tree, checks, selector time ranges),
//! `selectors` (series, instant and range selectors), `aggregate`, `binary`,
//! `call` (functions, subqueries), `labels` (hashing and label helpers).

mod aggregate;
mod binary;
mod call;
mod labels;
pub(crate) mod plan;
mod selectors;
#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use promql_parser::label::Matchers;
use promql_parser::parser::Expr;

use super::error::PromqlError;
use super::storage::Storage;
use super::value::{Labels, QueryValue, RangeSeries, Sample};
use labels::{hash_labels, IdMap};
use plan::{Node, Ty};
use selectors::SelSeries;

#[cfg(test)]
pub(crate) use plan::is_at_modifier_unsafe;
pub use plan::DEFAULT_SUBQUERY_STEP_MS;

/// One query's evaluation parameters (milliseconds since the epoch).
#[derive(Debug, Clone)]
pub struct QueryParams {
    /// Instant query: `start == end`, `step == 0`.
    pub start: i64,
    pub end: i64,
    pub step: i64,
    /// How far back an instant selector looks for a sample (Prometheus's
    /// `--query.lookback-delta`, 5 minutes).
    pub lookback: i64,
    /// Past this instant evaluation stops with [`PromqlError::Timeout`].
    pub deadline: Option<Instant>,
    /// Most samples held at once (Prometheus's `--query.max-samples`, 50,000,000).
    pub max_samples: usize,
}

/// What a query reads: the series one selector matches, over `[min_t, max_t]`
/// (inclusive, ms; offsets, `@`, ranges, subqueries and the lookback applied).
#[derive(Debug, Clone)]
pub struct SelectorNeed {
    pub matchers: Matchers,
    pub min_t: i64,
    pub max_t: i64,
    /// Every read of this selector is an instant lookup at a whole hour (its
    /// evaluation times minus its offset, or its `@` time, are multiples of an
    /// hour; not inside a subquery; lookback at most an hour). Such a lookup
    /// finds the latest raw sample in `[t - lookback, t]`, which is always the
    /// first entry of the hour starting at `t` or the last entry of the hour
    /// before: the selector's series may be thinned to their hourly edges
    /// (`crate::chunk::rollup::Edge`) with an identical result.
    pub hour_edges: bool,
}

#[cfg(test)]
mod edges_tests;

/// One hour in milliseconds: the width of the stored edges' buckets.
pub const HOUR_MS: i64 = 3_600_000;

fn reads_hour_edges(reads: plan::Reads, params: &QueryParams) -> bool {
    let aligned = |t: i64| t.rem_euclid(HOUR_MS) == 0;
    params.lookback <= HOUR_MS
        && match reads {
            plan::Reads::At(t) => aligned(t),
            plan::Reads::Steps { offset } => {
                aligned(params.start.saturating_sub(offset))
                    && (params.step == 0 || aligned(params.step))
            }
            plan::Reads::Other => false,
        }
}

/// Parse `query`; a construct the engine does not evaluate answers
/// [`PromqlError::Unsupported`] naming it, a query Prometheus 2.42 would not
/// parse or type-check answers [`PromqlError::Parse`].
pub fn parse(query: &str) -> Result<Expr, PromqlError> {
    plan::register_functions();
    let expr = promql_parser::parser::parse(query)
        .map_err(|m| PromqlError::Parse(plan::prometheus_message(&m)))?;
    plan::validate(&expr)?;
    Ok(expr)
}

/// The selectors `expr` reads under `params`, one per selector in the query
/// (a selector inside a matrix selector or a subquery included), with the
/// metric name among the matchers.
pub fn needs(expr: &Expr, params: &QueryParams) -> Vec<SelectorNeed> {
    let end = if params.step == 0 {
        params.start
    } else {
        params.end
    };
    match plan::build(expr, params.start, end, params.lookback) {
        Ok(p) => p
            .selectors
            .into_iter()
            .map(|s| SelectorNeed {
                hour_edges: reads_hour_edges(s.reads, params),
                matchers: s.matchers,
                min_t: s.min_t,
                max_t: s.max_t,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Evaluate `expr`: an instant query (`step == 0`) gives a vector (in
/// Prometheus's order: `sort`, `topk`… keep theirs), scalar, string or (for a
/// range-vector expression) matrix; a range query a matrix with its series
/// sorted by labels.
pub fn evaluate(
    expr: &Expr,
    storage: &dyn Storage,
    params: &QueryParams,
) -> Result<QueryValue, PromqlError> {
    plan::validate(expr)?;
    let instant = params.step == 0;
    if params.step < 0 {
        return Err(PromqlError::Parse(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .into(),
        ));
    }
    let (start, end) = if instant {
        (params.start, params.start)
    } else {
        (params.start, params.end)
    };
    if end < start {
        return Err(PromqlError::Parse(
            "end timestamp must not be before start time".into(),
        ));
    }
    let plan = plan::build(expr, start, end, params.lookback)?;
    let ty = plan.root.ty();
    if !instant && !matches!(ty, Ty::Scalar | Ty::Vector) {
        return Err(PromqlError::Parse(format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            ty.documented()
        )));
    }
    let shared = Shared {
        lookback: params.lookback,
        deadline: params.deadline,
        max_samples: params.max_samples,
        held: Cell::new(0),
        series: selectors::load(storage, &plan.selectors),
        absent_labels: plan.selectors.iter().map(|s| s.eq_labels.clone()).collect(),
        empty: Rc::new(Vec::new()),
        empty_hash: hash_labels(&[]),
    };
    let ev = Ev {
        start,
        end,
        interval: if instant { 1 } else { params.step },
        sh: &shared,
    };
    let val = ev.eval(&plan.root)?;
    Ok(match val {
        Val::Str(s) => QueryValue::String { t: start, s },
        Val::Mat(m) if !instant => {
            let mut out: Vec<RangeSeries> = m.into_iter().map(Ser::into_range_series).collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            QueryValue::Matrix(out)
        }
        Val::Mat(m) => match ty {
            Ty::Scalar => QueryValue::Scalar {
                t: start,
                v: m.first()
                    .and_then(|s| s.pts.first())
                    .map_or(f64::NAN, |p| p.1),
            },
            Ty::Matrix => {
                let mut out: Vec<RangeSeries> = m.into_iter().map(Ser::into_range_series).collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                QueryValue::Matrix(out)
            }
            _ => QueryValue::Vector(
                m.into_iter()
                    .filter_map(|s| {
                        let v = s.pts.first()?.1;
                        Some(Sample {
                            labels: unwrap_labels(s.lab),
                            t: start,
                            v,
                        })
                    })
                    .collect(),
            ),
        },
    })
}

fn unwrap_labels(l: Rc<Labels>) -> Labels {
    Rc::try_unwrap(l).unwrap_or_else(|rc| (*rc).clone())
}

/// One series of a node's value: at most one point per step for instant
/// vectors and scalars (a scalar is one series without labels), the samples
/// of a window for range vectors. `h` is the hash of `lab`.
#[derive(Debug, Clone)]
pub(crate) struct Ser {
    pub lab: Rc<Labels>,
    pub h: u64,
    pub pts: Vec<(i64, f64)>,
}

impl Ser {
    fn into_range_series(self) -> RangeSeries {
        RangeSeries {
            labels: unwrap_labels(self.lab),
            points: self.pts,
        }
    }
}

/// One element of a node's value at one step; `sid` is the index of its
/// series in the node's matrix.
#[derive(Debug, Clone)]
pub(crate) struct Sm {
    pub lab: Rc<Labels>,
    pub h: u64,
    pub v: f64,
    pub sid: u32,
}

/// A node's value over all steps.
pub(crate) enum Val {
    Mat(Vec<Ser>),
    Str(String),
}

/// What every evaluator of one query shares.
pub(crate) struct Shared<'s> {
    pub lookback: i64,
    deadline: Option<Instant>,
    max_samples: usize,
    /// Samples held in materialised node values (Prometheus's
    /// `currentSamples`, counted as points are produced).
    held: Cell<usize>,
    /// The series of each selector of the plan, sorted by labels.
    pub series: Vec<Vec<SelSeries<'s>>>,
    /// The labels `absent_over_time` gives each selector.
    pub absent_labels: Vec<Labels>,
    pub empty: Rc<Labels>,
    pub empty_hash: u64,
}

/// An evaluator over the steps `start, start + interval, … ≤ end`.
#[derive(Clone, Copy)]
pub(crate) struct Ev<'a, 's> {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub sh: &'a Shared<'s>,
}

impl<'a, 's> Ev<'a, 's> {
    pub(crate) fn steps(&self) -> impl Iterator<Item = i64> {
        let (end, interval) = (self.end, self.interval);
        std::iter::successors(Some(self.start), move |&t| t.checked_add(interval))
            .take_while(move |&t| t <= end)
    }

    pub(crate) fn num_steps(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.interval) as usize + 1
        }
    }

    pub(crate) fn check_deadline(&self) -> Result<(), PromqlError> {
        match self.sh.deadline {
            Some(d) if Instant::now() > d => Err(PromqlError::Timeout),
            _ => Ok(()),
        }
    }

    /// Count `n` more samples held; over the limit is an error.
    pub(crate) fn hold(&self, n: usize) -> Result<(), PromqlError> {
        let held = self.sh.held.get() + n;
        self.sh.held.set(held);
        if held > self.sh.max_samples {
            Err(PromqlError::TooManySamples(self.sh.max_samples))
        } else {
            Ok(())
        }
    }

    /// The samples of a value no longer held.
    pub(crate) fn release(&self, m: &[Ser]) {
        let n: usize = m.iter().map(|s| s.pts.len()).sum();
        self.sh.held.set(self.sh.held.get().saturating_sub(n));
    }

    pub(crate) fn empty_sm(&self, v: f64) -> Sm {
        Sm {
            lab: self.sh.empty.clone(),
            h: self.sh.empty_hash,
            v,
            sid: 0,
        }
    }

    pub(crate) fn eval(&self, n: &Node) -> Result<Val, PromqlError> {
        self.check_deadline()?;
        Ok(match n {
            Node::Num(v) => {
                let v = *v;
                Val::Mat(self.range_eval(&[], |_, _, out| {
                    out.push(self.empty_sm(v));
                    Ok(())
                })?)
            }
            Node::Str(s) => Val::Str(s.clone()),
            Node::Neg(e) => Val::Mat(self.negate(e)?),
            Node::Sel(s) => Val::Mat(self.vector_selector(s)?),
            Node::Mat(s, range) => Val::Mat(self.matrix_selector(s, *range)?),
            Node::Subq(s) => Val::Mat(self.subquery(s)?),
            Node::Agg(a) => Val::Mat(self.aggregate(a)?),
            Node::Bin(b) => Val::Mat(self.binary(b)?),
            Node::Call(c) => Val::Mat(self.call(c)?),
            Node::Inv(e) => self.step_invariant(e)?,
        })
    }

    /// The value of a node that is not a string.
    pub(crate) fn eval_mat(&self, n: &Node) -> Result<Vec<Ser>, PromqlError> {
        match self.eval(n)? {
            Val::Mat(m) => Ok(m),
            Val::Str(_) => Err(PromqlError::Execution("unexpected string value".into())),
        }
    }

    fn negate(&self, e: &Node) -> Result<Vec<Ser>, PromqlError> {
        let mut m = self.eval_mat(e)?;
        for s in &mut m {
            if s.lab.iter().any(|(n, _)| n == super::value::METRIC_NAME) {
                let l = labels::drop_name(&s.lab);
                s.h = hash_labels(&l);
                s.lab = Rc::new(l);
            }
            for p in &mut s.pts {
                p.1 = -p.1;
            }
        }
        check_unique_series(&m)?;
        Ok(m)
    }

    /// Evaluate once at the first step and repeat the value at every step.
    fn step_invariant(&self, e: &Node) -> Result<Val, PromqlError> {
        if matches!(e, Node::Num(_) | Node::Str(_)) {
            return self.eval(e);
        }
        let once = Ev {
            end: self.start,
            ..*self
        };
        let val = once.eval(e)?;
        if matches!(e, Node::Mat(..) | Node::Subq(_)) || self.end == self.start {
            return Ok(val);
        }
        let Val::Mat(mut m) = val else { return Ok(val) };
        let extra = self.num_steps().saturating_sub(1);
        self.hold(m.len() * extra)?;
        for s in &mut m {
            if let Some(&(_, v)) = s.pts.first() {
                s.pts.reserve(extra);
                s.pts.extend(self.steps().skip(1).map(|t| (t, v)));
            }
        }
        Ok(Val::Mat(m))
    }

    /// Walk the steps: at each, hand `f` the elements of every input that have
    /// a point at that step, and collect what it returns into series (by
    /// label set, in the order they first appear). Two results with the same
    /// labels at one step are Prometheus's "vector cannot contain metrics with
    /// the same labelset".
    ///
    /// The inputs are read a block of steps at a time, series by series, so
    /// that each series' points are read in order rather than one point of
    /// every series per step.
    pub(crate) fn range_eval<F>(&self, inputs: &[&[Ser]], mut f: F) -> Result<Vec<Ser>, PromqlError>
    where
        F: FnMut(i64, &[Vec<Sm>], &mut Vec<Sm>) -> Result<(), PromqlError>,
    {
        const BLOCK: usize = 64;
        let num_steps = self.num_steps();
        let mut cursors: Vec<Vec<usize>> = inputs.iter().map(|m| vec![0; m.len()]).collect();
        // rows[i][k]: input i's elements at the k-th step of the block.
        let mut rows: Vec<Vec<Vec<Sm>>> = inputs.iter().map(|_| vec![Vec::new(); BLOCK]).collect();
        let mut vecs: Vec<Vec<Sm>> = inputs.iter().map(|_| Vec::new()).collect();
        let mut out: Vec<Ser> = Vec::new();
        let mut index: IdMap<usize> = IdMap::default();
        let mut result: Vec<Sm> = Vec::new();
        let mut block: Vec<i64> = Vec::with_capacity(BLOCK);
        let mut steps = self.steps().peekable();
        while steps.peek().is_some() {
            block.clear();
            block.extend(steps.by_ref().take(BLOCK));
            let (b0, b1) = (block[0], block[block.len() - 1]);
            for (i, m) in inputs.iter().enumerate() {
                for r in &mut rows[i] {
                    r.clear();
                }
                for (si, s) in m.iter().enumerate() {
                    let c = &mut cursors[i][si];
                    while let Some(&(t, val)) = s.pts.get(*c) {
                        if t > b1 {
                            break;
                        }
                        *c += 1;
                        let k = ((t - b0) / self.interval) as usize;
                        if t >= b0 && block.get(k) == Some(&t) {
                            rows[i][k].push(Sm {
                                lab: s.lab.clone(),
                                h: s.h,
                                v: val,
                                sid: si as u32,
                            });
                        }
                    }
                }
            }
            for (k, &ts) in block.iter().enumerate() {
                self.check_deadline()?;
                let mut gathered = 0;
                for i in 0..inputs.len() {
                    std::mem::swap(&mut vecs[i], &mut rows[i][k]);
                    gathered += vecs[i].len();
                }
                // The step's input vectors are held while the step is evaluated.
                self.hold(gathered)?;
                result.clear();
                let r = f(ts, &vecs, &mut result);
                self.sh
                    .held
                    .set(self.sh.held.get().saturating_sub(gathered));
                for i in 0..inputs.len() {
                    std::mem::swap(&mut vecs[i], &mut rows[i][k]);
                }
                r?;
                self.hold(result.len())?;
                for smp in result.drain(..) {
                    match index.entry(smp.h) {
                        Entry::Occupied(e) => {
                            let s = &mut out[*e.get()];
                            if s.pts.last().is_some_and(|p| p.0 == ts) {
                                return Err(same_labelset());
                            }
                            s.pts.push((ts, smp.v));
                        }
                        Entry::Vacant(e) => {
                            e.insert(out.len());
                            let mut pts = Vec::with_capacity(num_steps.min(4096));
                            pts.push((ts, smp.v));
                            out.push(Ser {
                                lab: smp.lab,
                                h: smp.h,
                                pts,
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

pub(crate) fn same_labelset() -> PromqlError {
    PromqlError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Prometheus's `Matrix.ContainsSameLabelset` as an error.
pub(crate) fn check_unique_series(m: &[Ser]) -> Result<(), PromqlError> {
    if m.len() < 2 {
        return Ok(());
    }
    let mut seen: HashMap<u64, (), labels::IdBuild> = HashMap::default();
    for s in m {
        if seen.insert(s.h, ()).is_some() {
            return Err(same_labelset());
        }
    }
    Ok(())
}
