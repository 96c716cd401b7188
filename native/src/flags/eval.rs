//! Evaluation: which strategy matches, which variant is drawn, and why.

use std::borrow::Cow;
use std::cell::Cell;
use std::net::IpAddr;

use super::compile::{
    Cmp, Constraint, Dependency, Flag, Kind, Op, Reason, Stickiness, StrOp, Strategy, Variant,
    VariantSet,
};
use super::context::{Context, Field};
use super::values::{self, Semver};
use crate::bucket;

/// Per-request scratch space: the hashed key `group:value` is built here.
#[derive(Default)]
pub(crate) struct Scratch {
    key: Vec<u8>,
}

impl Scratch {
    fn bucket(&mut self, group: &str, id: &str, seed: u32, normalizer: u32) -> u32 {
        self.key.clear();
        bucket::push_key(&mut self.key, group, id);
        bucket::murmur3_x86_32(&self.key, seed) % normalizer + 1
    }
}

/// A flag's evaluation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome<'f> {
    pub enabled: bool,
    pub reason: Reason,
    pub variant: Option<&'f Variant>,
}

impl Outcome<'_> {
    fn off(reason: Reason) -> Self {
        Outcome {
            enabled: false,
            reason,
            variant: None,
        }
    }
}

/// `1..=n` from a per-thread xorshift generator (for `random` stickiness and
/// gradualRolloutRandom: no caller can predict or needs to reproduce it).
fn random_in(n: u32) -> u32 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(values::now() as u64);
            h.finish() | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        ((x >> 32) % u64::from(n.max(1))) as u32 + 1
    })
}

/// A random stickiness value, as Unleash's engine draws one (`1..10000` as text).
fn random_id(buf: &mut itoa_buf::Buf) -> &str {
    buf.format(random_in(9999))
}

mod itoa_buf {
    /// Formats a u32 without allocating.
    #[derive(Default)]
    pub struct Buf([u8; 10]);
    impl Buf {
        pub fn format(&mut self, mut n: u32) -> &str {
            let mut i = self.0.len();
            loop {
                i -= 1;
                self.0[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            std::str::from_utf8(&self.0[i..]).unwrap_or("0")
        }
    }
}

pub(crate) fn resolve<'f>(
    flags: &'f [Flag],
    i: usize,
    ctx: &Context<'_>,
    scratch: &mut Scratch,
) -> Outcome<'f> {
    let f = &flags[i];
    if !f.enabled {
        return Outcome::off(Reason::Disabled);
    }
    if f.poisoned {
        return Outcome::off(Reason::Default);
    }
    for dep in &f.dependencies {
        if !dependency_met(flags, dep, ctx, scratch) {
            return Outcome::off(Reason::Disabled);
        }
    }
    let (reason, variants) = if f.strategies.is_empty() {
        (Reason::Static, &f.variants)
    } else {
        match f
            .strategies
            .iter()
            .find(|s| strategy_matches(s, ctx, scratch))
        {
            Some(s) if !s.variants.is_empty() => (s.reason, &s.variants),
            Some(s) => (s.reason, &f.variants),
            None => return Outcome::off(Reason::Default),
        }
    };
    match choose_variant(variants, ctx, scratch) {
        Some((v, how)) => Outcome {
            enabled: true,
            reason: how.unwrap_or(reason),
            variant: Some(v),
        },
        None => Outcome {
            enabled: true,
            reason,
            variant: None,
        },
    }
}

/// A parent must exist, have no parents itself, and be enabled (or disabled, as asked) with
/// one of the listed variants when some are listed (a parent without variants satisfies any
/// list, as in Unleash's engine). The parent is evaluated as a flag of its own.
fn dependency_met(flags: &[Flag], dep: &Dependency, ctx: &Context<'_>, s: &mut Scratch) -> bool {
    let Some(p) = dep.parent else {
        return false;
    };
    if !flags[p].dependencies.is_empty() {
        return false;
    }
    let parent = resolve(flags, p, ctx, s);
    if parent.enabled != dep.enabled {
        return false;
    }
    match parent.variant {
        Some(v) if dep.enabled && !dep.variants.is_empty() => {
            dep.variants.iter().any(|n| **n == *v.name)
        }
        _ => true,
    }
}

fn strategy_matches(st: &Strategy, ctx: &Context<'_>, s: &mut Scratch) -> bool {
    let kind = match &st.kind {
        Kind::Always => true,
        Kind::Never => false,
        Kind::UserIds(ids) => ctx
            .user_id
            .as_deref()
            .is_some_and(|u| ids.binary_search_by(|x| (**x).cmp(u)).is_ok()),
        Kind::Addresses(nets) => ctx
            .remote_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .is_some_and(|ip| nets.iter().any(|n| n.contains(ip))),
        Kind::Random { percent } => random_in(100) <= *percent,
        Kind::Rollout {
            percent,
            stickiness,
            group,
        } => {
            let mut buf = itoa_buf::Buf::default();
            let id = match stickiness {
                Stickiness::Default => ctx
                    .user_id
                    .as_deref()
                    .or(ctx.session_id.as_deref())
                    .or_else(|| Some(random_id(&mut buf))),
                Stickiness::Random => Some(random_id(&mut buf)),
                Stickiness::Field(field) => ctx.get(field),
            };
            id.is_some_and(|id| {
                s.bucket(group, id, bucket::ROLLOUT_SEED, bucket::ROLLOUT_BUCKETS) <= *percent
            })
        }
    };
    kind && st.constraints.iter().all(|c| constraint_holds(c, ctx))
}

fn lower(s: &str, ci: bool) -> Cow<'_, str> {
    if ci {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) fn constraint_holds(c: &Constraint, ctx: &Context<'_>) -> bool {
    let value = ctx.get(&c.field);
    let result = match &c.op {
        Op::Never => return false,
        Op::In { values, not } => match value {
            Some(v) => values.binary_search_by(|x| (**x).cmp(v)).is_ok() != *not,
            // NOT_IN holds for a missing field, IN does not.
            None => *not,
        },
        Op::Str { op, values, ci } => value.is_some_and(|v| {
            let v = lower(v, *ci);
            values.iter().any(|x| match op {
                StrOp::StartsWith => v.starts_with(&**x),
                StrOp::EndsWith => v.ends_with(&**x),
                StrOp::Contains => v.contains(&**x),
            })
        }),
        Op::Num { cmp, value: want } => {
            value
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| match cmp {
                    Cmp::Eq => (v - want).abs() < f64::EPSILON,
                    Cmp::Lt => v < *want,
                    Cmp::Lte => v <= *want,
                    Cmp::Gt => v > *want,
                    Cmp::Gte => v >= *want,
                })
        }
        Op::Date { cmp, at } => {
            let t = if c.field == Field::CurrentTime {
                Some(ctx.time())
            } else {
                value.and_then(values::parse_instant)
            };
            t.is_some_and(|t| cmp.holds(t.cmp(at)))
        }
        Op::Semver { cmp, version } => value
            .and_then(Semver::parse)
            .is_some_and(|v| cmp.holds(v.precedence(version))),
        Op::Regex(re) => match (re, value) {
            (Some(re), Some(v)) => re.is_match(v),
            _ => false,
        },
        Op::Cidr(nets) => value
            .and_then(|v| v.parse::<IpAddr>().ok())
            .is_some_and(|ip| nets.iter().any(|n| n.contains(ip))),
    };
    result != c.inverted
}

/// The variant drawn, with the reason it overrides (an override: TARGETING_MATCH; a weighted
/// draw among several: SPLIT; a single variant: None, the strategy's reason stands).
fn choose_variant<'f>(
    set: &'f VariantSet,
    ctx: &Context<'_>,
    s: &mut Scratch,
) -> Option<(&'f Variant, Option<Reason>)> {
    if set.variants.is_empty() {
        return None;
    }
    for v in &set.variants {
        for (field, values) in &v.overrides {
            if let Some(have) = ctx.get(field) {
                if values.iter().any(|x| **x == *have) {
                    return Some((v, Some(Reason::TargetingMatch)));
                }
            }
        }
    }
    if set.total_weight == 0 {
        return None;
    }
    let seed = match &set.stickiness {
        None => ctx.user_id.as_deref().or(ctx.session_id.as_deref()),
        Some(field) => ctx.get(field),
    };
    let target = match seed {
        Some(id) => s.bucket(&set.group, id, bucket::VARIANT_SEED, set.total_weight),
        None => random_in(set.total_weight),
    };
    let mut sum = 0u64;
    for v in &set.variants {
        sum += u64::from(v.weight);
        if sum >= u64::from(target) {
            return Some((v, set.split.then_some(Reason::Split)));
        }
    }
    None
}
