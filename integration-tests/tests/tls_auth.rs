//! TLS, mTLS and auth on every listener of the real `llmtel` binary, with a private CA made at test time, checked
//! with the programs users run beside llmtel: the OpenTelemetry Python SDK's OTLP/gRPC exporter, curl (OTLP/HTTP,
//! the admin endpoint, a raw gRPC request with a body that is not protobuf), a real Prometheus scraping over
//! `https` with a bearer token, and the `openai` Python client through the sidecar with an API key. Each is refused
//! without its credential and served with it; the secrets appear in no log line (llmtel at debug level, with the
//! debug exporter printing every span in full), so in no span, and the API key never reaches the model server.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::emulator::{Emulator, Script};
use integration_tests::prom::Prometheus;
use integration_tests::py::{TLS_CLIENTS_PY, python, require_python_clients};
use integration_tests::{LlmtelProcess, trace_request, write_temp};
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const GRPC_TOKEN: &str = "grpc-t0ken-5ecret";
const HTTP_TOKEN: &str = "http-t0ken-5ecret";
const SCRAPE_TOKEN: &str = "scrape-t0ken-5ecret";
const ADMIN_TOKEN: &str = "admin-t0ken-5ecret";
const API_KEY: &str = "sk-sidecar-key-5ecret";

/// A private CA, a server certificate for 127.0.0.1 and a client certificate, all written into `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "llmtel test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["client.test".to_owned()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", cert.pem()),
        key: write("server.key", key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// `curl` with `args`; returns (exit code, headers + body). `-k` is never used: every TLS call trusts the CA only.
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-D", "-", "--noproxy", "*"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn status_of(answer: &str) -> Option<u16> {
    answer
        .lines()
        .find(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_serves_tls_and_auth_and_no_secret_leaks() {
    require_python_clients();
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path());
    let token_file = dir.path().join("http-token");
    std::fs::write(&token_file, format!("{HTTP_TOKEN}\n")).unwrap();
    let emulator = Emulator::start(Script::default()).await;
    let (ca, cert, key) = (p.ca.display(), p.cert.display(), p.key.display());
    let tls = format!("{{cert_file: \"{cert}\", key_file: \"{key}\"}}");
    let tls_1s = format!("{{cert_file: \"{cert}\", key_file: \"{key}\", handshake_timeout: 1s}}");
    let mtls = format!("{{cert_file: \"{cert}\", key_file: \"{key}\", client_ca_file: \"{ca}\"}}");
    // Longer than curl's --max-time (10 s): a handshake awaited in the accept loop would fail the admin checks.
    let mtls_30s = format!(
        "{{cert_file: \"{cert}\", key_file: \"{key}\", client_ca_file: \"{ca}\", handshake_timeout: 30s}}"
    );
    let cfg = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0", tls: {mtls}, auth: {{bearer_token: "${{TEST_GRPC_TOKEN}}"}}}}
      http: {{endpoint: "127.0.0.1:0", tls: {tls_1s}, auth: {{bearer_token_file: "{tf}"}}}}
  llm_proxy:
    listen: "127.0.0.1:0"
    upstream: "{up}"
    tls: {tls}
    api_keys: {{env: TEST_SIDECAR_KEYS}}
exporters:
  debug: {{verbosity: detailed}}
  prometheus: {{endpoint: "127.0.0.1:0", tls: {tls}, auth: {{bearer_token: "{SCRAPE_TOKEN}"}}}}
service:
  pipelines:
    traces: {{receivers: [otlp, llm_proxy], exporters: [debug]}}
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
  telemetry:
    admin: {{endpoint: "127.0.0.1:0", tls: {mtls_30s}, auth: {{bearer_token: "{ADMIN_TOKEN}"}}}}
"#,
        tf = token_file.display(),
        up = emulator.url(),
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn_with_env(
        &["--config", &file.path().display().to_string()],
        &[
            ("RUST_LOG", "debug"),
            ("TEST_GRPC_TOKEN", GRPC_TOKEN),
            ("TEST_SIDECAR_KEYS", &format!("other-key,{API_KEY}")),
        ],
    );
    let grpc = llmtel.endpoint("otlp grpc receiver listening");
    let http = llmtel.endpoint("otlp http receiver listening");
    let prom = llmtel.endpoint("prometheus exporter listening");
    let admin = llmtel.endpoint("admin endpoint listening");
    let proxy = llmtel.endpoint("llm_proxy listening");
    let ca = p.ca.display().to_string();
    let (client_cert, client_key) = (
        p.client_cert.display().to_string(),
        p.client_key.display().to_string(),
    );

    // OTLP/gRPC with the OTel SDK: mTLS and the token; refused without either.
    let sdk = |token: &str, with_cert: bool| {
        let mut args = vec![
            "otlp-grpc".to_owned(),
            grpc.to_string(),
            ca.clone(),
            token.to_owned(),
        ];
        if with_cert {
            args.extend([client_cert.clone(), client_key.clone()]);
        }
        python(TLS_CLIENTS_PY, &args)["result"].clone()
    };
    assert_eq!(sdk(GRPC_TOKEN, true), "SUCCESS");
    assert_eq!(sdk("-", true), "FAILURE", "no token");
    assert_eq!(sdk("wrong", true), "FAILURE", "wrong token");
    assert_eq!(sdk(GRPC_TOKEN, false), "FAILURE", "no client certificate");

    // gRPC with a body that is not protobuf: INVALID_ARGUMENT (3), not INTERNAL.
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, [0u8, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).unwrap();
    let grpc_url =
        format!("https://{grpc}/opentelemetry.proto.collector.trace.v1.TraceService/Export");
    let grpc_auth = format!("authorization: Bearer {GRPC_TOKEN}");
    let (code, answer) = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "--cert",
        &client_cert,
        "--key",
        &client_key,
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-H",
        &grpc_auth,
        "--data-binary",
        &format!("@{}", garbage.display()),
        &grpc_url,
    ]);
    assert_eq!(code, 0, "{answer}");
    assert!(
        answer.contains("grpc-status: 3"),
        "expected INVALID_ARGUMENT:\n{answer}"
    );
    // A valid request without the token: UNAUTHENTICATED (16), answered once the message is read.
    let framed = dir.path().join("framed.bin");
    let message = trace_request(1, 1).encode_to_vec();
    let mut grpc_body = vec![0u8];
    grpc_body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    grpc_body.extend_from_slice(&message);
    std::fs::write(&framed, grpc_body).unwrap();
    let (_, answer) = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "--cert",
        &client_cert,
        "--key",
        &client_key,
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "--data-binary",
        &format!("@{}", framed.display()),
        &grpc_url,
    ]);
    assert!(
        answer.contains("grpc-status: 16"),
        "expected UNAUTHENTICATED:\n{answer}"
    );

    // OTLP/HTTP with curl: 401 with WWW-Authenticate without the token, 200 with it, nothing over plain HTTP.
    let body = dir.path().join("traces.pb");
    std::fs::write(&body, trace_request(3, 1).encode_to_vec()).unwrap();
    let http_url = format!("https://{http}/v1/traces");
    let post = |auth: Option<String>| {
        let mut args = vec![
            "--cacert".to_owned(),
            ca.clone(),
            "-H".to_owned(),
            "content-type: application/x-protobuf".to_owned(),
            "--data-binary".to_owned(),
            format!("@{}", body.display()),
            http_url.clone(),
        ];
        if let Some(a) = auth {
            args.extend(["-H".to_owned(), a]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&refs)
    };
    // A client that connects and never starts its handshake holds up no one, and is closed after 1 s.
    let mut stalled = tokio::net::TcpStream::connect(http).await.unwrap();
    let (_, answer) = post(None);
    assert_eq!(status_of(&answer), Some(401), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{answer}"
    );
    let (_, answer) = post(Some(format!("Authorization: Bearer {HTTP_TOKEN}")));
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::io::AsyncReadExt::read(&mut stalled, &mut buf),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "a stalled handshake must be closed (handshake_timeout: 1s): {closed:?}"
    );
    let (code, answer) = curl(&[&format!("http://{http}/v1/traces"), "-d", "x"]);
    assert!(
        code != 0 || status_of(&answer) != Some(200),
        "plain HTTP to a TLS port: {answer}"
    );

    // Admin: mTLS; /healthz open to probes, /metrics behind the token.
    let admin_get = |path: &str, auth: Option<&str>, with_cert: bool| {
        let url = format!("https://{admin}{path}");
        let mut args = vec!["--cacert", ca.as_str()];
        if with_cert {
            args.extend(["--cert", client_cert.as_str(), "--key", client_key.as_str()]);
        }
        let header;
        if let Some(a) = auth {
            header = format!("Authorization: Bearer {a}");
            args.extend(["-H", header.as_str()]);
        }
        args.push(&url);
        curl(&args)
    };
    // A connection that never starts its handshake is open the whole time.
    let _stalled_admin = tokio::net::TcpStream::connect(admin).await.unwrap();
    let (_, answer) = admin_get("/healthz", None, true);
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    let (_, answer) = admin_get("/metrics", None, true);
    assert_eq!(status_of(&answer), Some(401), "{answer}");
    let (_, answer) = admin_get("/api/requests", None, true);
    assert_eq!(
        status_of(&answer),
        Some(401),
        "the request explorer follows the admin's auth: {answer}"
    );
    let (code, answer) = admin_get("/metrics", Some(ADMIN_TOKEN), false);
    assert!(
        code != 0 && status_of(&answer).is_none(),
        "no client certificate must fail the handshake: {answer}"
    );

    // The sidecar with the openai client over TLS: the key is required, then removed before the upstream.
    let base = format!("https://{proxy}/v1");
    let chat = |k: &str| {
        python(
            TLS_CLIENTS_PY,
            &["openai".into(), base.clone(), ca.clone(), k.into()],
        )
    };
    let refused = chat("sk-wrong");
    assert_eq!(
        (refused["ok"].clone(), refused["status"].clone()),
        (false.into(), 401.into()),
        "{refused}"
    );
    assert_eq!(refused["error"], "AuthenticationError");
    let served = chat(API_KEY);
    assert_eq!(served["ok"], true, "{served}");
    // The anthropic client sends its key as x-api-key; refused in Anthropic's dialect without a known one.
    let message = |k: &str| {
        python(
            TLS_CLIENTS_PY,
            &[
                "anthropic".into(),
                format!("https://{proxy}"),
                ca.clone(),
                k.into(),
            ],
        )
    };
    let refused = message("sk-ant-wrong");
    assert_eq!(refused["error"], "AuthenticationError", "{refused}");
    let served = message(API_KEY);
    assert_eq!(served["ok"], true, "{served}");
    // HTTP/2 by ALPN, with the key in Anthropic's header.
    let key_header = format!("x-api-key: {API_KEY}");
    let (_, answer) = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "-H",
        &key_header,
        &format!("https://{proxy}/api/tags"),
    ]);
    assert!(answer.starts_with("HTTP/2 200"), "{answer}");
    let (_, answer) = curl(&[
        "--http2",
        "--cacert",
        &ca,
        &format!("https://{proxy}/api/tags"),
    ]);
    assert!(answer.starts_with("HTTP/2 401"), "{answer}");
    let seen = emulator.requests();
    for path in ["/v1/chat/completions", "/v1/messages"] {
        assert_eq!(
            seen.iter().filter(|r| r.path == path).count(),
            1,
            "{path}: only the admitted request went upstream"
        );
    }
    for r in &seen {
        for (name, value) in &r.headers {
            assert!(
                !String::from_utf8_lossy(value.as_bytes()).contains(API_KEY),
                "the key reached the upstream in {name}"
            );
        }
    }

    // Real Prometheus over https with the CA and the token is up; without the token it is down.
    let prom_cfg = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: with_token\n    scheme: https\n    tls_config: {{ca_file: '{ca}'}}\n    authorization: {{credentials: '{SCRAPE_TOKEN}'}}\n    static_configs: [{{targets: ['{prom}']}}]\n  - job_name: without_token\n    scheme: https\n    tls_config: {{ca_file: '{ca}'}}\n    static_configs: [{{targets: ['{prom}']}}]\n"
    );
    let prometheus = Prometheus::start_with(&prom_cfg, &[]);
    prometheus.ready().await;
    let up = |job: &'static str, want: f64| {
        let prometheus = &prometheus;
        async move {
            let r = prometheus
                .wait_for(
                    &format!("up{{job=\"{job}\"}}"),
                    Duration::from_secs(20),
                    |r| integration_tests::prom::first_value(r) == Some(want),
                )
                .await;
            integration_tests::prom::first_value(&r)
        }
    };
    assert_eq!(up("with_token", 1.0).await, Some(1.0));
    assert_eq!(up("without_token", 0.0).await, Some(0.0));

    // Refusals were counted: admin /metrics with the token shows them.
    let (_, answer) = admin_get("/metrics", Some(ADMIN_TOKEN), true);
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    for component in ["otlp", "llm_proxy", "prometheus", "service.telemetry.admin"] {
        assert!(
            answer.lines().any(|l| l.starts_with("llmtel_events_total")
                && l.contains("event=\"auth_refused\"")
                && l.contains(&format!("component=\"{component}\""))),
            "no auth_refused count for {component}:\n{answer}"
        );
    }
    assert!(
        answer.contains("event=\"tls_handshake_failed\""),
        "{answer}"
    );

    // The spans were printed in full at debug level, and no secret is in any line.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = llmtel.log();
    assert!(
        log.contains("over tls") && log.contains("chat qwen3:14b"),
        "the debug exporter printed the spans:\n{log}"
    );
    for secret in [GRPC_TOKEN, HTTP_TOKEN, SCRAPE_TOKEN, ADMIN_TOKEN, API_KEY] {
        assert!(!log.contains(secret), "{secret} is in llmtel's log:\n{log}");
    }
    drop(llmtel);
}

#[test]
fn a_missing_certificate_file_stops_the_start_naming_it() {
    let cfg = r#"
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0", tls: {cert_file: /nonexistent/llmtel-server.pem, key_file: /nonexistent/llmtel-server.key}}}}}
exporters: {debug: {}}
service:
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
  telemetry: {admin: {enabled: false}}
"#;
    let file = write_temp(cfg);
    let out = Command::new(integration_tests::llmtel_binary())
        .args(["--config", &file.path().display().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("receivers.otlp.protocols.grpc.tls.cert_file /nonexistent/llmtel-server.pem"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_non_loopback_listener_is_warned_about_once() {
    let emulator = Emulator::start(Script::default()).await;
    let cfg = format!(
        r#"
receivers:
  otlp: {{protocols: {{http: {{endpoint: "0.0.0.0:0"}}, grpc: {{endpoint: "127.0.0.1:0"}}}}}}
  llm_proxy: {{listen: "0.0.0.0:0", upstream: "{}"}}
exporters:
  debug: {{}}
service:
  pipelines: {{traces: {{receivers: [otlp, llm_proxy], exporters: [debug]}}}}
  telemetry: {{admin: {{endpoint: "127.0.0.1:0"}}}}
"#,
        emulator.url()
    );
    let file = write_temp(&cfg);
    let llmtel = LlmtelProcess::spawn(&["--config", &file.path().display().to_string()]);
    let log = llmtel.log();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("non-loopback")).collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("otlp http listens on 0.0.0.0")
                && w.contains("receivers.otlp.protocols.http.tls")
                && w.contains("auth.bearer_token")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("llm_proxy listens on 0.0.0.0")
                && w.contains("receivers.llm_proxy.api_keys")),
        "{warnings:?}"
    );
}
