use super::names::HISTOGRAMS;
use super::source::{percent_encode, queries};
use super::*;

fn exposition() -> String {
    let mut t = String::from("# HELP x y\n# TYPE llmtel_client_requests_total counter\n");
    let labels = |model: &str, think: &str| {
        format!(
            "gen_ai_request_model=\"{model}\",llmtel_think_mode=\"{think}\",otel_scope_name=\"a \\\"b\\\"\""
        )
    };
    let on = labels("qwen3:14b", "on");
    let off = labels("qwen3:14b", "off");
    t +=
        &format!("llmtel_client_requests_total{{{on},gen_ai_response_finish_reason=\"stop\"}} 8\n");
    t += &format!("llmtel_client_requests_total{{{on},error_type=\"upstream_error\"}} 2\n");
    t += &format!("llmtel_client_requests_total{{{off}}} 4\n");
    // 10 requests with think on: 4 under 1 s, 4 in (1, 5], 2 in (5, 10].
    for (le, c) in [("1", 4), ("5", 8), ("10", 10), ("+Inf", 10)] {
        t += &format!("gen_ai_client_operation_duration_seconds_bucket{{{on},le=\"{le}\"}} {c}\n");
    }
    t += &format!("gen_ai_client_operation_duration_seconds_sum{{{on}}} 40\n");
    t += &format!("llmtel_client_think_duration_seconds_sum{{{on}}} 25\n");
    for (le, c) in [("1", 4), ("+Inf", 4)] {
        t += &format!("gen_ai_client_operation_duration_seconds_bucket{{{off},le=\"{le}\"}} {c}\n");
    }
    t += &format!("gen_ai_client_operation_duration_seconds_sum{{{off}}} 2\n");
    for (le, c) in [("0.1", 1), ("0.25", 4), ("+Inf", 4)] {
        t +=
            &format!("gen_ai_server_time_to_first_token_seconds_bucket{{{off},le=\"{le}\"}} {c}\n");
    }
    t += "ollama_up{server_address=\"x\"} 1\n";
    t
}

#[test]
fn the_exposition_is_read_with_escaped_labels() {
    let samples = parse_exposition(&exposition());
    let first = &samples[0];
    assert_eq!(first.name, "llmtel_client_requests_total");
    assert_eq!(first.labels["otel_scope_name"], "a \"b\"");
    assert_eq!(first.labels["gen_ai_response_finish_reason"], "stop");
    assert_eq!(first.value, 8.0);
    let inf = samples
        .iter()
        .find(|s| s.labels.get("le").map(String::as_str) == Some("+Inf"))
        .unwrap();
    assert_eq!(inf.value, 10.0);
}

#[test]
fn rows_give_percentiles_errors_and_the_thinking_share_per_model_and_mode() {
    let rows = compute(&parse_exposition(&exposition()));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let off = &rows[0];
    let on = &rows[1];
    assert_eq!((off.think.as_str(), on.think.as_str()), ("off", "on"));
    assert_eq!((on.requests, on.errors), (10.0, 2.0));
    // Rank 5 of 10 falls in (1, 5] holding ranks 5..8: 1 + 4 * (5 - 4) / 4 = 2.
    assert_eq!(on.p50, Some(2.0));
    // Rank 9.5 falls in (5, 10]: 5 + 5 * (9.5 - 8) / 2 = 8.75.
    assert_eq!(on.p95, Some(8.75));
    assert_eq!(on.think_share, Some(25.0 / 40.0));
    assert_eq!(on.ttft_p50, None, "no TTFT series for it");
    assert_eq!(off.p50, Some(0.5), "rank 2 of 4 in (0, 1]");
    // Rank 2 of 4 in (0.1, 0.25] holding ranks 1..4: 0.1 + 0.15 * (2 - 1) / 3 = 0.15.
    assert!((off.ttft_p50.unwrap() - 0.15).abs() < 1e-12);
    assert_eq!(off.think_share, Some(0.0));
    assert_eq!(off.errors, 0.0);
}

#[test]
fn the_table_is_aligned_and_says_what_it_cannot_know() {
    let table = render(&compute(&parse_exposition(&exposition())));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("MODEL"), "{table}");
    assert!(lines[2].starts_with("qwen3:14b  on "), "{table}");
    assert!(
        lines[2].contains("2.00 s") && lines[2].contains("8.75 s"),
        "{table}"
    );
    assert!(lines[2].ends_with("62%"), "{table}");
    assert!(lines[0].contains("ENERGY/REQ"), "{table}");
    assert!(lines[1].contains("150 ms"), "{table}");
    let p95 = lines[0].find("P95").unwrap();
    assert_eq!(lines[1].len(), lines[2].len(), "columns align:\n{table}");
    assert!(lines[1].len() >= p95);
}

#[test]
fn windows_are_promql_durations() {
    for ok in ["1h", "15m", "7d", "1h30m", "500ms"] {
        assert!(valid_window(ok), "{ok}");
    }
    for bad in ["", "1", "h", "1 h", "1hour", "-1h"] {
        assert!(!valid_window(bad), "{bad}");
    }
}

#[test]
fn queries_ask_prometheus_for_the_same_samples() {
    let q = queries("5m");
    assert_eq!(q.len(), 1 + 2 * HISTOGRAMS.len());
    assert_eq!(
        q[1].1,
        "sum by (le, gen_ai_request_model, llmtel_think_mode) \
         (increase(gen_ai_client_operation_duration_seconds_bucket[5m]))"
    );
    assert_eq!(percent_encode("a b{c=\"d\"}"), "a%20b%7Bc%3D%22d%22%7D");
}

/// Think on and off for one model, with energy where `energy` says, and a model that only ran one way.
fn price_exposition(energy: bool) -> String {
    let mut t = String::new();
    let l = |model: &str, think: &str| {
        format!("gen_ai_request_model=\"{model}\",llmtel_think_mode=\"{think}\"")
    };
    let (on, off, plain) = (
        l("qwen3:14b", "on"),
        l("qwen3:14b", "off"),
        l("llama3.2:3b", "default"),
    );
    t += &format!(
        "llmtel_client_requests_total{{{on}}} 4\nllmtel_client_requests_total{{{off}}} 4\n"
    );
    t += &format!("llmtel_client_requests_total{{{plain}}} 3\n");
    // Latency: on, 4 in (4, 8] → p50 6; off, 4 in (2, 4] → p50 3.
    // First answer: on, 4 in (2, 4] → p50 3; off, 4 in (0.25, 0.5] → p50 0.375.
    // Tokens/s: on, 4 in (20, 30] → p50 25; off, 4 in (30, 50] → p50 40.
    for (name, lo_on, hi_on, lo_off, hi_off) in [
        (
            "gen_ai_client_operation_duration_seconds",
            "4",
            "8",
            "2",
            "4",
        ),
        (
            "llmtel_client_time_to_first_answer_token_seconds",
            "2",
            "4",
            "0.25",
            "0.5",
        ),
        (
            "llmtel_client_output_tokens_rate_per_second",
            "20",
            "30",
            "30",
            "50",
        ),
    ] {
        for (labels, lo, hi) in [(&on, lo_on, hi_on), (&off, lo_off, hi_off)] {
            t += &format!("{name}_bucket{{{labels},le=\"{lo}\"}} 0\n");
            t += &format!("{name}_bucket{{{labels},le=\"{hi}\"}} 4\n");
            t += &format!("{name}_bucket{{{labels},le=\"+Inf\"}} 4\n");
        }
    }
    if energy {
        // 4 requests each: 400 J on (mean 100), 160 J off (mean 40).
        for (labels, sum) in [(&on, 400), (&off, 160)] {
            t += &format!("llmtel_gpu_energy_request_joules_bucket{{{labels},le=\"500\"}} 4\n");
            t += &format!("llmtel_gpu_energy_request_joules_bucket{{{labels},le=\"+Inf\"}} 4\n");
            t += &format!("llmtel_gpu_energy_request_joules_sum{{{labels}}} {sum}\n");
        }
    }
    t
}

#[test]
fn the_price_of_thinking_is_on_over_off_per_model() {
    let rows = compute(&parse_exposition(&price_exposition(true)));
    let prices = price(&rows);
    assert_eq!(prices.len(), 1, "only qwen3 ran both ways: {prices:?}");
    let p = &prices[0];
    assert_eq!((p.model.as_str(), p.think.as_str()), ("qwen3:14b", "on"));
    assert_eq!((p.requests_on, p.requests_off), (4.0, 4.0));
    assert_eq!(p.latency_p50, Some(2.0), "6 s ÷ 3 s");
    assert_eq!(p.first_answer_p50, Some(8.0), "3 s ÷ 0.375 s");
    assert_eq!(p.tokens_per_second_p50, Some(25.0 / 40.0));
    assert_eq!(p.energy_per_request, Ok(2.5), "100 J ÷ 40 J");
    assert_eq!(p.vram_difference, Err(price::VRAM_NOT_OBSERVABLE));
    let on = rows.iter().find(|r| r.think == "on").unwrap();
    assert_eq!(on.energy_mean, Some(100.0));
}

#[test]
fn without_energy_series_the_energy_ratio_says_why() {
    let prices = price(&compute(&parse_exposition(&price_exposition(false))));
    let why = prices[0].energy_per_request.unwrap_err();
    assert!(why.contains("llmtel_gpu_energy_request_joules"), "{why}");
    let table = render_price(&prices);
    let row = table.lines().find(|l| l.starts_with("qwen3:14b")).unwrap();
    assert!(
        row.contains("×2.00") && row.contains("×8.00") && row.contains("×0.62"),
        "{table}"
    );
    assert!(row.contains("4/4"), "{table}");
    // Energy and VRAM have different reasons, each printed once under the table.
    assert!(
        row.contains("n/a [1]") && row.contains("n/a [2]"),
        "{table}"
    );
    assert!(table.contains("[1] no energy recorded"), "{table}");
    assert!(table.contains("[2] not observable"), "{table}");
}

#[test]
fn no_model_run_both_ways_gives_a_sentence_not_an_empty_table() {
    let rows: Vec<Row> = compute(&parse_exposition(&exposition()))
        .into_iter()
        .filter(|r| r.think != "off")
        .collect();
    assert!(price(&rows).is_empty());
    let out = write(Format::Table, "src", &rows);
    assert!(
        out.contains("Price of thinking: no model ran both"),
        "{out}"
    );
}

#[test]
fn json_and_csv_carry_the_numbers_of_the_table() {
    let rows = compute(&parse_exposition(&price_exposition(true)));
    let doc: serde_json::Value =
        serde_json::from_str(&write(Format::Json, "here", &rows)).expect("valid JSON");
    assert_eq!(doc["source"], "here");
    assert_eq!(doc["rows"].as_array().unwrap().len(), rows.len());
    let on = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["think"] == "on")
        .unwrap();
    assert_eq!(on["latency_p50_seconds"], 6.0);
    assert_eq!(on["energy_per_request_mean_joules"], 100.0);
    assert!(on["latency_p95_seconds"].as_f64().is_some());
    let llama = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "llama3.2:3b")
        .unwrap();
    assert!(
        llama["latency_p50_seconds"].is_null(),
        "no buckets: {llama}"
    );
    let p = &doc["thinking_price"][0];
    assert_eq!(p["model"], "qwen3:14b");
    assert_eq!(p["baseline"], "off");
    assert_eq!(p["latency_p50_ratio"], 2.0);
    assert_eq!(p["time_to_first_answer_token_p50_ratio"], 8.0);
    assert_eq!(p["output_tokens_per_second_p50_ratio"], 0.625);
    assert_eq!(p["energy_per_request_ratio"], 2.5);
    assert!(p["vram_difference_bytes"].is_null());
    assert!(
        p["vram_difference_bytes_note"]
            .as_str()
            .unwrap()
            .starts_with("not observable")
    );

    let csv = write(Format::Csv, "here", &rows);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("table,model,think,quantity,value,note"));
    let lines: Vec<&str> = lines.collect();
    assert!(
        lines.contains(&"thinking_price,qwen3:14b,on,latency_p50_ratio,2,"),
        "{csv}"
    );
    assert!(
        lines.contains(&"thinking_price,qwen3:14b,on,energy_per_request_ratio,2.5,"),
        "{csv}"
    );
    assert!(
        lines.contains(&"requests,qwen3:14b,off,latency_p50_seconds,3,"),
        "{csv}"
    );
    let vram = lines
        .iter()
        .find(|l| l.contains("vram_difference_bytes"))
        .unwrap();
    assert!(
        vram.starts_with("thinking_price,qwen3:14b,on,vram_difference_bytes,,\"not observable"),
        "{vram}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("requests,") || l.starts_with("thinking_price,"))
    );
}

#[test]
fn an_empty_report_is_still_valid_json_and_csv() {
    let doc: serde_json::Value = serde_json::from_str(&write(Format::Json, "x", &[])).unwrap();
    assert_eq!(doc["rows"], serde_json::json!([]));
    assert_eq!(doc["thinking_price"], serde_json::json!([]));
    assert_eq!(
        write(Format::Csv, "x", &[]),
        "table,model,think,quantity,value,note\n"
    );
    assert!(write(Format::Table, "x", &[]).starts_with("No LLM requests recorded yet in x."));
}

#[test]
fn csv_fields_with_commas_and_quotes_are_quoted() {
    let rows = vec![Row {
        model: "a,\"b\"".into(),
        think: "on".into(),
        requests: 1.0,
        errors: 0.0,
        p50: None,
        p95: None,
        ttft_p50: None,
        first_answer_p50: None,
        tokens_per_second_p50: None,
        think_share: None,
        energy_mean: None,
    }];
    let csv = write(Format::Csv, "x", &rows);
    assert!(
        csv.contains("requests,\"a,\"\"b\"\"\",on,requests,1,"),
        "{csv}"
    );
}

#[test]
fn the_names_read_are_those_the_prometheus_exporter_writes_for_the_connectors_metrics() {
    use llmtel_config::semconv::GenAiMetric;
    use llmtel_pipelines::prometheus::{Format as Expo, SeriesStore};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
    };
    let attrs = vec![
        KeyValue {
            key: llmtel_config::semconv::attr::REQUEST_MODEL.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("m".into())),
            }),
            ..Default::default()
        },
        KeyValue {
            key: llmtel_config::semconv::attr::THINK_MODE.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("on".into())),
            }),
            ..Default::default()
        },
    ];
    let cumulative = AggregationTemporality::Cumulative as i32;
    let metrics = GenAiMetric::ALL
        .iter()
        .map(|m| {
            let def = m.def();
            let data = match m.advised_buckets() {
                Some(bounds) => metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: attrs.clone(),
                        time_unix_nano: 1,
                        count: 1,
                        sum: Some(1.0),
                        // One observation, above every bound.
                        bucket_counts: [vec![0; bounds.len()], vec![1]].concat(),
                        explicit_bounds: bounds.to_vec(),
                        ..Default::default()
                    }],
                    aggregation_temporality: cumulative,
                }),
                None => metric::Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        attributes: attrs.clone(),
                        time_unix_nano: 1,
                        value: Some(number_data_point::Value::AsInt(1)),
                        ..Default::default()
                    }],
                    aggregation_temporality: cumulative,
                    is_monotonic: true,
                }),
            };
            Metric {
                name: def.name.into(),
                unit: def.unit.into(),
                data: Some(data),
                ..Default::default()
            }
        })
        .collect();
    let mut store = SeriesStore::new(&llmtel_config::PrometheusExporterConfig::default());
    store.ingest(&[ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]);
    let text = store.render(Expo::Text);
    let samples = parse_exposition(&text);
    let has = |name: &str| samples.iter().any(|s| s.name == name);
    assert!(has(super::names::REQUESTS), "{text}");
    for h in HISTOGRAMS {
        assert!(
            has(&format!("{h}_bucket")) && has(&format!("{h}_sum")),
            "{h}:\n{text}"
        );
    }
    let row = &compute(&samples)[0];
    assert_eq!((row.model.as_str(), row.think.as_str()), ("m", "on"));
    assert_eq!(row.energy_mean, Some(1.0));
}
