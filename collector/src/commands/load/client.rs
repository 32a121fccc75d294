//! One load request: sends the body, reads the streamed answer with the sidecar's own decoders
//! (`llmtel_instrument::stream`: framing, the API's dialect, the server's timings) and phase tracker
//! (`llmtel_instrument::phase`), and returns what it measured ([`Outcome`]) for the level's figures
//! ([`super::stats`]). No text is kept: the tracker is built without content capture.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llmtel_instrument::phase::PhaseTracker;
use llmtel_instrument::stream::{Api, Framing, Split, Splitter, decode_frame};

/// The HTTP client every load request shares (pooled connections, HTTP/1.1).
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client whose pool keeps up to `idle` connections per host (one per concurrent stream).
pub fn client(idle: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(idle)
        .build(connector)
}

/// Longest frame read; a longer one is skipped, as the sidecar does.
const MAX_FRAME: usize = 4 << 20;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The answer came whole.
    Ok,
    /// It took longer than `--timeout`.
    Timeout,
    /// Anything else: refused, an HTTP error status, an error in the stream, a broken body.
    Error(String),
}

/// What one request measured, every duration from the moment it was sent.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub end: End,
    /// To the end of the body.
    pub e2e: Duration,
    /// To the first reasoning or answer token (TTFT).
    pub first_token: Option<Duration>,
    /// To the first answer token.
    pub first_answer: Option<Duration>,
    /// The think phase (first reasoning chunk to the first answer chunk), when the model thought.
    pub think: Option<Duration>,
    /// The answer phase (first answer chunk to the end of the body).
    pub answer: Option<Duration>,
    /// To the last chunk that carried a token.
    pub last_token: Option<Duration>,
    /// Output tokens: the server's count, else the chunks that carried text ([`Outcome::tokens_estimated`]).
    pub output_tokens: u64,
    /// Whether [`Outcome::output_tokens`] is a chunk count.
    pub tokens_estimated: bool,
    /// Chunks that carried reasoning or answer text.
    pub token_chunks: u64,
    /// The queue-wait **estimate** from the server's timings: wall time to the frame that carried them, less the
    /// server's load, prefill and decode; `None` when the server gave no timings.
    pub queue_wait: Option<Duration>,
    /// The server's own prefill time and decode time and tokens, when it said.
    pub server_prefill: Option<Duration>,
    /// The server's decode time.
    pub server_decode: Option<Duration>,
    /// The server's decoded tokens.
    pub server_decode_tokens: Option<u64>,
    /// Time to the first token as the server's timings tell it: the queue-wait estimate, the load, the prefill and
    /// the first decoded token's share of the decode time.
    pub server_first_token: Option<Duration>,
}

impl Outcome {
    fn failed(end: End, e2e: Duration) -> Self {
        Self {
            end,
            e2e,
            first_token: None,
            first_answer: None,
            think: None,
            answer: None,
            last_token: None,
            output_tokens: 0,
            tokens_estimated: false,
            token_chunks: 0,
            queue_wait: None,
            server_prefill: None,
            server_decode: None,
            server_decode_tokens: None,
            server_first_token: None,
        }
    }
}

/// Sends one request and reads its answer to the end, within `timeout`.
pub async fn send(
    client: &HttpClient,
    url: &str,
    api: Api,
    body: Bytes,
    baggage: &str,
    timeout: Duration,
) -> Outcome {
    let start = Instant::now();
    match tokio::time::timeout(timeout, exchange(client, url, api, body, baggage, start)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => Outcome::failed(End::Error(e), start.elapsed()),
        Err(_) => Outcome::failed(End::Timeout, start.elapsed()),
    }
}

async fn exchange(
    client: &HttpClient,
    url: &str,
    api: Api,
    body: Bytes,
    baggage: &str,
    start: Instant,
) -> Result<Outcome, String> {
    let req = || {
        http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::ACCEPT,
                "application/x-ndjson, text/event-stream",
            )
            .header("baggage", baggage)
            .body(Full::new(body.clone()))
            .map_err(|e| format!("{url}: not a valid request ({e})"))
    };
    // A pooled connection the server closed while idle (llama-server does) fails before any answer: once, the
    // request goes again on a fresh connection.
    let resp = match client.request(req()?).await {
        Ok(r) => r,
        Err(_) => client
            .request(req()?)
            .await
            .map_err(|e| format!("{url}: {}", llmtel_pipelines::error_chain(&e)))?,
    };
    let status = resp.status();
    let framing = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or(Framing::Whole, Framing::from_content_type);
    let mut body = resp.into_body();
    if !status.is_success() {
        let text = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let short: String = text.trim().chars().take(200).collect();
        return Err(format!("HTTP {status}: {short}"));
    }
    let mut reader = Reader::new(api, framing, start);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the answer broke off: {e}"))?;
        if let Ok(data) = frame.into_data() {
            reader.push(&data);
        }
    }
    reader.finish(start.elapsed())
}

/// Reads one answer's frames as they come.
struct Reader {
    api: Api,
    framing: Framing,
    start: Instant,
    splitter: Splitter,
    tracker: PhaseTracker<Instant>,
    usage_output: Option<u64>,
    timings: Option<(Instant, llmtel_instrument::stream::ServerTimings)>,
    error: Option<String>,
}

impl Reader {
    fn new(api: Api, framing: Framing, start: Instant) -> Self {
        Self {
            api,
            framing,
            start,
            splitter: Splitter::new(framing, MAX_FRAME),
            tracker: PhaseTracker::new(false),
            usage_output: None,
            timings: None,
            error: None,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let at = Instant::now();
        let mut frames: Vec<Vec<u8>> = Vec::new();
        self.splitter.push(chunk, &mut |s| {
            if let Split::Frame(f) = s {
                frames.push(f.to_vec());
            }
        });
        for f in frames {
            self.frame(at, &f);
        }
    }

    fn frame(&mut self, at: Instant, raw: &[u8]) {
        let Ok(Some(d)) = decode_frame(self.api, self.framing, raw) else {
            return;
        };
        self.tracker.observe(at, &d);
        if let Some(n) = d.usage.output {
            self.usage_output = Some(n);
        }
        if let Some(t) = d.timings {
            self.timings = Some((at, *t));
        }
        if let Some(e) = d.error {
            self.error.get_or_insert(e);
        }
    }

    fn finish(mut self, e2e: Duration) -> Result<Outcome, String> {
        let end_at = self.start + e2e;
        if let Some(rest) = self.splitter.finish().map(<[u8]>::to_vec) {
            self.frame(end_at, &rest);
        }
        if let Some(e) = self.error {
            return Err(format!("the server reported: {e}"));
        }
        let since = |t: Instant| t.saturating_duration_since(self.start);
        let p = self.tracker.finish();
        let token_chunks = p.reasoning_chunks + p.answer_chunks;
        let last_token = match (p.reasoning.map(|r| r.1), p.last_answer) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let queue_wait = self
            .timings
            .map(|(at, t)| since(at).saturating_sub(t.busy()));
        let server = self.timings.map(|(_, t)| t);
        let server_first_token = server.and_then(|t| {
            let n = u32::try_from(t.decode_tokens?).ok().filter(|n| *n > 0)?;
            let first = t.decode.unwrap_or_default() / n;
            let before = queue_wait?.saturating_add(t.load.unwrap_or_default());
            Some(before.saturating_add(t.prefill?).saturating_add(first))
        });
        Ok(Outcome {
            end: End::Ok,
            e2e,
            first_token: p.first_token.map(since),
            first_answer: p.first_answer.map(since),
            think: p.think_span().map(|(a, b)| b.saturating_duration_since(a)),
            answer: p.first_answer.map(|a| end_at.saturating_duration_since(a)),
            last_token: last_token.map(since),
            output_tokens: self.usage_output.unwrap_or(token_chunks),
            tokens_estimated: self.usage_output.is_none(),
            token_chunks,
            queue_wait,
            server_prefill: server.and_then(|t| t.prefill),
            server_decode: server.and_then(|t| t.decode),
            server_decode_tokens: server.and_then(|t| t.decode_tokens),
            server_first_token,
        })
    }
}
