use opentelemetry_proto::tonic::common::v1::ArrayValue;
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;

use llmtel_config::semconv::DURATION_BUCKETS;

use super::*;

fn kv(k: &str, v: Any) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Any {
    Any::StringValue(v.to_owned())
}

/// A span like the sidecar's request span: 2 s long, 0.5 s to the first token, 1.2 s to the first answer token.
fn chat_span(id: u8, model: &str) -> Span {
    Span {
        name: format!("chat {model}"),
        trace_id: vec![id; 16],
        span_id: vec![id; 8],
        start_time_unix_nano: 1_000_000_000_000,
        end_time_unix_nano: 1_002_000_000_000,
        attributes: vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.provider.name", s("ollama")),
            kv("gen_ai.request.model", s(model)),
            kv("gen_ai.response.model", s(model)),
            kv("server.address", s("127.0.0.1")),
            kv("server.port", Any::IntValue(11434)),
            kv("llmtel.think.mode", s("on")),
            kv("user.id", s("u-7")),
            kv(
                "gen_ai.response.finish_reasons",
                Any::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(s("stop")),
                    }],
                }),
            ),
            kv("gen_ai.usage.input_tokens", Any::IntValue(12)),
            kv("gen_ai.usage.output_tokens", Any::IntValue(31)),
            kv("llmtel.usage.reasoning.output_tokens", Any::IntValue(10)),
            kv("llmtel.time_to_first_token", Any::DoubleValue(0.5)),
            kv("llmtel.time_to_first_answer_token", Any::DoubleValue(1.2)),
            kv("llmtel.think.duration", Any::DoubleValue(0.7)),
            kv("llmtel.answer.duration", Any::DoubleValue(0.8)),
        ],
        ..Default::default()
    }
}

fn batch(spans: Vec<Span>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", s("llmtel"))],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn connector(yaml: &str) -> GenAiMetricsConnector {
    let cfg = llmtel_config::parse(
        &format!(
            "receivers: {{otlp: {{}}}}\nconnectors: {{genai_metrics: {yaml}}}\nexporters: {{debug: {{}}}}\n\
             service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [genai_metrics]}}, \
             metrics: {{receivers: [genai_metrics], exporters: [debug]}}}}}}\n"
        ),
        &|_| None,
    )
    .unwrap();
    match cfg.connectors.values().next().unwrap() {
        llmtel_config::ConnectorConfig::GenAiMetrics(c) => {
            GenAiMetricsConnector::new("genai_metrics", c.clone())
        }
        other => panic!("{other:?}"),
    }
}

fn metric<'a>(rm: &'a [ResourceMetrics], name: &str) -> &'a Metric {
    rm.iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn label<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match find(attrs, key)? {
        Any::StringValue(v) => Some(v),
        _ => None,
    }
}

fn hist_points(m: &Metric) -> &[HistogramDataPoint] {
    match &m.data {
        Some(metric::Data::Histogram(h)) => {
            assert_eq!(
                h.aggregation_temporality,
                AggregationTemporality::Cumulative as i32
            );
            &h.data_points
        }
        other => panic!("{} is not a histogram: {other:?}", m.name),
    }
}

/// The one point of histogram `name` (with `extra` label `k=v` when given).
fn point<'a>(
    rm: &'a [ResourceMetrics],
    name: &str,
    extra: Option<(&str, &str)>,
) -> &'a HistogramDataPoint {
    let points: Vec<_> = hist_points(metric(rm, name))
        .iter()
        .filter(|p| extra.is_none_or(|(k, v)| label(&p.attributes, k) == Some(v)))
        .collect();
    assert_eq!(points.len(), 1, "{name} {extra:?}: {points:?}");
    points[0]
}

#[test]
fn a_chat_span_gives_every_metric_with_its_value_bucket_and_dimensions() {
    let mut c = connector("{dimensions: [user.id]}");
    c.add(&batch(vec![chat_span(1, "qwen3:14b")]));
    let rm = c.snapshot(5);
    assert_eq!(
        label(&rm[0].resource.as_ref().unwrap().attributes, "service.name"),
        Some("llmtel")
    );

    let d = point(&rm, "gen_ai.client.operation.duration", None);
    assert_eq!((d.count, d.sum), (1, Some(2.0)));
    assert_eq!(d.explicit_bounds, DURATION_BUCKETS);
    // 2.0 s falls in (1.28, 2.56]: bucket index 8.
    assert_eq!(d.bucket_counts.iter().position(|&n| n == 1), Some(8));
    for (k, v) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "ollama"),
        ("gen_ai.request.model", "qwen3:14b"),
        ("gen_ai.response.model", "qwen3:14b"),
        ("server.address", "127.0.0.1"),
        ("llmtel.think.mode", "on"),
        ("user.id", "u-7"),
    ] {
        assert_eq!(label(&d.attributes, k), Some(v), "{k}");
    }
    assert_eq!(label(&d.attributes, "server.port"), None, "not a dimension");
    assert!(d.start_time_unix_nano > 0 && d.time_unix_nano == 5);

    let tokens = |t| {
        point(
            &rm,
            "gen_ai.client.token.usage",
            Some(("gen_ai.token.type", t)),
        )
        .sum
    };
    assert_eq!(
        (tokens("input"), tokens("output"), tokens("reasoning")),
        (Some(12.0), Some(31.0), Some(10.0))
    );
    assert_eq!(
        point(&rm, "gen_ai.server.time_to_first_token", None).sum,
        Some(0.5)
    );
    assert_eq!(
        point(&rm, "llmtel.client.time_to_first_answer_token", None).sum,
        Some(1.2)
    );
    assert_eq!(
        point(&rm, "llmtel.client.think.duration", None).sum,
        Some(0.7)
    );
    assert_eq!(
        point(&rm, "llmtel.client.answer.duration", None).sum,
        Some(0.8)
    );
    // 1.5 s of generation after the first token, 30 gaps between 31 tokens.
    assert_eq!(
        point(&rm, "gen_ai.server.time_per_output_token", None).sum,
        Some(0.05)
    );
    assert_eq!(
        point(&rm, "llmtel.client.output_tokens.rate", None).sum,
        Some(31.0 / 1.5)
    );

    let Some(metric::Data::Sum(requests)) = &metric(&rm, "llmtel.client.requests").data else {
        panic!("requests is a sum");
    };
    assert!(requests.is_monotonic);
    let p = &requests.data_points[0];
    assert_eq!(p.value, Some(number_data_point::Value::AsDouble(1.0)));
    assert_eq!(
        label(&p.attributes, "gen_ai.response.finish_reason"),
        Some("stop")
    );
    assert_eq!(p.exemplars[0].trace_id, vec![1; 16]);
}

#[test]
fn each_bucket_keeps_its_newest_exemplar_and_series_accumulate() {
    let mut c = connector("{}");
    let mut fast = chat_span(1, "m");
    fast.end_time_unix_nano = fast.start_time_unix_nano + 100_000_000; // 0.1 s
    let mut slow = chat_span(2, "m");
    slow.end_time_unix_nano = slow.start_time_unix_nano + 30_000_000_000; // 30 s
    let mut slow2 = chat_span(3, "m");
    slow2.end_time_unix_nano = slow2.start_time_unix_nano + 31_000_000_000;
    c.add(&batch(vec![fast, slow]));
    let first = c.snapshot(10);
    let start = point(&first, "gen_ai.client.operation.duration", None).start_time_unix_nano;
    c.add(&batch(vec![slow2]));
    let rm = c.snapshot(20);
    let d = point(&rm, "gen_ai.client.operation.duration", None);
    assert_eq!(d.count, 3);
    assert_eq!(
        d.start_time_unix_nano, start,
        "a cumulative series keeps its start time"
    );
    let ex: Vec<(f64, u8)> = d
        .exemplars
        .iter()
        .map(|e| match e.value {
            Some(exemplar::Value::AsDouble(v)) => (v, e.trace_id[0]),
            _ => panic!("{e:?}"),
        })
        .collect();
    // One per bucket that has data: 0.1 s (trace 1), and the newest of the two in (20.48, 40.96] (trace 3).
    assert_eq!(ex, vec![(0.1, 1), (31.0, 3)]);
}

#[test]
fn older_attribute_names_are_accepted_and_other_spans_ignored() {
    let mut c = connector("{}");
    let legacy = Span {
        trace_id: vec![7; 16],
        span_id: vec![7; 8],
        start_time_unix_nano: 1,
        end_time_unix_nano: 1 + 500_000_000,
        attributes: vec![
            kv("gen_ai.system", s("openai")),
            kv("gen_ai.request.model", s("gpt")),
            kv("gen_ai.usage.prompt_tokens", Any::IntValue(5)),
            kv("gen_ai.usage.completion_tokens", Any::IntValue(9)),
        ],
        ..Default::default()
    };
    let mut child = chat_span(8, "gpt");
    child.attributes.push(kv("llmtel.phase", s("think")));
    let plain = Span {
        name: "GET /".into(),
        trace_id: vec![9; 16],
        span_id: vec![9; 8],
        ..Default::default()
    };
    c.add(&batch(vec![legacy, child, plain]));
    let rm = c.snapshot(1);
    let d = point(&rm, "gen_ai.client.operation.duration", None);
    assert_eq!(label(&d.attributes, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(
        d.count, 1,
        "the think child and the plain span do not count"
    );
    let input = point(
        &rm,
        "gen_ai.client.token.usage",
        Some(("gen_ai.token.type", "input")),
    );
    assert_eq!(input.sum, Some(5.0));
    let output = point(
        &rm,
        "gen_ai.client.token.usage",
        Some(("gen_ai.token.type", "output")),
    );
    assert_eq!(output.sum, Some(9.0));
    assert!(
        hist_points(metric(&rm, "gen_ai.client.token.usage")).len() == 2,
        "no reasoning series without a count"
    );
}

#[test]
fn series_beyond_the_cap_go_to_one_overflow_series_and_buckets_can_be_overridden() {
    let mut c = connector(
        "{max_series_per_metric: 2, buckets: {gen_ai.client.operation.duration: [1, 10]}}",
    );
    c.add(&batch(
        (1..=5)
            .map(|i| chat_span(i, &format!("model-{i}")))
            .collect(),
    ));
    let rm = c.snapshot(1);
    let points = hist_points(metric(&rm, "gen_ai.client.operation.duration"));
    assert_eq!(points.len(), 3, "two series and the overflow");
    let overflow: Vec<_> = points
        .iter()
        .filter(|p| label(&p.attributes, "otel.metric.overflow") == Some("true"))
        .collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].count, 3, "nothing is lost, only its labels");
    assert_eq!(overflow[0].explicit_bounds, vec![1.0, 10.0]);
    assert_eq!(overflow[0].bucket_counts, vec![0, 3, 0]);
}

#[test]
fn every_histogram_takes_a_bucket_override_from_the_config_and_the_counter_none() {
    // One override per histogram, each with bounds of its own, through the same config parsing users go through.
    let overrides: Vec<String> = GenAiMetric::histograms()
        .enumerate()
        .map(|(i, m)| format!("{}: [{}, {}]", m.name(), i + 1, 1000 + i))
        .collect();
    let mut c = connector(&format!("{{buckets: {{{}}}}}", overrides.join(", ")));
    c.add(&batch(vec![server_side(chat_span(1, "qwen3:14b"))]));
    let rm = c.snapshot(1);
    for (i, m) in GenAiMetric::histograms().enumerate() {
        let points = hist_points(metric(&rm, m.name()));
        assert!(!points.is_empty(), "{}: no points", m.name());
        for p in points {
            assert_eq!(
                p.explicit_bounds,
                vec![(i + 1) as f64, (1000 + i) as f64],
                "{}",
                m.name()
            );
        }
    }
    // Every metric the connector knows came out of the sidecar-like span, the counter included.
    for m in GenAiMetric::ALL {
        metric(&rm, m.name());
    }

    let counter = GenAiMetric::Requests.name();
    let err = llmtel_config::parse(
        &format!(
            "receivers: {{otlp: {{}}}}\nconnectors: {{genai_metrics: {{buckets: {{{counter}: [1]}}}}}}\n\
             exporters: {{debug: {{}}}}\nservice: {{pipelines: {{traces: {{receivers: [otlp], exporters: \
             [genai_metrics]}}, metrics: {{receivers: [genai_metrics], exporters: [debug]}}}}}}\n"
        ),
        &|_| None,
    )
    .unwrap_err();
    assert!(
        err.iter().any(
            |e| e.path == format!("connectors.genai_metrics.buckets.{counter}")
                && e.message.contains("unknown histogram")
        ),
        "{err:?}"
    );
}

#[test]
fn cache_hits_are_a_token_type_and_tool_calls_a_finish_reason() {
    let mut c = connector("{}");
    let mut span = chat_span(3, "claude");
    span.attributes
        .retain(|kv| kv.key != "gen_ai.response.finish_reasons");
    span.attributes.extend([
        kv("gen_ai.usage.cache_read.input_tokens", Any::IntValue(24)),
        kv("gen_ai.usage.cache_creation.input_tokens", Any::IntValue(3)),
        kv("llmtel.tool_calls", Any::IntValue(2)),
        kv(
            "gen_ai.response.finish_reasons",
            Any::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(s("tool_call")),
                }],
            }),
        ),
    ]);
    c.add(&batch(vec![span, chat_span(4, "claude")]));
    let rm = c.snapshot(5);
    let cached = point(
        &rm,
        "gen_ai.client.token.usage",
        Some(("gen_ai.token.type", "cache_read")),
    );
    assert_eq!(
        (cached.count, cached.sum),
        (1, Some(24.0)),
        "only the span that had cache hits"
    );
    let Some(metric::Data::Sum(requests)) = &metric(&rm, "llmtel.client.requests").data else {
        panic!("requests is a sum");
    };
    let by_reason = |r: &str| {
        requests
            .data_points
            .iter()
            .filter(|p| label(&p.attributes, "gen_ai.response.finish_reason") == Some(r))
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(n)) => n as f64,
                Some(number_data_point::Value::AsDouble(n)) => n,
                None => 0.0,
            })
            .sum::<f64>()
    };
    assert_eq!((by_reason("tool_call"), by_reason("stop")), (1.0, 1.0));
}

/// The server-side attributes of a queued, cold-loaded request: 1.5 s queued, 2 s loading, 26 prompt tokens in
/// 0.13 s, 290 generated in 5.8 s, 8192-token window 40 % used and filled, 145 J of GPU energy.
fn server_side(mut span: Span) -> Span {
    span.attributes.extend([
        kv("llmtel.server.timings", s("ollama")),
        kv("llmtel.server.queue_wait", Any::DoubleValue(1.5)),
        kv("llmtel.server.queued", Any::BoolValue(true)),
        kv("llmtel.model.cold_load", Any::BoolValue(true)),
        kv("llmtel.server.load.duration", Any::DoubleValue(2.0)),
        kv("llmtel.server.prefill.duration", Any::DoubleValue(0.13)),
        kv("llmtel.server.prefill.tokens", Any::IntValue(26)),
        kv("llmtel.server.decode.duration", Any::DoubleValue(5.8)),
        kv("llmtel.server.decode.tokens", Any::IntValue(290)),
        kv("llmtel.context.length", Any::IntValue(8192)),
        kv("llmtel.context.utilization", Any::DoubleValue(0.4)),
        kv("llmtel.context.filled", Any::BoolValue(true)),
        kv("llmtel.gpu.energy", Any::DoubleValue(145.0)),
    ]);
    span
}

fn sum_of(rm: &[ResourceMetrics], name: &str) -> f64 {
    match &metric(rm, name).data {
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                _ => f64::NAN,
            })
            .sum(),
        other => panic!("{name} is not a sum: {other:?}"),
    }
}

fn names(rm: &[ResourceMetrics]) -> Vec<&str> {
    rm.iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.as_str())
        .collect()
}

#[test]
fn server_side_attributes_give_queue_wait_cold_loads_rates_context_and_energy() {
    let mut c = connector("{}");
    c.add(&batch(vec![server_side(chat_span(1, "qwen3:14b"))]));
    let rm = c.snapshot(5);
    let sum = |name: &str| point(&rm, name, None).sum.unwrap_or(f64::NAN);
    assert_eq!(sum("llmtel.server.queue_wait"), 1.5);
    assert_eq!(sum_of(&rm, "llmtel.server.queued_requests"), 1.0);
    assert_eq!(sum_of(&rm, "llmtel.model.cold_loads"), 1.0);
    assert_eq!(sum("llmtel.model.load.duration"), 2.0);
    assert_eq!(sum("llmtel.server.prefill.rate"), 26.0 / 0.13);
    assert_eq!(sum("llmtel.server.decode.rate"), 290.0 / 5.8);
    assert_eq!(sum("llmtel.context.utilization"), 0.4);
    assert_eq!(sum_of(&rm, "llmtel.context.filled_requests"), 1.0);
    assert_eq!(sum("llmtel.gpu.energy.request"), 145.0);
    // Per output token: the span's 31 output tokens.
    assert_eq!(sum("llmtel.gpu.energy.per_output_token"), 145.0 / 31.0);
    // Split like every other metric, by model and think mode.
    let p = point(&rm, "llmtel.server.queue_wait", None);
    assert_eq!(
        label(&p.attributes, "gen_ai.request.model"),
        Some("qwen3:14b")
    );
    assert_eq!(label(&p.attributes, "llmtel.think.mode"), Some("on"));
    // 1.5 s falls in (1.0, 2.5] of the queue buckets.
    let i = llmtel_config::semconv::QUEUE_BUCKETS.partition_point(|b| *b < 1.5);
    assert_eq!(p.bucket_counts[i], 1);
}

#[test]
fn a_warm_unqueued_request_counts_no_queue_no_load_and_no_fill() {
    let mut c = connector("{}");
    let mut span = server_side(chat_span(1, "m"));
    for kv in &mut span.attributes {
        let v = match kv.key.as_str() {
            "llmtel.server.queue_wait" => Any::DoubleValue(0.0),
            "llmtel.server.queued" | "llmtel.model.cold_load" | "llmtel.context.filled" => {
                Any::BoolValue(false)
            }
            "llmtel.server.load.duration" => Any::DoubleValue(0.004),
            // A prompt served whole from the cache has no prefill rate.
            "llmtel.server.prefill.tokens" => Any::IntValue(0),
            _ => continue,
        };
        kv.value = Some(AnyValue { value: Some(v) });
    }
    c.add(&batch(vec![span]));
    let rm = c.snapshot(5);
    let present = names(&rm);
    assert_eq!(point(&rm, "llmtel.server.queue_wait", None).sum, Some(0.0));
    for absent in [
        "llmtel.server.queued_requests",
        "llmtel.model.cold_loads",
        "llmtel.model.load.duration",
        "llmtel.context.filled_requests",
        "llmtel.server.prefill.rate",
    ] {
        assert!(!present.contains(&absent), "{absent}: {present:?}");
    }
    assert!(present.contains(&"llmtel.server.decode.rate"));
}

#[test]
fn spans_without_the_server_side_attributes_give_none_of_those_metrics() {
    let mut c = connector("{}");
    let mut plain = chat_span(1, "m");
    // Energy of a request that generated nothing: per request yes, per token no.
    plain
        .attributes
        .push(kv("llmtel.gpu.energy", Any::StringValue("12.5".into())));
    plain
        .attributes
        .retain(|kv| kv.key != "gen_ai.usage.output_tokens");
    c.add(&batch(vec![plain]));
    let rm = c.snapshot(5);
    let present = names(&rm);
    for m in [
        GenAiMetric::QueueWait,
        GenAiMetric::QueuedRequests,
        GenAiMetric::ColdLoads,
        GenAiMetric::LoadDuration,
        GenAiMetric::PrefillRate,
        GenAiMetric::DecodeRate,
        GenAiMetric::ContextUtilization,
        GenAiMetric::ContextFilled,
        GenAiMetric::EnergyPerOutputToken,
    ] {
        assert!(!present.contains(&m.name()), "{}: {present:?}", m.name());
    }
    assert_eq!(
        point(&rm, "llmtel.gpu.energy.request", None).sum,
        Some(12.5)
    );
}
