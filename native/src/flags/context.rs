//! The evaluation context, read from a request body `{"context": {...}}`.
//!
//! Unleash's context fields (`userId`, `sessionId`, `remoteAddress`, `environment`, `appName`,
//! `currentTime`, `properties{}`); OFREP's `targetingKey` is the `userId` (an explicit `userId`
//! wins); any other top-level key is a property (an explicit `properties` entry wins). Strings
//! are taken as they are, numbers and booleans as their JSON text, `null` as absent; an object
//! or an array where a value belongs is an error naming its place (`$.context.plan`).
//! `currentTime` must be an RFC 3339 date-time. Strings without escapes are borrowed from the
//! body, not copied.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::{self, Write as _};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::values::{self, Instant};

/// A context that cannot be read; `path` names the offending member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ContextError {}

/// A context field a strategy, constraint, stickiness or override refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    UserId,
    SessionId,
    RemoteAddress,
    Environment,
    AppName,
    CurrentTime,
    Property(Box<str>),
}

impl Field {
    /// A `contextName` as constraints and overrides use it.
    pub fn parse(name: &str) -> Field {
        match name {
            "userId" => Field::UserId,
            "sessionId" => Field::SessionId,
            "remoteAddress" => Field::RemoteAddress,
            "environment" => Field::Environment,
            "appName" => Field::AppName,
            "currentTime" => Field::CurrentTime,
            other => Field::Property(other.into()),
        }
    }

    /// A variant `stickiness`: as [`Field::parse`], except that `currentTime` is looked up
    /// among the properties (Unleash's engine does, so a time never seeds a variant).
    pub fn for_variant_seed(name: &str) -> Field {
        match name {
            "currentTime" => Field::Property(name.into()),
            other => Field::parse(other),
        }
    }
}

/// Values filled in only where the request's context lacks them (the frontend API's
/// enrichment with the caller's address and a session id).
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults<'d> {
    pub remote_address: Option<&'d str>,
    pub session_id: Option<&'d str>,
}

/// One request's context.
#[derive(Debug, Default)]
pub struct Context<'a> {
    pub user_id: Option<Cow<'a, str>>,
    pub session_id: Option<Cow<'a, str>>,
    pub remote_address: Option<Cow<'a, str>>,
    pub environment: Option<Cow<'a, str>>,
    pub app_name: Option<Cow<'a, str>>,
    pub current_time: Option<Cow<'a, str>>,
    /// `currentTime` parsed, or the time of the first date comparison without one.
    time: Cell<Option<Instant>>,
    /// `properties` members, then the other top-level keys (looked up in that order).
    properties: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Context<'a> {
    /// Read a request body; empty bytes (or a body without `context`) give an empty context.
    pub fn from_body(body: &'a [u8], defaults: Defaults<'a>) -> Result<Context<'a>, ContextError> {
        let mut ctx = Context::default();
        let start = body.iter().position(|b| !b.is_ascii_whitespace());
        if let Some(start) = start {
            let bad = |why: String| ContextError {
                path: "$".into(),
                message: format!("the body must be a JSON object {{\"context\": {{...}}}}{why}"),
            };
            if body[start] != b'{' {
                return Err(bad(String::new()));
            }
            let parsed: Body<'a> =
                serde_json::from_slice(body).map_err(|e| bad(format!(": {e}")))?;
            if let Some(raw) = parsed.context {
                ctx.read(raw)?;
            }
        }
        if ctx.remote_address.is_none() {
            ctx.remote_address = defaults.remote_address.map(Cow::Borrowed);
        }
        if ctx.session_id.is_none() {
            ctx.session_id = defaults.session_id.map(Cow::Borrowed);
        }
        Ok(ctx)
    }

    fn read(&mut self, raw: &'a RawValue) -> Result<(), ContextError> {
        let members = members(raw).ok_or_else(|| ContextError {
            path: "$.context".into(),
            message: "must be an object".into(),
        })?;
        let mut targeting_key = None;
        for (key, value) in members {
            if key == "properties" {
                self.read_properties(value)?;
                continue;
            }
            let path = || member_path("$.context", &key);
            let Some(text) = scalar(value).map_err(|kind| ContextError {
                path: path(),
                message: format!("must be a string, number or boolean, not {kind}"),
            })?
            else {
                continue; // null: absent
            };
            let slot = match key.as_ref() {
                "userId" => &mut self.user_id,
                "targetingKey" => &mut targeting_key,
                "sessionId" => &mut self.session_id,
                "remoteAddress" => &mut self.remote_address,
                "environment" => &mut self.environment,
                "appName" => &mut self.app_name,
                "currentTime" => {
                    let t = values::parse_instant(&text).ok_or_else(|| ContextError {
                        path: path(),
                        message: "must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z"
                            .into(),
                    })?;
                    self.time.set(Some(t));
                    &mut self.current_time
                }
                _ => {
                    self.extra.push((key, text));
                    continue;
                }
            };
            *slot = Some(text);
        }
        if self.user_id.is_none() {
            self.user_id = targeting_key;
        }
        Ok(())
    }

    fn read_properties(&mut self, raw: &'a RawValue) -> Result<(), ContextError> {
        if raw.get() == "null" {
            return Ok(());
        }
        let members = members(raw).ok_or_else(|| ContextError {
            path: "$.context.properties".into(),
            message: "must be an object".into(),
        })?;
        for (key, value) in members {
            match scalar(value) {
                Ok(Some(text)) => self.properties.push((key, text)),
                Ok(None) => {}
                Err(kind) => {
                    return Err(ContextError {
                        path: member_path("$.context.properties", &key),
                        message: format!("must be a string, number or boolean, not {kind}"),
                    })
                }
            }
        }
        Ok(())
    }

    /// A property (explicit `properties` first; the last of duplicate keys wins).
    pub fn property(&self, name: &str) -> Option<&str> {
        fn find<'s>(v: &'s [(Cow<'_, str>, Cow<'_, str>)], name: &str) -> Option<&'s str> {
            v.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_ref())
        }
        find(&self.properties, name).or_else(|| find(&self.extra, name))
    }

    /// A field's value: `currentTime` as given (absent when not given).
    pub fn get(&self, field: &Field) -> Option<&str> {
        match field {
            Field::UserId => self.user_id.as_deref(),
            Field::SessionId => self.session_id.as_deref(),
            Field::RemoteAddress => self.remote_address.as_deref(),
            Field::Environment => self.environment.as_deref(),
            Field::AppName => self.app_name.as_deref(),
            Field::CurrentTime => self.current_time.as_deref(),
            Field::Property(name) => self.property(name),
        }
    }

    /// `currentTime`, or now (read once per context, so every date comparison of one
    /// request sees the same instant).
    pub fn time(&self) -> Instant {
        match self.time.get() {
            Some(t) => t,
            None => {
                let t = values::now();
                self.time.set(Some(t));
                t
            }
        }
    }
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    context: Option<&'a RawValue>,
}

/// A string borrowed from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

struct MembersOf<'a>(Members<'a>);

impl<'de> Deserialize<'de> for MembersOf<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MembersOf<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(CowStr(k)) = map.next_key()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(MembersOf(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The members of a JSON object (already validated JSON), or None if it is not an object.
fn members(raw: &RawValue) -> Option<Members<'_>> {
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<MembersOf<'_>>(raw.get())
        .ok()
        .map(|m| m.0)
}

/// A scalar's text (`Ok(None)` for null), or the JSON type that is not a scalar.
fn scalar(raw: &RawValue) -> Result<Option<Cow<'_, str>>, &'static str> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<CowStr<'_>>(text)
            .map(|s| Some(s.0))
            .map_err(|_| "a string"),
        Some(b'{') => Err("an object"),
        Some(b'[') => Err("an array"),
        Some(b'n') => Ok(None),
        // true, false and numbers: their JSON text.
        _ => Ok(Some(Cow::Borrowed(text))),
    }
}

/// `$.context.plan`, or `$.context["a b"]` when the key is not an identifier.
fn member_path(parent: &str, key: &str) -> String {
    let ident = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(parent.len() + key.len() + 4);
    out.push_str(parent);
    if ident {
        out.push('.');
        out.push_str(key);
    } else {
        let _ = write!(
            out,
            "[{}]",
            serde_json::to_string(key).unwrap_or_else(|_| "\"?\"".into())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(body: &str) -> Result<Context<'_>, ContextError> {
        Context::from_body(body.as_bytes(), Defaults::default())
    }

    #[test]
    fn fields_properties_and_targeting_key() {
        let c = ctx(
            r#"{"context": {"userId": "u1", "sessionId": 42, "remoteAddress": "10.0.0.1",
            "environment": "prod", "appName": "web", "currentTime": "2024-05-01T12:00:00Z",
            "properties": {"plan": "gold", "age": 30, "beta": true, "gone": null},
            "country": "NO", "plan": "silver", "nothing": null}, "flagKey": "ignored"}"#,
        )
        .unwrap();
        assert_eq!(c.get(&Field::UserId), Some("u1"));
        assert_eq!(c.get(&Field::SessionId), Some("42"));
        assert_eq!(c.get(&Field::RemoteAddress), Some("10.0.0.1"));
        assert_eq!(c.get(&Field::Environment), Some("prod"));
        assert_eq!(c.get(&Field::AppName), Some("web"));
        assert_eq!(c.get(&Field::CurrentTime), Some("2024-05-01T12:00:00Z"));
        assert_eq!(
            c.time(),
            values::parse_instant("2024-05-01T12:00:00Z").unwrap()
        );
        assert_eq!(c.property("plan"), Some("gold")); // explicit properties win
        assert_eq!(c.property("age"), Some("30"));
        assert_eq!(c.property("beta"), Some("true"));
        assert_eq!(c.property("country"), Some("NO"));
        assert_eq!(c.property("gone"), None);
        assert_eq!(c.property("nothing"), None);
        assert_eq!(c.property("userId"), None);

        let c = ctx(r#"{"context": {"targetingKey": "tk"}}"#).unwrap();
        assert_eq!(c.get(&Field::UserId), Some("tk"));
        let c = ctx(r#"{"context": {"targetingKey": "tk", "userId": "u"}}"#).unwrap();
        assert_eq!(c.get(&Field::UserId), Some("u"));
        let c = ctx(r#"{"context": {"userId": 1.50e3, "appName": "a\"b"}}"#).unwrap();
        assert_eq!(c.get(&Field::UserId), Some("1.50e3")); // the number's own text
        assert_eq!(c.get(&Field::AppName), Some("a\"b"));
    }

    #[test]
    fn empty_bodies_and_defaults() {
        for body in [
            "",
            "  \n",
            "{}",
            r#"{"context": null}"#,
            r#"{"context": {}}"#,
        ] {
            let c = ctx(body).unwrap();
            assert_eq!(c.get(&Field::UserId), None, "{body:?}");
        }
        let d = Defaults {
            remote_address: Some("1.2.3.4"),
            session_id: Some("s"),
        };
        let c = Context::from_body(b"", d).unwrap();
        assert_eq!(c.get(&Field::RemoteAddress), Some("1.2.3.4"));
        assert_eq!(c.get(&Field::SessionId), Some("s"));
        let c = Context::from_body(br#"{"context":{"remoteAddress":"9.9.9.9"}}"#, d).unwrap();
        assert_eq!(c.get(&Field::RemoteAddress), Some("9.9.9.9"));
        assert_eq!(c.get(&Field::SessionId), Some("s"));
    }

    #[test]
    fn errors_name_the_member() {
        let err = |body: &str| ctx(body).unwrap_err();
        assert_eq!(
            err(r#"{"context": {"currentTime": "soon"}}"#).path,
            "$.context.currentTime"
        );
        assert_eq!(
            err(r#"{"context": {"currentTime": 5}}"#).path,
            "$.context.currentTime"
        );
        assert_eq!(
            err(r#"{"context": {"userId": {"a": 1}}}"#).path,
            "$.context.userId"
        );
        assert_eq!(err(r#"{"context": {"tags": [1]}}"#).path, "$.context.tags");
        assert_eq!(
            err(r#"{"context": {"a b": []}}"#).path,
            r#"$.context["a b"]"#
        );
        let e = err(r#"{"context": {"properties": {"a": {"nested": 1}}}}"#);
        assert_eq!(e.path, "$.context.properties.a");
        assert!(e.message.contains("an object"), "{}", e.message);
        assert_eq!(
            err(r#"{"context": {"properties": 3}}"#).path,
            "$.context.properties"
        );
        assert_eq!(err(r#"{"context": []}"#).path, "$.context");
        assert_eq!(err(r#"{"context": "x"}"#).path, "$.context");
        assert_eq!(err("[1]").path, "$");
        assert_eq!(err("{").path, "$");
        assert_eq!(err(r#"{"context": {}} x"#).path, "$");
        assert_eq!(
            err(r#"{"context": {"currentTime": "soon"}}"#).to_string(),
            "$.context.currentTime: must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z"
        );
    }
}
