//! JSON decoding of points, generic over the parser.
//!
//! The point/field visitors below are plain `serde` and run on any
//! `serde::Deserializer`; a [`JsonParser`] only says how to run them on a
//! body. Points are validated and added to the [`Builder`] as they are parsed
//! (the array is never materialised), and strings are borrowed from the input
//! whenever the parser allows it.
//!
//! The parser is chosen at build time: [`DefaultParser`] is sonic-rs (see
//! `bench/ingest/JSON_PARSERS.md` for the measurements). serde_json and
//! simd-json are available behind the `bench-parsers` feature for the
//! comparison harness (`examples/json_parsers.rs`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::point::{FieldName, LabelValue, Labels, RawPoint, Value};
use super::{Builder, IngestError};

/// Reason of an NDJSON line that is not JSON.
pub const BAD_LINE: &str = "item: not valid JSON";
/// Reason of an item that is JSON but not an object.
pub const NOT_OBJECT: &str = "item: must be a JSON object";
/// The message of an [`IngestError`] for a top-level value of the wrong shape.
pub const BAD_SHAPE: &str = "body must be a JSON array of points or an object {\"points\": [...]}";

/// How to run the visitors on a body with one JSON library.
pub trait JsonParser {
    /// Short name, for reports.
    const NAME: &'static str;

    /// Decode a whole `json` body (an array of points or `{"points": [...]}`),
    /// feeding each item to `b` in order.
    fn document(body: &[u8], b: &mut Builder) -> Result<(), IngestError>;

    /// Decode one NDJSON line into `b`; `false` (and nothing fed) if the line
    /// is not exactly one JSON value.
    fn line(line: &[u8], b: &mut Builder) -> bool;

    /// Decode the JSON text of a CSV `labels` field.
    fn labels(text: &str) -> Labels<'_>;
}

/// The parser used by [`super::decode`].
pub type DefaultParser = Sonic;

/// Any JSON value, skipped.
///
/// Not `serde::de::IgnoredAny`: sonic-rs skips an ignored value with a
/// recursive scanner that has no depth limit, so `[[[[…` nested a few
/// hundred thousand deep overflowed the stack. `deserialize_any` counts depth
/// (sonic-rs stops at 255 levels, serde_json at 128).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(|_| Skip)
    }
}

/// Drain the rest of a map or sequence the caller does not care about.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key::<IgnoredAny>()?.is_some() {
        map.next_value::<Skip>()?;
    }
    Ok(())
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}

/// A map key, borrowed from the input when possible.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Visitor for any JSON value, reduced to a [`Value`].
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value<'de>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value<'de>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value<'de>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<'de>, E> {
        Ok(Value::Num(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value<'de>, A::Error> {
        drain_map(map)?;
        Ok(Value::Composite)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value<'de>, A::Error> {
        drain_seq(seq)?;
        Ok(Value::Composite)
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for LabelValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ValueVisitor)? {
            Value::Str(s) => LabelValue::Str(s),
            _ => LabelValue::NotString,
        })
    }
}

/// The `labels` field: null, an object of (key, value) or anything else.
struct LabelsField<'de>(Labels<'de>);

impl<'de> Deserialize<'de> for LabelsField<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelsField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut labels = Labels::object();
                while let Some(Key(k)) = map.next_key()? {
                    let v: LabelValue<'de> = map.next_value()?;
                    labels.push(k, v);
                }
                Ok(LabelsField(labels))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq)?;
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(LabelsField(Labels::Invalid))
            }
        }
        d.deserialize_any(V)
    }
}

/// One item of the points array (or one NDJSON line).
pub enum Item<'de> {
    Point(RawPoint<'de>),
    NotObject,
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'de>, A::Error> {
                let mut p = RawPoint::default();
                while let Some(Key(k)) = map.next_key()? {
                    match FieldName::of(&k) {
                        Some(f) if p.has(f) => {
                            map.next_value::<Skip>()?;
                            p.duplicated(k);
                        }
                        Some(FieldName::Labels) => {
                            p.labels = Some(map.next_value::<LabelsField<'de>>()?.0);
                        }
                        Some(f) => {
                            let v: Value<'de> = map.next_value()?;
                            p.set(f, v);
                        }
                        None => {
                            map.next_value::<Skip>()?;
                            p.unknown.push(k);
                        }
                    }
                }
                Ok(Item::Point(p))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item<'de>, A::Error> {
                drain_seq(seq)?;
                Ok(Item::NotObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_none<E: de::Error>(self) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Item<'de>, E> {
                Ok(Item::NotObject)
            }
        }
        d.deserialize_any(V)
    }
}

impl Builder {
    /// Feed one parsed item.
    pub fn item(&mut self, item: &Item<'_>) {
        match item {
            Item::Point(p) => self.point(p),
            Item::NotObject => self.reject(NOT_OBJECT),
        }
    }
}

/// The points array: each element is fed to the builder as soon as parsed.
struct Items<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BAD_SHAPE)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Item<'de>>()? {
            self.0.item(&item);
        }
        Ok(())
    }
}

/// The top-level value of a `json` body.
pub struct Document<'b>(pub &'b mut Builder);

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BAD_SHAPE)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Items(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(Key(k)) = map.next_key()? {
            if k != "points" || seen {
                return Err(de::Error::custom(BAD_SHAPE));
            }
            seen = true;
            map.next_value_seed(Items(&mut *self.0))?;
        }
        if !seen {
            return Err(de::Error::custom(BAD_SHAPE));
        }
        Ok(())
    }
}

fn body_error(e: impl fmt::Display) -> IngestError {
    let msg = e.to_string();
    if msg.contains(BAD_SHAPE) {
        IngestError::Malformed(BAD_SHAPE.into())
    } else {
        // sonic-rs appends a multi-line excerpt of the input: keep the first line.
        let first = msg.lines().next().unwrap_or("").trim_end();
        IngestError::Malformed(format!("body is not valid JSON: {first}"))
    }
}

/// Feed every non-blank line of an NDJSON body to `b`.
///
/// Lines end at `\n`; a line holding only JSON whitespace (space, tab, CR) is
/// skipped and not counted.
pub fn decode_ndjson<P: JsonParser>(body: &[u8], b: &mut Builder) {
    for line in body.split(|&c| c == b'\n') {
        if line.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\r')) {
            continue;
        }
        if !P::line(line, b) {
            b.reject(BAD_LINE);
        }
    }
}

#[cfg(feature = "bench-parsers")]
fn labels_from_item(item: Result<LabelsField<'_>, impl fmt::Display>) -> Labels<'_> {
    match item {
        Ok(LabelsField(l)) => l,
        Err(_) => Labels::Invalid,
    }
}

/// A [`JsonParser`] over a serde deserializer that reads a byte slice and can check that
/// nothing follows the value (`end`): sonic-rs and serde_json differ only in that type.
macro_rules! slice_parser {
    ($(#[$meta:meta])* $parser:ident, $name:literal, $de:ty) => {
        $(#[$meta])*
        pub struct $parser;

        $(#[$meta])*
        impl JsonParser for $parser {
            const NAME: &'static str = $name;

            fn document(body: &[u8], b: &mut Builder) -> Result<(), IngestError> {
                let mut de = <$de>::from_slice(body);
                Document(b).deserialize(&mut de).map_err(body_error)?;
                de.end().map_err(body_error)
            }

            fn line(line: &[u8], b: &mut Builder) -> bool {
                let mut de = <$de>::from_slice(line);
                match Item::deserialize(&mut de) {
                    Ok(item) if de.end().is_ok() => {
                        b.item(&item);
                        true
                    }
                    _ => false,
                }
            }

            fn labels(text: &str) -> Labels<'_> {
                let mut de = <$de>::from_slice(text.as_bytes());
                match LabelsField::deserialize(&mut de) {
                    Ok(l) if de.end().is_ok() => l.0,
                    _ => Labels::Invalid,
                }
            }
        }
    };
}

slice_parser!(
    /// sonic-rs (SIMD; portable fallbacks when built without `-C target-cpu`).
    Sonic,
    "sonic-rs",
    sonic_rs::Deserializer<sonic_rs::Read<'_>>
);

slice_parser!(
    /// serde_json (scalar, the reference implementation of serde JSON).
    #[cfg(feature = "bench-parsers")]
    SerdeJson,
    "serde_json",
    serde_json::Deserializer<serde_json::de::SliceRead<'_>>
);

/// simd-json (simdjson's two-stage algorithm, runtime CPU detection). Parses
/// in place, so every body is first copied into a mutable buffer.
#[cfg(feature = "bench-parsers")]
pub struct SimdJson;

#[cfg(feature = "bench-parsers")]
fn owned_labels(l: Labels<'_>) -> Labels<'static> {
    match l {
        Labels::None => Labels::None,
        Labels::Invalid => Labels::Invalid,
        Labels::Object { entries, count } => Labels::Object {
            entries: entries
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        LabelValue::Str(s) => LabelValue::Str(Cow::Owned(s.into_owned())),
                        LabelValue::NotString => LabelValue::NotString,
                    };
                    (Cow::Owned(k.into_owned()), v)
                })
                .collect(),
            count,
        },
    }
}

#[cfg(feature = "bench-parsers")]
impl JsonParser for SimdJson {
    const NAME: &'static str = "simd-json";

    fn document(body: &[u8], b: &mut Builder) -> Result<(), IngestError> {
        let mut buf = body.to_vec();
        let mut de = simd_json::Deserializer::from_slice(&mut buf).map_err(body_error)?;
        Document(b).deserialize(&mut de).map_err(body_error)
    }

    fn line(line: &[u8], b: &mut Builder) -> bool {
        let mut buf = line.to_vec();
        let Ok(mut de) = simd_json::Deserializer::from_slice(&mut buf) else {
            return false;
        };
        match Item::deserialize(&mut de) {
            Ok(item) => {
                b.item(&item);
                true
            }
            Err(_) => false,
        }
    }

    fn labels(text: &str) -> Labels<'_> {
        let mut buf = text.as_bytes().to_vec();
        let Ok(mut de) = simd_json::Deserializer::from_slice(&mut buf) else {
            return Labels::Invalid;
        };
        owned_labels(labels_from_item(LabelsField::deserialize(&mut de)))
    }
}
