//! Reload on SIGHUP, against the real `llmtel` binary: an invalid or unreadable config is refused with the errors
//! `llmtel validate` prints and the running one keeps serving; a valid one that adds an `attributes` action takes
//! effect at an OTLP sink; a sidecar stream in flight across the reload (read by the real `curl`) completes byte for
//! byte; clients hammering the OTLP HTTP and sidecar ports through several reloads are never refused and lose
//! nothing, and `/readyz` stays 200; a new port that cannot be bound fails the reload cleanly, and a moved port is
//! released once the old generation has drained.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use integration_tests::emulator::{Emulator, Script};
use integration_tests::sink::Sink;
use integration_tests::{
    LlmtelProcess, http_request, llmtel_binary, sample_value, trace_request, try_http_request,
    write_temp,
};
use prost::Message;
use serde_json::json;

const FAST_RETRY: &str =
    "retry_on_failure: {initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}";

/// How long a reload may take on a loaded machine.
const RELOAD_WAIT: Duration = Duration::from_secs(20);

/// OTLP (gRPC and HTTP on `http`) and the sidecar (in front of `upstream`) into one traces pipeline forwarding to
/// `sink`; with `tag`, an `attributes` processor upserts `reload.tag` = tag on every span.
fn config(sink: SocketAddr, upstream: &str, http: &str, tag: Option<&str>) -> String {
    let (processors, list) = match tag {
        Some(v) => (
            format!(
                "processors:\n  attributes/tag:\n    actions: [{{key: reload.tag, value: \"{v}\", action: upsert}}]\n"
            ),
            ", processors: [attributes/tag]",
        ),
        None => (String::new(), ""),
    };
    format!(
        "receivers:\n  otlp: {{protocols: {{grpc: {{endpoint: \"127.0.0.1:0\"}}, http: {{endpoint: \"{http}\"}}}}}}\n\
         \x20 llm_proxy: {{listen: \"127.0.0.1:0\", upstream: \"{upstream}\"}}\n\
         {processors}exporters:\n  otlp: {{endpoint: \"http://{sink}\", {FAST_RETRY}}}\n\
         service:\n  pipelines:\n    traces: {{receivers: [otlp, llm_proxy]{list}, exporters: [otlp]}}\n\
         \x20 telemetry: {{admin: {{endpoint: \"127.0.0.1:0\"}}}}\n"
    )
}

/// Posts `n` spans (ids unique to `batch`) as OTLP/HTTP protobuf on a new connection; the status, or the error.
async fn post_spans(http: SocketAddr, n: usize, batch: u32) -> Result<u16, String> {
    try_http_request(
        "POST",
        &format!("http://{http}/v1/traces"),
        &[("content-type", "application/x-protobuf")],
        trace_request(n, batch).encode_to_vec(),
    )
    .await
    .and_then(|a| match a.status {
        200 => Ok(200),
        s => Err(format!("{s}: {}", String::from_utf8_lossy(&a.body))),
    })
}

async fn self_metric(admin: SocketAddr, name: &str, labels: &[&str]) -> Option<f64> {
    let body = http_request("GET", &format!("http://{admin}/metrics"), &[], Vec::new())
        .await
        .body;
    sample_value(&String::from_utf8_lossy(&body), name, labels)
}

async fn readyz(admin: SocketAddr) -> Result<u16, String> {
    try_http_request("GET", &format!("http://{admin}/readyz"), &[], Vec::new())
        .await
        .map(|a| a.status)
}

fn path(file: &tempfile::NamedTempFile) -> String {
    file.path().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_or_unreadable_config_is_refused_with_its_errors_and_the_running_one_keeps_serving()
 {
    let sink = Sink::start().await;
    let emu = Emulator::start(Script::default()).await;
    let good = config(sink.grpc, &emu.url(), "127.0.0.1:0", None);
    let file = write_temp(&good);
    let llmtel = LlmtelProcess::spawn(&["run", "--config", &path(&file)]);
    let http = llmtel.endpoint("otlp http receiver listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    assert_eq!(post_spans(http, 5, 1).await, Ok(200));

    // Two mistakes: an exporter that is not defined, a duration that is not one.
    let bad = good
        .replace("exporters: [otlp]", "exporters: [otlp, nowhere]")
        .replace("initial_interval: 100ms", "initial_interval: soon");
    std::fs::write(file.path(), &bad).unwrap();
    let validate = Command::new(llmtel_binary())
        .args(["validate", "--config", &path(&file)])
        .output()
        .unwrap();
    assert_eq!(validate.status.code(), Some(64));
    let printed = String::from_utf8_lossy(&validate.stderr).into_owned();
    let printed = printed.trim().trim_start_matches("llmtel: ");
    assert!(
        printed.contains("nowhere") && printed.contains("soon"),
        "{printed}"
    );

    llmtel.sighup();
    llmtel
        .wait_log("config reload refused", 1, RELOAD_WAIT)
        .await;
    let log = llmtel.log();
    for line in printed.lines() {
        assert!(log.contains(line), "{line:?} is not in the log:\n{log}");
    }
    // The running config goes on: the same port takes spans and forwards them.
    assert_eq!(post_spans(http, 5, 2).await, Ok(200));
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s.unique_spans("grpc") == 10)
            .await
    );
    let failed = self_metric(admin, "llmtel_config_reloads_total", &["result=\"failed\""]).await;
    assert_eq!(failed, Some(1.0));
    let last = self_metric(admin, "llmtel_config_last_reload_successful", &[]).await;
    assert_eq!(last, Some(0.0));
    let at = self_metric(admin, "llmtel_config_last_reload_timestamp_seconds", &[]).await;
    assert!(at.is_some_and(|t| t > 1.7e9), "{at:?}");

    // The file gone: refused as unreadable, naming it.
    std::fs::remove_file(file.path()).unwrap();
    llmtel.sighup();
    llmtel
        .wait_log("config reload refused", 2, RELOAD_WAIT)
        .await;
    assert!(
        llmtel
            .log()
            .contains(&format!("read config {}", path(&file))),
        "{}",
        llmtel.log()
    );
    assert_eq!(post_spans(http, 5, 3).await, Ok(200));
    assert_eq!(readyz(admin).await, Ok(200));
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s.unique_spans("grpc") == 15)
            .await
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(llmtel_count(&log, "config reloaded"), 0, "{log}");
}

fn llmtel_count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_config_adding_an_attribute_action_takes_effect_on_the_same_ports() {
    let sink = Sink::start().await;
    let emu = Emulator::start(Script::default()).await;
    let file = write_temp(&config(sink.grpc, &emu.url(), "127.0.0.1:0", None));
    let llmtel = LlmtelProcess::spawn(&["run", "--config", &path(&file)]);
    let http = llmtel.endpoint("otlp http receiver listening");
    let proxy = llmtel.endpoint("llm_proxy listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    assert_eq!(post_spans(http, 5, 1).await, Ok(200));
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s.unique_spans("grpc") == 5)
            .await
    );
    assert_eq!(sink.state.spans_with("reload.tag", "v2"), 0);

    std::fs::write(
        file.path(),
        config(sink.grpc, &emu.url(), "127.0.0.1:0", Some("v2")),
    )
    .unwrap();
    llmtel.sighup();
    llmtel.wait_log("config reloaded", 1, RELOAD_WAIT).await;
    assert_eq!(post_spans(http, 5, 2).await, Ok(200));
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s
                .spans_with("reload.tag", "v2")
                == 5)
            .await,
        "{}",
        llmtel.log()
    );
    // The sidecar's spans go through the new pipeline too, from the same port.
    let req = json!({"model": "qwen3:14b", "messages": [], "stream": false});
    let resp = http_request(
        "POST",
        &format!("http://{proxy}/api/chat"),
        &[],
        req.to_string().into_bytes(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s
                .spans_with("reload.tag", "v2")
                > 5)
            .await
    );
    let ok = self_metric(
        admin,
        "llmtel_config_reloads_total",
        &["result=\"success\""],
    )
    .await;
    assert_eq!(ok, Some(1.0));
    assert_eq!(
        self_metric(admin, "llmtel_config_last_reload_successful", &[]).await,
        Some(1.0)
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("shutdown complete: every queue drained"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_stream_in_flight_across_the_reload_completes_byte_identical() {
    // About 5 s of stream: 25 reasoning events 150 ms apart, then 10 answer events 100 ms apart.
    let script = Script {
        thinking: (0..25).map(|i| format!("step {i}. ")).collect(),
        answer: (0..10).map(|i| format!("word{i} ")).collect(),
        first_delay: Duration::from_millis(100),
        think_delay: Duration::from_millis(150),
        answer_delay: Duration::from_millis(100),
        ..Script::default()
    };
    let emu = Emulator::start(script).await;
    let sink = Sink::start().await;
    let file = write_temp(&config(sink.grpc, &emu.url(), "127.0.0.1:0", None));
    let llmtel = LlmtelProcess::spawn(&["run", "--config", &path(&file)]);
    let proxy = llmtel.endpoint("llm_proxy listening");
    let req = json!({"model": "qwen3:14b", "messages": [{"role": "user", "content": "hi"}], "think": true});
    let expected = emu.body_for("/api/chat", &req);
    let out = tempfile::NamedTempFile::new().unwrap();
    let out_path = path(&out);
    let body = req.to_string();
    let curl = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "-N", "--max-time", "60", "-o", &out_path])
            .args([
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
            ])
            .arg(format!("http://{proxy}/api/chat"))
            .output()
    });
    integration_tests::wait_until("the stream to start", Duration::from_secs(10), || {
        emu.running() == 1
    })
    .await;

    std::fs::write(
        file.path(),
        config(sink.grpc, &emu.url(), "127.0.0.1:0", Some("v2")),
    )
    .unwrap();
    llmtel.sighup();
    llmtel.wait_log("config reloaded", 1, RELOAD_WAIT).await;
    // The new generation runs while the old one's stream goes on.
    assert_eq!(emu.running(), 1, "the reload waited for the stream");

    let curl = curl.await.unwrap().unwrap();
    assert!(
        curl.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&curl.stderr)
    );
    let got = std::fs::read(out.path()).unwrap();
    assert_eq!(
        got.len(),
        expected.len(),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        got == expected,
        "the stream's bytes changed across the reload"
    );
    // Its spans, made by the old generation, reach the backend as it drains (without the new tag).
    llmtel
        .wait_log("the replaced generation drained", 1, RELOAD_WAIT)
        .await;
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| {
                s.spans_with("gen_ai.request.model", "qwen3:14b") >= 1
            })
            .await,
        "{}",
        llmtel.log()
    );
    assert_eq!(sink.state.spans_with("reload.tag", "v2"), 0);
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("requests still running"), "{log}");
}

/// What a client loop saw: requests answered 200, and everything else.
#[derive(Debug, Default)]
struct Seen {
    ok: usize,
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_hammering_the_ports_through_three_reloads_are_never_refused_and_lose_nothing() {
    let emu = Emulator::start(Script::default()).await;
    let sink = Sink::start().await;
    let file = write_temp(&config(sink.grpc, &emu.url(), "127.0.0.1:0", None));
    let llmtel = LlmtelProcess::spawn(&["run", "--config", &path(&file)]);
    let http = llmtel.endpoint("otlp http receiver listening");
    let proxy = llmtel.endpoint("llm_proxy listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    let req = json!({"model": "qwen3:14b", "messages": [], "stream": true});
    let expected = emu.body_for("/api/chat", &req);

    // Spans per sidecar request, measured once before the load.
    let chat = |proxy: SocketAddr, req: serde_json::Value| async move {
        try_http_request(
            "POST",
            &format!("http://{proxy}/api/chat"),
            &[],
            req.to_string().into_bytes(),
        )
        .await
    };
    assert_eq!(chat(proxy, req.clone()).await.map(|a| a.status), Ok(200));
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s.unique_spans("grpc") > 0)
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_request = sink.state.unique_spans("grpc");

    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for task in 0..2u32 {
        let stop = stop.clone();
        loops.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut batch = (task + 1) * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                batch += 1;
                // A 503 (a full pipeline queue on a loaded machine) is retried with the same spans, as OTLP
                // clients do; a refused connection or any other answer is an error.
                let mut answer = post_spans(http, 5, batch).await;
                while matches!(&answer, Err(e) if e.starts_with("503:")) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    answer = post_spans(http, 5, batch).await;
                }
                match answer {
                    Ok(200) => seen.ok += 1,
                    other => seen.errors.push(format!("otlp http: {other:?}")),
                }
                // Paced, so that what is measured is the reload, not a full queue on a loaded machine.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        }));
    }
    {
        let (stop, req, expected) = (stop.clone(), req.clone(), expected.clone());
        loops.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                match chat(proxy, req.clone()).await {
                    Ok(a) if a.status == 200 && a.body == expected => seen.ok += 1,
                    Ok(a) => seen
                        .errors
                        .push(format!("sidecar: {} {:?}", a.status, a.body)),
                    Err(e) => seen.errors.push(format!("sidecar: {e}")),
                }
            }
            seen
        }));
    }
    {
        let stop = stop.clone();
        loops.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                match readyz(admin).await {
                    Ok(200) => seen.ok += 1,
                    other => seen.errors.push(format!("readyz: {other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }

    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, tag) in ["a", "b", "c"].iter().enumerate() {
        std::fs::write(
            file.path(),
            config(sink.grpc, &emu.url(), "127.0.0.1:0", Some(tag)),
        )
        .unwrap();
        llmtel.sighup();
        llmtel.wait_log("config reloaded", i + 1, RELOAD_WAIT).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for l in loops {
        seen.push(l.await.unwrap());
    }
    let errors: Vec<&String> = seen.iter().flat_map(|s| &s.errors).collect();
    assert!(
        errors.is_empty(),
        "{} failed requests over {:?}, e.g. {:?}\n{}",
        errors.len(),
        started.elapsed(),
        &errors[..errors.len().min(5)],
        llmtel.log()
    );
    assert!(seen.iter().all(|s| s.ok > 0), "{seen:?}");
    // Nothing accepted is lost: every span posted and every sidecar request's spans reach the backend, less any
    // the sidecar's own telemetry had refused by a full pipeline queue (counted, and logged as `telemetry_refused`;
    // the OTLP clients above were never refused).
    let otlp_spans = 5 * (seen[0].ok + seen[1].ok);
    let refused = self_metric(
        admin,
        "llmtel_receiver_refused_items_total",
        &["receiver=\"llm_proxy\"", "signal=\"traces\""],
    )
    .await
    .unwrap_or(0.0) as usize;
    let want = otlp_spans + per_request * (1 + seen[2].ok) - refused;
    let arrived = sink
        .state
        .wait_for(Duration::from_secs(20), |s| s.unique_spans("grpc") >= want)
        .await;
    assert!(
        arrived && sink.state.unique_spans("grpc") == want,
        "sink has {} spans, expected {want} ({otlp_spans} OTLP, {} sidecar requests × {per_request}, {refused} \
         refused)\n{}",
        sink.state.unique_spans("grpc"),
        1 + seen[2].ok,
        llmtel.log()
    );
    if refused > 0 {
        assert!(
            llmtel.log().contains("telemetry_refused"),
            "{refused} sidecar spans refused without the warning"
        );
    }
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("shutdown complete: every queue drained"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_cannot_be_bound_fails_the_reload_and_a_moved_port_is_released() {
    let emu = Emulator::start(Script::default()).await;
    let sink = Sink::start().await;
    let file = write_temp(&config(sink.grpc, &emu.url(), "127.0.0.1:0", None));
    let llmtel = LlmtelProcess::spawn(&["run", "--config", &path(&file)]);
    let http = llmtel.endpoint("otlp http receiver listening");
    let proxy = llmtel.endpoint("llm_proxy listening");
    let admin = llmtel.endpoint("admin endpoint listening");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    std::fs::write(
        file.path(),
        config(sink.grpc, &emu.url(), &taken_addr, None),
    )
    .unwrap();
    llmtel.sighup();
    llmtel
        .wait_log("config reload refused", 1, RELOAD_WAIT)
        .await;
    let log = llmtel.log();
    assert!(
        log.contains(&format!("otlp http: bind {taken_addr}")) && log.contains("in use"),
        "{log}"
    );
    // The old generation keeps every port.
    assert_eq!(post_spans(http, 5, 1).await, Ok(200));
    let req = json!({"model": "qwen3:14b", "messages": [], "stream": false});
    let resp = http_request(
        "POST",
        &format!("http://{proxy}/api/chat"),
        &[],
        req.to_string().into_bytes(),
    )
    .await;
    assert_eq!(resp.status, 200);

    // A free port: the new generation binds it, the old one lets its port go once it has drained.
    drop(taken);
    let moved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let moved_addr = moved.local_addr().unwrap();
    drop(moved);
    std::fs::write(
        file.path(),
        config(sink.grpc, &emu.url(), &moved_addr.to_string(), None),
    )
    .unwrap();
    llmtel.sighup();
    llmtel.wait_log("config reloaded", 1, RELOAD_WAIT).await;
    assert_eq!(post_spans(moved_addr, 5, 2).await, Ok(200));
    llmtel
        .wait_log("the replaced generation drained", 1, RELOAD_WAIT)
        .await;
    let released = std::net::TcpStream::connect(http);
    assert!(
        released
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "the old port still answers: {released:?}"
    );
    assert!(
        sink.state
            .wait_for(Duration::from_secs(10), |s| s.unique_spans("grpc") >= 10)
            .await
    );
    assert_eq!(
        self_metric(admin, "llmtel_config_reloads_total", &["result=\"failed\""]).await,
        Some(1.0)
    );
    assert_eq!(
        self_metric(
            admin,
            "llmtel_config_reloads_total",
            &["result=\"success\""]
        )
        .await,
        Some(1.0)
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}
