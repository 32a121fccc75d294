//! The real Python clients (`ollama` 0.6.3, `openai` 3.57, `anthropic` 2.14) driven through `py/*.py`, which print
//! what the client received as one JSON object.

use std::process::Command;

use serde_json::Value;

/// `py/ollama_client.py HOST MODEL MODE THINK`.
pub const OLLAMA_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/ollama_client.py");
/// `py/openai_client.py BASE_URL MODEL MODE`.
pub const OPENAI_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/openai_client.py");

/// `py/openai_retry.py BASE_URL MODEL MAX_RETRIES`: one chat completion with the client's own retries, and every
/// HTTP answer it got on the way.
pub const OPENAI_RETRY_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/openai_retry.py");

/// `py/responses_client.py BASE_URL MODEL MODE` (the `openai` client's Responses API).
pub const RESPONSES_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/responses_client.py");
/// OpenTelemetry SDK (OTLP/gRPC) and `openai` clients over TLS with a private CA (`py/tls_clients.py`).
pub const TLS_CLIENTS_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/tls_clients.py");
/// `py/anthropic_client.py BASE_URL MODEL MODE` (the `anthropic` client's Messages API).
pub const ANTHROPIC_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/anthropic_client.py");

/// The install line the messages below give.
const INSTALL: &str = "pip install ollama==0.6.3 openai==3.57.0 anthropic==2.14.0";

/// Fails the test, saying what to install, when the Python clients are missing.
pub fn require_python_clients() {
    let check = Command::new("python3")
        .args(["-c", "import ollama, openai, anthropic"])
        .output();
    match check {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the Python clients are missing ({}); run `{INSTALL}` (scripts/test.sh does)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("python3 is not runnable ({e}); install Python 3 and run `{INSTALL}`"),
    }
}

/// Runs `python3 SCRIPT args…` (no proxy from the environment) and parses the JSON it prints.
pub fn python(script: &str, args: &[String]) -> Value {
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap_or_else(|e| panic!("run python3 {script}: {e}"));
    assert!(
        out.status.success(),
        "python3 {script} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python3 {script} {args:?} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs every (script, args) concurrently off the runtime's threads, keeping the order.
pub async fn pythons(runs: Vec<(&'static str, Vec<String>)>) -> Vec<Value> {
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(s, a)| tokio::task::spawn_blocking(move || python(s, &a)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
        );
    }
    out
}
