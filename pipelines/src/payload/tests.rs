//! Builders of small OTLP batches for tests, and the tests of item counting and cutting.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

pub(crate) fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

pub(crate) fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", name)],
        ..Default::default()
    })
}

/// One resource, one scope, `n` spans named `span-0`…
pub(crate) fn spans(n: usize) -> Payload {
    Payload::Traces(vec![ResourceSpans {
        resource: resource("svc"),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "test".into(),
                ..Default::default()
            }),
            spans: (0..n)
                .map(|i| Span {
                    name: format!("span-{i}"),
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    attributes: vec![kv("user.email", "a@b.c")],
                    ..Default::default()
                })
                .collect(),
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }])
}

pub(crate) fn logs(n: usize) -> Payload {
    Payload::Logs(vec![ResourceLogs {
        resource: resource("svc"),
        scope_logs: vec![ScopeLogs {
            log_records: (0..n).map(|_| LogRecord::default()).collect(),
            ..Default::default()
        }],
        schema_url: String::new(),
    }])
}

/// A gauge with `g` points and a histogram with `h` points.
pub(crate) fn metrics(g: usize, h: usize) -> Payload {
    Payload::Metrics(vec![ResourceMetrics {
        resource: resource("svc"),
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![
                Metric {
                    name: "g".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..g)
                            .map(|i| NumberDataPoint {
                                attributes: vec![kv("i", &i.to_string())],
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                },
                Metric {
                    name: "h".into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: (0..h).map(|_| HistogramDataPoint::default()).collect(),
                        aggregation_temporality: 2,
                    })),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        schema_url: String::new(),
    }])
}

#[test]
fn counts_items_of_every_signal() {
    assert_eq!(spans(7).item_count(), 7);
    assert_eq!(logs(3).item_count(), 3);
    assert_eq!(metrics(2, 5).item_count(), 7);
    assert!(Payload::empty(Signal::Logs).is_empty());
}

#[test]
fn split_front_cuts_through_resources_scopes_and_metrics() {
    let mut m = metrics(3, 4);
    let front = m.split_front(5);
    assert_eq!(front.item_count(), 5);
    assert_eq!(m.item_count(), 2);
    let Payload::Metrics(front) = front else {
        panic!()
    };
    let names: Vec<_> = front[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["g", "h"],
        "the histogram straddles the cut and appears on both sides"
    );
    assert_eq!(
        front[0].resource,
        resource("svc"),
        "the resource is kept on both sides"
    );

    let mut t = spans(10);
    t.append(spans(10)).unwrap();
    let front = t.split_front(15);
    assert_eq!((front.item_count(), t.item_count()), (15, 5));
    let Payload::Traces(rest) = &t else { panic!() };
    assert_eq!(
        rest[0].scope_spans[0].spans[0].name, "span-5",
        "order is kept"
    );
    assert!(t.append(logs(1)).is_err(), "signals never mix");
}
