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
