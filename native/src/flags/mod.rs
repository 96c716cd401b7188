//! Unleash-compatible feature-flag evaluation.
//!
//! A [`FlagSet`] is compiled once from Unleash's client-API state (what
//! `GET /api/client/features` serves: `{"version", "features", "segments"}`, each feature
//! optionally carrying Hearth's `metadata`) and then evaluates request bodies
//! `{"context": {...}}` straight into JSON:
//!
//! * [`FlagSet::evaluate`]: every flag, OFREP's bulk shape
//!   `{"flags":[{"key","enabled","variant","payload"?,"value","reason","metadata"?}]}`;
//! * [`FlagSet::evaluate_one`]: one such object;
//! * [`FlagSet::frontend`]: Unleash's frontend API, enabled flags only,
//!   `{"toggles":[{"name","enabled":true,"variant":{"name","enabled","payload"?,
//!   "feature_enabled"},"impressionData"}]}`.
//!
//! Semantics are Unleash's: strategies (`default`, `flexibleRollout`, `userWithId`,
//! `gradualRollout{UserId,SessionId,Random}`, `remoteAddress`, `applicationHostname`; unknown
//! ones never match), constraints with every operator, segments, feature and strategy
//! variants (a matching strategy's own variants win, seeded by its groupId), dependencies —
//! checked against Unleash's client specification (`testdata/`, see `conformance.rs`).
//! Bucketing is [`crate::bucket`]'s. Where SDKs disagree, `compile` documents the choice.
//!
//! `value` and `reason` are OFREP's: without a variant the value is `enabled`; a variant's
//! payload decoded (`json` parsed, `number` a number, `string`/`csv` a string), else the
//! variant's name. Reasons: `DISABLED` (off in the environment, or a dependency unmet),
//! `DEFAULT` (on, but no strategy matched), `STATIC` (a strategy matched that targets nobody
//! and rolls out to 100 %), `TARGETING_MATCH` (constraints, segments, user ids, addresses or
//! host names matched, or a variant override chose), `SPLIT` (a rollout below 100 % let the
//! context in, or a weighted draw among at least two variants chose).

mod compile;
mod context;
mod eval;
mod model;
mod values;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use compile::{system_hostname, Reason, StateError};
pub use context::{Context, ContextError, Defaults};

use compile::Flag;
use eval::{Outcome, Scratch};

/// One environment's flags, compiled for evaluation.
pub struct FlagSet {
    flags: Vec<Flag>,
    index: HashMap<Box<str>, usize>,
}

impl std::fmt::Debug for FlagSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagSet")
            .field("flags", &self.flags.len())
            .finish()
    }
}

/// A variant as Unleash's `getVariant` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantAnswer {
    pub name: String,
    /// `{"type":…,"value":…}` as JSON.
    pub payload_json: Option<String>,
    pub enabled: bool,
    pub feature_enabled: bool,
}

/// One flag's evaluation, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub enabled: bool,
    pub reason: Reason,
    /// The variant's name; `disabled` when none.
    pub variant: String,
}

impl FlagSet {
    /// Compile a client-API state; `applicationHostname` strategies compare with
    /// [`system_hostname`].
    pub fn new(state: &[u8]) -> Result<FlagSet, StateError> {
        Self::with_hostname(state, &system_hostname())
    }

    /// Compile a client-API state for a server named `hostname`.
    pub fn with_hostname(state: &[u8], hostname: &str) -> Result<FlagSet, StateError> {
        let c = compile::compile(state, &hostname.trim().to_lowercase())?;
        Ok(FlagSet {
            flags: c.flags,
            index: c.index,
        })
    }

    pub fn len(&self) -> usize {
        self.flags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// The flag names, in the state's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| &*f.name)
    }

    fn outcome(&self, i: usize, ctx: &Context<'_>, scratch: &mut Scratch) -> Outcome<'_> {
        eval::resolve(&self.flags, i, ctx, scratch)
    }

    /// Unleash's `isEnabled` (false for an unknown flag).
    pub fn is_enabled(&self, name: &str, ctx: &Context<'_>) -> bool {
        self.index
            .get(name)
            .is_some_and(|&i| self.outcome(i, ctx, &mut Scratch::default()).enabled)
    }

    /// Unleash's `getVariant` (the `disabled` variant for an unknown or disabled flag).
    pub fn variant(&self, name: &str, ctx: &Context<'_>) -> VariantAnswer {
        let o = self
            .index
            .get(name)
            .map(|&i| self.outcome(i, ctx, &mut Scratch::default()));
        let v = o.and_then(|o| o.variant);
        VariantAnswer {
            name: v.map_or("disabled", |v| &*v.name).to_owned(),
            payload_json: v.and_then(|v| v.payload_json.as_deref().map(str::to_owned)),
            enabled: v.is_some(),
            feature_enabled: o.is_some_and(|o| o.enabled),
        }
    }

    /// One flag's evaluation, typed (None for an unknown flag).
    pub fn evaluation(&self, name: &str, ctx: &Context<'_>) -> Option<Evaluation> {
        let &i = self.index.get(name)?;
        let o = self.outcome(i, ctx, &mut Scratch::default());
        Some(Evaluation {
            enabled: o.enabled,
            reason: o.reason,
            variant: o.variant.map_or("disabled", |v| &*v.name).to_owned(),
        })
    }

    /// Evaluate every flag for the context in `body`, appending
    /// `{"flags":[...]}` to `out`.
    pub fn evaluate(
        &self,
        body: &[u8],
        defaults: Defaults<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ContextError> {
        let ctx = Context::from_body(body, defaults)?;
        let mut scratch = Scratch::default();
        out.reserve(16 + self.flags.len() * 96);
        out.extend_from_slice(b"{\"flags\":[");
        for i in 0..self.flags.len() {
            if i > 0 {
                out.push(b',');
            }
            self.write_evaluation(i, &ctx, &mut scratch, out);
        }
        out.extend_from_slice(b"]}");
        Ok(())
    }

    /// Evaluate the flag `name`, appending its object to `out`; `Ok(false)` (nothing
    /// appended) when there is no such flag. The context is read (and may fail) first.
    pub fn evaluate_one(
        &self,
        name: &str,
        body: &[u8],
        defaults: Defaults<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, ContextError> {
        let ctx = Context::from_body(body, defaults)?;
        let Some(&i) = self.index.get(name) else {
            return Ok(false);
        };
        self.write_evaluation(i, &ctx, &mut Scratch::default(), out);
        Ok(true)
    }

    /// Unleash's frontend API answer for the context in `body`: the enabled flags with their
    /// variants, appended to `out` as `{"toggles":[...]}`.
    pub fn frontend(
        &self,
        body: &[u8],
        defaults: Defaults<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ContextError> {
        let ctx = Context::from_body(body, defaults)?;
        let mut scratch = Scratch::default();
        out.reserve(16 + self.flags.len() * 96);
        out.extend_from_slice(b"{\"toggles\":[");
        let mut first = true;
        for (i, f) in self.flags.iter().enumerate() {
            let o = self.outcome(i, &ctx, &mut scratch);
            if !o.enabled {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(b"{\"name\":");
            out.extend_from_slice(f.name_json.as_bytes());
            out.extend_from_slice(b",\"enabled\":true,\"variant\":{\"name\":");
            match o.variant {
                Some(v) => {
                    out.extend_from_slice(v.name_json.as_bytes());
                    out.extend_from_slice(b",\"enabled\":true");
                    if let Some(p) = &v.payload_json {
                        out.extend_from_slice(b",\"payload\":");
                        out.extend_from_slice(p.as_bytes());
                    }
                }
                None => out.extend_from_slice(b"\"disabled\",\"enabled\":false"),
            }
            out.extend_from_slice(b",\"feature_enabled\":true},\"impressionData\":");
            out.extend_from_slice(if f.impression_data { b"true" } else { b"false" });
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        Ok(())
    }

    fn write_evaluation(&self, i: usize, ctx: &Context<'_>, s: &mut Scratch, out: &mut Vec<u8>) {
        let f = &self.flags[i];
        let o = self.outcome(i, ctx, s);
        let enabled: &[u8] = if o.enabled { b"true" } else { b"false" };
        out.extend_from_slice(b"{\"key\":");
        out.extend_from_slice(f.name_json.as_bytes());
        out.extend_from_slice(b",\"enabled\":");
        out.extend_from_slice(enabled);
        out.extend_from_slice(b",\"variant\":");
        match o.variant {
            Some(v) => {
                out.extend_from_slice(v.name_json.as_bytes());
                if let Some(p) = &v.payload_json {
                    out.extend_from_slice(b",\"payload\":");
                    out.extend_from_slice(p.as_bytes());
                }
                out.extend_from_slice(b",\"value\":");
                out.extend_from_slice(v.value_json.as_bytes());
            }
            None => {
                out.extend_from_slice(b"\"disabled\",\"value\":");
                out.extend_from_slice(enabled);
            }
        }
        out.extend_from_slice(b",\"reason\":\"");
        out.extend_from_slice(o.reason.as_str().as_bytes());
        out.push(b'"');
        if let Some(m) = &f.metadata_json {
            out.extend_from_slice(b",\"metadata\":");
            out.extend_from_slice(m.as_bytes());
        }
        out.push(b'}');
    }
}
