use super::*;

const LLAMA: &str = include_str!("../fixtures/llama_server.txt");
const NODE: &str = include_str!("../fixtures/node_exporter.txt");
const PROMETHEUS: &str = include_str!("../fixtures/prometheus.txt");
const OPEN_METRICS: &str = include_str!("../fixtures/openmetrics.txt");

fn find<'a>(fams: &'a [Family], name: &str) -> &'a Family {
    fams.iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

/// Sample lines in a fixture (what a lossless parse must return, one each).
fn sample_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count()
}

#[test]
fn llama_server_metrics_parse_without_loss() {
    let fams = parse(LLAMA.as_bytes(), false).unwrap();
    assert_eq!(
        fams.iter().map(|f| f.samples.len()).sum::<usize>(),
        sample_lines(LLAMA)
    );
    // A counter without `_total`, and `:` in the names.
    let max = find(&fams, "llamacpp:n_tokens_max");
    assert_eq!(max.kind, Kind::Counter);
    assert_eq!(max.samples[0].value, 12.0);
    let tokens = find(&fams, "llamacpp:tokens_predicted_total");
    assert_eq!(tokens.kind, Kind::Counter);
    assert_eq!(tokens.samples[0].value, 8.0);
    assert_eq!(tokens.help, "Number of generation tokens processed");
    assert_eq!(
        find(&fams, "llamacpp:prompt_tokens_seconds").kind,
        Kind::Gauge
    );
    assert!(fams.iter().all(|f| f.kind != Kind::Unknown));
}

#[test]
fn node_exporter_metrics_parse_without_loss() {
    let fams = parse(NODE.as_bytes(), false).unwrap();
    assert_eq!(
        fams.iter().map(|f| f.samples.len()).sum::<usize>(),
        sample_lines(NODE)
    );
    let declared = NODE.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(fams.len(), declared, "one family per # TYPE");
    let cpu = find(&fams, "node_cpu_seconds_total");
    assert_eq!(cpu.kind, Kind::Counter);
    assert!(
        cpu.samples
            .iter()
            .any(|s| s.labels.contains(&("mode".into(), "idle".into())))
    );
    assert_eq!(find(&fams, "node_memory_MemTotal_bytes").kind, Kind::Gauge);
    assert_eq!(find(&fams, "go_gc_duration_seconds").kind, Kind::Summary);
}

#[test]
fn prometheus_histograms_and_summaries_keep_their_samples() {
    let fams = parse(PROMETHEUS.as_bytes(), false).unwrap();
    assert_eq!(
        fams.iter().map(|f| f.samples.len()).sum::<usize>(),
        sample_lines(PROMETHEUS)
    );
    let h = fams
        .iter()
        .find(|f| f.kind == Kind::Histogram)
        .expect("a histogram");
    for suffix in ["_bucket", "_sum", "_count"] {
        assert!(
            h.samples
                .iter()
                .any(|s| s.name == format!("{}{suffix}", h.name)),
            "{} has {suffix}",
            h.name
        );
    }
    assert!(
        h.samples
            .iter()
            .any(|s| s.labels.iter().any(|(k, v)| k == "le" && v == "+Inf"))
    );
}

#[test]
fn open_metrics_units_created_exemplars_and_eof() {
    let fams = parse(OPEN_METRICS.as_bytes(), true).unwrap();
    let c = find(&fams, "http_requests");
    assert_eq!(c.kind, Kind::Counter);
    let names: Vec<&str> = c.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "http_requests_total",
            "http_requests_created",
            "http_requests_total",
            "http_requests_created"
        ]
    );
    let ex = c.samples[0].exemplar.as_ref().expect("an exemplar");
    assert_eq!(ex.value, 1.0);
    assert_eq!(ex.timestamp_ns, Some(1_700_000_000_500_000_000));
    assert_eq!(ex.labels[0].0, "trace_id");
    let lat = find(&fams, "request_latency_seconds");
    assert_eq!((lat.kind, lat.unit.as_str()), (Kind::Histogram, "seconds"));
    assert_eq!(c.samples[0].timestamp_ns, None);
    let t = find(&fams, "temperature_celsius");
    assert_eq!(t.samples[0].timestamp_ns, Some(1_700_000_000_250_000_000));
    assert_eq!(find(&fams, "build").kind, Kind::Info);
    assert_eq!(find(&fams, "build").samples[0].name, "build_info");
    assert!(
        fams.iter().all(|f| f.name != "after_eof"),
        "# EOF ends the exposition"
    );
}

#[test]
fn escapes_values_and_timestamps() {
    let text = "# HELP a Two\\nlines \\\\ here\n# TYPE a gauge\na{path=\"C:\\\\x\",q=\"say \\\"hi\\\"\",nl=\"1\\n2\",} -Inf 1700000000123\nb NaN\nc +Inf\nd 1e3\n";
    let fams = parse(text.as_bytes(), false).unwrap();
    let a = find(&fams, "a");
    assert_eq!(a.help, "Two\nlines \\ here");
    assert_eq!(
        a.samples[0].labels,
        vec![
            ("path".to_owned(), "C:\\x".to_owned()),
            ("q".to_owned(), "say \"hi\"".to_owned()),
            ("nl".to_owned(), "1\n2".to_owned()),
        ]
    );
    assert_eq!(a.samples[0].value, f64::NEG_INFINITY);
    assert_eq!(a.samples[0].timestamp_ns, Some(1_700_000_000_123_000_000));
    assert!(find(&fams, "b").samples[0].value.is_nan());
    assert_eq!(find(&fams, "c").samples[0].value, f64::INFINITY);
    assert_eq!(find(&fams, "d").samples[0].value, 1000.0);
    assert_eq!(find(&fams, "d").kind, Kind::Unknown);
}

#[test]
fn broken_lines_name_the_line() {
    for (text, line, what) in [
        ("ok 1\nbad{a=\"x} 1\n", 2, "unclosed"),
        ("x{a=\"1\",a=\"2\"} 1\n", 1, "twice"),
        ("x one\n", 1, "not a number"),
        ("x 1 2 3\n", 1, "after the value"),
        ("# TYPE x gauges\nx 1\n", 1, "not a type"),
        ("9x 1\n", 1, "invalid metric name"),
        ("x{9=\"1\"} 1\n", 1, "invalid label name"),
    ] {
        let e = parse(text.as_bytes(), false).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.message.contains(what), "{text:?}: {e}");
    }
    let e = parse(b"a 1\n\xff 2\n", false).unwrap_err();
    assert_eq!((e.line, e.message.as_str()), (2, "not UTF-8"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let _ = parse(&bytes, false);
        let _ = parse(&bytes, true);
    }

    #[test]
    fn exposition_like_text_never_panics(s in "[a-z_:{}=\",# \\\\\n0-9.+\\-eEINaf]{0,200}") {
        let _ = parse(s.as_bytes(), false);
        let _ = parse(s.as_bytes(), true);
    }
}
