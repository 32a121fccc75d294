//! `llmtel demo` and `llmtel report` as a new user runs them: the binary, the built-in config (on free ports), no
//! GPU and no Ollama. Traces must show in the log and metrics on `/metrics` within 10 s of start, and the report
//! must read them back as a table with the price of thinking, and as JSON with the same numbers.

use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{
    LlmtelProcess, default_config_on_port_zero, http_request, llmtel_binary, write_temp,
};

#[tokio::test]
async fn the_demo_shows_traces_and_metrics_within_ten_seconds_and_the_report_reads_them() {
    let file = write_temp(&default_config_on_port_zero());
    let llmtel = LlmtelProcess::spawn(&["demo", "--config", file.path().to_str().unwrap()]);
    let started = Instant::now();
    let metrics = format!(
        "http://{}/metrics",
        llmtel.endpoint("prometheus exporter listening")
    );
    let mut seen_metrics = false;
    let mut seen_traces = false;
    while started.elapsed() < Duration::from_secs(10) && !(seen_metrics && seen_traces) {
        let body = http_request("GET", &metrics, &[], Vec::new()).await.body;
        let text = String::from_utf8_lossy(&body);
        seen_metrics = text.contains("llmtel_client_requests_total{")
            && text.contains("gen_ai_client_operation_duration_seconds_bucket{");
        seen_traces = llmtel.log().lines().any(|l| {
            l.contains("chat qwen3:14b") && l.contains(" ttft=") && l.contains(" answer=")
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = llmtel.log();
    assert!(seen_traces, "no request line within 10 s:\n{log}");
    assert!(seen_metrics, "no request metrics within 10 s:\n{log}");
    assert!(log.contains("demo request done"), "{log}");

    // A few more requests, until the models and modes asked about below each have a row, and qwen3 (sent with
    // thinking on and off) has a price of thinking.
    let bin = llmtel_binary();
    let report = |format: &str| {
        let out = Command::new(&bin)
            .args(["report", "--url", &metrics, "--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ready = |table: &str| {
        let (main, price) = table.split_once("Price of thinking").unwrap_or((table, ""));
        main.contains("llama3.2:3b")
            && main.lines().any(|l| {
                l.starts_with("qwen3:14b")
                    && l.split_whitespace().nth(1) == Some("on")
                    && !l.ends_with(" 0%")
            })
            && main
                .lines()
                .any(|l| l.starts_with("qwen3:14b") && l.split_whitespace().nth(1) == Some("off"))
            && price.lines().any(|l| {
                // At least 4 requests each way (the default load sends 5 of 25 with thinking off), so the medians say more than one request's bucket.
                l.starts_with("qwen3:14b")
                    && l.split_whitespace()
                        .nth(2)
                        .and_then(|c| c.split_once('/'))
                        .and_then(|(on, off)| Some(on.parse::<u32>().ok()?.min(off.parse().ok()?)))
                        .is_some_and(|n| n >= 4)
            })
    };
    // The connector flushes every 5 s, so two reports a moment apart usually read the same totals: a JSON report
    // taken between two equal tables carries the numbers those tables show.
    let end = Instant::now() + Duration::from_secs(60);
    let (table, json) = loop {
        let before = report("table");
        let json = report("json");
        let after = report("table");
        if (ready(&before) && before == after) || Instant::now() > end {
            break (after, json);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        ready(&table),
        "no qwen3 rows and price of thinking within 60 s (at least 4 each way):\n{table}"
    );
    let header = table.lines().nth(1).unwrap_or_default();
    assert!(
        header.starts_with("MODEL") && header.contains("TTFT P50") && header.ends_with("THINKING"),
        "{table}"
    );
    let (main, price) = table.split_once("Price of thinking").unwrap();
    let qwen_on = main
        .lines()
        .find(|l| l.starts_with("qwen3:14b") && l.split_whitespace().nth(1) == Some("on"))
        .unwrap_or_else(|| panic!("no qwen3 think=on row:\n{table}"));
    assert!(
        !qwen_on.ends_with(" 0%") && qwen_on.ends_with('%'),
        "{table}"
    );

    // The price of thinking: thinking makes qwen3's answers later and its requests longer.
    let price_header = price.lines().nth(1).unwrap_or_default();
    assert!(
        price_header.starts_with("MODEL") && price_header.contains("LATENCY P50"),
        "{table}"
    );
    let cells: Vec<&str> = price
        .lines()
        .find(|l| l.starts_with("qwen3:14b"))
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let doc: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let p = doc["thinking_price"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "qwen3:14b" && p["think"] == "on")
        .unwrap_or_else(|| panic!("no qwen3 price in the JSON: {json}"));
    let times = |key: &str| -> String {
        p[key]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |r| format!("×{r:.2}"))
    };
    assert_eq!(cells[0..2], ["qwen3:14b", "on"], "{table}");
    assert_eq!(
        cells[2],
        format!(
            "{:.0}/{:.0}",
            p["requests_on"].as_f64().unwrap(),
            p["requests_off"].as_f64().unwrap()
        ),
        "{table}\n{json}"
    );
    assert_eq!(cells[3], times("latency_p50_ratio"), "{table}\n{json}");
    assert_eq!(
        cells[4],
        times("time_to_first_answer_token_p50_ratio"),
        "{table}\n{json}"
    );
    assert_eq!(
        cells[5],
        times("output_tokens_per_second_p50_ratio"),
        "{table}\n{json}"
    );
    let latency = p["latency_p50_ratio"].as_f64().unwrap();
    let first_answer = p["time_to_first_answer_token_p50_ratio"].as_f64().unwrap();
    // The simulated qwen3 thinks 40–140 tokens (1–3.5 s) before answering, and answers within 0.1–0.3 s without.
    assert!(latency > 1.0 && first_answer > 2.0, "{table}");
    // The built-in demo has no GPU receiver and nothing in llmtel shows VRAM per think mode: both say why.
    assert!(
        cells[6].starts_with("n/a") && cells[7].starts_with("n/a"),
        "{table}"
    );
    assert!(p["energy_per_request_ratio"].is_null() && p["vram_difference_bytes"].is_null());
    assert!(
        p["vram_difference_bytes_note"]
            .as_str()
            .unwrap()
            .contains("not observable")
    );
    assert!(
        price.contains("no energy recorded") && price.contains("not observable"),
        "{table}"
    );
    // The JSON rows are the table's rows.
    let json_rows: Vec<(String, String)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap().to_owned(),
                r["think"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let table_rows: Vec<(String, String)> = main
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut c = l.split_whitespace();
            (c.next().unwrap().to_owned(), c.next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(json_rows, table_rows, "{table}\n{json}");

    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn the_report_names_the_endpoint_it_cannot_read_and_a_bad_window() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let out = Command::new(llmtel_binary())
        .args(["report", "--url", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&url) && err.contains("is llmtel running"),
        "{err}"
    );

    let out = Command::new(llmtel_binary())
        .args([
            "report",
            "--prometheus",
            "http://127.0.0.1:9",
            "--window",
            "an hour",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("--window") && err.contains("an hour"), "{err}");

    let out = Command::new(llmtel_binary())
        .args(["demo", "--upstream", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("--upstream") && err.contains("simulated"),
        "{err}"
    );
}
