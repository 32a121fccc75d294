use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn number(t_s: u64, v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: 1_000_000_000,
        time_unix_nano: t_s * 1_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn batch(metrics: Vec<Metric>) -> Vec<ResourceMetrics> {
    vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", "llmtel"),
                kv("service.instance.id", "box-1"),
                kv("host.name", "gpu-box"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn sum(name: &str, unit: &str, delta: bool, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: if delta {
                AggregationTemporality::Delta
            } else {
                AggregationTemporality::Cumulative
            } as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn exporter(cfg: PrometheusRemoteWriteConfig) -> RemoteWriteExporter {
    RemoteWriteExporter::new(&ComponentId::parse("prometheusremotewrite").unwrap(), &cfg).unwrap()
}

fn cfg() -> PrometheusRemoteWriteConfig {
    PrometheusRemoteWriteConfig {
        endpoint: "http://127.0.0.1:9/api/v1/write".into(),
        ..Default::default()
    }
}

/// One decoded series: its labels and samples.
type Decoded = (Vec<(String, String)>, Vec<(f64, i64)>);

/// Decompresses and decodes what the exporter would send, as `name{labels}` → samples.
fn decode(e: &RemoteWriteExporter, b: &[ResourceMetrics]) -> Vec<Decoded> {
    let (body, _) = e.encode(b).unwrap();
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body.expect("a request"))
        .unwrap();
    let req = proto::WriteRequest::decode(raw.as_slice()).unwrap();
    req.timeseries
        .into_iter()
        .map(|ts| {
            (
                ts.labels.into_iter().map(|l| (l.name, l.value)).collect(),
                ts.samples
                    .into_iter()
                    .map(|s| (s.value, s.timestamp))
                    .collect(),
            )
        })
        .collect()
}

fn name_of(labels: &[(String, String)]) -> &str {
    &labels.iter().find(|(k, _)| k == "__name__").unwrap().1
}

#[test]
fn series_carry_sorted_labels_job_instance_and_ordered_samples() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let e = exporter(cfg());
    // Two points of one series, out of order within the batch.
    let series = decode(
        &e,
        &batch(vec![sum(
            "gen_ai.client.token.usage",
            "{token}",
            false,
            vec![
                number(20, 7.0, vec![kv("Zeta", "z")]),
                number(10, 3.0, vec![kv("Zeta", "z")]),
            ],
        )]),
    );
    let counter = series
        .iter()
        .find(|(l, _)| name_of(l) == "gen_ai_client_token_usage_total")
        .expect("the counter under the name the prometheus exporter serves");
    let names: Vec<&str> = counter.0.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "labels sorted by name");
    assert!(counter.0.contains(&("job".into(), "llmtel".into())));
    assert!(counter.0.contains(&("instance".into(), "box-1".into())));
    assert!(counter.0.contains(&("Zeta".into(), "z".into())));
    // The older point arriving after the newer is ignored, as by the scrape endpoint: one sample per state.
    assert_eq!(counter.1, vec![(7.0, 20_000)]);
    let info = series
        .iter()
        .find(|(l, _)| name_of(l) == "target_info")
        .expect("target_info for the resource");
    assert!(info.0.contains(&("host_name".into(), "gpu-box".into())));
    for (_, samples) in &series {
        assert!(samples.windows(2).all(|w| w[0].1 < w[1].1), "{samples:?}");
    }
}

#[test]
fn deltas_become_cumulative_and_histograms_become_bucket_sum_count() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let e = exporter(PrometheusRemoteWriteConfig {
        add_metric_suffixes: false,
        ..cfg()
    });
    let delta = |t, v| batch(vec![sum("requests", "1", true, vec![number(t, v, vec![])])]);
    let first = decode(&e, &delta(10, 2.0));
    let second = decode(&e, &delta(20, 5.0));
    let value = |s: &[Decoded]| {
        s.iter()
            .find(|(l, _)| name_of(l) == "requests")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(value(&first), Some(vec![(2.0, 10_000)]));
    assert_eq!(
        value(&second),
        Some(vec![(7.0, 20_000)]),
        "delta accumulated"
    );

    let h = Metric {
        name: "latency".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: 30_000_000_000,
                count: 4,
                sum: Some(2.5),
                bucket_counts: vec![1, 2, 1],
                explicit_bounds: vec![0.5, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let s = decode(&e, &batch(vec![h]));
    let get = |name: &str, le: Option<&str>| {
        s.iter()
            .find(|(l, _)| {
                name_of(l) == name
                    && le.is_none_or(|le| l.contains(&("le".to_owned(), le.to_owned())))
            })
            .map(|(_, v)| v[0].0)
    };
    assert_eq!(get("latency_bucket", Some("0.5")), Some(1.0));
    assert_eq!(get("latency_bucket", Some("1")), Some(3.0));
    assert_eq!(get("latency_bucket", Some("+Inf")), Some(4.0));
    assert_eq!(get("latency_sum", None), Some(2.5));
    assert_eq!(get("latency_count", None), Some(4.0));
}

#[test]
fn debug_output_never_shows_secrets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let mut c = cfg();
    c.headers.insert(
        "X-Scope-OrgID".into(),
        llmtel_config::otlp_exporters::Secret("t3nant-secret".into()),
    );
    c.bearer_token = Some(llmtel_config::otlp_exporters::Secret(
        "b3arer-secret".into(),
    ));
    let shown = format!("{:?}", exporter(c));
    assert!(!shown.contains("secret"), "{shown}");
    assert!(
        shown.to_ascii_lowercase().contains("x-scope-orgid"),
        "{shown}"
    );
}
