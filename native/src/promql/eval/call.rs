//! Function calls (arguments evaluated per step, handed to
//! [`functions::call`]) and subqueries.
//!
//! A function with a range-vector argument is computed per series and step
//! from that series' window, as Prometheus's engine calls it, and the
//! evaluator gives the result its labels (the series' without the metric
//! name, except for `last_over_time`): through [`functions::RangeFn::eval`]
//! for the functions it covers, otherwise through [`functions::call`] with a
//! `MatrixArg` of one unlabelled series. Functions that map each value on its
//! own (`functions::value_map`) are applied to the points directly; every
//! other function gets its vector arguments sample by sample at each step.

use std::rc::Rc;

use super::super::functions::{self, Arg, Ctx, FnValue, MatrixArg};
use super::super::value::{Labels, RangeSeries, Sample};
use super::labels::{drop_name, hash_labels, Interner};
use super::plan::{Call, Node, Subq, Ty};
use super::selectors::{sample_at, window};
use super::{check_unique_series, Ev, Ser, Sm, Val};
use crate::promql::error::PromqlError;

/// The series a range-vector argument reads: a selector's or a subquery's.
struct Source<'x> {
    lab: &'x Rc<Labels>,
    ts: &'x [i64],
    vs: &'x [f64],
}

/// A subquery's series, its points split for windowing.
struct Owned {
    lab: Rc<Labels>,
    ts: Vec<i64>,
    vs: Vec<f64>,
}

/// The first multiple of `step` at or after `t`.
pub(crate) fn align_up(t: i64, step: i64) -> i64 {
    let q = t.div_euclid(step) * step;
    if q < t {
        q + step
    } else {
        q
    }
}

impl Ev<'_, '_> {
    /// A subquery's value: its expression evaluated at the multiples of its
    /// step in `[t - offset - range, t - offset]` for every step `t` (at the
    /// `@` time instead, if it has one).
    pub(crate) fn subquery(&self, s: &Subq) -> Result<Vec<Ser>, PromqlError> {
        let (from, to) = match s.at {
            Some(a) => (a - s.offset - s.range, a - s.offset),
            None => (self.start - s.offset - s.range, self.end - s.offset),
        };
        let inner = Ev {
            start: align_up(from, s.step),
            end: to,
            interval: s.step,
            sh: self.sh,
        };
        inner.eval_mat(&s.expr)
    }

    pub(crate) fn call(&self, c: &Call) -> Result<Vec<Ser>, PromqlError> {
        if c.name == "timestamp" {
            if let Some(Node::Sel(s)) = c.args.first().map(Node::unwrap_inv) {
                return self.call_timestamp(c, s);
            }
        }
        let matrix_arg = c
            .args
            .iter()
            .position(|a| matches!(a.unwrap_inv(), Node::Mat(..) | Node::Subq(_)));
        match matrix_arg {
            Some(i) => self.call_range(c, i),
            None => self.call_instant(c),
        }
    }

    /// `timestamp(selector)`: the selected samples keep their own times.
    fn call_timestamp(&self, c: &Call, s: &super::plan::Sel) -> Result<Vec<Ser>, PromqlError> {
        let series = &self.sh.series[s.id];
        let mut cursors = vec![0usize; series.len()];
        let lookback = self.sh.lookback;
        let mut interner = Interner::default();
        self.range_eval(&[], |ts, _, out| {
            // Prometheus 2.42 replaces the selector's offset by `t - @` here,
            // so with an `@` the offset is ignored.
            let rf = match s.at {
                Some(a) => a,
                None => ts - s.offset,
            };
            let mut samples = Vec::new();
            for (k, ser) in series.iter().enumerate() {
                if let Some((t, v)) = sample_at(ser.ts, ser.vs, &mut cursors[k], rf, lookback) {
                    samples.push(Sample {
                        labels: (*ser.lab).clone(),
                        t,
                        v,
                    });
                }
            }
            let n = samples.len();
            self.hold(n)?;
            let r = functions::call(
                &c.name,
                vec![Arg::Vector(samples)],
                &Ctx {
                    t: ts,
                    exprs: &c.exprs,
                },
            );
            self.sh.held.set(self.sh.held.get().saturating_sub(n));
            push_result(self, r?, &mut interner, out);
            Ok(())
        })
    }

    /// A function that maps each value on its own (abs, round, clamp_min…):
    /// applied to the points, each series' labels without the metric name
    /// computed once.
    fn call_value_map(&self, c: &Call) -> Result<Vec<Ser>, PromqlError> {
        let vec = self.eval_mat(&c.args[0])?;
        let scalars = c.args[1..]
            .iter()
            .map(|a| self.eval_mat(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut inputs: Vec<&[Ser]> = vec![&vec];
        inputs.extend(scalars.iter().map(|m| m.as_slice()));
        let mut dropped: Vec<Option<(Rc<Labels>, u64)>> = vec![None; vec.len()];
        type ValueMap = (Vec<u64>, Box<dyn Fn(f64) -> f64>);
        let mut map: Option<ValueMap> = None;
        let out = self.range_eval(&inputs, |_, v, out| {
            let args: Vec<f64> = v[1..]
                .iter()
                .map(|x| x.first().map_or(f64::NAN, |s| s.v))
                .collect();
            let key: Vec<u64> = args.iter().map(|x| x.to_bits()).collect();
            if map.as_ref().is_none_or(|(k, _)| *k != key) {
                let f = functions::value_map(&c.name, &args).ok_or_else(|| {
                    PromqlError::Execution(format!("{}() is not a per-value function", c.name))
                })?;
                map = Some((key, f));
            }
            let f = &map.as_ref().expect("set above").1;
            for s in &v[0] {
                let (lab, h) = dropped[s.sid as usize]
                    .get_or_insert_with(|| {
                        let l = drop_name(&s.lab);
                        let h = hash_labels(&l);
                        (Rc::new(l), h)
                    })
                    .clone();
                out.push(Sm {
                    lab,
                    h,
                    v: f(s.v),
                    sid: 0,
                });
            }
            Ok(())
        })?;
        self.release(&vec);
        Ok(out)
    }

    /// A call without range-vector arguments, per step.
    fn call_instant(&self, c: &Call) -> Result<Vec<Ser>, PromqlError> {
        let per_value = c.args.first().is_some_and(|a| a.ty() == Ty::Vector)
            && c.args[1..].iter().all(|a| a.ty() == Ty::Scalar)
            && functions::value_map(&c.name, &[]).is_some();
        if per_value {
            return self.call_value_map(c);
        }
        enum In {
            Mat(Vec<Ser>),
            Str(String),
        }
        let mut ins = Vec::with_capacity(c.args.len());
        for a in &c.args {
            ins.push(match self.eval(a)? {
                Val::Mat(m) => In::Mat(m),
                Val::Str(s) => In::Str(s),
            });
        }
        let mats: Vec<&[Ser]> = ins
            .iter()
            .filter_map(|i| match i {
                In::Mat(m) => Some(m.as_slice()),
                In::Str(_) => None,
            })
            .collect();
        let mut interner = Interner::default();
        let out = self.range_eval(&mats, |ts, vecs, out| {
            let mut args = Vec::with_capacity(c.args.len());
            let mut k = 0;
            for (a, i) in c.args.iter().zip(&ins) {
                match i {
                    In::Str(s) => args.push(Arg::String(s.clone())),
                    In::Mat(_) => {
                        let v = &vecs[k];
                        k += 1;
                        args.push(if a.ty() == Ty::Scalar {
                            Arg::Scalar(v.first().map_or(f64::NAN, |s| s.v))
                        } else {
                            Arg::Vector(
                                v.iter()
                                    .map(|s| Sample {
                                        labels: (*s.lab).clone(),
                                        t: ts,
                                        v: s.v,
                                    })
                                    .collect(),
                            )
                        });
                    }
                }
            }
            let r = functions::call(
                &c.name,
                args,
                &Ctx {
                    t: ts,
                    exprs: &c.exprs,
                },
            )?;
            push_result(self, r, &mut interner, out);
            Ok(())
        })?;
        for i in &ins {
            if let In::Mat(m) = i {
                self.release(m);
            }
        }
        Ok(out)
    }

    /// A call with a range-vector argument (a range selector or a subquery),
    /// per series and step, as Prometheus's engine makes it.
    fn call_range(&self, c: &Call, mi: usize) -> Result<Vec<Ser>, PromqlError> {
        let arg = c.args[mi].unwrap_inv();
        let (range, offset, at) = match arg {
            Node::Mat(s, r) => (*r, s.offset, s.at),
            Node::Subq(s) => (s.range, s.offset, s.at),
            _ => unreachable!("call_range is only called with a range-vector argument"),
        };
        let owned: Vec<Owned> = match arg {
            Node::Subq(s) => {
                let m = self.subquery(s)?;
                m.into_iter()
                    .map(|s| Owned {
                        lab: s.lab,
                        ts: s.pts.iter().map(|p| p.0).collect(),
                        vs: s.pts.iter().map(|p| p.1).collect(),
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let sources: Vec<Source> = match arg {
            Node::Mat(s, _) => self.sh.series[s.id]
                .iter()
                .map(|s| Source {
                    lab: &s.lab,
                    ts: s.ts,
                    vs: s.vs,
                })
                .collect(),
            _ => owned
                .iter()
                .map(|o| Source {
                    lab: &o.lab,
                    ts: &o.ts,
                    vs: &o.vs,
                })
                .collect(),
        };
        let held_sub: usize = owned.iter().map(|o| o.ts.len()).sum();

        // The other arguments (scalars, one point per step).
        let mut others: Vec<Option<Vec<Ser>>> = Vec::with_capacity(c.args.len());
        let mut strings: Vec<Option<String>> = Vec::with_capacity(c.args.len());
        for (i, a) in c.args.iter().enumerate() {
            if i == mi {
                others.push(None);
                strings.push(None);
                continue;
            }
            match self.eval(a)? {
                Val::Mat(m) => {
                    others.push(Some(m));
                    strings.push(None);
                }
                Val::Str(s) => {
                    others.push(None);
                    strings.push(Some(s));
                }
            }
        }

        let name = c.name.as_str();
        let absent = name == "absent_over_time";
        let fast = functions::RangeFn::from_name(name);
        let keep_name = fast.map_or(name == "last_over_time", |f| f.keeps_metric_name());
        let steps: Vec<i64> = self.steps().collect();
        let mut found = if absent {
            vec![false; steps.len()]
        } else {
            Vec::new()
        };
        let mut out: Vec<Ser> = Vec::new();
        let scalar_at = |j: usize, step: usize| -> f64 {
            others[j]
                .as_ref()
                .and_then(|m| m.first())
                .and_then(|s| s.pts.get(step).or(s.pts.last()))
                .map_or(f64::NAN, |p| p.1)
        };
        let mut win: Vec<(i64, f64)> = Vec::new();
        let mut params: Vec<f64> = Vec::new();
        for src in &sources {
            self.check_deadline()?;
            let (mut lo, mut hi) = (0, 0);
            let mut pts: Vec<(i64, f64)> = Vec::new();
            for (step, &ts) in steps.iter().enumerate() {
                let maxt = at.unwrap_or(ts) - offset;
                let mint = maxt - range;
                win.clear();
                window(src.ts, src.vs, &mut lo, &mut hi, mint, maxt, &mut win);
                if win.is_empty() {
                    continue;
                }
                if absent {
                    found[step] = true;
                    continue;
                }
                let n = win.len();
                self.hold(n)?;
                let v = if let Some(f) = fast {
                    // The function of one window, without building arguments.
                    params.clear();
                    params.extend(
                        (0..c.args.len())
                            .filter(|&j| j != mi)
                            .map(|j| scalar_at(j, step)),
                    );
                    f.eval(&win, mint, maxt, ts, &params)
                } else {
                    let mut args = Vec::with_capacity(c.args.len());
                    for (j, string) in strings.iter().enumerate() {
                        if j == mi {
                            args.push(Arg::Matrix(MatrixArg {
                                series: vec![RangeSeries {
                                    labels: Vec::new(),
                                    points: win.clone(),
                                }],
                                range_start: mint,
                                range_end: maxt,
                            }));
                        } else if let Some(s) = string {
                            args.push(Arg::String(s.clone()));
                        } else {
                            args.push(Arg::Scalar(scalar_at(j, step)));
                        }
                    }
                    functions::call(
                        name,
                        args,
                        &Ctx {
                            t: ts,
                            exprs: &c.exprs,
                        },
                    )
                    .map(|r| match r {
                        FnValue::Vector(v) => v.first().map(|s| s.v),
                        FnValue::Scalar(v) => Some(v),
                    })
                };
                self.sh.held.set(self.sh.held.get().saturating_sub(n));
                if let Some(v) = v? {
                    pts.push((ts, v));
                }
            }
            if !pts.is_empty() {
                self.hold(pts.len())?;
                let (lab, h) = if keep_name {
                    (src.lab.clone(), hash_labels(src.lab))
                } else {
                    let l = drop_name(src.lab);
                    let h = hash_labels(&l);
                    (Rc::new(l), h)
                };
                out.push(Ser { lab, h, pts });
            }
        }
        self.sh
            .held
            .set(self.sh.held.get().saturating_sub(held_sub));
        for m in others.iter().flatten() {
            self.release(m);
        }

        if absent {
            // One series, with the selector's `=` labels, at the steps where
            // no series had a sample in its window.
            let pts: Vec<(i64, f64)> = steps
                .iter()
                .zip(&found)
                .filter(|(_, f)| !**f)
                .map(|(&t, _)| (t, 1.0))
                .collect();
            if pts.is_empty() {
                return Ok(Vec::new());
            }
            let lab = match arg {
                Node::Mat(s, _) => self.sh.absent_labels[s.id].clone(),
                _ => Vec::new(),
            };
            self.hold(pts.len())?;
            let h = hash_labels(&lab);
            return Ok(vec![Ser {
                lab: Rc::new(lab),
                h,
                pts,
            }]);
        }
        check_unique_series(&out)?;
        Ok(out)
    }
}

/// Add a function's value at one step to the step's results.
fn push_result(ev: &Ev, r: FnValue, interner: &mut Interner, out: &mut Vec<Sm>) {
    match r {
        FnValue::Scalar(v) => out.push(ev.empty_sm(v)),
        FnValue::Vector(samples) => {
            for s in samples {
                let (lab, h) = interner.intern(s.labels);
                out.push(Sm {
                    lab,
                    h,
                    v: s.v,
                    sid: 0,
                });
            }
        }
    }
}
