//! Unleash's client-API state (`GET /api/client/features`) as serde reads it.
//!
//! Lenient the way Unleash's SDKs are: unknown fields are ignored, `null` is
//! accepted wherever a field may be missing, and strategy `parameters`,
//! constraint values and override values may be strings, numbers or booleans
//! (some servers and hand-written exports send `"rollout": 50`). Nothing here
//! is interpreted; `compile` turns it into a [`FlagSet`](super::FlagSet).

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;

/// A string where some producers send a number or a boolean instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            // Display writes 50.0 as "50", as JavaScript's String(50.0) does.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer that may arrive as a number (integral float included) or a numeric string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.fract() == 0.0 && v.is_finite() {
                    Ok(Int(v as i64)) // saturating
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.trim()
                    .parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A payload's `value`: a string in Unleash's schema; any other JSON value is kept as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadValue(pub String);

impl<'de> Deserialize<'de> for PayloadValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(PayloadValue(match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct State {
    #[serde(default)]
    pub features: Option<Vec<Feature>>,
    #[serde(default)]
    pub segments: Option<Vec<Segment>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    pub name: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub impression_data: Option<bool>,
    #[serde(default)]
    pub strategies: Option<Vec<Strategy>>,
    #[serde(default)]
    pub variants: Option<Vec<Variant>>,
    #[serde(default)]
    pub dependencies: Option<Vec<Dependency>>,
    /// Hearth's own flag metadata, echoed in evaluations (not part of Unleash's schema).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

pub type Parameters = HashMap<String, Option<Text>>;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Parameters>,
    #[serde(default)]
    pub constraints: Option<Vec<Constraint>>,
    #[serde(default)]
    pub segments: Option<Vec<Int>>,
    #[serde(default)]
    pub variants: Option<Vec<Variant>>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

impl Strategy {
    /// A parameter's value; `null` counts as absent.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.parameters
            .as_ref()?
            .get(key)?
            .as_ref()
            .map(|t| t.0.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    pub context_name: String,
    pub operator: String,
    #[serde(default)]
    pub values: Option<Vec<Option<Text>>>,
    #[serde(default)]
    pub value: Option<Text>,
    #[serde(default)]
    pub inverted: Option<bool>,
    #[serde(default)]
    pub case_insensitive: Option<bool>,
}

impl Constraint {
    /// `values` without its `null`s.
    pub fn value_list(&self) -> impl Iterator<Item = &str> {
        self.values.iter().flatten().flatten().map(|t| t.0.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub weight: Option<Int>,
    /// `variable` or `fix` (Unleash) / `fixed`: how the server computed `weight`. SDKs use the
    /// served weights as they are, and so does the evaluator.
    #[serde(default)]
    #[allow(dead_code)]
    pub weight_type: Option<IgnoredAny>,
    #[serde(default)]
    pub stickiness: Option<String>,
    #[serde(default)]
    pub payload: Option<Payload>,
    #[serde(default)]
    pub overrides: Option<Vec<Override>>,
}

#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<PayloadValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    pub context_name: String,
    #[serde(default)]
    pub values: Option<Vec<Option<Text>>>,
}

#[derive(Debug, Deserialize)]
pub struct Dependency {
    pub feature: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub variants: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct Segment {
    pub id: Int,
    #[serde(default)]
    pub constraints: Option<Vec<Constraint>>,
}
