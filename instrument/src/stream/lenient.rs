//! Lenient reading of JSON for the dialect decoders: a member of an unexpected type reads as absent, never as an
//! error, while text that is not JSON still fails. Input is one frame's JSON (from [`super::framing`]); output is
//! the dialect's own typed view of it, with strings borrowed from the frame where it has no escapes.
//!
//! Why not `#[derive(Deserialize)]`: a derived struct fails as a whole on one wrong-typed member (a count sent as
//! `1.5`, a `message` sent as a string), on a repeated key, and it reads an array as a struct. Model servers send
//! all of these now and then, and one odd member must not cost the frame's text. Here each JSON value goes
//! through `deserialize_any` once: a value of the wanted shape is taken, any other is read through and dropped.
//! One pass, no `serde_json::Value`, no copy of strings without escapes.
//!
//! A dialect describes its objects with [`Object`] (one `match` on the member name) and reads members with
//! [`read`]; leaves are `Text`, `u64`, `f64`, `bool` and `Vec` of objects.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string member, borrowed from the frame when it holds no escapes.
pub(super) type Text<'de> = Option<Cow<'de, str>>;

/// What a JSON value can become: each method takes the value if it is of the wanted shape, else gives `None`.
/// Maps and arrays of an unwanted shape are read through (so the document is still checked) and dropped.
pub(super) trait Shape<'de>: Sized {
    fn from_str(_: Cow<'de, str>) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A JSON object of a dialect: the members it reads, by name. Every other member is skipped unread.
pub(super) trait Object<'de>: Default {
    /// Reads member `key` from `map` with [`read`], or skips it with [`skip`]; either way its value is consumed.
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Reads the value of the current member leniently: `None` when it is not of the shape `T` wants.
pub(super) fn read<'de, T: Shape<'de>, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<T>, A::Error> {
    Ok(map.next_value::<Lenient<T>>()?.0)
}

/// Skips the value of the current member.
pub(super) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// Reads a whole frame leniently: `Ok(None)` when it is JSON but not an object; `Err` only when it is not JSON.
pub(super) fn frame<'de, T: Object<'de>>(json: &'de [u8]) -> Result<Option<T>, serde_json::Error> {
    Ok(serde_json::from_slice::<Lenient<T>>(json)?.0)
}

/// `T`, or `None` when the JSON value was of another shape.
pub(super) struct Lenient<T>(pub Option<T>);

impl<'de, T: Shape<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor(PhantomData)).map(Lenient)
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Shape<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(T::from_u64(v))
    }
    // Negative and fractional numbers are never a count: absent, as `Value::as_u64` would say. Only an `f64`
    // leaf (a duration in milliseconds) takes a fraction.
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(T::from_f64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Borrowed(v)))
    }
    // A string with escapes, unescaped into the parser's scratch buffer: the one case that copies.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(Lenient::<T>::deserialize(d)?.0)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq)
    }
}

// === impl Shape for the leaves ===

impl<'de> Shape<'de> for Cow<'de, str> {
    fn from_str(v: Cow<'de, str>) -> Option<Self> {
        Some(v)
    }
}

impl Shape<'_> for u64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
}

/// A measurement (llama.cpp's fractional milliseconds): any non-negative JSON number.
impl Shape<'_> for f64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

impl Shape<'_> for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

/// An array of objects. An element that is not an object stays as an empty one, so the array keeps its length
/// (`choices: []` means something other than `choices: [5]`).
impl<'de, T: Object<'de>> Shape<'de> for Vec<T> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Lenient<T>>()? {
            out.push(item.0.unwrap_or_default());
        }
        Ok(Some(out))
    }
}

/// Every [`Object`] is taken from a JSON object, and absent for anything else.
impl<'de, T: Object<'de>> Shape<'de> for T {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            // A repeated key is read again and the last value wins, as a JSON object read into a map would.
            out.member(&key.0, &mut map)?;
        }
        Ok(Some(out))
    }
}

/// A member name, borrowed unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}
