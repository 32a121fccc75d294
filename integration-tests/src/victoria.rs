//! A real VictoriaMetrics single node for tests (Debian `victoria-metrics`): remote write on `/api/v1/write`, the
//! Prometheus query API, `/api/v1/export` for raw samples. Queries see samples 1 s after they arrive
//! (`-search.latencyOffset=1s`). It can be stopped (SIGTERM: it flushes what it took) and started again on the same
//! port and data folder, to make an outage; killed when dropped.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http_request;

/// A running (or stopped) VictoriaMetrics.
#[derive(Debug)]
pub struct Victoria {
    child: Option<Child>,
    /// Its HTTP address.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Victoria {
    /// Starts it on a free loopback port with an empty data folder.
    pub fn start() -> Self {
        crate::prom::require("victoria-metrics");
        let dir =
            tempfile::tempdir().unwrap_or_else(|e| panic!("a folder for VictoriaMetrics: {e}"));
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("a free port for VictoriaMetrics: {e}"));
        let mut me = Self {
            child: None,
            addr,
            dir,
        };
        me.spawn();
        me
    }

    fn spawn(&mut self) {
        let child = Command::new("victoria-metrics")
            .arg(format!("-httpListenAddr={}", self.addr))
            .arg(format!("-storageDataPath={}", self.dir.path().display()))
            .arg("-search.latencyOffset=1s")
            .arg("-retentionPeriod=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start victoria-metrics: {e}"));
        self.child = Some(child);
    }

    /// Waits (up to 60 s) until `/health` answers.
    pub async fn ready(&self) {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            let url = format!("http://{}/health", self.addr);
            if crate::try_http_request("GET", &url, &[], Vec::new())
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("victoria-metrics on {} not ready within 60 s", self.addr);
    }

    /// Stops it gracefully (SIGTERM, so that what it took is on disk) and waits for the exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The URL remote write goes to.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Runs an instant `query` and returns `data.result`.
    pub async fn query(&self, query: &str) -> serde_json::Value {
        let url = format!(
            "http://{}/api/v1/query?query={}",
            self.addr,
            crate::prom::urlencode(query)
        );
        let body = http_request("GET", &url, &[], Vec::new()).await.body;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        v["data"]["result"].clone()
    }

    /// Every raw sample of the series `selector` matches, from `/api/v1/export` (one JSON line per series):
    /// `(series, samples)`.
    pub async fn export_counts(&self, selector: &str) -> (usize, usize) {
        let url = format!(
            "http://{}/api/v1/export?match[]={}",
            self.addr,
            crate::prom::urlencode(selector)
        );
        let body = http_request("GET", &url, &[], Vec::new()).await.body;
        let text = String::from_utf8_lossy(&body);
        let mut series = 0;
        let mut samples = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("export line {line:?}: {e}"));
            series += 1;
            samples += v["values"].as_array().map_or(0, Vec::len);
        }
        (series, samples)
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
