//! The request explorer's JSON endpoints on their own, against `llmtel demo` (the binary, the built-in config on
//! free ports, its simulated model server): the shape of each document, the configured bounds on samples, and no
//! prompt or completion text unless the sidecar's `capture_content` is on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use integration_tests::{LlmtelProcess, default_config_on_port_zero, http_request, write_temp};
use serde_json::Value;

/// The built-in config with the explorer's bounds tightened to `max_samples` and a trace link; `capture` sets
/// content capture.
fn config(capture: bool, max_samples: usize) -> String {
    let yaml = default_config_on_port_zero().replace(
        "  explorer:\n",
        &format!("  explorer:\n    samples_per_bucket: 1\n    slowest: 1\n    failed: 1\n    max_samples: {max_samples}\n    trace_url: http://tempo.example/trace/{{trace_id}}\n"),
    );
    assert!(
        yaml.contains("max_samples:"),
        "default.yaml no longer has an explorer exporter"
    );
    if capture {
        yaml.replace(
            "    provider: auto\n",
            "    provider: auto\n    capture_content: true\n",
        )
    } else {
        yaml
    }
}

async fn get(url: &str) -> (u16, Value) {
    let a = http_request("GET", url, &[], Vec::new()).await;
    let v = serde_json::from_slice(&a.body).unwrap_or_else(|e| {
        panic!(
            "{url}: not JSON ({e}): {}",
            String::from_utf8_lossy(&a.body)
        )
    });
    (a.status, v)
}

fn samples(group: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = group["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["samples"].as_array().unwrap())
        .collect();
    out.extend(group["slowest"].as_array().unwrap());
    out.extend(group["failed"].as_array().unwrap());
    out
}

/// Runs the demo until the explorer holds a sample of a thinking qwen3 chat and, with `full`, has counted
/// requests it had no room to sample.
async fn demo_until(
    capture: bool,
    max_samples: usize,
    full: bool,
) -> (LlmtelProcess, String, Value) {
    let file = write_temp(&config(capture, max_samples));
    let llmtel = LlmtelProcess::spawn(&[
        "demo",
        "--interval",
        "0.2",
        "--config",
        file.path().to_str().unwrap(),
    ]);
    let base = format!("http://{}", llmtel.endpoint("admin endpoint listening"));
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, doc) = get(&format!("{base}/api/requests")).await;
        assert_eq!(status, 200);
        let overflowed = doc["unsampled"].as_u64().unwrap_or(0) > 0;
        let thinking = doc["groups"].as_array().unwrap().iter().any(|g| {
            g["model"] == "qwen3:14b" && g["think_mode"] == "on" && g["operation"] == "chat"
        });
        if (overflowed || !full) && (thinking || full) {
            return (llmtel, base, doc);
        }
        assert!(
            Instant::now() < end,
            "explorer not full within 60 s: {doc}\n{}",
            llmtel.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn each_view_has_its_shape_and_the_samples_stay_within_the_configured_bounds() {
    let (llmtel, base, doc) = demo_until(false, 36, true).await;
    // 10 buckets × 1 + 1 slowest + 1 failed = 12 per group: 36 samples make room for 3 groups.
    assert_eq!(doc["limits"]["max_groups"], 3, "{doc}");
    assert_eq!(doc["bucket_bounds_s"].as_array().unwrap().len(), 9);
    let groups = doc["groups"].as_array().unwrap();
    assert!(groups.len() <= 3, "{doc}");
    let mut total = 0;
    for g in groups {
        assert_eq!(g["buckets"].as_array().unwrap().len(), 10, "{g}");
        for b in g["buckets"].as_array().unwrap() {
            assert!(b["samples"].as_array().unwrap().len() <= 1, "{b}");
            assert!(b["count"].as_u64().unwrap() >= b["samples"].as_array().unwrap().len() as u64);
        }
        assert!(g["slowest"].as_array().unwrap().len() <= 1);
        assert!(g["failed"].as_array().unwrap().len() <= 1);
        let counted: u64 = g["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(g["count"].as_u64().unwrap(), counted);
        total += samples(g).len();
    }
    assert!(total <= 36, "{total} samples kept, 36 allowed");
    assert!(
        doc["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "qwen3:14b")
    );

    // A filter keeps only what it names.
    let (_, only) = get(&format!("{base}/api/requests?model=qwen3%3A14b&think=on")).await;
    for g in only["groups"].as_array().unwrap() {
        assert_eq!(
            (g["model"].as_str(), g["think_mode"].as_str()),
            (Some("qwen3:14b"), Some("on"))
        );
    }

    // One request in full: its phases lie inside the request, an answer among them, and a trace link.
    let g = groups.iter().find(|g| g["operation"] == "chat").unwrap();
    let id = samples(g)[0]["id"].as_str().unwrap().to_owned();
    let (status, r) = get(&format!("{base}/api/requests/{id}")).await;
    assert_eq!(status, 200, "{r}");
    let trace_id = r["trace_id"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert_eq!(
        r["trace_url"],
        format!("http://tempo.example/trace/{trace_id}")
    );
    let duration = r["duration_s"].as_f64().unwrap();
    let phase = |name: &str| {
        r["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    };
    assert!(phase("answer").is_some(), "no answer phase: {r}");
    for p in r["phases"].as_array().unwrap() {
        let (off, d) = (
            p["offset_s"].as_f64().unwrap(),
            p["duration_s"].as_f64().unwrap(),
        );
        assert!(
            d >= 0.0 && off + d <= duration + 0.01,
            "{p} outside the request: {r}"
        );
    }
    assert!(r["ttft_s"].as_f64().unwrap() <= r["time_to_first_answer_token_s"].as_f64().unwrap());
    assert!(
        r.get("input_messages").is_none() && r.get("output_messages").is_none(),
        "content without opt-in: {r}"
    );

    let (status, missing) = get(&format!("{base}/api/requests/0000000000000000")).await;
    assert_eq!(status, 404);
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("not (or no longer)")
    );

    let (_, inflight) = get(&format!("{base}/api/inflight")).await;
    for r in inflight["requests"].as_array().unwrap() {
        assert!(
            ["queued", "thinking", "answering"].contains(&r["phase"].as_str().unwrap()),
            "{r}"
        );
        assert!(r["age_s"].as_f64().unwrap() >= 0.0 && r["tokens"].is_u64());
    }
    let (_, pipeline) = get(&format!("{base}/api/pipeline")).await;
    let explorer = pipeline["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["stage"] == "exporter" && c["id"] == "explorer" && c["signal"] == "traces")
        .unwrap_or_else(|| panic!("no explorer exporter in {pipeline}"));
    assert!(
        explorer["sent"].as_u64().unwrap() > 0
            && explorer["queue"]["capacity"].as_u64().unwrap() > 0
    );

    // The page is served from the binary and names no outside asset.
    let page = http_request("GET", &format!("{base}/"), &[], Vec::new()).await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("llmtel request explorer"));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "external asset in the page"
    );
    llmtel.terminate();
}

#[tokio::test]
async fn prompt_and_completion_text_show_only_with_capture_content_on() {
    let (llmtel, base, doc) = demo_until(true, 2000, false).await;
    let g = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["model"] == "qwen3:14b" && g["think_mode"] == "on" && g["operation"] == "chat")
        .unwrap();
    let id = samples(g)[0]["id"].as_str().unwrap().to_owned();
    let (_, r) = get(&format!("{base}/api/requests/{id}")).await;
    let input = r["input_messages"]
        .as_str()
        .unwrap_or_else(|| panic!("no prompt with capture on: {r}"));
    assert!(input.contains("\"user\""), "{input}");
    assert!(
        r["output_messages"].as_str().is_some_and(|o| !o.is_empty()),
        "{r}"
    );
    // A thinking request's think phase comes before its answer, both inside the request.
    let phase = |name: &str| {
        r["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    };
    let (think, answer) = (phase("think"), phase("answer"));
    assert!(
        think["offset_s"].as_f64() < answer["offset_s"].as_f64(),
        "{r}"
    );
    let end = answer["offset_s"].as_f64().unwrap() + answer["duration_s"].as_f64().unwrap();
    assert!(end <= r["duration_s"].as_f64().unwrap() + 0.01, "{r}");
    llmtel.terminate();
}
