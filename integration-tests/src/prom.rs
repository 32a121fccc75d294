//! A real Prometheus server for tests: scrapes one target every second on loopback (or runs a given config), with
//! exemplar storage on; stopped (killed) when dropped. Needs `prometheus` and `promtool` on the PATH (`scripts/test.sh` and `.ci/run`
//! install the Debian package).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http_request;

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// Its HTTP API address.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Fails the test with a clear message when a peer program is missing.
pub fn require(program: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{program} is not installed: run scripts/test.sh (it installs Prometheus) or `apt-get install prometheus`"
    );
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (path `/metrics`) every second.
    pub fn start(target: SocketAddr) -> Prometheus {
        Self::start_with(
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: llmtel\n    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n"
            ),
            &[],
        )
    }

    /// Starts Prometheus with `config` as `prometheus.yml`, in a temporary folder that also holds `files`
    /// (relative path, contents), e.g. the rule files the config names.
    pub fn start_with(config: &str, files: &[(&str, &str)]) -> Prometheus {
        Self::start_with_args(config, files, &[])
    }

    /// A Prometheus that scrapes nothing and takes remote write on `POST /api/v1/write`
    /// (`--web.enable-remote-write-receiver`).
    pub fn start_remote_write_receiver() -> Prometheus {
        Self::start_with_args(
            "global:\n  evaluation_interval: 1s\n",
            &[],
            &["--web.enable-remote-write-receiver"],
        )
    }

    /// [`Prometheus::start_with`] with extra command-line flags.
    pub fn start_with_args(config: &str, files: &[(&str, &str)], args: &[&str]) -> Prometheus {
        require("prometheus");
        let dir = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("a temporary folder for Prometheus: {e}"));
        let write = |path: &std::path::Path, text: &str| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
            }
            std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        };
        let config_path = dir.path().join("prometheus.yml");
        write(&config_path, config);
        for (rel, text) in files {
            write(&dir.path().join(rel), text);
        }
        // A free port: bind 0, read it, release it for Prometheus.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("a free port for Prometheus: {e}"));
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--enable-feature=exemplar-storage")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start prometheus: {e}"));
        Prometheus {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Waits (up to 60 s) until Prometheus answers `/-/ready`.
    pub async fn ready(&self) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            let url = format!("http://{}/-/ready", self.addr);
            if crate::try_http_request("GET", &url, &[], Vec::new())
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "prometheus on {} did not become ready within 60 s",
            self.addr
        );
    }

    /// Runs `query` (instant) and returns the `data.result` array.
    pub async fn query(&self, query: &str) -> serde_json::Value {
        self.query_answer(query).await["data"]["result"].clone()
    }

    /// Runs `query` (instant) and returns Prometheus' whole answer (`status`, `error`, `data`).
    pub async fn query_answer(&self, query: &str) -> serde_json::Value {
        let url = format!(
            "http://{}/api/v1/query?query={}",
            self.addr,
            urlencode(query)
        );
        let body = http_request("GET", &url, &[], Vec::new()).await.body;
        serde_json::from_slice(&body).unwrap_or_default()
    }

    /// `GET /api/v1/<path>`'s `data`.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let url = format!("http://{}/api/v1/{path}", self.addr);
        let body = http_request("GET", &url, &[], Vec::new()).await.body;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        v["data"].clone()
    }

    /// Exemplars of `query` over the last hour.
    pub async fn query_exemplars(&self, query: &str) -> serde_json::Value {
        // A clock before 1970 reads as 0: the window is then empty and the test says what is missing.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let url = format!(
            "http://{}/api/v1/query_exemplars?query={}&start={}&end={}",
            self.addr,
            urlencode(query),
            now.saturating_sub(3600),
            now + 60
        );
        let body = http_request("GET", &url, &[], Vec::new()).await.body;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        v["data"].clone()
    }

    /// Polls `query` until it returns at least one result for which `ok` holds, for up to `timeout`.
    pub async fn wait_for(
        &self,
        query: &str,
        timeout: Duration,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let end = Instant::now() + timeout;
        loop {
            let r = self.query(query).await;
            if r.as_array().is_some_and(|a| !a.is_empty()) && ok(&r) {
                return r;
            }
            if Instant::now() > end {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes `s` for a query string.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of the first result of an instant query, as a number.
pub fn first_value(result: &serde_json::Value) -> Option<f64> {
    result.get(0)?.get("value")?.get(1)?.as_str()?.parse().ok()
}

/// Runs `promtool check metrics` over `text` and fails the test, showing what promtool said, unless it is clean.
pub fn promtool_check_metrics(text: &str) {
    require("promtool");
    let file = crate::write_temp(text);
    let input = std::fs::File::open(file.path())
        .unwrap_or_else(|e| panic!("read {}: {e}", file.path().display()));
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(input)
        .output()
        .unwrap_or_else(|e| panic!("run promtool: {e}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
