//! An estimate of the memory a batch holds once decoded: what the queues count against `max_size_mib`.
//!
//! The encoded size is a poor measure of that: a decoded span is a struct of about 250 bytes plus one heap block
//! per id, name and attribute key and value, so 100 spans of 10 short attributes take over 3 times their
//! protobuf size, and more once the allocator's own overhead is counted. The estimate walks the batch once (the
//! cost of computing its encoded length), adding each struct's size, each vector's and string's capacity, and
//! [`BLOCK_OVERHEAD`] per heap block. It is an estimate: the allocator may round blocks up further.

use std::mem::size_of;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Metric, ResourceMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};

use crate::payload::Payload;

/// What the allocator adds to each heap block (glibc: a 16-byte header on 64-bit systems, and rounding to 16).
pub const BLOCK_OVERHEAD: usize = 16;

/// Estimated bytes `batch` holds on the heap, the outer vector included.
pub fn mem_size(batch: &Payload) -> usize {
    match batch {
        Payload::Traces(v) => vec_of(v, resource_spans),
        Payload::Metrics(v) => vec_of(v, resource_metrics),
        Payload::Logs(v) => vec_of(v, resource_logs),
    }
}

/// Heap bytes of a vector's block (its capacity) and of what its elements own.
fn vec_of<T>(v: &Vec<T>, each: impl Fn(&T) -> usize) -> usize {
    block(v.capacity() * size_of::<T>()) + v.iter().map(each).sum::<usize>()
}

/// A heap block of `n` bytes (none when `n` is 0: an empty vector or string allocates nothing).
fn block(n: usize) -> usize {
    if n == 0 { 0 } else { n + BLOCK_OVERHEAD }
}

fn bytes(v: &Vec<u8>) -> usize {
    block(v.capacity())
}

fn string(s: &String) -> usize {
    block(s.capacity())
}

fn attributes(v: &Vec<KeyValue>) -> usize {
    vec_of(v, |kv| {
        string(&kv.key) + kv.value.as_ref().map_or(0, any_value)
    })
}

fn any_value(v: &AnyValue) -> usize {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => string(s),
        Some(any_value::Value::BytesValue(b)) => bytes(b),
        Some(any_value::Value::ArrayValue(a)) => vec_of(&a.values, any_value),
        Some(any_value::Value::KvlistValue(l)) => attributes(&l.values),
        _ => 0,
    }
}

fn resource(r: &Option<Resource>) -> usize {
    r.as_ref().map_or(0, |r| {
        attributes(&r.attributes)
            + vec_of(&r.entity_refs, |e| {
                string(&e.schema_url)
                    + string(&e.r#type)
                    + vec_of(&e.id_keys, string)
                    + vec_of(&e.description_keys, string)
            })
    })
}

fn scope(s: &Option<InstrumentationScope>) -> usize {
    s.as_ref().map_or(0, |s| {
        string(&s.name) + string(&s.version) + attributes(&s.attributes)
    })
}

fn resource_spans(r: &ResourceSpans) -> usize {
    resource(&r.resource)
        + string(&r.schema_url)
        + vec_of(&r.scope_spans, |s| {
            scope(&s.scope) + string(&s.schema_url) + vec_of(&s.spans, span)
        })
}

fn span(s: &Span) -> usize {
    bytes(&s.trace_id)
        + bytes(&s.span_id)
        + bytes(&s.parent_span_id)
        + string(&s.trace_state)
        + string(&s.name)
        + attributes(&s.attributes)
        + vec_of(&s.events, |e| string(&e.name) + attributes(&e.attributes))
        + vec_of(&s.links, |l| {
            bytes(&l.trace_id)
                + bytes(&l.span_id)
                + string(&l.trace_state)
                + attributes(&l.attributes)
        })
        + s.status.as_ref().map_or(0, |st| string(&st.message))
}

fn resource_metrics(r: &ResourceMetrics) -> usize {
    resource(&r.resource)
        + string(&r.schema_url)
        + vec_of(&r.scope_metrics, |s| {
            scope(&s.scope) + string(&s.schema_url) + vec_of(&s.metrics, metric)
        })
}

fn exemplars(v: &Vec<Exemplar>) -> usize {
    vec_of(v, |e| {
        attributes(&e.filtered_attributes) + bytes(&e.span_id) + bytes(&e.trace_id)
    })
}

fn metric(m: &Metric) -> usize {
    let own = string(&m.name) + string(&m.description) + string(&m.unit) + attributes(&m.metadata);
    own + match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => vec_of(&g.data_points, |p| {
            attributes(&p.attributes) + exemplars(&p.exemplars)
        }),
        Some(Data::Sum(s)) => vec_of(&s.data_points, |p| {
            attributes(&p.attributes) + exemplars(&p.exemplars)
        }),
        Some(Data::Histogram(h)) => vec_of(&h.data_points, |p| {
            attributes(&p.attributes)
                + exemplars(&p.exemplars)
                + block(p.bucket_counts.capacity() * size_of::<u64>())
                + block(p.explicit_bounds.capacity() * size_of::<f64>())
        }),
        Some(Data::ExponentialHistogram(h)) => vec_of(&h.data_points, |p| {
            let buckets = |b: &Option<_>| {
                b.as_ref().map_or(0, |b: &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets| {
                    block(b.bucket_counts.capacity() * size_of::<u64>())
                })
            };
            attributes(&p.attributes)
                + exemplars(&p.exemplars)
                + buckets(&p.positive)
                + buckets(&p.negative)
        }),
        Some(Data::Summary(s)) => vec_of(&s.data_points, |p| {
            attributes(&p.attributes) + vec_of(&p.quantile_values, |_| 0)
        }),
    }
}

fn resource_logs(r: &ResourceLogs) -> usize {
    resource(&r.resource)
        + string(&r.schema_url)
        + vec_of(&r.scope_logs, |s| {
            scope(&s.scope)
                + string(&s.schema_url)
                + vec_of(&s.log_records, |l| {
                    string(&l.severity_text)
                        + l.body.as_ref().map_or(0, any_value)
                        + attributes(&l.attributes)
                        + bytes(&l.trace_id)
                        + bytes(&l.span_id)
                        + string(&l.event_name)
                })
        })
}

/// Encoded size of a batch as an OTLP export request (its resources are field 1 of the request).
#[cfg(test)]
pub(crate) fn encoded_len(batch: &Payload) -> usize {
    use prost::encoding::message::encoded_len_repeated;
    match batch {
        Payload::Traces(v) => encoded_len_repeated(1, v),
        Payload::Metrics(v) => encoded_len_repeated(1, v),
        Payload::Logs(v) => encoded_len_repeated(1, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::tests::spans;

    #[test]
    fn decoded_spans_weigh_several_times_their_encoded_size() {
        let batch = spans(100);
        let (mem, enc) = (mem_size(&batch), encoded_len(&batch));
        assert!(mem > 2 * enc, "in memory {mem} B, encoded {enc} B");
        // Each span holds at least its struct.
        assert!(mem >= 100 * size_of::<Span>(), "{mem}");
    }

    #[test]
    fn the_estimate_grows_with_what_a_batch_holds() {
        let small = mem_size(&spans(10));
        let big = mem_size(&spans(1000));
        assert!(big >= 50 * small, "{small} → {big}");
        assert_eq!(mem_size(&Payload::Traces(Vec::new())), 0);
    }
}
