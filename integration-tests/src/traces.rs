//! Reading the sidecar's output in tests: llmtel in-process with an `llm_proxy` in front of an emulator, the
//! requests the sidecar tests send it ([`post`]) and those the upstream got from clients ([`forwarded`]), and the
//! spans and metric points a [`Capture`] received, by name and attribute.

use std::time::Duration;

use llmtel_collector::Running;
use llmtel_pipelines::Payload;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::emulator::{Emulator, Recorded};
use crate::{Capture, Captured, HttpAnswer, http_request, start_in_process};

/// llmtel in-process with one `llm_proxy` (extra settings in `proxy_settings`, YAML flow-map entries) whose
/// traces and metrics go to a [`Capture`].
pub struct Sidecar {
    /// The running llmtel.
    pub running: Running,
    /// What reached the exporters.
    pub capture: Capture,
    /// `http://127.0.0.1:PORT` of the proxy.
    pub url: String,
}

impl Sidecar {
    /// Starts a sidecar in front of `upstream`.
    pub async fn start(upstream: &str, proxy_settings: &str) -> Self {
        let yaml = format!(
            "receivers:\n  llm_proxy: {{listen: 127.0.0.1:0, upstream: \"{upstream}\", metrics_interval: 100ms{sep}{proxy_settings}}}\n\
             exporters:\n  debug/capture: {{}}\n\
             service:\n  pipelines:\n    traces: {{receivers: [llm_proxy], exporters: [debug/capture]}}\n    \
             metrics: {{receivers: [llm_proxy], exporters: [debug/capture]}}\n  telemetry: {{admin: {{enabled: false}}}}\n",
            sep = if proxy_settings.is_empty() { "" } else { ", " },
        );
        let capture = Capture::default();
        let running = start_in_process(&yaml, &capture).await;
        let addr = running
            .listeners()
            .get("llm_proxy listen")
            .unwrap_or_else(|| panic!("the llm_proxy recorded no address"));
        Self {
            running,
            capture,
            url: format!("http://{addr}"),
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.capture.with(spans_in)
    }

    /// Waits (up to 10 s) for a span named `name` and returns it with its children.
    pub async fn trace(&self, name: &str) -> (Span, Vec<Span>) {
        let found = self
            .capture
            .wait_for(Duration::from_secs(10), |c| {
                spans_in(c).iter().any(|s| s.name == name)
            })
            .await;
        let spans = self.spans();
        assert!(
            found,
            "no span named {name:?}; got {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        let Some(parent) = spans.iter().rev().find(|s| s.name == name).cloned() else {
            unreachable!("spans only accumulate, and the wait above saw one named {name:?}");
        };
        let children = spans
            .into_iter()
            .filter(|s| s.parent_span_id == parent.span_id)
            .collect();
        (parent, children)
    }

    /// The latest value of metric `name` over the points whose attributes include every `labels` pair.
    pub fn metric_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.capture.with(|c| metric_value_in(c, name, labels))
    }
}

/// `n` milliseconds: the emulator's pacing, as the sidecar tests write it.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// POSTs `body` as JSON to `url` (a sidecar path, e.g. `{url}/api/chat`); an unreachable sidecar fails the test.
pub async fn post(url: &str, body: &serde_json::Value) -> HttpAnswer {
    http_request(
        "POST",
        url,
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

/// The requests `emu` received from clients through the sidecar: all but the sidecar's own upstream checks
/// (detection and health, told apart by their `User-Agent`).
pub fn forwarded(emu: &Emulator) -> Vec<Recorded> {
    let ours = llmtel_instrument::upstream::probe::USER_AGENT;
    emu.requests()
        .into_iter()
        .filter(|r| {
            r.headers
                .get(http::header::USER_AGENT)
                .is_none_or(|v| v != ours)
        })
        .collect()
}

/// Every span in `c`.
pub fn spans_in(c: &Captured) -> Vec<Span> {
    c.batches
        .iter()
        .filter_map(|b| match b {
            Payload::Traces(rs) => Some(rs),
            _ => None,
        })
        .flatten()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

/// Every metric in `c`, oldest batch first.
pub fn metrics_in(c: &Captured) -> impl DoubleEndedIterator<Item = &Metric> {
    c.batches
        .iter()
        .filter_map(|b| match b {
            Payload::Metrics(rm) => Some(rm),
            _ => None,
        })
        .flatten()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
}

/// The latest value in `c` of metric `name` over the points whose attributes include every `labels` pair.
pub fn metric_value_in(c: &Captured, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    {
        {
            metrics_in(c)
                .filter(|m| m.name == name)
                .filter_map(|m| match &m.data {
                    Some(Data::Sum(s)) => Some(&s.data_points),
                    Some(Data::Gauge(g)) => Some(&g.data_points),
                    _ => None,
                })
                .flatten()
                .filter(|p| {
                    labels.iter().all(|(k, v)| {
                        p.attributes.iter().any(|a| {
                            a.key == *k
                                && matches!(a.value.as_ref().and_then(|v| v.value.as_ref()),
                                    Some(Any::StringValue(s)) if s == v)
                        })
                    })
                })
                .filter_map(|p| match p.value {
                    Some(Value::AsInt(i)) => Some(i as f64),
                    Some(Value::AsDouble(d)) => Some(d),
                    None => None,
                })
                .next_back()
        }
    }
}

/// The value of attribute `key` of `span`.
pub fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// Attribute `key` as an integer.
pub fn attr_i(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key)? {
        Any::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Attribute `key` as a float.
pub fn attr_f(span: &Span, key: &str) -> Option<f64> {
    match attr(span, key)? {
        Any::DoubleValue(d) => Some(*d),
        _ => None,
    }
}

/// Attribute `key` as a string.
pub fn attr_s<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key)? {
        Any::StringValue(s) => Some(s),
        _ => None,
    }
}

/// Attribute `key` as a bool.
pub fn attr_b(span: &Span, key: &str) -> Option<bool> {
    match attr(span, key)? {
        Any::BoolValue(b) => Some(*b),
        _ => None,
    }
}

/// A trace or span id in lowercase hex, as `traceparent` writes it.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|x| format!("{x:02x}")).collect()
}

/// A span's duration in seconds.
pub fn secs(span: &Span) -> f64 {
    (span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)) as f64
        / 1e9
}

/// The child of `children` named `name`.
pub fn child<'a>(children: &'a [Span], name: &str) -> &'a Span {
    children.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no {name} child; children: {:?}",
            children.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

/// Waits (up to 30 s) until the spans `sidecar` received satisfy `done`, and returns them; fails the test, naming
/// the spans it got, if they never do.
pub async fn wait_for_spans(sidecar: &Sidecar, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let held = sidecar
        .capture
        .wait_for(Duration::from_secs(30), |c| done(&spans_in(c)))
        .await;
    let spans = sidecar.spans();
    assert!(
        held,
        "the spans never got there; got {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    spans
}
