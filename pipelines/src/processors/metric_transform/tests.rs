use opentelemetry_proto::tonic::metrics::v1::{Gauge, Histogram, ResourceMetrics, ScopeMetrics};

use super::*;

fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

fn hist(attrs: Vec<KeyValue>, counts: Vec<u64>, sum: f64, start: u64) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: 10_000,
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts,
        explicit_bounds: vec![1.0, 5.0],
        min: Some(0.5),
        max: Some(sum),
        ..Default::default()
    }
}

fn histogram_metric(name: &str, unit: &str, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

fn gauge_metric(name: &str, unit: &str, points: Vec<(Vec<KeyValue>, f64)>) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: points
                .into_iter()
                .map(|(attributes, v)| NumberDataPoint {
                    attributes,
                    time_unix_nano: 10_000,
                    value: Some(Number::AsDouble(v)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

fn processor(yaml: &str) -> MetricTransformProcessor {
    let cfg = llmtel_config::parse(
        &format!(
            "receivers: {{otlp: {{}}}}\nprocessors: {{metric_transform: {yaml}}}\n\
             exporters: {{debug: {{}}}}\nservice: {{pipelines: {{metrics: {{receivers: [otlp], \
             processors: [metric_transform], exporters: [debug]}}}}}}\n"
        ),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    match cfg.processors.values().next() {
        Some(llmtel_config::ProcessorConfig::MetricTransform(c)) => {
            MetricTransformProcessor::new(c)
        }
        other => panic!("{other:?}"),
    }
}

fn run(p: &mut MetricTransformProcessor, metrics: Vec<Metric>) -> Vec<Metric> {
    let mut out = Vec::new();
    p.process(
        Payload::Metrics(vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }]),
        &mut out,
    );
    out.into_iter()
        .flat_map(|b| match b {
            Payload::Metrics(rm) => rm,
            other => panic!("{other:?}"),
        })
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .collect()
}

fn label(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| any_to_string(kv.value.as_ref()))
}

fn keys(attrs: &[KeyValue]) -> Vec<&str> {
    let mut k: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
    k.sort();
    k
}

#[test]
fn a_copy_is_renamed_and_its_dropped_labels_are_added_up() {
    let mut p = processor(
        "{transforms: [{include: gen_ai.client.operation.duration, action: insert, \
         new_name: ollama_generate_duration_seconds, rename_labels: {gen_ai.request.model: model}, \
         keep_labels: [model]}]}",
    );
    let model = |m| s("gen_ai.request.model", m);
    let think = |t| s("llmtel.think.mode", t);
    let out = run(
        &mut p,
        vec![histogram_metric(
            "gen_ai.client.operation.duration",
            "s",
            vec![
                hist(vec![model("qwen3"), think("on")], vec![0, 2, 1], 14.0, 500),
                hist(vec![think("off"), model("qwen3")], vec![3, 0, 0], 1.5, 300),
                hist(
                    vec![model("llama"), think("default")],
                    vec![1, 0, 0],
                    0.25,
                    700,
                ),
            ],
        )],
    );
    assert_eq!(out.len(), 2, "the original stays and the copy is added");
    assert_eq!(out[0].name, "gen_ai.client.operation.duration");
    assert_eq!(point_count(&out[0]), 3, "the original is left as it was");
    let copy = &out[1];
    assert_eq!(
        (copy.name.as_str(), copy.unit.as_str()),
        ("ollama_generate_duration_seconds", "s")
    );
    let Some(Data::Histogram(h)) = &copy.data else {
        panic!("{copy:?}")
    };
    assert_eq!(h.data_points.len(), 2, "one series per model");
    let qwen = &h.data_points[0];
    assert_eq!(keys(&qwen.attributes), vec!["model"]);
    assert_eq!(label(&qwen.attributes, "model").as_deref(), Some("qwen3"));
    assert_eq!(qwen.bucket_counts, vec![3, 2, 1]);
    assert_eq!((qwen.count, qwen.sum), (6, Some(15.5)));
    assert_eq!((qwen.min, qwen.max), (Some(0.5), Some(14.0)));
    assert_eq!(qwen.start_time_unix_nano, 300, "the earliest start");
    let llama = &h.data_points[1];
    assert_eq!(label(&llama.attributes, "model").as_deref(), Some("llama"));
    assert_eq!(llama.count, 1);
}

#[test]
fn a_histogram_of_tokens_becomes_a_counter_of_its_sum_for_the_chosen_types() {
    let mut p = processor(
        "{transforms: [{include: gen_ai.client.token.usage, new_name: ollama_token_count, \
         match_labels: {gen_ai.token.type: [input, output]}, extract: sum, \
         rename_labels: {gen_ai.token.type: direction, gen_ai.request.model: model}, \
         keep_labels: [direction, model]}]}",
    );
    let point = |ty, think, sum| {
        hist(
            vec![
                s("gen_ai.token.type", ty),
                s("gen_ai.request.model", "qwen3"),
                s("llmtel.think.mode", think),
            ],
            vec![1, 0, 0],
            sum,
            100,
        )
    };
    let out = run(
        &mut p,
        vec![histogram_metric(
            "gen_ai.client.token.usage",
            "{token}",
            vec![
                point("input", "on", 20.0),
                point("output", "on", 300.0),
                point("reasoning", "on", 250.0),
                point("input", "off", 22.0),
                point("output", "off", 40.0),
            ],
        )],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].name, "ollama_token_count");
    let Some(Data::Sum(sum)) = &out[0].data else {
        panic!("{:?}", out[0])
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2);
    let values: Vec<(Option<String>, f64)> = sum
        .data_points
        .iter()
        .map(|p| (label(&p.attributes, "direction"), number(p)))
        .collect();
    assert_eq!(
        values,
        vec![
            (Some("input".to_owned()), 42.0),
            (Some("output".to_owned()), 340.0)
        ],
        "reasoning is left out (output already includes it); think modes are added up"
    );
}

#[test]
fn gpu_gauges_get_dcgm_names_labels_and_units() {
    let mut p = processor(
        "{transforms: [{include: hw.gpu.utilization, action: insert, new_name: DCGM_FI_DEV_GPU_UTIL, \
         unit: '%', scale: 100, rename_labels: {gpu.index: gpu, hw.id: UUID, hw.name: modelName}, \
         keep_labels: [gpu, UUID, modelName]}, \
         {include: hw.gpu.memory.usage, action: insert, new_name: DCGM_FI_DEV_FB_USED, unit: MiBy, \
         scale: 0.00000095367431640625, rename_labels: {gpu.index: gpu}, keep_labels: [gpu]}], \
         keep: ['DCGM_*']}",
    );
    let gpu = |i: &str| {
        vec![
            s("gpu.index", i),
            s("hw.id", &format!("GPU-{i}")),
            s("hw.name", "NVIDIA H100"),
            s("hw.vendor", "NVIDIA"),
            s("hw.gpu.task", "general"),
        ]
    };
    let out = run(
        &mut p,
        vec![
            gauge_metric(
                "hw.gpu.utilization",
                "1",
                vec![(gpu("0"), 0.42), (gpu("1"), 1.0)],
            ),
            gauge_metric(
                "hw.gpu.memory.usage",
                "By",
                vec![(gpu("0"), 2.0 * 1024.0 * 1024.0 * 1024.0)],
            ),
            gauge_metric("hw.gpu.temperature", "Cel", vec![(gpu("0"), 60.0)]),
        ],
    );
    let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED"],
        "keep leaves only the DCGM names"
    );
    let Some(Data::Gauge(g)) = &out[0].data else {
        panic!()
    };
    let p0 = &g.data_points[0];
    assert_eq!(keys(&p0.attributes), vec!["UUID", "gpu", "modelName"]);
    assert_eq!(label(&p0.attributes, "UUID").as_deref(), Some("GPU-0"));
    assert!((number(p0) - 42.0).abs() < 1e-9, "{}", number(p0));
    assert_eq!(out[0].unit, "%");
    let Some(Data::Gauge(fb)) = &out[1].data else {
        panic!()
    };
    assert!((number(&fb.data_points[0]) - 2048.0).abs() < 1e-6);
}

#[test]
fn keep_and_drop_filter_by_name_and_an_emptied_batch_is_not_sent() {
    let mut p = processor("{drop: ['hw.gpu.*', ollama.up]}");
    let out = run(
        &mut p,
        vec![
            gauge_metric("hw.gpu.temperature", "Cel", vec![(vec![], 60.0)]),
            gauge_metric("ollama.up", "", vec![(vec![], 1.0)]),
            gauge_metric("ollama.models.loaded", "", vec![(vec![], 2.0)]),
        ],
    );
    let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["ollama.models.loaded"]);

    let mut batches = Vec::new();
    p.process(
        Payload::Metrics(vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![gauge_metric("ollama.up", "", vec![(vec![], 1.0)])],
                ..Default::default()
            }],
            ..Default::default()
        }]),
        &mut batches,
    );
    assert!(batches.is_empty(), "{batches:?}");
}

#[test]
fn gauges_combine_as_configured_and_integers_stay_integers_when_added() {
    let mut p = processor(
        "{transforms: [{include: load, keep_labels: [], aggregation: max}, \
         {include: count, keep_labels: []}]}",
    );
    let ints = Metric {
        name: "count".to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: (1..=3)
                .map(|i| NumberDataPoint {
                    attributes: vec![s("i", &i.to_string())],
                    value: Some(Number::AsInt(i)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    };
    let out = run(
        &mut p,
        vec![
            gauge_metric(
                "load",
                "",
                vec![(vec![s("a", "1")], 0.2), (vec![s("a", "2")], 0.7)],
            ),
            ints,
        ],
    );
    let Some(Data::Gauge(load)) = &out[0].data else {
        panic!()
    };
    assert_eq!(load.data_points.len(), 1);
    assert_eq!(number(&load.data_points[0]), 0.7);
    let Some(Data::Gauge(count)) = &out[1].data else {
        panic!()
    };
    assert_eq!(count.data_points[0].value, Some(Number::AsInt(6)));
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let err = |yaml: &str, pipeline: &str| {
        let text = format!(
            "receivers: {{otlp: {{}}}}\nprocessors: {{metric_transform: {yaml}}}\n\
             exporters: {{debug: {{}}}}\nservice: {{pipelines: {{{pipeline}: {{receivers: [otlp], \
             processors: [metric_transform], exporters: [debug]}}}}}}\n"
        );
        match llmtel_config::parse(&text, &|_| None) {
            Ok(_) => panic!("accepted: {yaml}"),
            Err(e) => format!("{e:?}"),
        }
    };
    let e = err("{transforms: [{include: a, action: insert}]}", "metrics");
    assert!(e.contains("new_name") && e.contains("insert"), "{e}");
    let e = err("{transforms: [{include: a, scale: 0}]}", "metrics");
    assert!(e.contains("scale") && e.contains("above zero"), "{e}");
    let e = err("{transforms: [{include: 'a*b'}]}", "metrics");
    assert!(e.contains("include"), "{e}");
    let e = err("{}", "metrics");
    assert!(e.contains("nothing to do"), "{e}");
    let e = err("{keep: [a]}", "traces");
    assert!(e.contains("cannot process traces"), "{e}");
    let e = err("{transforms: [{include: a, extract: mean}]}", "metrics");
    assert!(e.contains("extract") && e.contains("sum"), "{e}");
}
