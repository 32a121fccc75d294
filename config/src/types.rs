//! Small value types shared by many config sections: durations, endpoints, component ids, attribute values.

use std::fmt;

use serde_json::Value;

use crate::decode::{Check, Ctx, Decode, describe};

/// A duration written the human way: `200ms`, `5s`, `1m 30s`. `0` means zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// `n` milliseconds.
    pub const fn from_millis(n: u64) -> Self {
        Self(std::time::Duration::from_millis(n))
    }

    /// `n` seconds.
    pub const fn from_secs(n: u64) -> Self {
        Self(std::time::Duration::from_secs(n))
    }

    /// The standard library duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl Decode for Duration {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        let parsed = match value {
            Value::Number(n) if n.as_u64() == Some(0) => Some(std::time::Duration::ZERO),
            Value::String(s) if s.trim() == "0" => Some(std::time::Duration::ZERO),
            Value::String(s) => humantime::parse_duration(s.trim()).ok(),
            _ => None,
        };
        if parsed.is_none() {
            ctx.error(
                path,
                format!(
                    "{}: expected a duration such as 200ms, 5s or 1m",
                    describe(value)
                ),
            );
        }
        parsed.map(Self)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_zero() {
            s.serialize_str("0s")
        } else {
            s.serialize_str(&humantime::format_duration(self.0).to_string())
        }
    }
}

/// A `host:port` to listen on or connect to, e.g. `127.0.0.1:4317`, `[::1]:4317` or `localhost:4317`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Endpoint(pub String);

impl Endpoint {
    /// The endpoint as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Endpoint {
    /// Checks `s` as `host:port`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = match s.rsplit_once(':') {
            Some((host, port)) => {
                !host.is_empty()
                    && port.parse::<u16>().is_ok()
                    && !host.contains('/')
                    && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
            }
            None => false,
        };
        if !ok {
            return Err(format!(
                "{s:?}: expected host:port, such as 127.0.0.1:4317 or [::1]:4317 (port 0 picks a free port)"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl Decode for Endpoint {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        let s = String::decode(value, path, ctx)?;
        Self::parse(&s).map_err(|e| ctx.error(path, e)).ok()
    }
}

/// A component id as written in the config: `type` or `type/name`, e.g. `otlp`, `batch/small`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    id: String,
    type_len: usize,
}

impl ComponentId {
    /// Parses `type[/name]`; the type is lowercase letters, digits and underscores, the name is not empty.
    pub fn parse(id: &str) -> Result<Self, String> {
        let (ty, name) = match id.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (id, None),
        };
        if ty.is_empty()
            || !ty
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "{id:?}: expected a component id `type` or `type/name`, with the type in lowercase letters, digits and _"
            ));
        }
        if name.is_some_and(|n| n.is_empty() || n.trim() != n) {
            return Err(format!(
                "{id:?}: the name after / must not be empty or padded with spaces"
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            type_len: ty.len(),
        })
    }

    /// The component type: `batch` in `batch/small`.
    pub fn kind(&self) -> &str {
        &self.id[..self.type_len]
    }

    /// The whole id as written.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl serde::Serialize for ComponentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}

/// A scalar attribute value as written in YAML (`value: 42`, `value: "eu-west"`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// Text.
    String(String),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// true / false.
    Bool(bool),
}

impl Decode for AttrValue {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match value {
            Value::String(s) => Some(Self::String(s.clone())),
            Value::Bool(b) => Some(Self::Bool(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Some(Self::Int(i)),
                (None, Some(f)) => Some(Self::Double(f)),
                _ => {
                    ctx.error(path, format!("{n}: number out of range"));
                    None
                }
            },
            other => {
                ctx.error(
                    path,
                    format!("{}: expected a string, number or boolean", describe(other)),
                );
                None
            }
        }
    }
}

impl Check for AttrValue {}
