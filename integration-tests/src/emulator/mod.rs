//! An LLM-server emulator for end-to-end tests: it speaks Ollama's native API (`/api/chat`, `/api/generate`,
//! `/api/embed`, `/api/embeddings`), the OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `/v1/responses`) and the Anthropic Messages API (`/v1/messages`) from a [`Script`], with
//! reasoning, answer text, tool calls and cache counts in each dialect's own shape. It paces its stream events,
//! cuts its body into writes at arbitrary byte positions (inside JSON, inside `<think>` tags, inside UTF-8
//! characters, inside SSE event names and between `event:` and `data:` lines), can abort mid-stream or hold the
//! body open after its end marker, and records every request together with the bytes it actually handed to the
//! connection.
//!
//! Besides the model endpoints it answers `/api/version`, `/api/tags`, `/api/ps` (the script's model loaded),
//! echoes any request under `/echo/` (same body, same content type) and answers 404 `{"error":"not found"}`
//! elsewhere. The request's own `think` or
//! `max_tokens` are ignored: the script alone decides what is sent.

mod anthropic;
mod formats;
mod responses;
mod script;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use wire::{Event, Kind};

pub use script::{
    ChatChunks, OllamaDurations, ReasoningStyle, ResponsesReasoning, Script, Split, ToolCall,
};

/// A request the emulator received, and what it sent back so far.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path (without the query).
    pub path: String,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The response body bytes handed to the connection so far.
    pub sent: Bytes,
    /// Whether the whole response body was handed over.
    pub completed: bool,
    /// When the request arrived.
    pub started: Instant,
}

/// A recorded request while its answer is being sent.
#[derive(Debug)]
struct Entry {
    /// The request; its `sent` is filled from `sent` when read.
    rec: Recorded,
    /// Bytes sent so far.
    sent: Vec<u8>,
}

/// State shared by the server, the response bodies and the [`Emulator`] handle.
#[derive(Debug)]
struct Shared {
    /// The script for the next requests.
    script: Mutex<Script>,
    /// Every request so far.
    requests: Mutex<Vec<Entry>>,
    /// Whether some response was cut short by the client going away.
    cancelled: AtomicBool,
}

/// Locks `m`, ignoring poisoning (a panicking test thread must not hide the state).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

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
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
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
        Emulator {
            addr,
            shared,
            server,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the script for the following requests.
    pub fn set_script(&self, script: Script) {
        *lock(&self.shared.script) = script;
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
        formats::reply(path, body.as_bytes(), Some("application/json"), &script).body()
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
        .and_then(|v| v.to_str().ok());
    let reply = formats::reply(parts.uri.path(), &body, content_type, &script);
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(Entry {
            rec: Recorded {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                headers: parts.headers.clone(),
                body,
                sent: Bytes::new(),
                completed: false,
                started,
            },
            sent: Vec::new(),
        });
        requests.len() - 1
    };
    let total = reply.body().len();
    let writes = plan(&reply.events, &script);
    let fail = script.fail_after_bytes.is_some();
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(produce(writes, fail, script.end_delay, tx));
    let mut response = http::Response::builder().status(reply.status);
    if let Some(ct) = &reply.content_type {
        response = response.header(http::header::CONTENT_TYPE, ct);
    }
    if !reply.streaming {
        response = response.header(http::header::CONTENT_LENGTH, total);
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

/// The writes of a body made of `events` under `script`: each with the pause before it.
fn plan(events: &[Event], script: &Script) -> Vec<(Duration, Bytes)> {
    // The first event with model output waits `first_delay` (events before it, such as `response.created`, go
    // at once); a body without any waits before its first event.
    let first = events
        .iter()
        .position(|e| e.kind != Kind::Tail)
        .unwrap_or(0);
    let delays: Vec<Duration> = events
        .iter()
        .enumerate()
        .map(|(i, e)| match e.kind {
            _ if i == first => script.first_delay,
            Kind::Think => script.think_delay,
            Kind::Answer => script.answer_delay,
            Kind::Tail => Duration::ZERO,
        })
        .collect();
    let mut starts = Vec::with_capacity(events.len());
    let mut body = Vec::new();
    for e in events {
        starts.push(body.len());
        body.extend_from_slice(&e.bytes);
    }
    let body = Bytes::from(body);
    let limit = script
        .fail_after_bytes
        .map_or(body.len(), |n| n.min(body.len()));
    let mut cuts: Vec<usize> = match &script.split {
        Split::PerEvent => starts.clone(),
        Split::Every(n) => (0..limit).step_by((*n).max(1)).collect(),
        Split::At(offsets) => offsets.clone(),
    };
    cuts.push(0);
    cuts.retain(|&c| c < limit);
    cuts.sort_unstable();
    cuts.dedup();
    let mut writes = Vec::with_capacity(cuts.len());
    // Events whose pause has been taken: those before `next`.
    let mut next = 0;
    for (i, &a) in cuts.iter().enumerate() {
        let b = cuts.get(i + 1).copied().unwrap_or(limit);
        let event = starts.partition_point(|&s| s <= a).saturating_sub(1);
        let upto = (event + 1).max(next);
        let delay = delays
            .get(next..upto)
            .map_or(Duration::ZERO, |d| d.iter().sum());
        next = upto;
        writes.push((delay, body.slice(a..b)));
    }
    writes
}

/// A message from the producer task to the response body.
#[derive(Debug)]
enum Msg {
    /// Body bytes; `true` when they are the last.
    Data(Bytes, bool),
    /// The (empty) body is complete.
    End,
    /// Abort the body.
    Fail,
}

/// Sends `writes` to the body with their pauses, then ends it (`end_delay` later) or (`fail`) aborts it. Stops when
/// the body is gone.
async fn produce(
    writes: Vec<(Duration, Bytes)>,
    fail: bool,
    end_delay: Duration,
    tx: mpsc::Sender<Msg>,
) {
    let n = writes.len();
    let hold = !end_delay.is_zero();
    for (i, (delay, bytes)) in writes.into_iter().enumerate() {
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = tx.closed() => return,
            }
        }
        if tx
            .send(Msg::Data(bytes, i + 1 == n && !fail && !hold))
            .await
            .is_err()
        {
            return;
        }
    }
    if fail {
        let _ = tx.send(Msg::Fail).await;
    } else if n == 0 || hold {
        tokio::select! {
            () = tokio::time::sleep(end_delay) => {}
            () = tx.closed() => return,
        }
        let _ = tx.send(Msg::End).await;
    }
}

/// A response body fed by [`produce`] that records what it hands over, and notices being dropped early.
#[derive(Debug)]
struct Tracked {
    /// From the producer.
    rx: mpsc::Receiver<Msg>,
    /// Where to record.
    shared: Arc<Shared>,
    /// The request's index in `shared.requests`.
    index: usize,
    /// Whether the body ended (completely, or by the deliberate abort).
    done: bool,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let msg = match self.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(msg) => msg,
        };
        let this = &mut *self;
        let mut requests = lock(&this.shared.requests);
        let entry = requests.get_mut(this.index);
        match msg {
            Some(Msg::Data(bytes, last)) => {
                if let Some(e) = entry {
                    e.sent.extend_from_slice(&bytes);
                    e.rec.completed = last;
                }
                this.done = last;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Some(Msg::End) => {
                if let Some(e) = entry {
                    e.rec.completed = true;
                }
                this.done = true;
                Poll::Ready(None)
            }
            Some(Msg::Fail) | None => {
                this.done = true;
                Poll::Ready(Some(Err(io::Error::other("emulated failure mid-body"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.done {
            self.shared.cancelled.store(true, Ordering::SeqCst);
        }
    }
}
