use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;

use super::*;

fn caller(traceparent: &str, tracestate: &str) -> opentelemetry::Context {
    let mut h = std::collections::HashMap::new();
    h.insert("traceparent".to_owned(), traceparent.to_owned());
    h.insert("tracestate".to_owned(), tracestate.to_owned());
    TraceContextPropagator::new().extract(&h)
}

#[test]
fn a_request_span_continues_the_callers_trace_or_starts_one() {
    let parent = caller(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        "vendor=x",
    );
    let (cx, p) = identity(&parent);
    assert_eq!(
        cx.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(
        p,
        Some((SpanId::from_hex("b7ad6b7169203331").unwrap(), true))
    );
    assert_ne!(cx.span_id(), SpanId::INVALID);
    assert!(cx.is_sampled(), "recorded whatever the caller sampled");
    assert_eq!(cx.trace_state().header(), "vendor=x");

    let (fresh, none) = identity(&opentelemetry::Context::new());
    assert!(fresh.is_valid() && none.is_none());
    assert_eq!(fresh.trace_state().header(), "");
    let (other, _) = identity(&opentelemetry::Context::new());
    assert_ne!(fresh.trace_id(), other.trace_id());
}

#[test]
fn spans_have_the_fields_the_sdk_conversion_gave_them() {
    let parent = caller(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "",
    );
    let (cx, p) = identity(&parent);
    let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_000);
    let end = start + Duration::from_nanos(500);
    let span = otlp(Facts {
        span_id: cx.span_id(),
        parent: p,
        name: "chat m".into(),
        kind: SpanKind::Client,
        start,
        end,
        attributes: vec![KeyValue::new("error.type", "timeout")],
        events: Vec::new(),
        error: Some("upstream stopped sending".into()),
        trace: &cx,
    });
    assert_eq!(span.trace_id, cx.trace_id().to_bytes().to_vec());
    assert_eq!(span.parent_span_id, p.unwrap().0.to_bytes().to_vec());
    assert_eq!(span.flags, 0x301, "sampled, parent known to be remote");
    assert_eq!((span.kind, span.name.as_str()), (3, "chat m"));
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (1_000, 1_500)
    );
    assert_eq!(
        span.status,
        Some(Status {
            code: 2,
            message: "upstream stopped sending".into()
        })
    );
    assert_eq!(span.attributes[0].key, "error.type");

    let child = otlp(Facts {
        span_id: SpanId::from(7),
        parent: Some((cx.span_id(), false)),
        name: "think".into(),
        kind: SpanKind::Internal,
        start,
        end,
        attributes: Vec::new(),
        events: Vec::new(),
        error: None,
        trace: &cx,
    });
    assert_eq!(child.flags, 0x101, "sampled, local parent");
    assert_eq!(child.parent_span_id, span.span_id);
    assert_eq!(child.kind, 1);
    assert_eq!(
        child.status,
        Some(Status {
            code: 0,
            message: String::new()
        })
    );
    let root = otlp(Facts {
        parent: None,
        kind: SpanKind::Client,
        name: "GET".into(),
        span_id: cx.span_id(),
        start,
        end,
        attributes: Vec::new(),
        events: Vec::new(),
        error: None,
        trace: &cx,
    });
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.flags, 0x101);
}
