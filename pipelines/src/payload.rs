//! The one data model inside the pipeline: OTLP protobuf messages (`opentelemetry-proto`'s prost types), one
//! signal per batch. Items are counted the way the Collector counts them: spans, metric data points, log records.

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

pub use llmtel_config::Signal;

/// A batch of telemetry of one signal, as it travels between stages.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Spans, grouped by resource and scope.
    Traces(Vec<ResourceSpans>),
    /// Metrics, grouped by resource and scope.
    Metrics(Vec<ResourceMetrics>),
    /// Log records, grouped by resource and scope.
    Logs(Vec<ResourceLogs>),
}

impl Payload {
    /// An empty batch of `signal`.
    pub fn empty(signal: Signal) -> Self {
        match signal {
            Signal::Traces => Self::Traces(Vec::new()),
            Signal::Metrics => Self::Metrics(Vec::new()),
            Signal::Logs => Self::Logs(Vec::new()),
        }
    }

    /// Which signal this batch carries.
    pub fn signal(&self) -> Signal {
        match self {
            Self::Traces(_) => Signal::Traces,
            Self::Metrics(_) => Signal::Metrics,
            Self::Logs(_) => Signal::Logs,
        }
    }

    /// Spans, metric data points or log records in the batch.
    pub fn item_count(&self) -> usize {
        match self {
            Self::Traces(v) => count(v),
            Self::Metrics(v) => count(v),
            Self::Logs(v) => count(v),
        }
    }

    /// Whether the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }

    /// Moves the resources of `other` to the end of this batch. Both must carry the same signal; a batch of another
    /// signal is handed back unchanged.
    pub fn append(&mut self, other: Payload) -> Result<(), Payload> {
        match (self, other) {
            (Self::Traces(a), Self::Traces(b)) => a.extend(b),
            (Self::Metrics(a), Self::Metrics(b)) => a.extend(b),
            (Self::Logs(a), Self::Logs(b)) => a.extend(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// The batch as an OTLP export request (`Export{Trace,Metrics,Logs}ServiceRequest`), protobuf-encoded.
    pub fn into_request_bytes(self) -> Vec<u8> {
        use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
        use prost::Message;
        match self {
            Self::Traces(resource_spans) => {
                trace::v1::ExportTraceServiceRequest { resource_spans }.encode_to_vec()
            }
            Self::Metrics(resource_metrics) => {
                metrics::v1::ExportMetricsServiceRequest { resource_metrics }.encode_to_vec()
            }
            Self::Logs(resource_logs) => {
                logs::v1::ExportLogsServiceRequest { resource_logs }.encode_to_vec()
            }
        }
    }

    /// Decodes a protobuf OTLP export request of `signal`.
    pub fn from_request_bytes(signal: Signal, bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
        use prost::Message;
        Ok(match signal {
            Signal::Traces => {
                Self::Traces(trace::v1::ExportTraceServiceRequest::decode(bytes)?.resource_spans)
            }
            Signal::Metrics => Self::Metrics(
                metrics::v1::ExportMetricsServiceRequest::decode(bytes)?.resource_metrics,
            ),
            Signal::Logs => {
                Self::Logs(logs::v1::ExportLogsServiceRequest::decode(bytes)?.resource_logs)
            }
        })
    }

    /// Takes the first `n` items out of this batch, keeping their resource and scope, and returns them as a batch
    /// of their own. A resource or scope (or metric) that straddles the cut is copied to both sides.
    pub fn split_front(&mut self, n: usize) -> Payload {
        match self {
            Self::Traces(v) => Self::Traces(take_front(v, n)),
            Self::Metrics(v) => Self::Metrics(take_front(v, n)),
            Self::Logs(v) => Self::Logs(take_front(v, n)),
        }
    }
}

/// A level of the OTLP tree that holds countable items and can be cut after `n` of them.
pub(crate) trait Items: Sized {
    fn count(&self) -> usize;
    /// Moves the first `n` items (0 < n < count) into a new value with the same envelope.
    fn split_front(&mut self, n: usize) -> Self;
}

fn count<T: Items>(v: &[T]) -> usize {
    v.iter().map(Items::count).sum()
}

/// Moves the first `n` items of `v` out: whole elements while they fit, then a cut through the next one.
fn take_front<T: Items>(v: &mut Vec<T>, n: usize) -> Vec<T> {
    let mut taken = 0;
    let mut whole = 0;
    for item in v.iter() {
        let c = item.count();
        if taken + c > n {
            break;
        }
        taken += c;
        whole += 1;
    }
    let mut out: Vec<T> = v.drain(..whole).collect();
    if taken < n
        && let Some(next) = v.first_mut()
    {
        out.push(next.split_front(n - taken));
    }
    out
}

/// Moves the first `n` leaves (spans, log records, data points) out of a vector.
fn take_leaves<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
    v.drain(..n.min(v.len())).collect()
}

// === impl Items for traces ===

impl Items for ResourceSpans {
    fn count(&self) -> usize {
        count(&self.scope_spans)
    }
    fn split_front(&mut self, n: usize) -> Self {
        Self {
            resource: self.resource.clone(),
            scope_spans: take_front(&mut self.scope_spans, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Items for ScopeSpans {
    fn count(&self) -> usize {
        self.spans.len()
    }
    fn split_front(&mut self, n: usize) -> Self {
        let spans: Vec<Span> = take_leaves(&mut self.spans, n);
        Self {
            scope: self.scope.clone(),
            spans,
            schema_url: self.schema_url.clone(),
        }
    }
}

// === impl Items for logs ===

impl Items for ResourceLogs {
    fn count(&self) -> usize {
        count(&self.scope_logs)
    }
    fn split_front(&mut self, n: usize) -> Self {
        Self {
            resource: self.resource.clone(),
            scope_logs: take_front(&mut self.scope_logs, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Items for ScopeLogs {
    fn count(&self) -> usize {
        self.log_records.len()
    }
    fn split_front(&mut self, n: usize) -> Self {
        let log_records: Vec<LogRecord> = take_leaves(&mut self.log_records, n);
        Self {
            scope: self.scope.clone(),
            log_records,
            schema_url: self.schema_url.clone(),
        }
    }
}

// === impl Items for metrics ===

impl Items for ResourceMetrics {
    fn count(&self) -> usize {
        count(&self.scope_metrics)
    }
    fn split_front(&mut self, n: usize) -> Self {
        Self {
            resource: self.resource.clone(),
            scope_metrics: take_front(&mut self.scope_metrics, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Items for ScopeMetrics {
    fn count(&self) -> usize {
        count(&self.metrics)
    }
    fn split_front(&mut self, n: usize) -> Self {
        Self {
            scope: self.scope.clone(),
            metrics: take_front(&mut self.metrics, n),
            schema_url: self.schema_url.clone(),
        }
    }
}

impl Items for Metric {
    fn count(&self) -> usize {
        match &self.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        }
    }
    fn split_front(&mut self, n: usize) -> Self {
        let data = self.data.as_mut().map(|d| match d {
            Data::Gauge(g) => Data::Gauge(opentelemetry_proto::tonic::metrics::v1::Gauge {
                data_points: take_leaves(&mut g.data_points, n),
            }),
            Data::Sum(s) => Data::Sum(opentelemetry_proto::tonic::metrics::v1::Sum {
                data_points: take_leaves(&mut s.data_points, n),
                aggregation_temporality: s.aggregation_temporality,
                is_monotonic: s.is_monotonic,
            }),
            Data::Histogram(h) => {
                Data::Histogram(opentelemetry_proto::tonic::metrics::v1::Histogram {
                    data_points: take_leaves(&mut h.data_points, n),
                    aggregation_temporality: h.aggregation_temporality,
                })
            }
            Data::ExponentialHistogram(h) => Data::ExponentialHistogram(
                opentelemetry_proto::tonic::metrics::v1::ExponentialHistogram {
                    data_points: take_leaves(&mut h.data_points, n),
                    aggregation_temporality: h.aggregation_temporality,
                },
            ),
            Data::Summary(s) => Data::Summary(opentelemetry_proto::tonic::metrics::v1::Summary {
                data_points: take_leaves(&mut s.data_points, n),
            }),
        });
        Self {
            name: self.name.clone(),
            description: self.description.clone(),
            unit: self.unit.clone(),
            metadata: self.metadata.clone(),
            data,
        }
    }
}

/// An attribute value as label text: strings as they are, other scalars printed, arrays and maps as JSON.
pub(crate) fn any_to_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex::encode(b),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a
                .values
                .iter()
                .map(|v| serde_json::Value::String(any_to_string(Some(v))).to_string())
                .collect();
            format!("[{}]", items.join(","))
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let items: Vec<String> = kv
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(kv.key.clone()),
                        serde_json::Value::String(any_to_string(kv.value.as_ref()))
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
