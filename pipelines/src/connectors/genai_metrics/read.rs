//! Reading span attributes for the `genai_metrics` connector: a value by key, as a number, a label or a flag,
//! leniently (a number sent as a string still counts; a negative or non-finite one does not). Used by the
//! connector ([`super`]) and its server-side metrics ([`super::server`]).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;

/// The value of `key` in `attrs`.
pub(super) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub(super) fn as_f64(v: &Any) -> Option<f64> {
    match v {
        Any::IntValue(i) => Some(*i as f64),
        Any::DoubleValue(d) => Some(*d),
        Any::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn as_label(v: &Any) -> Option<String> {
    Some(match v {
        Any::StringValue(s) => s.clone(),
        Any::BoolValue(b) => b.to_string(),
        Any::IntValue(i) => i.to_string(),
        Any::DoubleValue(d) => d.to_string(),
        // A list (finish reasons): its first element.
        Any::ArrayValue(a) => return a.values.first()?.value.as_ref().and_then(as_label),
        _ => return None,
    })
}

/// The first of `keys` present on the span, as a number.
pub(super) fn number(attrs: &[KeyValue], keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| find(attrs, k).and_then(as_f64))
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// Whether `key` is `true` on the span (a bool, or the string `"true"` some exporters send).
pub(super) fn flag(attrs: &[KeyValue], key: &str) -> bool {
    match find(attrs, key) {
        Some(Any::BoolValue(b)) => *b,
        Some(Any::StringValue(s)) => s == "true",
        _ => false,
    }
}
