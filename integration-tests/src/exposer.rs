//! Helpers for tests against real Prometheus exposers (`prometheus-node-exporter`, `llama-server --metrics`): child
//! processes killed on drop, free ports, a target that never answers, and expositions read as `name{labels}` →
//! value with the collector's own parser.

// Test helpers: a failure here is the test's failure, said with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmtel_collector::receivers::prometheus::parse::{Family, Kind, parse};

use crate::{http_request, prom, try_http_request};

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn wait_answers(url: &str, what: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    while !try_http_request("GET", url, &[], Vec::new())
        .await
        .is_ok_and(|r| r.status == 200)
    {
        assert!(
            Instant::now() < end,
            "{what} at {url} did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn start_node_exporter() -> (Proc, SocketAddr) {
    prom::require("prometheus-node-exporter");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn prometheus-node-exporter");
    let p = Proc(child);
    wait_answers(
        &format!("http://{addr}/metrics"),
        "prometheus-node-exporter",
    )
    .await;
    (p, addr)
}

/// A server on 127.0.0.1 that accepts connections and never answers.
pub async fn hanging_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

/// `name{labels}` (sorted, without the ones in `drop`) → value, for every sample of `fams`; counters named as
/// llmtel's `prometheus` exporter names them (`_total` added where the exposer left it off).
pub fn series(
    fams: &[Family],
    keep: impl Fn(&BTreeMap<String, String>) -> bool,
    drop: &[&str],
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for f in fams {
        for s in &f.samples {
            let labels: BTreeMap<String, String> = s.labels.iter().cloned().collect();
            if !keep(&labels) {
                continue;
            }
            let mut name = s.name.clone();
            if f.kind == Kind::Counter && !name.ends_with("_total") {
                name.push_str("_total");
            }
            let l: Vec<String> = labels
                .iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            out.insert(format!("{name}{{{}}}", l.join(",")), s.value);
        }
    }
    out
}

pub const LLMTEL_LABELS: &[&str] = &[
    "job",
    "instance",
    "otel_scope_name",
    "otel_scope_version",
    "env",
];

pub async fn exposition(url: &str) -> Vec<Family> {
    let r = http_request("GET", url, &[], Vec::new()).await;
    assert_eq!(r.status, 200, "GET {url}");
    parse(&r.body, false).unwrap_or_else(|e| panic!("{url}: {e}"))
}

pub fn of_job<'a>(
    job: &'a str,
    instance: &'a str,
) -> impl Fn(&BTreeMap<String, String>) -> bool + 'a {
    move |l| {
        l.get("job").map(String::as_str) == Some(job)
            && l.get("instance").map(String::as_str) == Some(instance)
    }
}

pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

pub fn env_path(name: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
        panic!("{name} is not set: run scripts/real-llm-check.sh, which builds llama-server and sets it")
    }));
    assert!(p.exists(), "{name}={} does not exist", p.display());
    p
}
