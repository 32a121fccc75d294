//! A simulated model server for `llmtel demo`: it speaks enough of Ollama's API (`/api/chat`, `/api/generate`,
//! `/api/ps`, `/api/version`, `/api/tags`) and of the OpenAI-compatible one (`/v1/chat/completions`) for the
//! sidecar and the `ollama` receiver to see what a real server would show them: a pause while the prompt is read,
//! reasoning tokens, then answer tokens, at a steady pace, with Ollama's counts and durations at the end.
//!
//! It is a demonstration, not a test double: answers are made of stock words, and nothing is learned from the
//! prompt but its length.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A model the simulator serves.
#[derive(Debug, Clone, Copy)]
pub struct SimModel {
    /// Its name, as clients ask for it.
    pub name: &'static str,
    /// Whether it reasons before answering (and so accepts `think`).
    pub thinks: bool,
    /// Bytes it takes in GPU memory, for `/api/ps`.
    pub vram_bytes: u64,
    /// Seconds between two generated tokens.
    pub token_interval: f64,
}

/// The models of the demo: a reasoning model and a small plain one.
pub const MODELS: [SimModel; 2] = [
    SimModel {
        name: "qwen3:14b",
        thinks: true,
        vram_bytes: 10_700_000_000,
        token_interval: 0.025,
    },
    SimModel {
        name: "llama3.2:3b",
        thinks: false,
        vram_bytes: 3_400_000_000,
        token_interval: 0.012,
    },
];

const WORDS: &[&str] = &[
    "the", "model", "tokens", "answer", "so", "first", "then", "GPU", "memory", "request",
    "because", "each", "time", "faster", "check", "value", "result", "and", "is", "of",
];

/// A small deterministic generator (xorshift), so no dependency is needed for a little variety.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `seed` (0 is replaced, xorshift needs a set bit).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Seeded from the clock.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self::new(nanos)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Which wire format a response uses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dialect {
    OllamaChat,
    OllamaGenerate,
    OpenAi,
}

/// What one simulated generation will produce.
#[derive(Debug)]
struct Plan {
    model: &'static str,
    dialect: Dialect,
    prompt_tokens: u64,
    think_tokens: u64,
    answer_tokens: u64,
    prompt_delay: Duration,
    interval: Duration,
    stream: bool,
    include_usage: bool,
    rng: Rng,
}

/// Binds the simulator on `addr` and serves until `stop`; returns its address.
pub async fn start(addr: &str, stop: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route(
            "/api/chat",
            post(|b: Bytes| generate(b, Dialect::OllamaChat)),
        )
        .route(
            "/api/generate",
            post(|b: Bytes| generate(b, Dialect::OllamaGenerate)),
        )
        .route(
            "/v1/chat/completions",
            post(|b: Bytes| generate(b, Dialect::OpenAi)),
        )
        .route("/api/ps", get(ps))
        .route("/api/tags", get(tags))
        .route(
            "/api/version",
            get(|| async { json_body(StatusCode::OK, &json!({"version": "0.0.0-llmtel-demo"})) }),
        )
        .route("/", get(|| async { "Ollama is running (llmtel demo)" }));
    tokio::spawn(async move {
        // TCP_NODELAY, as a real model server streams: Nagle's algorithm would hold tokens back behind ACKs.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "demo model server stopped");
        }
    });
    Ok(local)
}

/// A JSON response (axum's `Json` needs a feature this build leaves out).
fn json_body(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn ps() -> Response {
    let models: Vec<Value> = MODELS
        .iter()
        .map(|m| {
            json!({
                "name": m.name, "model": m.name, "size": m.vram_bytes + 300_000_000,
                "size_vram": m.vram_bytes, "context_length": 8192,
                "expires_at": "2099-01-01T00:00:00Z",
                "details": {"family": m.name.split(':').next().unwrap_or(m.name)},
            })
        })
        .collect();
    json_body(StatusCode::OK, &json!({ "models": models }))
}

async fn tags() -> Response {
    let models: Vec<Value> = MODELS
        .iter()
        .map(|m| json!({"name": m.name, "model": m.name, "size": m.vram_bytes}))
        .collect();
    json_body(StatusCode::OK, &json!({ "models": models }))
}

fn error(status: StatusCode, dialect: Dialect, message: &str) -> Response {
    let body = match dialect {
        Dialect::OpenAi => json!({"error": {"message": message, "type": "invalid_request_error"}}),
        _ => json!({ "error": message }),
    };
    json_body(status, &body)
}

async fn generate(body: Bytes, dialect: Dialect) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, dialect, "invalid JSON body");
    };
    let name = req.get("model").and_then(Value::as_str).unwrap_or("");
    let Some(model) = MODELS.iter().find(|m| m.name == name) else {
        return error(
            StatusCode::NOT_FOUND,
            dialect,
            &format!("model \"{name}\" not found, try pulling it first"),
        );
    };
    // Ollama: `think: true|false` (or a level); OpenAI-style: `reasoning_effort`. Reasoning models think unless
    // told not to.
    let think_asked = match (req.get("think"), req.get("reasoning_effort")) {
        (Some(Value::Bool(b)), _) => Some(*b),
        (Some(Value::String(_)), _) => Some(true),
        (_, Some(Value::String(e))) => Some(e != "none"),
        _ => None,
    };
    if think_asked == Some(true) && !model.thinks {
        return error(
            StatusCode::BAD_REQUEST,
            dialect,
            &format!("\"{}\" does not support thinking", model.name),
        );
    }
    let thinks = think_asked.unwrap_or(model.thinks) && model.thinks;
    let prompt_chars = prompt_len(&req);
    let mut rng = Rng::from_clock();
    let prompt_tokens = (prompt_chars as u64 / 4).max(1) + 12;
    let plan = Plan {
        model: model.name,
        dialect,
        prompt_tokens,
        think_tokens: if thinks { rng.between(40, 140) } else { 0 },
        answer_tokens: rng.between(20, 80),
        prompt_delay: Duration::from_millis(80 + prompt_tokens.min(4000) / 4 + rng.between(0, 60)),
        interval: Duration::from_secs_f64(model.token_interval),
        stream: req
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(dialect != Dialect::OpenAi),
        include_usage: req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        rng,
    };
    if plan.stream {
        let content_type = if dialect == Dialect::OpenAi {
            "text/event-stream"
        } else {
            "application/x-ndjson"
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(16);
        tokio::spawn(stream(plan, tx));
        let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    } else {
        json_body(StatusCode::OK, &whole(plan).await)
    }
}

fn prompt_len(req: &Value) -> usize {
    let text_len = |v: &Value| v.as_str().map_or(0, str::len);
    match req.get("messages").and_then(Value::as_array) {
        Some(msgs) => msgs
            .iter()
            .map(|m| m.get("content").map_or(0, text_len))
            .sum(),
        None => req.get("prompt").map_or(0, text_len),
    }
}

/// Answers a non-streaming request after the whole generation time; returns the body to send.
async fn whole(mut plan: Plan) -> Value {
    let tokens = plan.think_tokens + plan.answer_tokens;
    let start = tokio::time::Instant::now();
    tokio::time::sleep(plan.prompt_delay).await;
    let prompt = start.elapsed();
    tokio::time::sleep(plan.interval * tokens as u32).await;
    let eval = start.elapsed().saturating_sub(prompt);
    let thinking = words(&mut plan.rng, plan.think_tokens);
    let answer = words(&mut plan.rng, plan.answer_tokens);
    let (think_text, answer_text) = (thinking.concat(), answer.concat());
    match plan.dialect {
        Dialect::OpenAi => json!({
            "id": "chatcmpl-demo", "object": "chat.completion", "model": plan.model,
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": answer_text, "reasoning": think_text}}],
            "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": tokens,
                "total_tokens": plan.prompt_tokens + tokens},
        }),
        dialect => {
            let mut v = ollama_final(&plan, prompt, eval);
            if dialect == Dialect::OllamaChat {
                v["message"] =
                    json!({"role": "assistant", "content": answer_text, "thinking": think_text});
            } else {
                v["response"] = json!(answer_text);
                v["thinking"] = json!(think_text);
            }
            v
        }
    }
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

fn words(rng: &mut Rng, n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let w = WORDS[(rng.next_u64() % WORDS.len() as u64) as usize];
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// The simulated model's warm load time (Ollama reports a millisecond or so for a loaded model).
const WARM_LOAD: Duration = Duration::from_micros(1200);

/// Ollama's last object: done, with counts and durations in nanoseconds. `prompt` and `eval` are the times the
/// simulator really spent (timers overshoot, so the plan's nominal figures would not add up to the wall time, and
/// the sidecar would read the difference as queue wait).
fn ollama_final(plan: &Plan, prompt: Duration, eval: Duration) -> Value {
    let tokens = plan.think_tokens + plan.answer_tokens;
    json!({
        "model": plan.model, "created_at": now_rfc3339(), "done": true, "done_reason": "stop",
        "total_duration": ns(WARM_LOAD + prompt + eval), "load_duration": ns(WARM_LOAD),
        "prompt_eval_count": plan.prompt_tokens, "prompt_eval_duration": ns(prompt),
        "eval_count": tokens, "eval_duration": ns(eval),
    })
}

fn now_rfc3339() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now())
}

/// Sends the chunks of a streaming response at the plan's pace; stops early when the client goes away.
async fn stream(mut plan: Plan, tx: tokio::sync::mpsc::Sender<Result<Bytes, Infallible>>) {
    let start = tokio::time::Instant::now();
    tokio::time::sleep(plan.prompt_delay).await;
    let prompt = start.elapsed();
    let total = plan.think_tokens + plan.answer_tokens;
    for i in 0..total {
        let thinking = i < plan.think_tokens;
        let word = words(&mut plan.rng, 1).concat();
        let text = if i == 0 || i == plan.think_tokens {
            word
        } else {
            format!(" {word}")
        };
        let chunk = match plan.dialect {
            Dialect::OllamaChat => {
                let field = if thinking { "thinking" } else { "content" };
                ndjson(
                    json!({"model": plan.model, "created_at": now_rfc3339(), "done": false,
                    "message": {"role": "assistant", "content": "", field: text}}),
                )
            }
            Dialect::OllamaGenerate => {
                let field = if thinking { "thinking" } else { "response" };
                let mut v = json!({"model": plan.model, "created_at": now_rfc3339(), "done": false,
                    "response": ""});
                v[field] = json!(text);
                ndjson(v)
            }
            Dialect::OpenAi => {
                let field = if thinking { "reasoning" } else { "content" };
                sse(
                    json!({"id": "chatcmpl-demo", "object": "chat.completion.chunk", "model": plan.model,
                    "choices": [{"index": 0, "delta": {field: text}, "finish_reason": null}]}),
                )
            }
        };
        if tx.send(Ok(chunk)).await.is_err() {
            return;
        }
        tokio::time::sleep(plan.interval).await;
    }
    let eval = start.elapsed().saturating_sub(prompt);
    let mut last = Vec::new();
    match plan.dialect {
        Dialect::OllamaChat => {
            let mut v = ollama_final(&plan, prompt, eval);
            v["message"] = json!({"role": "assistant", "content": ""});
            last.push(ndjson(v));
        }
        Dialect::OllamaGenerate => {
            let mut v = ollama_final(&plan, prompt, eval);
            v["response"] = json!("");
            last.push(ndjson(v));
        }
        Dialect::OpenAi => {
            last.push(sse(json!({"id": "chatcmpl-demo", "object": "chat.completion.chunk",
                "model": plan.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})));
            if plan.include_usage {
                last.push(sse(
                    json!({"id": "chatcmpl-demo", "object": "chat.completion.chunk",
                    "model": plan.model, "choices": [],
                    "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": total,
                        "total_tokens": plan.prompt_tokens + total}}),
                ));
            }
            last.push(Bytes::from_static(b"data: [DONE]\n\n"));
        }
    }
    for chunk in last {
        if tx.send(Ok(chunk)).await.is_err() {
            return;
        }
    }
}

fn ndjson(v: Value) -> Bytes {
    let mut line = v.to_string();
    line.push('\n');
    Bytes::from(line)
}

fn sse(v: Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}
