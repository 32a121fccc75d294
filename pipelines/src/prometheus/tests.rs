//! Golden-file tests of the translation (every metric kind, both temporalities, units, odd names, scope and
//! resource), and the behaviour of expiry, the cardinality cap and content negotiation.
//!
//! Golden files live in `pipelines/tests/golden/`; after a reviewed change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p llmtel-pipelines prometheus`.

use std::time::{Duration, Instant};

use llmtel_config::PrometheusExporterConfig;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, metric, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

const T0: u64 = 1_700_000_000_000_000_000;
const T1: u64 = 1_700_000_060_000_000_000;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn num(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: T0,
        time_unix_nano: T1,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn int(attrs: Vec<KeyValue>, v: i64) -> NumberDataPoint {
    NumberDataPoint {
        value: Some(number_data_point::Value::AsInt(v)),
        ..num(attrs, 0.0)
    }
}

fn metric(name: &str, unit: &str, description: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn exemplar(trace: u8, value: f64) -> Exemplar {
    Exemplar {
        trace_id: vec![trace; 16],
        span_id: vec![trace; 8],
        time_unix_nano: T1,
        value: Some(exemplar::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// One resource and scope with every kind of metric the translation handles.
fn fixture() -> Vec<ResourceMetrics> {
    let ttft = HistogramDataPoint {
        attributes: vec![kv("gen_ai.request.model", "qwen3:14b")],
        start_time_unix_nano: T0,
        time_unix_nano: T1,
        count: 6,
        sum: Some(2.75),
        bucket_counts: vec![1, 3, 2, 0],
        explicit_bounds: vec![0.1, 0.5, 1.0],
        exemplars: vec![exemplar(0xab, 0.42), exemplar(0xcd, 0.9)],
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "hw.gpu.utilization",
            "1",
            "GPU utilisation.",
            metric::Data::Gauge(Gauge {
                data_points: vec![num(vec![kv("hw.id", "gpu0")], 0.83)],
            }),
        ),
        metric(
            "hw.gpu.memory.usage",
            "By",
            "",
            metric::Data::Gauge(Gauge {
                data_points: vec![int(vec![kv("hw.id", "gpu0")], 9_663_676_416)],
            }),
        ),
        metric(
            "gen_ai.client.token.usage.total",
            "{token}",
            "Tokens used.",
            metric::Data::Sum(Sum {
                data_points: vec![
                    NumberDataPoint {
                        exemplars: vec![exemplar(0x11, 512.0)],
                        ..int(vec![kv("gen_ai.token.type", "output")], 1200)
                    },
                    int(vec![kv("gen_ai.token.type", "input")], 300),
                ],
                aggregation_temporality: CUMULATIVE,
                is_monotonic: true,
            }),
        ),
        metric(
            "llmtel.requests.in_flight",
            "{request}",
            "Requests in flight.",
            metric::Data::Sum(Sum {
                data_points: vec![int(vec![], 3)],
                aggregation_temporality: CUMULATIVE,
                is_monotonic: false,
            }),
        ),
        metric(
            "gen_ai.server.time_to_first_token",
            "s",
            "Time to first token.",
            metric::Data::Histogram(Histogram {
                data_points: vec![ttft],
                aggregation_temporality: CUMULATIVE,
            }),
        ),
        metric(
            "rpc.latency",
            "s",
            "",
            metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    start_time_unix_nano: T0,
                    time_unix_nano: T1,
                    count: 7,
                    sum: Some(40.0),
                    scale: 0,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: 1,
                        bucket_counts: vec![2, 4],
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: CUMULATIVE,
            }),
        ),
        metric(
            "queue.wait",
            "s",
            "Wait in queue.",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    start_time_unix_nano: T0,
                    time_unix_nano: T1,
                    count: 10,
                    sum: 4.5,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 0.3,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 1.2,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        ),
        // Odd names and labels: dots, dashes, a leading digit, a key colliding after sanitising, a quote.
        metric(
            "2xx.http-responses",
            "{response}/s",
            "Rate with \"quotes\"\nand a newline.",
            metric::Data::Gauge(Gauge {
                data_points: vec![num(
                    vec![
                        kv("http.method", "GET"),
                        kv("http_method", "get"),
                        kv("note", "say \"hi\"\\"),
                    ],
                    12.5,
                )],
            }),
        ),
    ];
    vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", "llmtel"),
                kv("service.namespace", "lab"),
                kv("service.instance.id", "gpu-box:11435"),
                kv("host.name", "gpu-box"),
                kv("telemetry.sdk.language", "rust"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "llmtel".into(),
                version: "0.1.0".into(),
                ..Default::default()
            }),
            metrics,
            ..Default::default()
        }],
        schema_url: String::new(),
    }]
}

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs; if the change is intended, review and regenerate with UPDATE_GOLDEN=1",
        path.display()
    );
}

fn store(cfg: PrometheusExporterConfig) -> SeriesStore {
    SeriesStore::new(&cfg)
}

#[test]
fn text_and_openmetrics_match_the_reviewed_golden_files() {
    let mut s = store(PrometheusExporterConfig::default());
    assert_eq!(s.ingest(&fixture()), Ingested::default());
    golden("fixture.prom", &s.render(Format::Text));
    golden("fixture.om", &s.render(Format::OpenMetrics));
}

#[test]
fn namespace_const_labels_resource_to_labels_and_no_suffixes() {
    let cfg = PrometheusExporterConfig {
        namespace: "llm".into(),
        const_labels: [("site".to_owned(), "eu-1".to_owned())].into(),
        resource_to_labels: vec!["host.name".into()],
        add_metric_suffixes: false,
        ..Default::default()
    };
    let mut s = store(cfg);
    s.ingest(&fixture());
    golden("options.prom", &s.render(Format::Text));
}

fn delta_sum(v: i64, attrs: Vec<KeyValue>) -> Vec<ResourceMetrics> {
    vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![metric(
                "tokens",
                "{token}",
                "",
                metric::Data::Sum(Sum {
                    data_points: vec![int(attrs, v)],
                    aggregation_temporality: DELTA,
                    is_monotonic: true,
                }),
            )],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn delta_hist(counts: Vec<u64>) -> Vec<ResourceMetrics> {
    let count = counts.iter().sum();
    vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![metric(
                "latency",
                "s",
                "",
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        count,
                        sum: Some(1.0),
                        bucket_counts: counts,
                        explicit_bounds: vec![1.0],
                        start_time_unix_nano: T0,
                        time_unix_nano: T1,
                        ..Default::default()
                    }],
                    aggregation_temporality: DELTA,
                }),
            )],
            ..Default::default()
        }],
        ..Default::default()
    }]
}

#[test]
fn deltas_accumulate_into_cumulative() {
    let mut s = store(PrometheusExporterConfig::default());
    s.ingest(&delta_sum(5, vec![]));
    s.ingest(&delta_sum(7, vec![]));
    s.ingest(&delta_hist(vec![1, 0]));
    s.ingest(&delta_hist(vec![2, 1]));
    let text = s.render(Format::Text);
    assert!(text.contains("\ntokens_total 12\n"), "{text}");
    assert!(
        text.contains("latency_seconds_bucket{le=\"1\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("latency_seconds_bucket{le=\"+Inf\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("latency_seconds_sum 2\n") && text.contains("latency_seconds_count 4\n"),
        "{text}"
    );
}

#[test]
fn type_conflicts_drop_the_later_metric_and_unspecified_temporality_is_refused() {
    let mut s = store(PrometheusExporterConfig::default());
    s.ingest(&delta_sum(1, vec![]));
    let mut clash = delta_sum(1, vec![]);
    clash[0].scope_metrics[0].metrics[0].data = Some(metric::Data::Gauge(Gauge {
        data_points: vec![int(vec![], 9)],
    }));
    // "tokens" as a gauge becomes family "tokens" too (a counter's family has no _total): a TYPE conflict.
    assert_eq!(s.ingest(&clash).rejected, 1);
    let mut unspecified = delta_sum(1, vec![]);
    if let Some(metric::Data::Sum(sum)) = &mut unspecified[0].scope_metrics[0].metrics[0].data {
        sum.aggregation_temporality = 0;
    }
    assert_eq!(s.ingest(&unspecified).rejected, 1);
    let text = s.render(Format::Text);
    assert!(
        text.contains("# TYPE tokens_total counter\ntokens_total 1\n"),
        "{text}"
    );
}

#[test]
fn the_cardinality_cap_folds_extra_label_sets_into_one_overflow_series() {
    let mut s = store(PrometheusExporterConfig {
        max_series_per_metric: 3,
        ..Default::default()
    });
    let mut overflowed = 0;
    for i in 0..10 {
        overflowed += s
            .ingest(&delta_sum(1, vec![kv("model", &format!("m{i}"))]))
            .overflowed;
    }
    assert_eq!(overflowed, 7);
    assert_eq!(
        s.series_count(),
        4,
        "three series and the overflow one, however many label sets arrive"
    );
    let text = s.render(Format::Text);
    assert!(
        text.contains("tokens_total{otel_metric_overflow=\"true\"} 7\n"),
        "{text}"
    );
    // Cumulative points of an overflowed label set add only their increase.
    let mut s = store(PrometheusExporterConfig {
        max_series_per_metric: 1,
        ..Default::default()
    });
    let cum = |model: &str, v: i64| {
        let mut m = delta_sum(v, vec![kv("model", model)]);
        if let Some(metric::Data::Sum(sum)) = &mut m[0].scope_metrics[0].metrics[0].data {
            sum.aggregation_temporality = CUMULATIVE;
        }
        m
    };
    s.ingest(&cum("a", 1));
    s.ingest(&cum("b", 10));
    s.ingest(&cum("b", 15));
    s.ingest(&cum("c", 2));
    assert!(
        s.render(Format::Text)
            .contains("tokens_total{otel_metric_overflow=\"true\"} 17\n")
    );
}

#[test]
fn series_expire_by_time_without_any_scrape() {
    let mut s = store(PrometheusExporterConfig {
        metric_expiration: llmtel_config::Duration::from_secs(60),
        ..Default::default()
    });
    s.ingest(&fixture());
    let before = s.series_count();
    assert!(before > 5);
    assert_eq!(s.expire(Instant::now() + Duration::from_secs(30)), 0);
    assert_eq!(s.expire(Instant::now() + Duration::from_secs(61)), before);
    assert_eq!(s.series_count(), 0);
    assert!(
        !s.render(Format::Text).contains("target_info"),
        "target_info expires with its series"
    );
    assert_eq!(s.expiry_interval(), Duration::from_secs(6));
}

#[test]
fn negotiation_prefers_openmetrics_only_when_asked_and_enabled() {
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let s = store(PrometheusExporterConfig::default());
    assert_eq!(s.negotiate(Some(prometheus_accept)), Format::OpenMetrics);
    assert_eq!(s.negotiate(Some("text/plain")), Format::Text);
    assert_eq!(s.negotiate(None), Format::Text);
    let off = store(PrometheusExporterConfig {
        enable_open_metrics: false,
        ..Default::default()
    });
    assert_eq!(off.negotiate(Some(prometheus_accept)), Format::Text);
}

#[test]
fn attributes_named_like_exposition_labels_cannot_break_a_scrape() {
    let mut m = delta_hist(vec![1, 0]);
    if let Some(metric::Data::Histogram(h)) = &mut m[0].scope_metrics[0].metrics[0].data {
        h.data_points[0].attributes.push(kv("le", "sneaky"));
    }
    let mut s = store(PrometheusExporterConfig::default());
    s.ingest(&m);
    let text = s.render(Format::Text);
    assert!(
        text.contains("latency_seconds_bucket{exported_le=\"sneaky\",le=\"1\"} 1\n"),
        "{text}"
    );
}

#[test]
fn overflowed_delta_gauges_add_up_and_cumulative_exponential_histograms_do_not_inflate() {
    let mut s = store(PrometheusExporterConfig {
        max_series_per_metric: 1,
        ..Default::default()
    });
    for (model, v) in [("a", 1), ("b", 2), ("c", 3)] {
        let mut m = delta_sum(v, vec![kv("model", model)]);
        if let Some(metric::Data::Sum(sum)) = &mut m[0].scope_metrics[0].metrics[0].data {
            sum.is_monotonic = false;
        }
        s.ingest(&m);
    }
    assert!(
        s.render(Format::Text)
            .contains("tokens{otel_metric_overflow=\"true\"} 5\n"),
        "{}",
        s.render(Format::Text)
    );

    let mut s = store(PrometheusExporterConfig {
        max_series_per_metric: 1,
        ..Default::default()
    });
    let expo = |model: &str| {
        vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric(
                    "e",
                    "s",
                    "",
                    metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![ExponentialHistogramDataPoint {
                            attributes: vec![kv("model", model)],
                            count: 2,
                            sum: Some(6.0),
                            positive: Some(Buckets {
                                offset: 1,
                                bucket_counts: vec![2],
                            }),
                            time_unix_nano: T1,
                            ..Default::default()
                        }],
                        aggregation_temporality: CUMULATIVE,
                    }),
                )],
                ..Default::default()
            }],
            ..Default::default()
        }]
    };
    s.ingest(&expo("a"));
    for _ in 0..5 {
        s.ingest(&expo("b"));
    }
    assert!(
        s.render(Format::Text)
            .contains("e_seconds_count{otel_metric_overflow=\"true\"} 2\n"),
        "{}",
        s.render(Format::Text)
    );
}

#[test]
fn a_counter_named_without_total_keeps_its_name_in_both_formats() {
    let mut s = store(PrometheusExporterConfig {
        add_metric_suffixes: false,
        ..Default::default()
    });
    let mut batch = delta_sum(5, vec![]);
    let m = &mut batch[0].scope_metrics[0].metrics[0];
    m.name = "ollama_token_count".into();
    s.ingest(&batch);
    let text = s.render(Format::Text);
    assert!(
        text.contains("# TYPE ollama_token_count counter\nollama_token_count 5\n"),
        "{text}"
    );
    let om = s.render(Format::OpenMetrics);
    assert!(
        om.contains("# TYPE ollama_token_count unknown\nollama_token_count 5\n"),
        "OpenMetrics counters must end in _total, so this one is served as unknown: {om}"
    );
    assert!(!om.contains("_created") && !om.contains("_total"), "{om}");
}
