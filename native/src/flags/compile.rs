//! Turning Unleash's client-API state into the compiled form evaluation walks: regexes, CIDRs,
//! versions, numbers and dates parsed, comma lists split and sorted, segments resolved, every
//! JSON fragment of the output (names, payloads, values, metadata) rendered once.
//!
//! Where Unleash's SDKs disagree, this follows Unleash's Rust engine (yggdrasil), which the
//! Python, Ruby, .NET and Java SDKs and Unleash Edge embed, so Hearth agrees with them:
//!
//! * A strategy that yggdrasil cannot compile — a constraint with an unknown operator, a
//!   `NUM_*`, `DATE_*` or `SEMVER_*` constraint whose `value` is missing or not a number / an
//!   RFC 3339 date-time / a version, a `STR_*` or `IN_CIDR` constraint without values, a
//!   reference to a segment that does not exist, a rollout above 100 — makes the whole
//!   feature evaluate off ("poisoned"). A `SEMVER_*` value with a `v` prefix makes only that
//!   constraint false (inverted or not); an invalid `REGEX` makes it false before inversion.
//! * `gradualRolloutUserId` / `gradualRolloutSessionId` need `groupId`; a rollout percentage
//!   that is not an integer makes the strategy false; a present `groupId` is used even when
//!   empty (the feature name is only the default).
//! * Disabled strategies are skipped; a feature whose strategies are all disabled is off
//!   (Unleash's client API serves it so since 5.0).

use std::collections::HashMap;

use regex::{Regex, RegexBuilder};

use super::context::Field;
use super::model;
use super::values::{self, Instant, Net, Semver};

/// Why a state cannot be compiled; `path` names the offending member (`$.features[3].name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for StateError {}

#[derive(Debug)]
pub(crate) struct Flag {
    pub name: Box<str>,
    /// The name as a JSON string, quotes included.
    pub name_json: Box<str>,
    pub enabled: bool,
    /// A strategy yggdrasil cannot compile: always off.
    pub poisoned: bool,
    pub impression_data: bool,
    /// The active strategies, in order.
    pub strategies: Vec<Strategy>,
    pub variants: VariantSet,
    pub dependencies: Vec<Dependency>,
    /// `metadata` rendered as JSON, when the feature has any.
    pub metadata_json: Option<Box<str>>,
}

#[derive(Debug)]
pub(crate) struct Dependency {
    /// Index of the parent feature; None when it does not exist (never satisfied).
    pub parent: Option<usize>,
    pub enabled: bool,
    pub variants: Vec<Box<str>>,
}

/// How a rollout picks the value it hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stickiness {
    /// userId, else sessionId, else a random number.
    Default,
    Random,
    Field(Field),
}

#[derive(Debug)]
pub(crate) enum Kind {
    Always,
    Never,
    /// In when the bucket of `group:stickiness value` is at most `percent`.
    Rollout {
        percent: u32,
        stickiness: Stickiness,
        group: Box<str>,
    },
    /// gradualRolloutRandom.
    Random {
        percent: u32,
    },
    /// userWithId: sorted.
    UserIds(Vec<Box<str>>),
    /// remoteAddress.
    Addresses(Vec<Net>),
}

/// What decided a match, for OpenFeature's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Static,
    Default,
    TargetingMatch,
    Split,
    Disabled,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Static => "STATIC",
            Reason::Default => "DEFAULT",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
            Reason::Disabled => "DISABLED",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Strategy {
    pub kind: Kind,
    /// The strategy's constraints, then those of its segments.
    pub constraints: Vec<Constraint>,
    pub variants: VariantSet,
    /// The reason when this strategy matches (before any variant choice).
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Lt,
    Lte,
    Eq,
    Gte,
    Gt,
}

impl Cmp {
    pub fn holds(self, o: std::cmp::Ordering) -> bool {
        match self {
            Cmp::Lt => o.is_lt(),
            Cmp::Lte => o.is_le(),
            Cmp::Eq => o.is_eq(),
            Cmp::Gte => o.is_ge(),
            Cmp::Gt => o.is_gt(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug)]
pub(crate) enum Op {
    /// IN (`not` = NOT_IN); values sorted.
    In {
        values: Vec<Box<str>>,
        not: bool,
    },
    /// STR_*; values lowercased when `ci`.
    Str {
        op: StrOp,
        values: Vec<Box<str>>,
        ci: bool,
    },
    Num {
        cmp: Cmp,
        value: f64,
    },
    Date {
        cmp: Cmp,
        at: Instant,
    },
    Semver {
        cmp: Cmp,
        version: Semver,
    },
    /// None: the pattern does not compile (false, before inversion).
    Regex(Option<Regex>),
    Cidr(Vec<Net>),
    /// False whatever `inverted` says (a `v`-prefixed version).
    Never,
}

#[derive(Debug)]
pub(crate) struct Constraint {
    pub field: Field,
    pub op: Op,
    pub inverted: bool,
}

#[derive(Debug)]
pub(crate) struct Variant {
    pub name: Box<str>,
    pub name_json: Box<str>,
    pub weight: u32,
    /// `{"type":…,"value":…}` as JSON.
    pub payload_json: Option<Box<str>>,
    /// OFREP's `value`: the decoded payload, else the name, as JSON.
    pub value_json: Box<str>,
    pub overrides: Vec<(Field, Vec<Box<str>>)>,
}

#[derive(Debug, Default)]
pub(crate) struct VariantSet {
    pub variants: Vec<Variant>,
    pub total_weight: u32,
    /// The seed group (the feature name, or a strategy's groupId).
    pub group: Box<str>,
    /// None: userId, else sessionId, else random.
    pub stickiness: Option<Field>,
    /// At least two variants can be drawn: a draw is a split.
    pub split: bool,
}

impl VariantSet {
    pub fn is_empty(&self) -> bool {
        self.variants.is_empty()
    }
}

pub(crate) struct Compiled {
    pub flags: Vec<Flag>,
    pub index: HashMap<Box<str>, usize>,
}

fn json_string(s: &str) -> Box<str> {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".into())
        .into_boxed_str()
}

/// Compile `state` for a server whose (lowercased) host name is `hostname`.
pub(crate) fn compile(state: &[u8], hostname: &str) -> Result<Compiled, StateError> {
    if state.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(StateError {
            path: "$".into(),
            message: "must be a JSON object {\"version\", \"features\", \"segments\"}".into(),
        });
    }
    let state: model::State = serde_json::from_slice(state).map_err(|e| locate(state, e))?;
    let features = state.features.unwrap_or_default();
    let mut segments: HashMap<i64, &[model::Constraint]> = HashMap::new();
    for seg in state.segments.iter().flatten() {
        segments.insert(seg.id.0, seg.constraints.as_deref().unwrap_or(&[]));
    }
    let mut index = HashMap::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        if index.insert(Box::<str>::from(f.name.as_str()), i).is_some() {
            return Err(StateError {
                path: format!("$.features[{i}].name"),
                message: format!("duplicate feature name {:?}", f.name),
            });
        }
    }
    let flags = features
        .iter()
        .map(|f| compile_feature(f, &segments, &index, hostname))
        .collect();
    Ok(Compiled { flags, index })
}

/// A serde error turned into a path: find the first feature or segment that does not read.
fn locate(state: &[u8], err: serde_json::Error) -> StateError {
    let message = err.to_string();
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(state) else {
        return StateError {
            path: "$".into(),
            message: format!("not JSON: {message}"),
        };
    };
    let Some(obj) = value.as_object() else {
        return StateError {
            path: "$".into(),
            message: "must be an object {\"version\", \"features\", \"segments\"}".into(),
        };
    };
    for (key, check) in [
        (
            "features",
            check::<model::Feature> as fn(&serde_json::Value) -> Option<String>,
        ),
        ("segments", check::<model::Segment>),
    ] {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(m) = check(item) {
                        return StateError {
                            path: format!("$.{key}[{i}]"),
                            message: m,
                        };
                    }
                }
            }
            Some(_) => {
                return StateError {
                    path: format!("$.{key}"),
                    message: "must be an array".into(),
                }
            }
        }
    }
    StateError {
        path: "$".into(),
        message,
    }
}

fn check<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Option<String> {
    T::deserialize(v).err().map(|e| e.to_string())
}

fn compile_feature(
    f: &model::Feature,
    segments: &HashMap<i64, &[model::Constraint]>,
    index: &HashMap<Box<str>, usize>,
    hostname: &str,
) -> Flag {
    let raw = f.strategies.as_deref().unwrap_or(&[]);
    let active: Vec<&model::Strategy> = raw.iter().filter(|s| s.disabled != Some(true)).collect();
    let mut poisoned = false;
    let strategies = active
        .iter()
        .map(|s| compile_strategy(s, &f.name, segments, hostname, &mut poisoned))
        .collect();
    let metadata_json = match &f.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(m) => Some(m.to_string().into_boxed_str()),
    };
    Flag {
        name: f.name.as_str().into(),
        name_json: json_string(&f.name),
        enabled: f.enabled.unwrap_or(false) && (raw.is_empty() || !active.is_empty()),
        poisoned,
        impression_data: f.impression_data.unwrap_or(false),
        strategies,
        variants: compile_variants(
            f.variants.as_deref().unwrap_or(&[]),
            &f.name,
            // Feature variants share the first one's stickiness, as every SDK reads it.
            f.variants
                .as_ref()
                .and_then(|v| v.first())
                .and_then(|v| v.stickiness.as_deref()),
            true,
        ),
        dependencies: f
            .dependencies
            .iter()
            .flatten()
            .map(|d| Dependency {
                parent: index.get(d.feature.as_str()).copied(),
                enabled: d.enabled.unwrap_or(true),
                variants: d
                    .variants
                    .iter()
                    .flatten()
                    .map(|v| v.as_str().into())
                    .collect(),
            })
            .collect(),
        metadata_json,
    }
}

/// A rollout percentage: None (strategy false) unless an integer; poisons above 100.
fn percent(s: &model::Strategy, key: &str, poisoned: &mut bool) -> Option<u32> {
    let p: usize = s.param(key)?.parse().ok()?;
    if p > 100 {
        *poisoned = true;
        return None;
    }
    Some(p as u32)
}

fn comma_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim)
}

fn compile_strategy(
    s: &model::Strategy,
    feature: &str,
    segments: &HashMap<i64, &[model::Constraint]>,
    hostname: &str,
    poisoned: &mut bool,
) -> Strategy {
    let mut targeted = false;
    let mut split = false;
    let kind = match s.name.as_str() {
        "default" => Kind::Always,
        "userWithId" => {
            targeted = true;
            match s.param("userIds") {
                Some(ids) => {
                    let mut ids: Vec<Box<str>> = comma_list(ids).map(Into::into).collect();
                    ids.sort_unstable();
                    Kind::UserIds(ids)
                }
                None => Kind::Never,
            }
        }
        name @ ("gradualRolloutUserId" | "gradualRolloutSessionId") => {
            match (percent(s, "percentage", poisoned), s.param("groupId")) {
                (Some(percent), Some(group)) => {
                    split = percent < 100;
                    Kind::Rollout {
                        percent,
                        stickiness: Stickiness::Field(if name == "gradualRolloutUserId" {
                            Field::UserId
                        } else {
                            Field::SessionId
                        }),
                        group: group.into(),
                    }
                }
                _ => Kind::Never,
            }
        }
        "gradualRolloutRandom" => match percent(s, "percentage", poisoned) {
            Some(percent) => {
                split = percent < 100;
                Kind::Random { percent }
            }
            None => Kind::Never,
        },
        "flexibleRollout" => match percent(s, "rollout", poisoned) {
            Some(percent) => {
                split = percent < 100;
                Kind::Rollout {
                    percent,
                    stickiness: match s.param("stickiness") {
                        None | Some("default") => Stickiness::Default,
                        Some("random") => Stickiness::Random,
                        Some(field) => Stickiness::Field(Field::parse(field)),
                    },
                    group: s.param("groupId").unwrap_or(feature).into(),
                }
            }
            None => Kind::Never,
        },
        "remoteAddress" => {
            targeted = true;
            match s.param("IPs") {
                Some(ips) => Kind::Addresses(comma_list(ips).filter_map(Net::parse).collect()),
                None => Kind::Never,
            }
        }
        "applicationHostname" => {
            targeted = true;
            let names = s.param("hostNames").unwrap_or("");
            if comma_list(names).any(|n| n.to_lowercase() == hostname) {
                Kind::Always
            } else {
                Kind::Never
            }
        }
        // A custom strategy: Hearth has no code for it, so it never matches (as in an SDK
        // without that strategy registered).
        _ => Kind::Never,
    };
    let mut constraints = Vec::new();
    for c in s.constraints.iter().flatten() {
        constraints.push(compile_constraint(c, poisoned));
    }
    for id in s.segments.iter().flatten() {
        match segments.get(&id.0) {
            Some(cs) => constraints.extend(cs.iter().map(|c| compile_constraint(c, poisoned))),
            None => *poisoned = true,
        }
    }
    if !constraints.is_empty() {
        targeted = true;
    }
    let reason = if split {
        Reason::Split
    } else if targeted {
        Reason::TargetingMatch
    } else {
        Reason::Static
    };
    Strategy {
        kind,
        constraints,
        // A strategy's variants are seeded by its groupId and stickiness.
        variants: compile_variants(
            s.variants.as_deref().unwrap_or(&[]),
            s.param("groupId").unwrap_or(feature),
            Some(s.param("stickiness").unwrap_or("default")),
            false,
        ),
        reason,
    }
}

fn compile_constraint(c: &model::Constraint, poisoned: &mut bool) -> Constraint {
    let field = Field::parse(&c.context_name);
    let inverted = c.inverted.unwrap_or(false);
    let ci = c.case_insensitive.unwrap_or(false);
    let value = c.value.as_ref().map(|t| t.0.as_str());
    let cmp = |op: &str| match op {
        "NUM_EQ" | "SEMVER_EQ" => Cmp::Eq,
        "NUM_GT" | "SEMVER_GT" | "DATE_AFTER" => Cmp::Gt,
        "NUM_GTE" | "SEMVER_GTE" => Cmp::Gte,
        "NUM_LT" | "SEMVER_LT" | "DATE_BEFORE" => Cmp::Lt,
        _ => Cmp::Lte,
    };
    let mut poison = || {
        *poisoned = true;
        Op::Never
    };
    let op = match c.operator.as_str() {
        op @ ("IN" | "NOT_IN") => {
            let mut values: Vec<Box<str>> = c.value_list().map(Into::into).collect();
            values.sort_unstable();
            values.dedup();
            Op::In {
                values,
                not: op == "NOT_IN",
            }
        }
        op @ ("STR_STARTS_WITH" | "STR_ENDS_WITH" | "STR_CONTAINS") => {
            let values: Vec<Box<str>> = c
                .value_list()
                .map(|v| {
                    if ci {
                        v.to_lowercase().into()
                    } else {
                        v.into()
                    }
                })
                .collect();
            if values.is_empty() {
                poison()
            } else {
                Op::Str {
                    op: match op {
                        "STR_STARTS_WITH" => StrOp::StartsWith,
                        "STR_ENDS_WITH" => StrOp::EndsWith,
                        _ => StrOp::Contains,
                    },
                    values,
                    ci,
                }
            }
        }
        op @ ("NUM_EQ" | "NUM_GT" | "NUM_GTE" | "NUM_LT" | "NUM_LTE") => {
            match value.filter(|v| values::is_grammar_number(v)) {
                Some(v) => match v.trim_matches([' ', '\t']).parse::<f64>() {
                    Ok(value) => Op::Num {
                        cmp: cmp(op),
                        value,
                    },
                    Err(_) => poison(),
                },
                None => poison(),
            }
        }
        op @ ("DATE_AFTER" | "DATE_BEFORE") => {
            match value.and_then(|v| values::parse_instant(v.trim())) {
                Some(at) => Op::Date { cmp: cmp(op), at },
                None => poison(),
            }
        }
        op @ ("SEMVER_EQ" | "SEMVER_GT" | "SEMVER_GTE" | "SEMVER_LT" | "SEMVER_LTE") => match value
        {
            Some(v) if v.starts_with('v') => Op::Never,
            Some(v) => match Semver::parse(v.trim_matches([' ', '\t'])) {
                Some(version) => Op::Semver {
                    cmp: cmp(op),
                    version,
                },
                None => poison(),
            },
            None => poison(),
        },
        "REGEX" => Op::Regex(
            RegexBuilder::new(value.unwrap_or(""))
                .case_insensitive(ci)
                .build()
                .ok(),
        ),
        "IN_CIDR" => {
            if c.value_list().next().is_none() {
                poison()
            } else {
                Op::Cidr(c.value_list().filter_map(Net::parse).collect())
            }
        }
        _ => poison(),
    };
    Constraint {
        field,
        op,
        inverted,
    }
}

/// A payload's OFREP value: `json` decoded, `number` as a number, anything else a string.
fn payload_value_json(kind: &str, value: &str) -> Box<str> {
    let decoded = match kind {
        "json" => serde_json::from_str::<serde_json::Value>(value).ok(),
        "number" => serde_json::from_str::<serde_json::Value>(value)
            .ok()
            .filter(serde_json::Value::is_number),
        _ => None,
    };
    match decoded {
        Some(v) => v.to_string().into_boxed_str(),
        None => json_string(value),
    }
}

fn compile_variants(
    variants: &[model::Variant],
    group: &str,
    stickiness: Option<&str>,
    with_overrides: bool,
) -> VariantSet {
    let variants: Vec<Variant> = variants
        .iter()
        .map(|v| {
            let weight = v
                .weight
                .map_or(0, |w| w.0.clamp(0, i64::from(u32::MAX)) as u32);
            let payload = v.payload.as_ref().map(|p| {
                let value = p.value.as_ref().map_or("", |v| v.0.as_str());
                (p.kind.as_str(), value)
            });
            Variant {
                name: v.name.as_str().into(),
                name_json: json_string(&v.name),
                weight,
                payload_json: payload.map(|(kind, value)| {
                    format!(
                        "{{\"type\":{},\"value\":{}}}",
                        json_string(kind),
                        json_string(value)
                    )
                    .into_boxed_str()
                }),
                value_json: match payload {
                    Some((kind, value)) => payload_value_json(kind, value),
                    None => json_string(&v.name),
                },
                overrides: if with_overrides {
                    v.overrides
                        .iter()
                        .flatten()
                        .map(|o| {
                            (
                                Field::parse(&o.context_name),
                                o.values
                                    .iter()
                                    .flatten()
                                    .flatten()
                                    .map(|t| t.0.as_str().into())
                                    .collect(),
                            )
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    VariantSet {
        split: variants.iter().filter(|v| v.weight > 0).count() >= 2,
        total_weight: u32::try_from(total).unwrap_or(u32::MAX),
        variants,
        group: group.into(),
        stickiness: match stickiness {
            None | Some("default") => None,
            Some(s) => Some(Field::for_variant_seed(s)),
        },
    }
}

/// The host name an `applicationHostname` strategy compares with, as unleash-client-node
/// reads it: `$HOSTNAME`, else the system's host name (on Linux the kernel's, from
/// /proc/sys/kernel/hostname, else /etc/hostname), else `undefined`; lowercased. Hearth
/// evaluates on the server, so it is the server's name, as for Unleash's own frontend API.
pub fn system_hostname() -> String {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_system = || {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
    };
    from_env
        .filter(|h| !h.trim().is_empty())
        .or_else(from_system)
        .map(|h| h.trim().to_lowercase())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "undefined".into())
}
