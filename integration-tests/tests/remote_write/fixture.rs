//! The known metrics the remote write tests feed llmtel over OTLP, and how they compare query answers.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

pub(crate) fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

pub(crate) fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "chat-app"),
                    kv("service.instance.id", "gpu-box-1"),
                    kv("host.name", "gpu-box-1.example"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// A cumulative histogram point: `n` observations spread 1 : 2 : 1 over the buckets (0.5, 1, 2, +Inf).
pub(crate) fn hist_point(attrs: Vec<KeyValue>, n: u64, start: u64) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: now_ns(),
        count: 4 * n,
        sum: Some(3.0 * n as f64),
        bucket_counts: vec![n, 2 * n, n, 0],
        explicit_bounds: vec![0.5, 1.0, 2.0],
        ..Default::default()
    }
}

pub(crate) fn histogram(name: &str, unit: &str, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: format!("{name} for the remote write test."),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

/// The trace the exemplar on llama3's 1 s bucket points to.
pub(crate) const TRACE_ID: [u8; 16] =
    *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36";
pub(crate) const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Round `i` of the known metrics: the two GenAI histograms (which the compat transforms rename), a counter and a
/// gauge, all growing with `i`.
pub(crate) fn round(i: u64, start: u64) -> ExportMetricsServiceRequest {
    let model = |m: &str| kv("gen_ai.request.model", m);
    let mut llama = hist_point(
        vec![model("llama3"), kv("gen_ai.operation.name", "chat")],
        i,
        start,
    );
    llama.exemplars = vec![Exemplar {
        trace_id: TRACE_ID.to_vec(),
        span_id: vec![0x42; 8],
        time_unix_nano: now_ns(),
        value: Some(exemplar::Value::AsDouble(0.7)),
        ..Default::default()
    }];
    let duration = histogram(
        "gen_ai.client.operation.duration",
        "s",
        vec![
            llama,
            hist_point(
                vec![model("qwen3"), kv("gen_ai.operation.name", "chat")],
                2 * i,
                start,
            ),
        ],
    );
    let tokens = histogram(
        "gen_ai.client.token.usage",
        "{token}",
        vec![
            hist_point(
                vec![model("llama3"), kv("gen_ai.token.type", "input")],
                10 * i,
                start,
            ),
            hist_point(
                vec![model("llama3"), kv("gen_ai.token.type", "output")],
                20 * i,
                start,
            ),
        ],
    );
    let number = |v: f64| NumberDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: now_ns(),
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let requests = Metric {
        name: "llm.requests".into(),
        unit: "{request}".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![number(5.0 * i as f64)],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let memory = Metric {
        name: "llm.kv_cache.usage".into(),
        unit: "By".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![number(1024.0 * i as f64)],
        })),
        ..Default::default()
    };
    request(vec![duration, tokens, requests, memory])
}

pub(crate) const COMPAT: &str = r#"
  metric_transform/compat:
    transforms:
      - include: gen_ai.client.operation.duration
        new_name: ollama_generate_duration_seconds
        rename_labels: {gen_ai.request.model: model}
        keep_labels: [model]
      - include: gen_ai.client.token.usage
        new_name: ollama_token_count
        match_labels: {gen_ai.token.type: [input, output]}
        extract: sum
        rename_labels: {gen_ai.token.type: direction, gen_ai.request.model: model}
        keep_labels: [direction, model]
"#;

/// Every series of `job="chat-app"` an instant query returns, as sorted labels → value. `_created` series are left
/// out: Prometheus 2.42 stores OpenMetrics `_created` lines as series of their own when it scrapes, and remote
/// write has no such sample.
pub(crate) fn by_labels(result: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in result.as_array().cloned().unwrap_or_default() {
        let metric: BTreeMap<String, String> = r["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        if metric
            .get("__name__")
            .is_some_and(|n| n.ends_with("_created"))
        {
            continue;
        }
        let value = r["value"][1].as_str().unwrap_or_default().to_owned();
        out.insert(format!("{metric:?}"), value);
    }
    out
}
