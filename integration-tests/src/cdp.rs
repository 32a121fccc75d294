//! Headless Chromium driven over the DevTools protocol, for tests of llmtel's web page: launched on
//! `--remote-debugging-port=0` at 127.0.0.1 with a profile of its own, spoken to over a minimal WebSocket client
//! (text frames, client masking, fragmented messages), killed when dropped. Console errors and uncaught
//! exceptions are collected as they arrive.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The Chromium binary, if one is installed.
pub fn chromium_binary() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
}

/// A running headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    ws: TcpStream,
    next_id: u64,
    /// Console errors and uncaught exceptions seen so far.
    pub errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `binary` headless with a `width`×`height` window and attaches to its page.
    pub async fn launch(binary: &str, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("profile dir: {e}"));
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let stderr = child
            .stderr
            .take()
            .unwrap_or_else(|| panic!("stderr is piped"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let browser_ws = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{binary} did not print its DevTools address within 30 s");
            }
        };
        let port = browser_ws
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let list = crate::http_request(
            "GET",
            &format!("http://127.0.0.1:{port}/json/list"),
            &[],
            vec![],
        )
        .await
        .body;
        let targets: Value = serde_json::from_slice(&list)
            .unwrap_or_else(|e| panic!("DevTools /json/list is JSON: {e}"));
        let page = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_else(|| panic!("no page target in {targets}"))
            .to_owned();
        let ws = connect(&page).await;
        let mut b = Browser {
            child,
            ws,
            next_id: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        b.call("Runtime.enable", json!({})).await;
        b.call("Log.enable", json!({})).await;
        b.call("Page.enable", json!({})).await;
        b
    }

    /// Calls `method` and returns its `result`; panics on a protocol error.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        send_text(&mut self.ws, msg.as_bytes()).await;
        loop {
            let text = tokio::time::timeout(Duration::from_secs(30), read_message(&mut self.ws))
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within 30 s"));
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("DevTools message is JSON: {e}"));
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    fn note_event(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(format!("exception: {}", v["params"]["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => self
                .errors
                .push(format!("console.error: {}", v["params"]["args"])),
            Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => self
                .errors
                .push(format!("log: {}", v["params"]["entry"]["text"])),
            _ => {}
        }
    }

    /// Opens `url` and waits for its load event.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        for _ in 0..100 {
            if self.eval("document.readyState").await == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{url} did not finish loading within 10 s");
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluate {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Saves a PNG screenshot of the page at `path`.
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = decode_base64(r["data"].as_str().unwrap_or_default());
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(url: &str) -> TcpStream {
    let rest = url.trim_start_matches("ws://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"));
    let req = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("send handshake: {e}"));
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let b = s
            .read_u8()
            .await
            .unwrap_or_else(|e| panic!("read handshake: {e}"));
        head.push(b);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "websocket handshake refused: {head}"
    );
    s
}

async fn send_text(s: &mut TcpStream, payload: &[u8]) {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x81u8];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame)
        .await
        .unwrap_or_else(|e| panic!("send websocket frame: {e}"));
}

async fn read_message(s: &mut TcpStream) -> String {
    let mut message = Vec::new();
    loop {
        let b0 = s
            .read_u8()
            .await
            .unwrap_or_else(|e| panic!("read frame: {e}"));
        let b1 = s
            .read_u8()
            .await
            .unwrap_or_else(|e| panic!("read frame: {e}"));
        let len = match b1 & 0x7f {
            126 => u64::from(
                s.read_u16()
                    .await
                    .unwrap_or_else(|e| panic!("read length: {e}")),
            ),
            127 => s
                .read_u64()
                .await
                .unwrap_or_else(|e| panic!("read length: {e}")),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload)
            .await
            .unwrap_or_else(|e| panic!("read payload: {e}"));
        match b0 & 0x0f {
            0x8 => panic!("DevTools closed the websocket"),
            0x9 | 0xa => continue,
            _ => message.extend_from_slice(&payload),
        }
        if b0 & 0x80 != 0 {
            return String::from_utf8_lossy(&message).into_owned();
        }
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = s.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
