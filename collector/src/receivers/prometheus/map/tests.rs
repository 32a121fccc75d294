use super::*;
use crate::receivers::prometheus::otlp::resource_metrics;
use crate::receivers::prometheus::parse::parse;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{NumberDataPoint, Sum, metric};

fn target() -> Target {
    Target {
        job: "llama".into(),
        instance: "127.0.0.1:8080".into(),
        host: "127.0.0.1".into(),
        port: 8080,
        scheme: "http".into(),
        labels: vec![("env".into(), "test".into())],
    }
}

fn metric<'a>(m: &'a Mapped, name: &str) -> &'a Metric {
    m.metrics
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn attr(attrs: &[KeyValue], k: &str) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| match &a.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.clone()),
            _ => None,
        })
}

fn sum(m: &Metric) -> &Sum {
    match &m.data {
        Some(metric::Data::Sum(s)) => s,
        other => panic!("{} is not a sum: {other:?}", m.name),
    }
}

fn value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        _ => f64::NAN,
    }
}

fn scrape(text: &str, om: bool, now: u64, tracker: &mut Tracker) -> Mapped {
    map(
        &parse(text.as_bytes(), om).unwrap(),
        &target(),
        now,
        tracker,
    )
}

#[test]
fn counters_start_at_first_sight_and_move_on_reset() {
    let mut t = Tracker::default();
    let first = scrape("# TYPE c counter\nc{a=\"1\"} 5\n", false, 1_000, &mut t);
    let s = sum(metric(&first, "c"));
    assert!(s.is_monotonic);
    assert_eq!(s.aggregation_temporality, CUMULATIVE);
    assert_eq!(s.data_points[0].start_time_unix_nano, 1_000);
    assert_eq!(
        attr(&s.data_points[0].attributes, "env").as_deref(),
        Some("test")
    );
    assert_eq!(first.added, 1);
    let second = scrape("# TYPE c counter\nc{a=\"1\"} 7\n", false, 2_000, &mut t);
    assert_eq!(
        sum(metric(&second, "c")).data_points[0].start_time_unix_nano,
        1_000
    );
    assert_eq!(second.added, 0);
    let reset = scrape("# TYPE c counter\nc{a=\"1\"} 2\n", false, 3_000, &mut t);
    let p = &sum(metric(&reset, "c")).data_points[0];
    assert_eq!((p.start_time_unix_nano, value(p)), (3_000, 2.0));
}

#[test]
fn open_metrics_created_names_the_start_and_exemplars_carry_ids() {
    let mut t = Tracker::default();
    let text = include_str!("../fixtures/openmetrics.txt");
    let m = scrape(text, true, 1_800_000_000_000_000_000, &mut t);
    let s = sum(metric(&m, "http_requests_total"));
    let p = s
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "code").as_deref() == Some("200"))
        .unwrap();
    assert_eq!(p.start_time_unix_nano, 1_699_999_000_000_000_000);
    assert_eq!(value(p), 3.0);
    let ex = &p.exemplars[0];
    assert_eq!(ex.trace_id.len(), 16);
    assert_eq!(ex.trace_id[0], 0x4b);
    assert_eq!(
        ex.span_id,
        vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
    );
    assert!(m.metrics.iter().all(|x| x.name != "http_requests_created"));
    // Info and stateset: non-monotonic sums; gaugehistogram dropped.
    assert!(!sum(metric(&m, "build_info")).is_monotonic);
    assert!(!sum(metric(&m, "feature")).is_monotonic);
    assert!(m.metrics.iter().all(|x| x.name != "queue"));
    assert!(matches!(
        metric(&m, "mystery").data,
        Some(metric::Data::Gauge(_))
    ));
    assert_eq!(metric(&m, "request_latency_seconds").unit, "seconds");
}

#[test]
fn histograms_become_per_bucket_counts_without_the_inf_bound() {
    let mut t = Tracker::default();
    let m = scrape(include_str!("../fixtures/openmetrics.txt"), true, 5, &mut t);
    let Some(metric::Data::Histogram(h)) = &metric(&m, "request_latency_seconds").data else {
        panic!("not a histogram");
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, vec![0.1, 0.5]);
    assert_eq!(p.bucket_counts, vec![2, 3, 1]);
    assert_eq!((p.count, p.sum), (6, Some(2.5)));
    assert_eq!(p.exemplars.len(), 1);
    assert!(p.attributes.iter().all(|a| a.key != "le"));
    // A point without `+Inf` (or without `_count`) is dropped.
    let broken = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n";
    let m = scrape(broken, false, 6, &mut Tracker::default());
    let Some(metric::Data::Histogram(h)) = &metric(&m, "h").data else {
        panic!("not a histogram");
    };
    assert!(h.data_points.is_empty());
}

#[test]
fn summaries_keep_quantiles() {
    let m = scrape(
        include_str!("../fixtures/openmetrics.txt"),
        true,
        5,
        &mut Tracker::default(),
    );
    let Some(metric::Data::Summary(s)) = &metric(&m, "rpc_seconds").data else {
        panic!("not a summary");
    };
    let p = &s.data_points[0];
    assert_eq!((p.count, p.sum), (10, 3.0));
    assert_eq!(p.quantile_values.len(), 2);
    assert_eq!(p.quantile_values[1].quantile, 0.99);
}

#[test]
fn series_that_disappear_or_whose_target_is_down_go_stale_once() {
    let mut t = Tracker::default();
    scrape("a 1\nb{x=\"1\"} 2\n", false, 1, &mut t);
    let m = scrape("a 1\n", false, 2, &mut t);
    let Some(metric::Data::Gauge(g)) = &metric(&m, "b").data else {
        panic!("no stale b");
    };
    assert_eq!(g.data_points[0].flags, NO_RECORDED_VALUE);
    let m = scrape("a 1\n", false, 3, &mut t);
    assert!(m.metrics.iter().all(|x| x.name != "b"), "stale only once");
    let gone = down(&mut t, 4);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].name, "a");
    assert!(down(&mut t, 5).is_empty());
}

#[test]
fn job_instance_and_target_info_go_to_the_resource() {
    let text = "# TYPE target_info gauge\ntarget_info{job=\"x\",version=\"b42\"} 1\nm{job=\"other\",env=\"exposed\"} 1\n";
    let m = scrape(text, false, 1, &mut Tracker::default());
    assert!(m.metrics.iter().all(|x| x.name != "target_info"));
    assert_eq!(m.info, vec![("version".to_owned(), "b42".to_owned())]);
    let Some(metric::Data::Gauge(g)) = &metric(&m, "m").data else {
        panic!("no m");
    };
    let a = &g.data_points[0].attributes;
    assert_eq!(attr(a, "exported_job").as_deref(), Some("other"));
    assert_eq!(attr(a, "exported_env").as_deref(), Some("exposed"));
    assert_eq!(attr(a, "env").as_deref(), Some("test"));
    let rm = resource_metrics(&target(), &m.info, m.metrics);
    let r = rm.resource.unwrap().attributes;
    assert_eq!(attr(&r, "service.name").as_deref(), Some("llama"));
    assert_eq!(
        attr(&r, "service.instance.id").as_deref(),
        Some("127.0.0.1:8080")
    );
    assert_eq!(attr(&r, "url.scheme").as_deref(), Some("http"));
    assert_eq!(attr(&r, "version").as_deref(), Some("b42"));
}

#[test]
fn every_llama_server_family_maps_to_one_metric_with_its_value() {
    let text = include_str!("../fixtures/llama_server.txt");
    let fams = parse(text.as_bytes(), false).unwrap();
    let m = map(&fams, &target(), 1, &mut Tracker::default());
    assert_eq!(m.metrics.len(), fams.len());
    let max = sum(metric(&m, "llamacpp:n_tokens_max"));
    assert!(max.is_monotonic);
    assert_eq!(value(&max.data_points[0]), 12.0);
    assert_eq!(m.samples, fams.len());
}
