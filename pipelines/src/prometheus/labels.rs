//! Labels of a series: attributes, scope and resource turned into sorted, sanitised `(name, value)` pairs, and
//! their exposition text (`a="x",b="y"`, escaped). Used by the store when it files a point under its series and
//! by rendering.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};

use super::naming::sanitize_label;
use crate::payload::any_to_string;

/// Sorted `(label, value)` pairs.
pub(crate) type Labels = Vec<(String, String)>;

/// `a="x",b="y"` with values escaped for the exposition formats.
pub(crate) fn label_text(labels: &Labels) -> String {
    let mut out = String::with_capacity(labels.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label(&mut out, v);
        out.push('"');
    }
    out
}

pub(crate) fn fingerprint(labels: &Labels) -> u64 {
    let mut h = DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

pub(crate) fn scope_labels(scope: Option<&InstrumentationScope>) -> Labels {
    let mut out = Labels::new();
    if let Some(s) = scope {
        if !s.name.is_empty() {
            out.push(("otel_scope_name".to_owned(), s.name.clone()));
        }
        if !s.version.is_empty() {
            out.push(("otel_scope_version".to_owned(), s.version.clone()));
        }
        for kv in &s.attributes {
            out.push((
                format!("otel_scope_{}", sanitize_label(&kv.key)),
                any_to_string(kv.value.as_ref()),
            ));
        }
    }
    out
}

/// Attributes as labels, sanitised; keys that collide after sanitising have their values joined with `;` in the
/// order of the original keys.
pub(crate) fn attribute_labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Labels {
    let mut by_label: BTreeMap<String, Vec<(&'a str, String)>> = BTreeMap::new();
    for kv in attrs {
        by_label
            .entry(sanitize_label(&kv.key))
            .or_default()
            .push((kv.key.as_str(), any_to_string(kv.value.as_ref())));
    }
    by_label
        .into_iter()
        .map(|(label, mut values)| {
            values.sort_by(|a, b| a.0.cmp(b.0));
            (
                label,
                values
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
                    .join(";"),
            )
        })
        .collect()
}

/// Sorts labels by name; a later duplicate name (a point attribute named like a resource label) wins.
pub(crate) fn normalize(mut labels: Labels) -> Labels {
    labels.reverse();
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|later, earlier| later.0 == earlier.0);
    labels
}

/// Appends `v` escaped as a label value (`\\`, `\"`, `\n`).
pub(crate) fn escape_label(out: &mut String, v: &str) {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
