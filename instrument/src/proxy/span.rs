//! The request span and its `think` / `answer` children, made directly as OTLP protobuf, and their hand-over to
//! the receiver's pipelines: all of one request's spans as one batch, when the request span ends.
//!
//! The facts come from the request's [`super::record`] (the tracker knows everything only at the end, so spans are
//! made once, from facts, not kept open in an SDK); the batch goes to the receiver's [`Output`] without waiting
//! and without a lock: a full pipeline refuses it, and the refusal is counted there and warned about at most
//! once a minute. Ids are random (the caller's trace id and parent span id are kept when it sent
//! `traceparent`); the request span's context is what the proxy passes upstream ([`super::headers`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use llmtel_pipelines::events::EventCounter;
use llmtel_pipelines::{Output, Payload};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceState};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, SpanFlags, Status};
use opentelemetry_proto::transform::common::tonic::{Attributes, ResourceAttributesWithSchema};
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator};

/// Where a receiver's spans go: its pipelines, described by its resource, under the scope `llmtel`.
#[derive(Debug, Clone)]
pub struct SpanSink {
    output: Output,
    resource: Arc<ResourceAttributesWithSchema>,
    /// Counts refusals and warns about them at most once a minute: a full pipeline must not log once per request.
    refused: Arc<EventCounter>,
}

impl SpanSink {
    /// A sink into `output`; `resource` (llmtel's, from the config) is converted once, here.
    pub fn new(output: Output, resource: &opentelemetry_sdk::Resource) -> Self {
        Self {
            refused: crate::sdk::refusals(&output),
            output,
            resource: Arc::new(resource.into()),
        }
    }

    /// Hands `spans` to the pipelines as one batch. Never waits: a refusal is counted, by the output and as an
    /// event.
    fn send(&self, spans: Vec<Span>) {
        let batch = vec![ResourceSpans {
            resource: Some(Resource {
                attributes: self.resource.attributes.0.clone(),
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "llmtel".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: self.resource.schema_url.clone().unwrap_or_default(),
        }];
        // A refusal is counted by the output and warned about there; nobody retries a request's spans.
        let _ = crate::sdk::hand_over(&self.output, &self.refused, Payload::Traces(batch));
    }
}

/// A request's span while the request runs. Attributes, events and children collect here; dropping it ends it
/// (now) and sends it with its children, so however a request ends, its spans go out exactly once.
#[derive(Debug)]
pub struct RequestSpan {
    sink: SpanSink,
    context: SpanContext,
    /// The caller's span, and whether it came from another process (always, for a `traceparent`).
    parent: Option<(SpanId, bool)>,
    name: Cow<'static, str>,
    start: SystemTime,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    /// The message of an Error status; `None` leaves the status unset.
    error: Option<String>,
    children: Vec<Span>,
}

/// Flags of a span whose parent (if any) is `remote`, as the OTLP conversion of SDK spans sets them: sampled (every
/// request is recorded, whatever the caller sampled: its metrics are derived from the spans), and whether the
/// parent is remote.
fn flags(remote: bool) -> u32 {
    let mut f = u32::from(TraceFlags::SAMPLED.to_u8()) | SpanFlags::ContextHasIsRemoteMask as u32;
    if remote {
        f |= SpanFlags::ContextIsRemoteMask as u32;
    }
    f
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The context of a new request span and its parent: the caller's trace (id, parent span, `tracestate`) when
/// `parent` holds a valid span context, else a new trace.
fn identity(parent: &opentelemetry::Context) -> (SpanContext, Option<(SpanId, bool)>) {
    let theirs = parent.span().span_context().clone();
    let ids = RandomIdGenerator::default();
    let (trace_id, parent, trace_state) = if theirs.is_valid() {
        let parent = Some((theirs.span_id(), theirs.is_remote()));
        (theirs.trace_id(), parent, theirs.trace_state().clone())
    } else {
        (ids.new_trace_id(), None, TraceState::default())
    };
    let cx = SpanContext::new(
        trace_id,
        ids.new_span_id(),
        TraceFlags::SAMPLED,
        false,
        trace_state,
    );
    (cx, parent)
}

/// What makes one OTLP span, besides its trace.
struct Facts<'a> {
    span_id: SpanId,
    parent: Option<(SpanId, bool)>,
    name: String,
    kind: SpanKind,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    error: Option<String>,
    trace: &'a SpanContext,
}

/// One span as OTLP, with the fields the SDK's conversion would give it.
fn otlp(f: Facts<'_>) -> Span {
    let (code, message) = match f.error {
        Some(m) => (StatusCode::Error, m),
        None => (StatusCode::Unset, String::new()),
    };
    let (parent_span_id, remote) = match f.parent {
        Some((id, remote)) => (id.to_bytes().to_vec(), remote),
        None => (Vec::new(), false),
    };
    Span {
        trace_id: f.trace.trace_id().to_bytes().to_vec(),
        span_id: f.span_id.to_bytes().to_vec(),
        trace_state: f.trace.trace_state().header(),
        parent_span_id,
        flags: flags(remote),
        name: f.name,
        kind: f.kind as i32,
        start_time_unix_nano: nanos(f.start),
        end_time_unix_nano: nanos(f.end),
        attributes: Attributes::from(f.attributes).0,
        events: f.events,
        status: Some(Status {
            code: code as i32,
            message,
        }),
        ..Span::default()
    }
}

impl RequestSpan {
    /// Opens the span named `name` at `start`, a child of the caller's span in `parent` when it sent one.
    pub fn new(
        sink: SpanSink,
        parent: &opentelemetry::Context,
        name: &'static str,
        start: SystemTime,
    ) -> Self {
        let (context, parent) = identity(parent);
        Self {
            sink,
            context,
            parent,
            name: Cow::Borrowed(name),
            start,
            attributes: Vec::new(),
            events: Vec::new(),
            error: None,
            children: Vec::new(),
        }
    }

    /// The span's trace context, to pass upstream.
    pub fn context(&self) -> opentelemetry::Context {
        opentelemetry::Context::new().with_remote_span_context(self.context.clone())
    }

    /// Names the span.
    pub fn set_name(&mut self, name: impl Into<Cow<'static, str>>) {
        self.name = name.into();
    }

    /// Adds an attribute.
    pub fn set_attribute(
        &mut self,
        key: impl Into<opentelemetry::Key>,
        value: impl Into<opentelemetry::Value>,
    ) {
        self.attributes.push(KeyValue::new(key, value));
    }

    /// Adds attributes, in order.
    pub fn add_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.attributes.extend(attributes);
    }

    /// Sets an Error status with `message`.
    pub fn set_error(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }

    /// Adds an event that happened now.
    pub fn add_event(&mut self, name: &str, attributes: Vec<KeyValue>) {
        self.events.push(Event {
            time_unix_nano: nanos(SystemTime::now()),
            name: name.to_owned(),
            attributes: Attributes::from(attributes).0,
            dropped_attributes_count: 0,
        });
    }

    /// Adds a child span `name` (kind Internal, status unset) from `start` to `end`; it goes out with this one.
    pub fn add_child(
        &mut self,
        name: &str,
        start: SystemTime,
        end: SystemTime,
        attributes: Vec<KeyValue>,
    ) {
        let child = otlp(Facts {
            span_id: RandomIdGenerator::default().new_span_id(),
            parent: Some((self.context.span_id(), false)),
            name: name.to_owned(),
            kind: SpanKind::Internal,
            start,
            end,
            attributes,
            events: Vec::new(),
            error: None,
            trace: &self.context,
        });
        self.children.push(child);
    }

    /// The request's spans as OTLP, the request span ended at `end`: the children first, then their parent, in
    /// the order they end.
    fn finish(&mut self, end: SystemTime) -> Vec<Span> {
        let span = otlp(Facts {
            span_id: self.context.span_id(),
            parent: self.parent,
            name: std::mem::take(&mut self.name).into_owned(),
            kind: SpanKind::Client,
            start: self.start,
            end,
            attributes: std::mem::take(&mut self.attributes),
            events: std::mem::take(&mut self.events),
            error: self.error.take(),
            trace: &self.context,
        });
        let mut spans = std::mem::take(&mut self.children);
        spans.push(span);
        spans
    }
}

impl Drop for RequestSpan {
    fn drop(&mut self) {
        let spans = self.finish(SystemTime::now());
        self.sink.send(spans);
    }
}

#[cfg(test)]
mod tests;
