//! Processor `attributes`: inserts, updates, upserts, deletes or hashes attributes, on every span, log record and
//! metric data point (`context: item`) or on the resource (`context: resource`). Actions run in the order written.
//!
//! Hashing is how users redact: the value is replaced by the lowercase hex SHA-256 of its bytes (a string's UTF-8,
//! an integer's or a double's 8 big-endian bytes, a boolean's one byte, bytes as they are, and the protobuf
//! encoding of arrays and maps), so equal values still group together while the original is gone.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use sha2::{Digest, Sha256};

use llmtel_config::{ActionKind, AttrContext, AttrValue, AttributesConfig};

use crate::payload::Payload;
use crate::stage::Processor;

/// One prepared action.
#[derive(Debug, Clone)]
struct Action {
    key: String,
    kind: ActionKind,
    value: Option<AnyValue>,
    context: AttrContext,
}

/// The attributes processor of one pipeline.
#[derive(Debug)]
pub struct AttributesProcessor {
    actions: Vec<Action>,
}

impl AttributesProcessor {
    /// A processor for these (validated) settings. Actions without a kind are skipped: validation refuses them.
    pub fn new(cfg: &AttributesConfig) -> Self {
        let actions = cfg
            .actions
            .iter()
            .filter_map(|a| {
                Some(Action {
                    key: a.key.clone(),
                    kind: a.action?,
                    value: a.value.as_ref().map(to_any),
                    context: a.context,
                })
            })
            .collect();
        Self { actions }
    }

    fn apply(&self, context: AttrContext, attrs: &mut Vec<KeyValue>) {
        for a in self.actions.iter().filter(|a| a.context == context) {
            let pos = attrs.iter().position(|kv| kv.key == a.key);
            match (a.kind, pos) {
                (ActionKind::Insert, None) | (ActionKind::Upsert, None) => attrs.push(KeyValue {
                    key: a.key.clone(),
                    value: a.value.clone(),
                    ..Default::default()
                }),
                (ActionKind::Update, Some(i)) | (ActionKind::Upsert, Some(i)) => {
                    attrs[i].value = a.value.clone()
                }
                (ActionKind::Delete, Some(i)) => {
                    attrs.remove(i);
                }
                (ActionKind::Hash, Some(i)) => {
                    let hashed = hash(attrs[i].value.as_ref());
                    attrs[i].value = Some(AnyValue {
                        value: Some(any_value::Value::StringValue(hashed)),
                    });
                }
                _ => {}
            }
        }
    }

    fn apply_resource(&self, resource: &mut Option<Resource>) {
        if self
            .actions
            .iter()
            .any(|a| a.context == AttrContext::Resource)
        {
            let r = resource.get_or_insert_with(Resource::default);
            self.apply(AttrContext::Resource, &mut r.attributes);
        }
    }
}

impl Processor for AttributesProcessor {
    fn process(&mut self, mut batch: Payload, out: &mut Vec<Payload>) {
        let item = AttrContext::Item;
        match &mut batch {
            Payload::Traces(rs) => {
                for r in rs {
                    self.apply_resource(&mut r.resource);
                    for s in r.scope_spans.iter_mut().flat_map(|s| s.spans.iter_mut()) {
                        self.apply(item, &mut s.attributes);
                    }
                }
            }
            Payload::Logs(rl) => {
                for r in rl {
                    self.apply_resource(&mut r.resource);
                    for l in r
                        .scope_logs
                        .iter_mut()
                        .flat_map(|s| s.log_records.iter_mut())
                    {
                        self.apply(item, &mut l.attributes);
                    }
                }
            }
            Payload::Metrics(rm) => {
                for r in rm {
                    self.apply_resource(&mut r.resource);
                    for m in r
                        .scope_metrics
                        .iter_mut()
                        .flat_map(|s| s.metrics.iter_mut())
                    {
                        for attrs in point_attributes(m.data.as_mut()) {
                            self.apply(item, attrs);
                        }
                    }
                }
            }
        }
        out.push(batch);
    }
}

/// The attribute lists of every data point of a metric.
fn point_attributes(data: Option<&mut Data>) -> Vec<&mut Vec<KeyValue>> {
    match data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        None => Vec::new(),
    }
}

fn to_any(v: &AttrValue) -> AnyValue {
    let value = match v {
        AttrValue::String(s) => any_value::Value::StringValue(s.clone()),
        AttrValue::Int(i) => any_value::Value::IntValue(*i),
        AttrValue::Double(d) => any_value::Value::DoubleValue(*d),
        AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
    };
    AnyValue { value: Some(value) }
}

/// Lowercase hex SHA-256 of a value's bytes (see the module docs for which bytes).
fn hash(v: Option<&AnyValue>) -> String {
    let mut h = Sha256::new();
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => h.update(s.as_bytes()),
        Some(any_value::Value::IntValue(i)) => h.update(i.to_be_bytes()),
        Some(any_value::Value::DoubleValue(d)) => h.update(d.to_bits().to_be_bytes()),
        Some(any_value::Value::BoolValue(b)) => h.update([u8::from(*b)]),
        Some(any_value::Value::BytesValue(b)) => h.update(b),
        Some(other @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => h
            .update(
                AnyValue {
                    value: Some(other.clone()),
                }
                .encode_to_vec(),
            ),
        // Newer value kinds (string table references) and empty values hash as their encoding.
        Some(other) => h.update(
            AnyValue {
                value: Some(other.clone()),
            }
            .encode_to_vec(),
        ),
        None => {}
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::tests::{kv, metrics, spans};
    use llmtel_config::AttributeAction;

    fn action(
        key: &str,
        kind: ActionKind,
        value: Option<&str>,
        context: AttrContext,
    ) -> AttributeAction {
        AttributeAction {
            key: key.into(),
            action: Some(kind),
            value: value.map(|v| AttrValue::String(v.into())),
            context,
        }
    }

    fn run(actions: Vec<AttributeAction>, batch: Payload) -> Payload {
        let mut p = AttributesProcessor::new(&AttributesConfig { actions });
        let mut out = Vec::new();
        p.process(batch, &mut out);
        out.pop().unwrap()
    }

    #[test]
    fn hashes_inserts_and_deletes_on_spans_and_resource() {
        let out = run(
            vec![
                action("user.email", ActionKind::Hash, None, AttrContext::Item),
                action(
                    "tenant",
                    ActionKind::Insert,
                    Some("acme"),
                    AttrContext::Item,
                ),
                action(
                    "service.name",
                    ActionKind::Update,
                    Some("renamed"),
                    AttrContext::Resource,
                ),
                action(
                    "host.name",
                    ActionKind::Upsert,
                    Some("gpu-1"),
                    AttrContext::Resource,
                ),
            ],
            spans(2),
        );
        let Payload::Traces(rs) = out else { panic!() };
        let span = &rs[0].scope_spans[0].spans[1];
        // sha256("a@b.c")
        let expected = hex::encode(Sha256::digest(b"a@b.c"));
        assert_eq!(span.attributes[0], kv("user.email", &expected));
        assert_eq!(span.attributes[1], kv("tenant", "acme"));
        let res = rs[0].resource.as_ref().unwrap();
        assert_eq!(
            res.attributes,
            vec![kv("service.name", "renamed"), kv("host.name", "gpu-1")]
        );
    }

    #[test]
    fn insert_keeps_existing_update_skips_missing_and_metric_points_are_covered() {
        let out = run(
            vec![
                action("i", ActionKind::Insert, Some("nope"), AttrContext::Item),
                action("missing", ActionKind::Update, Some("x"), AttrContext::Item),
            ],
            metrics(2, 1),
        );
        let Payload::Metrics(rm) = out else { panic!() };
        let Some(Data::Gauge(g)) = &rm[0].scope_metrics[0].metrics[0].data else {
            panic!()
        };
        assert_eq!(g.data_points[1].attributes, vec![kv("i", "1")]);

        let out = run(
            vec![action("i", ActionKind::Delete, None, AttrContext::Item)],
            metrics(2, 1),
        );
        let Payload::Metrics(rm) = out else { panic!() };
        let Some(Data::Gauge(g)) = &rm[0].scope_metrics[0].metrics[0].data else {
            panic!()
        };
        assert!(
            g.data_points.iter().all(|p| p.attributes.is_empty()),
            "{:?}",
            g.data_points
        );
    }
}
