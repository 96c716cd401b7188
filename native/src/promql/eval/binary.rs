//! Binary operators between scalars, a vector and a scalar, and two vectors
//! (one-to-one, many-to-one, one-to-many matching; and, or, unless), with
//! Prometheus 2.42's result labels and errors.

use std::collections::HashMap;
use std::rc::Rc;

use super::super::value::{Labels, METRIC_NAME};
use super::labels::{
    drop_name, get, hash_labels, labels_string, match_labels, set, signature, IdBuild, IdMap,
};
use super::plan::{Bin, BinOp, Card, Matching, Ty};
use super::{Ev, Ser, Sm};
use crate::promql::error::PromqlError;

fn btos(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Go's `math.Mod` (the C `fmod` Rust's `%` is).
fn go_mod(a: f64, b: f64) -> f64 {
    a % b
}

/// Two scalars (`scalarBinop`): comparisons give 0 or 1.
fn scalar_binop(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div => l / r,
        BinOp::Pow => l.powf(r),
        BinOp::Mod => go_mod(l, r),
        BinOp::Atan2 => l.atan2(r),
        BinOp::Eql => btos(l == r),
        BinOp::Neq => btos(l != r),
        BinOp::Gtr => btos(l > r),
        BinOp::Lss => btos(l < r),
        BinOp::Gte => btos(l >= r),
        BinOp::Lte => btos(l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => f64::NAN,
    }
}

/// Two vector elements (`vectorElemBinop`): the value and whether a
/// comparison keeps the element (it keeps the left-hand value).
fn elem_binop(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        _ => (scalar_binop(op, l, r), true),
    }
}

/// The labels of a vector-vector result (`resultMetric`): the "many" side's
/// labels, the metric name dropped for arithmetic, only the `on` labels (or
/// without the `ignoring` ones) for one-to-one matching, the `group_x` labels
/// from the "one" side.
fn result_metric(ls: &Labels, rs: &Labels, op: BinOp, m: &Matching, return_bool: bool) -> Labels {
    let mut l = ls.clone();
    if op.drops_metric_name() {
        l.retain(|(n, _)| n != METRIC_NAME);
    }
    if m.card == Card::OneToOne {
        if m.on {
            l.retain(|(n, _)| m.labels.contains(n));
        } else {
            l.retain(|(n, _)| !m.labels.contains(n));
        }
    }
    for name in &m.include {
        set(&mut l, name, get(rs, name));
    }
    if return_bool {
        l.retain(|(n, _)| n != METRIC_NAME);
    }
    l
}

impl Ev<'_, '_> {
    pub(crate) fn binary(&self, b: &Bin) -> Result<Vec<Ser>, PromqlError> {
        let l = self.eval_mat(&b.lhs)?;
        let r = self.eval_mat(&b.rhs)?;
        let out = match (b.lhs.ty(), b.rhs.ty()) {
            (Ty::Scalar, Ty::Scalar) => self.range_eval(&[&l, &r], |_, v, out| {
                let x = v[0].first().map_or(f64::NAN, |s| s.v);
                let y = v[1].first().map_or(f64::NAN, |s| s.v);
                out.push(self.empty_sm(scalar_binop(b.op, x, y)));
                Ok(())
            })?,
            (Ty::Scalar, _) => self.vector_scalar(b, &r, &l, true)?,
            (_, Ty::Scalar) => self.vector_scalar(b, &l, &r, false)?,
            _ => match b.op {
                BinOp::And | BinOp::Or | BinOp::Unless => self.set_op(b, &l, &r)?,
                _ => self.vector_binop(b, &l, &r)?,
            },
        };
        self.release(&l);
        self.release(&r);
        Ok(out)
    }

    /// A vector and a scalar; `swap` when the scalar is on the left.
    fn vector_scalar(
        &self,
        b: &Bin,
        vec: &[Ser],
        sc: &[Ser],
        swap: bool,
    ) -> Result<Vec<Ser>, PromqlError> {
        let op = b.op;
        let drop = op.drops_metric_name() || b.return_bool;
        let mut dropped: Vec<Option<(Rc<Labels>, u64)>> = vec![None; vec.len()];
        self.range_eval(&[vec, sc], |_, v, out| {
            let scalar = v[1].first().map_or(f64::NAN, |s| s.v);
            for s in &v[0] {
                let (lv, rv) = if swap { (scalar, s.v) } else { (s.v, scalar) };
                let (mut value, mut keep) = elem_binop(op, lv, rv);
                // The vector's value stays the result of a comparison even
                // with the scalar on the left.
                if op.is_comparison() && swap {
                    value = rv;
                }
                if b.return_bool {
                    value = btos(keep);
                    keep = true;
                }
                if !keep {
                    continue;
                }
                let (lab, h) = if drop {
                    dropped[s.sid as usize]
                        .get_or_insert_with(|| {
                            let l = drop_name(&s.lab);
                            let h = hash_labels(&l);
                            (Rc::new(l), h)
                        })
                        .clone()
                } else {
                    (s.lab.clone(), s.h)
                };
                out.push(Sm {
                    lab,
                    h,
                    v: value,
                    sid: 0,
                });
            }
            Ok(())
        })
    }

    fn signatures(&self, m: &[Ser], matching: &Matching) -> Vec<u64> {
        m.iter()
            .map(|s| signature(&s.lab, matching.on, &matching.labels))
            .collect()
    }

    /// `and`, `or`, `unless`: elements kept whole by whether their signature
    /// occurs on the other side.
    fn set_op(&self, b: &Bin, l: &[Ser], r: &[Ser]) -> Result<Vec<Ser>, PromqlError> {
        let lsig = self.signatures(l, &b.matching);
        let rsig = self.signatures(r, &b.matching);
        let mut sigs: HashMap<u64, (), IdBuild> = HashMap::default();
        self.range_eval(&[l, r], |_, v, out| {
            let (lhs, rhs) = (&v[0], &v[1]);
            sigs.clear();
            match b.op {
                BinOp::And => {
                    if lhs.is_empty() || rhs.is_empty() {
                        return Ok(());
                    }
                    sigs.extend(rhs.iter().map(|s| (rsig[s.sid as usize], ())));
                    out.extend(
                        lhs.iter()
                            .filter(|s| sigs.contains_key(&lsig[s.sid as usize]))
                            .cloned(),
                    );
                }
                BinOp::Or => {
                    if lhs.is_empty() || rhs.is_empty() {
                        out.extend(lhs.iter().cloned());
                        out.extend(rhs.iter().cloned());
                        return Ok(());
                    }
                    sigs.extend(lhs.iter().map(|s| (lsig[s.sid as usize], ())));
                    out.extend(lhs.iter().cloned());
                    out.extend(
                        rhs.iter()
                            .filter(|s| !sigs.contains_key(&rsig[s.sid as usize]))
                            .cloned(),
                    );
                }
                _ => {
                    if lhs.is_empty() || rhs.is_empty() {
                        out.extend(lhs.iter().cloned());
                        return Ok(());
                    }
                    sigs.extend(rhs.iter().map(|s| (rsig[s.sid as usize], ())));
                    out.extend(
                        lhs.iter()
                            .filter(|s| !sigs.contains_key(&lsig[s.sid as usize]))
                            .cloned(),
                    );
                }
            }
            Ok(())
        })
    }

    /// Arithmetic and comparisons between two vectors (`VectorBinop`).
    ///
    /// Signatures are numbered once per node, so each step matches through
    /// arrays indexed by signature (reset by a step stamp) rather than maps;
    /// result labels are kept per "many"-side series with the "one"-side
    /// series they were made for.
    fn vector_binop(&self, b: &Bin, l: &[Ser], r: &[Ser]) -> Result<Vec<Ser>, PromqlError> {
        let m = &b.matching;
        let one_to_many = m.card == Card::OneToMany;
        let mut ids: IdMap<u32> = IdMap::default();
        let mut number = |sigs: Vec<u64>| -> Vec<u32> {
            sigs.into_iter()
                .map(|g| {
                    let n = ids.len() as u32;
                    *ids.entry(g).or_insert(n)
                })
                .collect()
        };
        let lid = number(self.signatures(l, m));
        let rid = number(self.signatures(r, m));
        let n_sigs = ids.len();
        // For one-to-many the right side is the "many" side: swap.
        let (many_id, one_id) = if one_to_many {
            (&rid, &lid)
        } else {
            (&lid, &rid)
        };
        let many_len = if one_to_many { r.len() } else { l.len() };
        let mut right: Vec<(u32, u32)> = vec![(0, 0); n_sigs];
        let mut matched: Vec<u32> = vec![0; n_sigs];
        let mut grouped: HashMap<u32, IdMap<()>, IdBuild> = HashMap::default();
        let mut metrics: Vec<Option<(u32, Rc<Labels>, u64)>> = vec![None; many_len];
        let mut stamp = 0u32;
        self.range_eval(&[l, r], |_, v, out| {
            let (mut lhs, mut rhs) = (&v[0], &v[1]);
            if lhs.is_empty() || rhs.is_empty() {
                return Ok(());
            }
            if one_to_many {
                std::mem::swap(&mut lhs, &mut rhs);
            }
            stamp += 1;
            for (i, rs) in rhs.iter().enumerate() {
                let sig = one_id[rs.sid as usize] as usize;
                if right[sig].0 == stamp {
                    let dup = &rhs[right[sig].1 as usize];
                    let side = if one_to_many { "left" } else { "right" };
                    return Err(PromqlError::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        labels_string(&match_labels(&rs.lab, m.on, &m.labels)),
                        labels_string(&rs.lab),
                        labels_string(&dup.lab),
                    )));
                }
                right[sig] = (stamp, i as u32);
            }
            grouped.clear();
            for ls in lhs.iter() {
                let sig = many_id[ls.sid as usize] as usize;
                if right[sig].0 != stamp {
                    continue;
                }
                let rs = &rhs[right[sig].1 as usize];
                let (vl, vr) = if one_to_many { (rs.v, ls.v) } else { (ls.v, rs.v) };
                let (mut value, keep) = elem_binop(b.op, vl, vr);
                if b.return_bool {
                    value = btos(keep);
                } else if !keep {
                    continue;
                }
                let cached = &mut metrics[ls.sid as usize];
                let (lab, h) = match cached {
                    Some((one, lab, h)) if *one == rs.sid => (lab.clone(), *h),
                    _ => {
                        let lab = result_metric(&ls.lab, &rs.lab, b.op, m, b.return_bool);
                        let h = hash_labels(&lab);
                        let lab = Rc::new(lab);
                        *cached = Some((rs.sid, lab.clone(), h));
                        (lab, h)
                    }
                };
                if m.card == Card::OneToOne {
                    if matched[sig] == stamp {
                        return Err(PromqlError::Execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                    matched[sig] = stamp;
                } else if grouped.entry(sig as u32).or_default().insert(h, ()).is_some() {
                    return Err(PromqlError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches".into(),
                    ));
                }
                out.push(Sm { lab, h, v: value, sid: 0 });
            }
            Ok(())
        })
    }
}
