//! The real Prometheus Node Exporter (Debian's `prometheus-node-exporter`) on a free loopback port, with its
//! default collectors; killed when dropped. `scripts/test.sh` installs it.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Node Exporter.
#[derive(Debug)]
pub struct NodeExporter {
    child: Child,
    /// Where it serves `/metrics`.
    pub addr: SocketAddr,
}

impl NodeExporter {
    /// Starts `prometheus-node-exporter` on 127.0.0.1 and waits (up to 30 s) until `/metrics` answers.
    pub async fn start() -> NodeExporter {
        crate::prom::require("prometheus-node-exporter");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("a free port for node exporter: {e}"));
        let child = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start prometheus-node-exporter: {e}"));
        let me = NodeExporter { child, addr };
        let end = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{addr}/metrics");
        while Instant::now() < end {
            if crate::try_http_request("GET", &url, &[], Vec::new())
                .await
                .is_ok_and(|r| r.status == 200)
            {
                return me;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus-node-exporter on {addr} did not answer within 30 s");
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
