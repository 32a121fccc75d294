//! Memory stays bounded under overload with the backend down: the built-in config (as `llmtel print-config` writes
//! it with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every listener moved to port 0) takes OTLP/gRPC from `h2load`
//! (16 clients × 16 streams, 100 spans of 10 attributes per request) while its backend is away, then the backend
//! (a real OTLP sink) comes back. Asserted: the peak RSS (`VmHWM`) stays within the built-in `memory_limiter`'s
//! limit; the excess is refused and counted; `/healthz` and a sidecar request are answered during the overload;
//! and every span the clients sent is delivered, counted as dropped, or counted as refused.
//!
//! The CI form overloads for 8 s. The long form (`--ignored`) overloads for 25 s, as the issue measured; set
//! `LLMTEL_OVERLOAD_BIN=target/release/llmtel` to run it against a release build (the debug binary the harness
//! builds is slower, so it takes in less per second, and maps more code: its RSS differs). `docs/benchmarks.md`
//! says how to read the numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::emulator::{Emulator, Script};
use integration_tests::sink::Sink;
use integration_tests::{LlmtelProcess, http_request, llmtel_binary, sample_value, write_temp};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const SPANS_PER_REQUEST: u64 = 100;

/// The built-in memory_limiter's `limit_mib` (config/src/default.yaml); the test reads it from the effective
/// config and fails if the two disagree, so a change of the default is a visible change of this test.
const BUILT_IN_LIMIT_MIB: u64 = 160;

/// One export request of 100 spans with 10 string attributes each, framed for gRPC (5-byte prefix + protobuf).
fn grpc_body() -> Vec<u8> {
    let kv = |k: String, v: String| KeyValue {
        key: k,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    };
    let spans = (0..SPANS_PER_REQUEST as u8)
        .map(|i| Span {
            trace_id: vec![i.wrapping_add(1); 16],
            span_id: vec![i.wrapping_add(2); 8],
            name: format!("span-{i}"),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_001_000,
            attributes: (0..10)
                .map(|a| kv(format!("attr.key.{a}"), format!("value-{i}-{a}")))
                .collect(),
            ..Default::default()
        })
        .collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name".into(), "h2load".into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "overload".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let pb = req.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(pb.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&pb);
    framed
}

/// The binary under test: `LLMTEL_OVERLOAD_BIN` if set, else the one the harness builds.
fn binary() -> PathBuf {
    match std::env::var_os("LLMTEL_OVERLOAD_BIN") {
        Some(p) => PathBuf::from(p),
        None => llmtel_binary(),
    }
}

/// The built-in config as `print-config` writes it with the backend in `OTEL_EXPORTER_OTLP_ENDPOINT`: listeners on
/// port 0, the sidecar in front of `upstream`, and the exporters' retry backoff shortened (5 s → 200 ms, at most
/// 1 s) so the backend's return is seen within the test's time; nothing else changed.
fn built_in_config(bin: &PathBuf, backend: SocketAddr, upstream: &str) -> String {
    let out = Command::new(bin)
        .arg("print-config")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{backend}"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "llmtel print-config failed");
    let mut yaml = String::from_utf8(out.stdout).unwrap();
    for port in ["11435", "9464", "4317", "4318", "8888"] {
        let from = format!("127.0.0.1:{port}");
        assert!(yaml.contains(&from), "print-config has no {from}:\n{yaml}");
        yaml = yaml.replace(&from, "127.0.0.1:0");
    }
    yaml = yaml.replace("http://127.0.0.1:11434", upstream);
    for (from, to) in [
        ("initial_interval: 5s", "initial_interval: 200ms"),
        ("max_interval: 30s", "max_interval: 1s"),
    ] {
        assert!(yaml.contains(from), "print-config has no {from}");
        yaml = yaml.replace(from, to);
    }
    assert!(
        yaml.contains("memory_limiter:")
            && yaml.contains(&format!("limit_mib: {BUILT_IN_LIMIT_MIB}")),
        "the built-in config has a memory_limiter of {BUILT_IN_LIMIT_MIB} MiB:\n{yaml}"
    );
    yaml
}

/// `VmHWM` (peak RSS) and `VmRSS` of `pid`, in MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("VmHWM:") / 1024, kb("VmRSS:") / 1024)
}

/// Requests h2load completed (`requests: … N done`), from its summary.
fn h2load_done(summary: &str) -> u64 {
    summary
        .lines()
        .find(|l| l.starts_with("requests:"))
        .and_then(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| x.trim_end_matches(',') == "done")?;
            w.get(i - 1)?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no 'requests: … done' line in h2load's output:\n{summary}"))
}

async fn metrics(admin: SocketAddr) -> String {
    let r = http_request("GET", &format!("http://{admin}/metrics"), &[], Vec::new()).await;
    String::from_utf8_lossy(&r.body).into_owned()
}

fn value(text: &str, name: &str, labels: &[&str]) -> u64 {
    sample_value(text, name, labels).unwrap_or(0.0) as u64
}

async fn overload(seconds: u64) {
    let h2load = which("h2load");
    let bin = binary();
    // The backend's address, reserved and then closed: llmtel starts with its backend down.
    let sink = Sink::start().await;
    let stopped = sink.stop().await;
    let emu = Emulator::start(Script::default()).await;
    let yaml = built_in_config(&bin, stopped.1, &emu.url());
    let file = write_temp(&yaml);
    let llmtel =
        LlmtelProcess::spawn_binary(&bin, &["--config", file.path().to_str().unwrap()], &[]);
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    let sidecar = llmtel.endpoint("llm_proxy listening");
    let (start_hwm, _) = memory_mib(llmtel.pid());

    let body = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body.path(), grpc_body()).unwrap();
    let started = Instant::now();
    let child = Command::new(&h2load)
        .args(["-c16", "-m16", "-t2", "-D", &seconds.to_string(), "-d"])
        .arg(body.path())
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            &format!("http://{grpc}/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // During the overload: RSS sampled, the admin endpoint and the sidecar answer.
    let mut samples = Vec::new();
    let mut health = Vec::new();
    let mut sidecar_ok = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        samples.push(memory_mib(llmtel.pid()).1);
        let h = tokio::time::timeout(
            Duration::from_secs(5),
            http_request("GET", &format!("http://{admin}/healthz"), &[], Vec::new()),
        )
        .await;
        health.push(h.map(|r| r.status).ok());
        if sidecar_ok == 0 && started.elapsed() > Duration::from_secs(seconds / 2) {
            let chat = tokio::time::timeout(
                Duration::from_secs(10),
                http_request(
                    "POST",
                    &format!("http://{sidecar}/api/chat"),
                    &[("content-type", "application/json")],
                    br#"{"model":"qwen3:0.6b","messages":[{"role":"user","content":"hi"}],"stream":true}"#
                        .to_vec(),
                ),
            )
            .await;
            if let Ok(r) = chat {
                assert_eq!(r.status, 200, "the sidecar answers during the overload");
                sidecar_ok += 1;
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let done = h2load_done(&summary);
    let (hwm, rss_after) = memory_mib(llmtel.pid());
    let under_load = metrics(admin).await;

    // The backend comes back: what was accepted drains to it.
    let sink = Sink::restart(stopped).await;
    let spans_in = |t: &str| {
        ["otlp", "llm_proxy"]
            .iter()
            .map(|r| {
                value(
                    t,
                    "llmtel_receiver_accepted_items_total",
                    &[&format!("receiver=\"{r}\""), "signal=\"traces\""],
                )
            })
            .sum::<u64>()
    };
    let lost = |t: &str| {
        [
            "llmtel_exporter_dropped_items_total",
            "llmtel_exporter_failed_items_total",
        ]
        .iter()
        .map(|n| value(t, n, &["exporter=\"otlp_http/traces\""]))
        .sum::<u64>()
    };
    let mut settled = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        settled = metrics(admin).await;
        if sink.state.span_items() as u64 + lost(&settled) >= spans_in(&settled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let accepted = value(
        &settled,
        "llmtel_receiver_accepted_items_total",
        &["receiver=\"otlp\"", "signal=\"traces\""],
    );
    let refused = value(
        &settled,
        "llmtel_receiver_refused_items_total",
        &["receiver=\"otlp\"", "signal=\"traces\""],
    );
    let memory_refused = value(
        &settled,
        "llmtel_receiver_memory_refused_items_total",
        &["receiver=\"otlp\"", "signal=\"traces\""],
    );
    let delivered = sink.state.span_items() as u64;
    let dropped = lost(&settled);
    let sent = done * SPANS_PER_REQUEST;
    let report = format!(
        "h2load: {done} requests done ({sent} spans) in {seconds} s; llmtel VmHWM {start_hwm} → {hwm} MiB, RSS \
         samples {samples:?}, RSS after {rss_after} MiB; accepted {accepted}, refused {refused} (memory \
         {memory_refused}), delivered {delivered} (sidecar spans included), dropped {dropped}\nh2load:\n{summary}"
    );
    eprintln!("{report}");

    assert!(
        out.status.success(),
        "h2load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        hwm <= BUILT_IN_LIMIT_MIB,
        "peak RSS {hwm} MiB above the {BUILT_IN_LIMIT_MIB} MiB limit\n{report}"
    );
    assert!(refused > 0, "the excess was refused\n{report}");
    assert!(
        value(
            &under_load,
            "llmtel_receiver_refused_items_total",
            &["receiver=\"otlp\"", "signal=\"traces\""]
        ) > 0,
        "refusals are counted while they happen\n{report}"
    );
    assert!(
        health.iter().all(|h| *h == Some(200)),
        "/healthz answered 200 throughout: {health:?}\n{report}"
    );
    assert_eq!(
        sidecar_ok, 1,
        "a sidecar request was answered during the overload"
    );
    // Every span h2load got an answer for was accepted or refused; requests it started but did not see the end
    // of (cut at the end of the run) may have been accepted too, at most 16 × 16 of them.
    let counted = accepted + refused;
    assert!(
        counted >= sent && counted <= sent + 256 * SPANS_PER_REQUEST,
        "sent {sent} = accepted {accepted} + refused {refused} (within the requests in flight at the end)\n{report}"
    );
    assert_eq!(
        delivered + dropped,
        spans_in(&settled),
        "every span accepted (otlp and sidecar) was delivered or counted as dropped\n{report}"
    );
    let (code, log) = llmtel.terminate();
    assert_eq!(code, Some(0), "{log}");
}

fn which(cmd: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(
        !found.is_empty(),
        "{cmd} is not installed: apt-get install nghttp2-client (scripts/test.sh does)"
    );
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_with_the_backend_down_stays_within_the_memory_limit_and_loses_nothing() {
    overload(8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "25 s of overload, as the issue measured: cargo test -p integration-tests --test overload -- --ignored"]
async fn overload_for_25_seconds() {
    overload(25).await;
}
