//! The real `llmtel` binary as a child process: built first, spawned, waited on until it logs that it is ready,
//! its log kept for assertions, killed when its handle drops.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lock::lock;

/// The path of the `llmtel` binary, built first so it is never stale.
pub fn llmtel_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "llmtel-collector",
            "--bin",
            "llmtel",
        ])
        .status()
        .unwrap_or_else(|e| panic!("run cargo build: {e}"));
    assert!(status.success(), "cargo build of llmtel failed");
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test's own path: {e}"));
    let Some(dir) = exe.parent().and_then(|d| d.parent()) else {
        panic!("{} is not in target/<profile>/deps/", exe.display());
    };
    dir.join("llmtel")
}

/// A running `llmtel` child process. Dropping it kills the process.
#[derive(Debug)]
pub struct LlmtelProcess {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    /// The thread copying stderr into `lines`; it ends when the process has exited and the pipe is drained.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl LlmtelProcess {
    /// Spawns `llmtel args…` and waits (up to 30 s) until it logs that it is ready.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    /// [`LlmtelProcess::spawn`] with extra environment variables (`LD_LIBRARY_PATH` at a fake NVML, say).
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_binary(&llmtel_binary(), args, env)
    }

    /// [`LlmtelProcess::spawn_with_env`] of another build of llmtel (a release binary, for a benchmark).
    pub fn spawn_binary(bin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin)
            .args(args)
            // Before `env`, so that a test may ask for another level.
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn llmtel: {e}"));
        let Some(stderr) = child.stderr.take() else {
            unreachable!("stderr is piped above");
        };
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("llmtel is ready") {
                    let _ = ready_tx.send(());
                }
                lock(&sink).push(line);
            }
        });
        let me = Self {
            child: Some(child),
            lines,
            reader: Some(reader),
        };
        if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!("llmtel did not become ready; its log:\n{}", me.log());
        }
        me
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Resident memory of the process now, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        lock(&self.lines).join("\n")
    }

    /// The address logged by the line containing `what` (e.g. "otlp grpc receiver listening").
    pub fn endpoint(&self, what: &str) -> SocketAddr {
        let lines = lock(&self.lines);
        let line = lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no log line with {what:?}"));
        let Some(addr) = line
            .split("endpoint=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
        else {
            panic!("no endpoint field in {line:?}");
        };
        let addr = addr.trim_matches('"');
        addr.parse()
            .unwrap_or_else(|e| panic!("endpoint {addr:?} in {line:?}: {e}"))
    }

    /// Sends SIGHUP: llmtel reloads its config.
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("run kill -HUP: {e}"));
        assert!(status.success(), "kill -HUP {} failed", self.pid());
    }

    /// How many log lines so far contain `what`.
    pub fn log_count(&self, what: &str) -> usize {
        lock(&self.lines)
            .iter()
            .filter(|l| l.contains(what))
            .count()
    }

    /// Waits (up to `timeout`) until `n` log lines contain `what`; panics with the log if they do not.
    pub async fn wait_log(&self, what: &str, n: usize, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.log_count(what) < n {
            assert!(
                Instant::now() < end,
                "waited {timeout:?} for {n} log lines with {what:?}; the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits up to 20 s for the exit status.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let Some(mut child) = self.child.take() else {
            unreachable!("only terminate and drop take the child, and both end the process handle");
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let end = Instant::now() + Duration::from_secs(20);
        let code = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        // The process has exited, so its stderr reaches end of file: once the reader thread ends, it has taken
        // every last line.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (code, self.log())
    }
}

impl Drop for LlmtelProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
