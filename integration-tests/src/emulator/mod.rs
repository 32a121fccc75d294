//! An LLM-server emulator for end-to-end tests: it speaks Ollama's native API (`/api/chat`, `/api/generate`,
//! `/api/embed`, `/api/embeddings`), the OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `/v1/responses`) and the Anthropic Messages API (`/v1/messages`) from a [`Script`], with
//! reasoning, answer text, tool calls and cache counts in each dialect's own shape. It paces its stream events,
//! cuts its body into writes at arbitrary byte positions (inside JSON, inside `<think>` tags, inside UTF-8
//! characters, inside SSE event names and between `event:` and `data:` lines), can abort mid-stream or hold the
//! body open after its end marker, and records every request together with the bytes it actually handed to the
//! connection.
//!
//! Like a real server it runs a fixed number of parallel slots with a FIFO queue behind them ([`Script::slots`]),
//! loads models cold ([`Script::load_delay`], shared by concurrent first requests; [`Script::keep_alive`],
//! [`Emulator::unload`]) and reports its own measured timings ([`Timings::Measured`]: Ollama's
//! `total_duration`, `load_duration`, `prompt_eval_duration`, `eval_duration`; llama.cpp's `timings` with
//! [`OpenAiTimings::LlamaCpp`]). Each [`Recorded`] request carries the [`Phases`] the emulator measured (load,
//! slot wait, prompt pause, generation, total), the truth a sidecar's estimates are compared with.
//!
//! Besides the model endpoints it answers its [`Server`] personality's own: Ollama's `/api/version`, `/api/tags`,
//! `/api/ps` (the loaded models, each with `context_length`), `/v1/models`; llama.cpp's `/health`, `/props`,
//! `/v1/models` (and `Server: llama.cpp` on every answer); vLLM's `/version`, `/health`, `/v1/models`. It
//! echoes any request under `/echo/` (same body, same content type) and answers its server's 404 elsewhere. The
//! request's own `think` or `max_tokens` are ignored: the script alone decides what is sent.
//!
//! Files: `script.rs` (the [`Script`]), `state.rs` (the record), `models.rs` (loads), `serve.rs` (queue, pacing,
//! the body), `formats.rs`, `responses.rs`, `anthropic.rs`, `info.rs` and `wire.rs` (the bytes).

mod anthropic;
mod formats;
mod info;
mod models;
mod responses;
mod script;
mod serve;
mod state;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use serve::{Request, Tracked};
use state::{Entry, Shared, lock};
use wire::Reply;

pub use script::{
    ChatChunks, OllamaDurations, OpenAiTimings, ReasoningStyle, ResponsesReasoning, Script, Server,
    Split, Timings, ToolCall,
};
pub use state::{Phases, Recorded};

/// A running emulator on `127.0.0.1`; dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    /// Where it listens.
    addr: SocketAddr,
    /// Its state.
    shared: Arc<Shared>,
    /// The accept loop.
    server: JoinHandle<()>,
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1:0` (HTTP/1.1, and HTTP/2 with prior knowledge) answering per `script`.
    pub async fn start(script: Script) -> Emulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("emulator: bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("emulator: local address: {e}"));
        let shared = Arc::new(Shared {
            script: Mutex::new(Script::default()),
            // Replaced by `set_script` below, before anyone knows the address.
            requests: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
            slots: Mutex::new(None),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            models: models::Models::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let emu = Emulator {
            addr,
            shared,
            server,
        };
        emu.set_script(script);
        emu
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the script for the following requests (its `model` is loaded if it `starts_loaded` and was never
    /// seen before).
    pub fn set_script(&self, script: Script) {
        if script.starts_loaded {
            self.shared.models.preload(&script.model);
        }
        *lock(&self.shared.script) = script;
    }

    /// Unloads `model` now (requests running on it finish; the next one loads it again); whether it was loaded
    /// or loading.
    pub fn unload(&self, model: &str) -> bool {
        self.shared.models.unload(model)
    }

    /// How many loads of `model` were started (a load shared by concurrent requests counts once).
    pub fn loads(&self, model: &str) -> usize {
        self.shared.models.loads(model)
    }

    /// The names of the loaded models, sorted, under the current script's keep-alive.
    pub fn loaded(&self) -> Vec<String> {
        let script = lock(&self.shared.script).clone();
        self.shared
            .models
            .loaded(&script)
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    /// Requests waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Requests on a model endpoint past their load and slot wait and not yet done.
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Every request seen, in arrival order, with what was sent back so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests)
            .iter()
            .map(|e| Recorded {
                sent: Bytes::copy_from_slice(&e.sent),
                ..e.rec.clone()
            })
            .collect()
    }

    /// The whole body the current script answers to a request for `path` with JSON body `request_json` (without
    /// any `fail_after_bytes` cut). For `/echo/` paths it is the serialized `request_json`.
    pub fn body_for(&self, path: &str, request_json: &serde_json::Value) -> Vec<u8> {
        let body = request_json.to_string();
        let script = lock(&self.shared.script).clone();
        dispatch(
            &self.shared,
            path,
            body.as_bytes(),
            Some("application/json"),
            &script,
        )
        .body()
    }

    /// Waits up to `timeout` until some response was cut short because the client went away; whether it was.
    pub async fn wait_cancelled(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.shared.cancelled.load(Ordering::SeqCst) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The answer to `path` under `script`, with its fixed timings: an info endpoint of the script's server, or a model
/// endpoint, `/echo/` or 404.
fn dispatch(
    shared: &Shared,
    path: &str,
    body: &[u8],
    content_type: Option<&str>,
    script: &Script,
) -> Reply {
    info::reply(path, script, &shared.models.loaded(script))
        .unwrap_or_else(|| formats::reply(path, body, content_type, script, &script.durations))
}

/// Answers any request.
async fn handle(
    State(shared): State<Arc<Shared>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let script = lock(&shared.script).clone();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let model = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| script.model.clone());
    let reply = dispatch(&shared, &path, &body, content_type.as_deref(), &script);
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(Entry {
            rec: Recorded {
                method: parts.method.to_string(),
                path: path.clone(),
                headers: parts.headers.clone(),
                body: body.clone(),
                sent: Bytes::new(),
                completed: false,
                cancelled: false,
                started,
                model: model.clone(),
                phases: Phases::default(),
            },
            sent: Vec::new(),
        });
        requests.len() - 1
    };
    let total = reply.body().len();
    // A whole body with measured timings is rendered at its end, so its length is known only then.
    let deferred = !reply.streaming
        && reply.timed.is_some()
        && script.timings == Timings::Measured
        && script.fail_after_bytes.is_none();
    let (tx, rx) = mpsc::channel(1);
    let (length_tx, length_rx) = oneshot::channel();
    let mut response = http::Response::builder().status(reply.status);
    if let Some(ct) = &reply.content_type {
        response = response.header(http::header::CONTENT_TYPE, ct);
    }
    if script.server == Server::LlamaCpp {
        response = response.header(http::header::SERVER, "llama.cpp");
    }
    let streaming = reply.streaming;
    let request = Request {
        index,
        path,
        body,
        content_type,
        model,
        arrival: started,
    };
    tokio::spawn(serve::serve(
        shared.clone(),
        request,
        script,
        reply,
        tx,
        deferred.then_some(length_tx),
    ));
    let length = match (streaming, deferred) {
        (true, _) => None,
        (false, true) => length_rx.await.ok(),
        (false, false) => Some(total),
    };
    if let Some(n) = length {
        response = response.header(http::header::CONTENT_LENGTH, n);
    }
    let body = axum::body::Body::new(Tracked {
        rx,
        shared,
        index,
        done: false,
    });
    response.body(body).unwrap_or_else(|e| {
        let mut r = axum::response::Response::new(axum::body::Body::from(e.to_string()));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
