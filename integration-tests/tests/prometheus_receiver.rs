//! Receiver `prometheus`, for real: llmtel scrapes a real `prometheus-node-exporter`, a server answering with the
//! exposition captured from a real `llama-server --metrics` (gzip when asked, bearer token checked), an OpenMetrics
//! endpoint, a target that accepts connections and never answers and a port nobody listens on. Every family appears
//! on llmtel's own Prometheus `/metrics` with the value the exposer gave and in the OTLP capture; the two dead
//! targets report `up 0` while the others go on being scraped on time.
//!
//! `real_llama_server_families_come_through_unchanged` does the same against a real `llama-server` after one
//! completion; it needs the binary, so it is `#[ignore]`d and run by `scripts/real-llm-check.sh`.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::exposer::{
    LLMTEL_LABELS, Proc, env_path, exposition, free_port, hanging_server, of_job, same, series,
    start_node_exporter, wait_answers,
};
use integration_tests::{Capture, http_request, start_in_process};
use llmtel_collector::receivers::prometheus::parse::{Family, Kind, parse};
use llmtel_pipelines::Payload;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

const LLAMA: &str =
    include_str!("../../collector/src/receivers/prometheus/fixtures/llama_server.txt");
const OPEN_METRICS: &str =
    include_str!("../../collector/src/receivers/prometheus/fixtures/openmetrics.txt");

/// What the fixture server saw: when each `/metrics` request came, and its headers.
#[derive(Default)]
struct Seen {
    times: Vec<Instant>,
    auth: Vec<String>,
    accept: Vec<String>,
    gzip: Vec<bool>,
    /// Every body the real node_exporter gave through `/node`.
    node: Vec<bytes::Bytes>,
}

/// Serves the llama.cpp capture on `/metrics` (gzip when asked; 401 without the bearer token), the
/// OpenMetrics fixture on `/om`, and on `/node` whatever the real node_exporter at `node` answers, recording it,
/// so that what llmtel serves can be compared with exactly what it scraped.
async fn fixture_server(node: SocketAddr) -> (SocketAddr, Arc<Mutex<Seen>>) {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::routing::get;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let n = seen.clone();
    let app = axum::Router::new()
        .route(
            "/node",
            get(move || {
                let n = n.clone();
                async move {
                    let r = http_request("GET", &format!("http://{node}/metrics"), &[], Vec::new())
                        .await;
                    n.lock().unwrap().node.push(r.body.clone());
                    let ct = r
                        .headers
                        .get(header::CONTENT_TYPE)
                        .cloned()
                        .unwrap_or_else(|| "text/plain".parse().unwrap());
                    ([(header::CONTENT_TYPE, ct)], r.body)
                }
            }),
        )
        .route(
            "/metrics",
            get(move |h: HeaderMap| {
                let s = s.clone();
                async move {
                    let get = |k: header::HeaderName| {
                        h.get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let auth = get(header::AUTHORIZATION);
                    let gz = get(header::ACCEPT_ENCODING).contains("gzip");
                    {
                        let mut s = s.lock().unwrap();
                        s.times.push(Instant::now());
                        s.auth.push(auth.clone());
                        s.accept.push(get(header::ACCEPT));
                        s.gzip.push(gz);
                    }
                    if auth != "Bearer s3cret" {
                        return (StatusCode::UNAUTHORIZED, HeaderMap::new(), Vec::new());
                    }
                    let mut out = HeaderMap::new();
                    out.insert(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4".parse().unwrap(),
                    );
                    let body = if gz {
                        use std::io::Write;
                        out.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
                        let mut e = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        e.write_all(LLAMA.as_bytes()).unwrap();
                        e.finish().unwrap()
                    } else {
                        LLAMA.as_bytes().to_vec()
                    };
                    (StatusCode::OK, out, body)
                }
            }),
        )
        .route(
            "/om",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    OPEN_METRICS,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// Accepts connections and never answers.
#[tokio::test]
async fn scrapes_node_exporter_and_llama_cpp_into_prometheus_and_otlp_while_dead_targets_say_up_0()
{
    let (_ne, ne) = start_node_exporter().await;
    let (fx, seen) = fixture_server(ne).await;
    let hang = hanging_server().await;
    let closed = format!("127.0.0.1:{}", free_port());
    let token_file = integration_tests::write_temp("s3cret\n");
    let token = token_file.path().display();
    let yaml = format!(
        r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: llama
          scrape_interval: 500ms
          scrape_timeout: 400ms
          bearer_token: s3cret
          static_configs: [{{targets: ["{fx}"], labels: {{env: test}}}}]
        - job_name: llama-file
          scrape_interval: 500ms
          scrape_timeout: 400ms
          bearer_token_file: "{token}"
          static_configs: [{{targets: ["{fx}"]}}]
        - job_name: node
          scrape_interval: 1h
          static_configs: [{{targets: ["http://{fx}/node"]}}]
        - job_name: node-direct
          scrape_interval: 500ms
          scrape_timeout: 400ms
          static_configs: [{{targets: ["{ne}"]}}]
        - job_name: om
          scrape_interval: 500ms
          scrape_timeout: 400ms
          static_configs: [{{targets: ["http://{fx}/om"]}}]
        - job_name: dead
          scrape_interval: 500ms
          scrape_timeout: 400ms
          static_configs: [{{targets: ["{hang}", "{closed}"]}}]
exporters:
  prometheus: {{endpoint: "127.0.0.1:0"}}
  debug/capture: {{}}
service:
  pipelines: {{metrics: {{receivers: [prometheus], exporters: [prometheus, debug/capture]}}}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#
    );
    let capture = Capture::default();
    let llmtel = start_in_process(&yaml, &capture).await;
    let metrics_url = format!(
        "http://{}/metrics",
        llmtel.listeners().get("prometheus prometheus").unwrap()
    );
    let up = |text: &[Family], job: &str, instance: &str| {
        series(text, of_job(job, instance), LLMTEL_LABELS)
            .get("up{}")
            .copied()
    };
    // Until every target has been scraped once (the dead ones time out at 400 ms).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let fams = exposition(&metrics_url).await;
        let targets = [
            ("llama", fx.to_string()),
            ("llama-file", fx.to_string()),
            ("node", fx.to_string()),
            ("node-direct", ne.to_string()),
            ("om", fx.to_string()),
            ("dead", hang.to_string()),
            ("dead", closed.clone()),
        ];
        let all = targets.iter().all(|(j, i)| up(&fams, j, i).is_some());
        if all {
            break;
        }
        let missing: Vec<_> = targets
            .iter()
            .filter(|(j, i)| up(&fams, j, i).is_none())
            .collect();
        assert!(
            Instant::now() < end,
            "not every target scraped within 30 s: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Node Exporter through the recording pass-through, scraped once (interval 1 h): every series on llmtel with
    // exactly the value llmtel was given.
    let ours = exposition(&metrics_url).await;
    let node_body = {
        let s = seen.lock().unwrap();
        assert_eq!(s.node.len(), 1, "one scrape of job node");
        s.node[0].clone()
    };
    let before = parse(&node_body, false).unwrap();
    let kinds: BTreeMap<String, Kind> = before.iter().map(|f| (f.name.clone(), f.kind)).collect();
    let b = series(&before, |_| true, &[]);
    let o = series(&ours, of_job("node", &fx.to_string()), LLMTEL_LABELS);
    let mut checked = 0;
    for (k, vb) in &b {
        let name = k.split('{').next().unwrap_or("");
        // A counter `x_total` beside a gauge `x` (Go's `go_memstats_alloc_bytes`): in OpenMetrics terms both are
        // family `x`, so llmtel's `prometheus` exporter keeps the first and counts the other as a TYPE conflict
        // (docs/config.md). It still reaches OTLP (checked below).
        if name
            .strip_suffix("_total")
            .is_some_and(|x| kinds.contains_key(x))
        {
            continue;
        }
        let Some(vo) = o.get(k) else {
            panic!("{k} from node_exporter is not on llmtel's /metrics");
        };
        assert!(
            same(*vo, *vb),
            "{k}: node_exporter said {vb}, llmtel says {vo}"
        );
        checked += 1;
    }
    assert!(
        checked > 200,
        "only {checked} node_exporter series compared"
    );
    assert!(o.contains_key("node_memory_MemTotal_bytes{}"));
    assert!(
        o.keys()
            .any(|k| k.starts_with("node_cpu_seconds_total{cpu="))
    );
    // Scraped directly too (the real server's own headers and encoding): the same series.
    let direct = series(&ours, of_job("node-direct", &ne.to_string()), LLMTEL_LABELS);
    for k in o.keys().filter(|k| {
        k.starts_with("node_memory_MemTotal_bytes") || k.starts_with("node_cpu_seconds_total")
    }) {
        assert!(direct.contains_key(k), "{k} from the direct scrape");
    }
    assert_eq!(
        direct.get("node_memory_MemTotal_bytes{}"),
        o.get("node_memory_MemTotal_bytes{}")
    );

    // llama.cpp: every family, same value, counters as counters (`n_tokens_max` gets `_total` from the exporter).
    let llama = parse(LLAMA.as_bytes(), false).unwrap();
    let want = series(&llama, |_| true, &[]);
    let got = series(&ours, of_job("llama", &fx.to_string()), LLMTEL_LABELS);
    for (k, v) in &want {
        assert_eq!(got.get(k), Some(v), "{k} on llmtel's /metrics");
    }
    assert!(got.contains_key("llamacpp:n_tokens_max_total{}"));
    let text = String::from_utf8(
        http_request("GET", &metrics_url, &[], Vec::new())
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("# TYPE llamacpp:n_tokens_max_total counter"),
        "{text}"
    );
    assert!(text.contains("env=\"test\""));
    // OpenMetrics families, `# UNIT` kept without doubling the unit in the name.
    let om = series(&ours, of_job("om", &fx.to_string()), LLMTEL_LABELS);
    for (k, v) in [
        ("http_requests_total{code=\"200\"}", 3.0),
        ("request_latency_seconds_bucket{le=\"0.5\"}", 5.0),
        ("request_latency_seconds_count{}", 6.0),
        ("rpc_seconds{quantile=\"0.99\"}", 0.9),
        ("temperature_celsius{room=\"a\"}", 21.5),
        ("build_info{version=\"1.2.3\"}", 1.0),
        ("mystery{}", 7.0),
    ] {
        assert_eq!(om.get(k), Some(&v), "{k} on llmtel's /metrics: {om:?}");
    }
    assert!(!text.contains("seconds_seconds"), "{text}");
    {
        let s = seen.lock().unwrap();
        assert!(
            s.auth.iter().all(|a| a == "Bearer s3cret"),
            "bearer token on every scrape"
        );
        assert!(s.gzip.iter().all(|g| *g), "Accept-Encoding: gzip");
        assert!(
            s.accept[0].starts_with("application/openmetrics-text;version=1.0.0"),
            "{}",
            s.accept[0]
        );
    }

    // Up or down, and the live targets scraped on time while the dead ones time out: over 3 s at 500 ms, at least
    // 8 scrapes of the two llama jobs (12 nominal).
    assert_eq!(up(&ours, "llama", &fx.to_string()), Some(1.0));
    assert_eq!(
        up(&ours, "llama-file", &fx.to_string()),
        Some(1.0),
        "the token read from bearer_token_file"
    );
    assert_eq!(up(&ours, "node-direct", &ne.to_string()), Some(1.0));
    assert_eq!(up(&ours, "dead", &hang.to_string()), Some(0.0));
    assert_eq!(up(&ours, "dead", &closed), Some(0.0));
    let n0 = seen.lock().unwrap().times.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n1 = seen.lock().unwrap().times.len();
    assert!(
        n1 - n0 >= 8,
        "{} scrapes of the two llama jobs in 3 s (12 nominal) beside two dead targets",
        n1 - n0
    );
    let d = series(
        &exposition(&metrics_url).await,
        of_job("dead", &hang.to_string()),
        LLMTEL_LABELS,
    );
    let dur = d.get("scrape_duration_seconds{}").copied().unwrap();
    assert!(
        (0.3..2.0).contains(&dur),
        "a hanging target is given up at its timeout: {dur}"
    );

    // OTLP: the same families, with the resource, `_created` start times and exemplars.
    let report = llmtel.stop().await;
    drop(report);
    capture.with(|c| {
        let mut names: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut exemplar = false;
        let mut created = false;
        for b in &c.batches {
            let Payload::Metrics(rms) = b else { continue };
            for rm in rms {
                let res = rm.resource.as_ref().unwrap();
                let job = res
                    .attributes
                    .iter()
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.as_ref())
                    .map(|v| format!("{:?}", v.value))
                    .unwrap_or_default();
                assert!(
                    res.attributes
                        .iter()
                        .any(|a| a.key == "service.instance.id")
                );
                assert!(res.attributes.iter().any(|a| a.key == "server.port"));
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        *names.entry((job.clone(), m.name.clone())).or_default() += 1;
                        if let Some(Data::Sum(s)) = &m.data
                            && m.name == "http_requests_total"
                        {
                            exemplar |= s
                                .data_points
                                .iter()
                                .any(|p| p.exemplars.iter().any(|e| e.trace_id.len() == 16));
                            created |= s
                                .data_points
                                .iter()
                                .any(|p| p.start_time_unix_nano == 1_699_999_000_000_000_000);
                        }
                    }
                }
            }
        }
        for f in &llama {
            assert!(
                names
                    .keys()
                    .any(|(j, n)| j.contains("llama") && n == &f.name),
                "{} not in the OTLP capture",
                f.name
            );
        }
        for f in &before {
            assert!(
                names
                    .keys()
                    .any(|(j, n)| j.contains("node") && (n == &f.name || n.starts_with(&f.name))),
                "{} not in the OTLP capture",
                f.name
            );
        }
        assert!(
            exemplar,
            "the OpenMetrics exemplar reached OTLP with its trace id"
        );
        assert!(created, "_created became the start time");
    });
}

#[tokio::test]
#[ignore = "needs llama-server: scripts/real-llm-check.sh"]
async fn real_llama_server_families_come_through_unchanged() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("llama.log")).unwrap();
    let _llama = Proc(
        Command::new(env_path("LLMTEL_LLAMA_SERVER"))
            .arg("-m")
            .arg(env_path("LLMTEL_LLAMA_MODEL"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "-c",
                "2048",
                "--threads",
                "2",
                "--metrics",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn llama-server"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_answers(&format!("{base}/health"), "llama-server").await;
    let r = http_request(
        "POST",
        &format!("{base}/completion"),
        &[("content-type", "application/json")],
        br#"{"prompt":"Hello, my name is","n_predict":8,"temperature":0}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let yaml = format!(
        r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: llama
          scrape_interval: 500ms
          scrape_timeout: 400ms
          static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
exporters:
  prometheus: {{endpoint: "127.0.0.1:0"}}
  debug/capture: {{}}
service:
  pipelines: {{metrics: {{receivers: [prometheus], exporters: [prometheus, debug/capture]}}}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#
    );
    let capture = Capture::default();
    let llmtel = start_in_process(&yaml, &capture).await;
    let metrics_url = format!(
        "http://{}/metrics",
        llmtel.listeners().get("prometheus prometheus").unwrap()
    );
    let instance = format!("127.0.0.1:{port}");
    let direct = exposition(&format!("{base}/metrics")).await;
    assert!(
        series(&direct, |_| true, &[])
            .get("llamacpp:tokens_predicted_total{}")
            .is_some_and(|v| *v >= 1.0),
        "the completion moved the counters"
    );
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        // The server is idle: its counters stand still, so every value must be the same.
        let want = series(&exposition(&format!("{base}/metrics")).await, |_| true, &[]);
        let got = series(
            &exposition(&metrics_url).await,
            of_job("llama", &instance),
            LLMTEL_LABELS,
        );
        let missing: Vec<_> = want
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(*v))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "not on llmtel's /metrics as llama-server says: {missing:?}\n{got:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(llmtel.stop().await);
    let n = capture.with(|c| {
        c.batches
            .iter()
            .filter_map(|b| match b {
                Payload::Metrics(r) => Some(r),
                _ => None,
            })
            .flatten()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .filter(|m| m.name.starts_with("llamacpp:"))
            .map(|m| m.name.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    });
    assert_eq!(
        n,
        direct.len(),
        "every llama.cpp family in the OTLP capture"
    );
}
