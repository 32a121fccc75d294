//! Decoding a parsed YAML tree into typed config while collecting **every** error.
//!
//! serde's derive stops at the first problem; users fixing a config want the whole list at once, each entry naming
//! where it is, what was there and what was expected. So config types implement [`Decode`], mostly through the
//! [`config_struct!`](crate::config_struct) and [`config_enum!`](crate::config_enum) macros, which walk a
//! `serde_json::Value` (the YAML after `${ENV}` substitution), fill in defaults, and push each problem into a
//! [`Ctx`] instead of returning early.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// One problem found in a config: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path from the document root, e.g. `service.pipelines.traces.receivers[1]`.
    pub path: String,
    /// What was found and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Collects errors while a config is decoded and validated.
#[derive(Debug, Default)]
pub struct Ctx {
    errors: Vec<ConfigError>,
}

impl Ctx {
    /// Records one error at `path`.
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// Whether an error was recorded at exactly `path`.
    pub fn has_error_at(&self, path: &str) -> bool {
        self.errors.iter().any(|e| e.path == path)
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors recorded so far, in the order found.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }
}

/// Joins a key onto a dotted path.
pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a list index onto a path.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Short description of a value for error messages: the value itself for scalars, its kind for collections.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// A config type that can be decoded from a YAML tree.
pub trait Decode: Sized {
    /// Decodes `value` found at `path`. On any problem the error is pushed into `ctx` and `None` is returned (a
    /// struct returns `Some` with defaults for the fields that failed, so that sibling fields are still checked).
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self>;

    /// Like [`Decode::decode`], but fields the YAML leaves out keep their values from `base` rather than the
    /// type's own defaults (a section nested in a component whose defaults differ, e.g. an exporter's queue).
    fn decode_onto(value: &Value, path: &str, ctx: &mut Ctx, base: Self) -> Option<Self> {
        let _ = base;
        Self::decode(value, path, ctx)
    }
}

/// Checks a decoded value beyond its shape (ranges, relations between fields). Runs after decoding.
pub trait Check {
    /// Pushes one error per problem into `ctx`; the default accepts everything.
    fn check(&self, _path: &str, _ctx: &mut Ctx) {}
}

/// The mapping at `path`, with YAML's empty value (`otlp:`) read as an empty mapping.
pub fn as_map<'a>(
    value: &'a Value,
    path: &str,
    ctx: &mut Ctx,
) -> Option<std::borrow::Cow<'a, serde_json::Map<String, Value>>> {
    match value {
        Value::Object(m) => Some(std::borrow::Cow::Borrowed(m)),
        Value::Null => Some(std::borrow::Cow::Owned(serde_json::Map::new())),
        other => {
            ctx.error(path, format!("{}: expected a mapping", describe(other)));
            None
        }
    }
}

/// Reports every key of `map` that is not in `known`, with a suggestion where one is close.
pub fn reject_unknown_keys(
    map: &serde_json::Map<String, Value>,
    known: &[&str],
    path: &str,
    ctx: &mut Ctx,
) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            ctx.error(&child(path, key), unknown_message("key", key, known));
        }
    }
}

/// `unknown key "endpont" (did you mean "endpoint"?)`, or the list of what is allowed when nothing is close.
pub fn unknown_message(what: &str, got: &str, known: &[&str]) -> String {
    match crate::suggest::closest(got, known.iter().copied()) {
        Some(s) => format!("unknown {what} {got:?} (did you mean {s:?}?)"),
        None if known.is_empty() => format!("unknown {what} {got:?} (nothing is allowed here)"),
        None => format!(
            "unknown {what} {got:?} (expected one of: {})",
            known.join(", ")
        ),
    }
}

// === impl Decode for primitives ===

impl Decode for String {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match value {
            Value::String(s) => Some(s.clone()),
            // YAML users write `version: 1.2` or `port: 80` unquoted and mean text.
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                ctx.error(path, format!("{}: expected a string", describe(other)));
                None
            }
        }
    }
}

impl Decode for bool {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            other => {
                ctx.error(path, format!("{}: expected true or false", describe(other)));
                None
            }
        }
    }
}

macro_rules! decode_unsigned {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
                let parsed = match value {
                    Value::Number(n) => n.as_u64().and_then(|v| <$t>::try_from(v).ok()),
                    // `${ENV}` substitution leaves text; accept text that is a whole number.
                    Value::String(s) => s.trim().parse::<$t>().ok(),
                    _ => None,
                };
                if parsed.is_none() {
                    ctx.error(
                        path,
                        format!("{}: expected a whole number from 0 to {}", describe(value), <$t>::MAX),
                    );
                }
                parsed
            }
        }
    )*};
}
decode_unsigned!(u16, u32, u64, usize);

impl Decode for f64 {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|f| f.is_finite());
        if parsed.is_none() {
            ctx.error(path, format!("{}: expected a number", describe(value)));
        }
        parsed
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::decode(v, path, ctx).map(Some),
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match value {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match T::decode(item, &index(path, i), ctx) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            other => {
                ctx.error(path, format!("{}: expected a list", describe(other)));
                None
            }
        }
    }
}

impl<T: Decode> Decode for BTreeMap<String, T> {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        let map = as_map(value, path, ctx)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in map.iter() {
            match T::decode(v, &child(path, k), ctx) {
                Some(v) => {
                    out.insert(k.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// Defines a config struct: fields with docs and defaults, `Default`, `Serialize` (for `print-config`) and a
/// [`Decode`] that rejects unknown keys with a suggestion and keeps decoding the other fields after an error.
/// The type must also implement [`Check`] (an empty `impl Check for T {}` accepts every decoded value).
#[macro_export]
macro_rules! config_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// The keys this section accepts.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl $crate::decode::Decode for $name {
            fn decode(
                value: &serde_json::Value,
                path: &str,
                ctx: &mut $crate::decode::Ctx,
            ) -> Option<Self> {
                Self::decode_onto(value, path, ctx, Self::default())
            }

            fn decode_onto(
                value: &serde_json::Value,
                path: &str,
                ctx: &mut $crate::decode::Ctx,
                base: Self,
            ) -> Option<Self> {
                let map = $crate::decode::as_map(value, path, ctx)?;
                $crate::decode::reject_unknown_keys(&map, Self::KEYS, path, ctx);
                #[allow(unused_mut)]
                let mut out = base;
                $(
                    if let Some(v) = map.get(stringify!($field)) {
                        let p = $crate::decode::child(path, stringify!($field));
                        let base = out.$field.clone();
                        if let Some(decoded) = <$ty as $crate::decode::Decode>::decode_onto(v, &p, ctx, base) {
                            out.$field = decoded;
                        }
                    }
                )*
                $crate::decode::Check::check(&out, path, ctx);
                Some(out)
            }
        }
    };
}

/// Defines a config enum written in YAML as one of a fixed set of lowercase words.
#[macro_export]
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// The words this setting accepts.
            pub const WORDS: &'static [&'static str] = &[$($text),*];

            /// The word for this value, as written in YAML.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $text, )* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $crate::decode::Decode for $name {
            fn decode(
                value: &serde_json::Value,
                path: &str,
                ctx: &mut $crate::decode::Ctx,
            ) -> Option<Self> {
                let word = match value {
                    serde_json::Value::String(s) => s.as_str(),
                    other => {
                        ctx.error(
                            path,
                            format!("{}: expected one of: {}", $crate::decode::describe(other), Self::WORDS.join(", ")),
                        );
                        return None;
                    }
                };
                match word {
                    $( $text => Some(Self::$variant), )*
                    other => {
                        ctx.error(path, $crate::decode::unknown_message("value", other, Self::WORDS));
                        None
                    }
                }
            }
        }
    };
}
