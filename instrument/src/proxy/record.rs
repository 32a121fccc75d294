//! One request's telemetry: the span opened when the request arrives, the task that follows the response copy
//! the body hands over ([`super::body`]), and the spans made at the end from what it saw ([`seen`]) — the request
//! span (GenAI conventions) with its `think` and `answer` children, timed from the instants the chunks were
//! forwarded. However the request ends (answered, failed, the client gone), its spans go to the pipelines once,
//! as one batch ([`super::span`]).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use opentelemetry::KeyValue;
use tokio::sync::mpsc::UnboundedReceiver;

use llmtel_config::semconv::{attr, error_type, event};

use self::in_flight::InFlight;
use self::seen::Seen;
use self::server::ServerSide;
use super::body::{Ending, TapEvent};
use super::error::ProxyError;
use super::request::RequestFacts;
use super::span::{RequestSpan, SpanSink};
use crate::phase::Phases;
use crate::stream::{
    Api, Framing, ParseError, ServerTimings, Split, Splitter, Usage, decode_frame,
};

mod attrs;
mod context;
mod in_flight;
mod seen;
pub mod server;

/// Frames longer than this (a whole non-streaming body included) are not parsed; the bytes still reach the client.
const MAX_FRAME: usize = 16 << 20;

/// Whole bodies larger than this are parsed on a blocking thread.
const BLOCKING_PARSE: usize = 256 << 10;

/// What every request of one proxy shares.
#[derive(Debug)]
pub struct Shared {
    /// Where each request's spans go, as one batch.
    pub spans: SpanSink,
    /// Requests in flight.
    pub in_flight: opentelemetry::metrics::UpDownCounter<i64>,
    /// `gen_ai.provider.name`: configured, or learned from the upstream (read when each attribute is made).
    pub provider: crate::upstream::Provider,
    /// `server.address` and `server.port` of the upstream.
    pub server: (String, u16),
    /// Record prompts and completions.
    pub capture_content: bool,
    /// The trackers, so that shutdown can wait for the last spans.
    pub tasks: tokio_util::task::TaskTracker,
    /// Where llmtel's own counters of this receiver go (requests, parse errors).
    pub events: llmtel_pipelines::Output,
    /// The GPU energy ledger and this upstream's GPUs (`llmtel.gpu.energy`); `None` without a `gpu` receiver.
    pub energy: Option<crate::energy::EnergyScope>,
    /// The server's side: thresholds, the upstream's context windows, the requests in flight to it.
    pub server_side: ServerSide,
    /// The request explorer's list of requests in flight, when one is kept.
    pub live: Option<super::live::LiveScope>,
    /// Cancelled when the shutdown's drain time ran out: what is dropped after it was cut by the shutdown.
    pub cut: tokio_util::sync::CancellationToken,
}

/// A request as it arrives, before its body is read: the span is open (so upload time counts) but not yet named.
#[derive(Debug)]
pub struct Arrival {
    /// Taken by [`Exchange::start`]; still here on drop means the client left while sending its request.
    span: Option<RequestSpan>,
    start: Instant,
    start_wall: SystemTime,
    /// The proxy's cut token: dropped after it, the request was cut by the shutdown.
    cut: tokio_util::sync::CancellationToken,
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if let Some(mut span) = self.span.take() {
            span.set_name("request");
            if self.cut.is_cancelled() {
                span.set_attribute(attr::ERROR_TYPE, error_type::SHUTDOWN);
                span.set_error(
                    "still sending its request when the shutdown's drain_timeout ran out",
                );
                return;
            }
            span.set_attribute(attr::ERROR_TYPE, "client_disconnected");
            span.set_error("the client closed the connection while sending its request");
            // Dropping it ends it and sends it.
        }
    }
}

impl Arrival {
    /// Opens the request span, a child of `parent` (the caller's trace context, if it sent one).
    pub fn new(shared: &Shared, parent: opentelemetry::Context) -> Self {
        let start = Instant::now();
        let start_wall = SystemTime::now();
        let span = RequestSpan::new(shared.spans.clone(), &parent, "request", start_wall);
        Self {
            span: Some(span),
            start,
            start_wall,
            cut: shared.cut.clone(),
        }
    }
}

/// One request, from arrival to the end of its response.
#[derive(Debug)]
pub struct Exchange {
    shared: Arc<Shared>,
    api: Option<Api>,
    facts: RequestFacts,
    method: String,
    path: String,
    /// Ends, and goes to the pipelines with its children, when the exchange is dropped.
    span: RequestSpan,
    start: Instant,
    start_wall: SystemTime,
    _in_flight: Option<InFlight>,
    /// This request's count on its GPUs' energy ledger (model APIs only); dropped with the exchange if unused.
    energy: Option<crate::energy::Ticket>,
    /// This request's place among those in flight to the upstream (GenAI requests only).
    concurrency: Option<crate::proxy::concurrency::Entered>,
    live: Option<super::live::LiveHandle>,
    /// Set once the outcome is recorded; an exchange dropped before that lost its client while waiting.
    recorded: bool,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if !self.recorded && self.shared.cut.is_cancelled() {
            self.record_failure(
                None,
                error_type::SHUTDOWN,
                "still waiting for the upstream when the shutdown's drain_timeout ran out; the upstream request was cancelled",
            );
        } else if !self.recorded {
            // The handler was dropped while waiting for the upstream: hyper does that when the client leaves.
            self.record_failure(
                None,
                "client_disconnected",
                "the client closed the connection before the upstream answered; the upstream request was cancelled",
            );
        }
    }
}

impl Exchange {
    /// Names the request span opened at `arrival`, now that the request body told the API and the model.
    pub fn start(
        shared: Arc<Shared>,
        arrival: Arrival,
        api: Option<Api>,
        facts: RequestFacts,
        method: &str,
        path: &str,
    ) -> Self {
        let mut arrival = arrival;
        let (start, start_wall) = (arrival.start, arrival.start_wall);
        // Present by construction: only this function takes it (the fallback is never made).
        let mut span = arrival.span.take().unwrap_or_else(|| {
            RequestSpan::new(
                shared.spans.clone(),
                &opentelemetry::Context::new(),
                "request",
                start_wall,
            )
        });
        let name = match (api, &facts.model) {
            (Some(api), Some(model)) => format!("{} {model}", api.operation()),
            (Some(api), None) => api.operation().to_owned(),
            (None, _) => method.to_owned(),
        };
        span.set_name(name);
        let in_flight = api.map(|api| {
            InFlight::start(
                &shared.in_flight,
                vec![
                    KeyValue::new(attr::OPERATION_NAME, api.operation()),
                    KeyValue::new(attr::PROVIDER_NAME, shared.provider.clone()),
                    KeyValue::new(attr::REQUEST_MODEL, facts.model.clone().unwrap_or_default()),
                ],
            )
        });
        let energy = api
            .and(shared.energy.as_ref())
            .map(|e| e.start(Instant::now()));
        let concurrency = api.map(|_| shared.server_side.concurrency.enter());
        let live = super::live::start(shared.live.as_ref(), api, &facts);
        Self {
            shared,
            api,
            facts,
            method: method.to_owned(),
            path: path.to_owned(),
            span,
            start,
            start_wall,
            _in_flight: in_flight,
            energy,
            concurrency,
            live,
            recorded: false,
        }
    }

    /// Adds attributes the request's headers carry (a load test's run and level) to the request span.
    pub fn tag(&mut self, attrs: Vec<KeyValue>) {
        self.span.add_attributes(attrs);
    }

    /// The trace context to send upstream: the request span's.
    pub fn context(&self) -> opentelemetry::Context {
        self.span.context()
    }

    /// Ends a request that got no upstream response (unreachable, timed out, refused by the proxy) with `error`,
    /// the answer the client got.
    pub fn fail(mut self, error: &ProxyError, dialect: crate::stream::Dialect) {
        self.recorded = true;
        self.record_failure(
            Some(error.status_in(dialect).as_u16()),
            error.error_type(),
            &error.to_string(),
        );
    }

    /// Puts the request's attributes, `error.type` and an Error status on a span that got no response body.
    fn record_failure(&mut self, status: Option<u16>, error_type: &str, message: &str) {
        let mut attrs = self.base_attributes();
        if let Some(status) = status {
            attrs.push(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        attrs.push(KeyValue::new(attr::ERROR_TYPE, error_type.to_owned()));
        self.span.add_attributes(attrs);
        self.span.set_error(message);
    }

    /// Follows the response body through `rx` on a task of its own and emits the spans when it ends. A body in a
    /// content encoding (gzip, br) is forwarded but not parsed: the span says so.
    pub fn follow(
        self,
        status: u16,
        framing: Framing,
        encoding: Option<String>,
        rx: UnboundedReceiver<TapEvent>,
    ) {
        let tasks = self.shared.tasks.clone();
        tasks.spawn(self.track(status, framing, encoding, rx));
    }

    async fn track(
        mut self,
        status: u16,
        framing: Framing,
        encoding: Option<String>,
        mut rx: UnboundedReceiver<TapEvent>,
    ) {
        let mut splitter = Splitter::new(framing, MAX_FRAME);
        let mut seen = Seen::new(self.shared.capture_content);
        if let Some(e) = encoding.as_deref() {
            self.span
                .set_attribute(attr::RESPONSE_CONTENT_ENCODING, e.to_owned());
        }
        let parse = self
            .api
            .filter(|_| encoding.is_none())
            .filter(|_| status < 400 || framing == Framing::Whole);
        seen.parsed = parse.is_some();
        let ending = loop {
            match rx.recv().await {
                Some(TapEvent::Chunks(chunks)) => {
                    for (at, bytes) in chunks {
                        seen.bytes += bytes.len() as u64;
                        seen.last_chunk = Some(at);
                        if let Some(api) = parse {
                            splitter.push(&bytes, &mut |s| match s {
                                Split::Frame(raw) => seen.frame(api, framing, at, raw),
                                Split::TooLong => seen.error(ParseError::TooLong(MAX_FRAME)),
                            });
                        }
                    }
                    super::live::update(self.live.as_ref(), seen.phases.so_far());
                }
                Some(TapEvent::End(at, ending)) => break (at, ending),
                // The body was dropped without saying why: treat as the client leaving.
                None => break (Instant::now(), Ending::ClientGone),
            }
        };
        if let (Some(api), Some(tail)) = (parse, splitter.finish()) {
            let at = seen.last_chunk.unwrap_or(ending.0);
            if framing == Framing::Sse {
                let n = tail.len();
                seen.error(ParseError::Truncated(n));
            } else if tail.len() <= BLOCKING_PARSE {
                let tail = tail.to_vec();
                seen.frame(api, framing, at, &tail);
            } else {
                // A large whole body (embeddings, long answers): parsed off the runtime's workers, which are
                // forwarding other streams' chunks meanwhile.
                let tail = tail.to_vec();
                let decoded =
                    tokio::task::spawn_blocking(move || decode_frame(api, framing, &tail)).await;
                match decoded {
                    Ok(result) => seen.decoded(at, result),
                    Err(e) => seen.error(ParseError::Json(format!("parse task failed: {e}"))),
                }
            }
        }
        self.emit(status, framing, seen, ending);
    }

    fn wall(&self, at: Instant) -> SystemTime {
        self.start_wall + at.saturating_duration_since(self.start)
    }

    fn secs(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    fn base_attributes(&self) -> Vec<KeyValue> {
        let (host, port) = &self.shared.server;
        let mut a = vec![
            KeyValue::new(attr::SERVER_ADDRESS, host.clone()),
            KeyValue::new(attr::SERVER_PORT, i64::from(*port)),
        ];
        match self.api {
            Some(api) => {
                a.push(KeyValue::new(attr::OPERATION_NAME, api.operation()));
                a.push(KeyValue::new(
                    attr::PROVIDER_NAME,
                    self.shared.provider.clone(),
                ));
                let f = &self.facts;
                if let Some(m) = &f.model {
                    a.push(KeyValue::new(attr::REQUEST_MODEL, m.clone()));
                }
                // `false` too: a reader can tell a whole answer from an unknown.
                a.push(KeyValue::new(attr::REQUEST_STREAM, f.stream));
                a.push(KeyValue::new(
                    attr::THINK_MODE,
                    f.think.clone().unwrap_or_else(|| "default".to_owned()),
                ));
                if let Some(v) = f.max_tokens {
                    a.push(KeyValue::new(attr::REQUEST_MAX_TOKENS, v));
                }
                if let Some(v) = f.temperature {
                    a.push(KeyValue::new(attr::REQUEST_TEMPERATURE, v));
                }
                if let Some(v) = f.top_p {
                    a.push(KeyValue::new(attr::REQUEST_TOP_P, v));
                }
                if let Some(v) = f.top_k {
                    a.push(KeyValue::new(attr::REQUEST_TOP_K, v));
                }
                if let Some(m) = &f.input_messages {
                    a.push(KeyValue::new(attr::INPUT_MESSAGES, m.clone()));
                }
                if let Some(c) = &self.concurrency {
                    a.push(KeyValue::new(
                        attr::PROXY_CONCURRENCY,
                        i64::try_from(c.at_arrival).unwrap_or(i64::MAX),
                    ));
                }
            }
            None => {
                a.push(KeyValue::new(
                    attr::HTTP_REQUEST_METHOD,
                    self.method.clone(),
                ));
                a.push(KeyValue::new(attr::URL_PATH, self.path.clone()));
            }
        }
        a
    }

    fn emit(mut self, status: u16, framing: Framing, seen: Seen, (end, ending): (Instant, Ending)) {
        self.recorded = true;
        let mut attrs = self.base_attributes();
        attrs.push(KeyValue::new(
            attr::HTTP_RESPONSE_STATUS_CODE,
            i64::from(status),
        ));
        let streamed = self.facts.stream && framing != Framing::Whole && status < 400;
        let finish = attrs::finish(&seen);
        // A client that left after the stream's end marker left a complete stream.
        let ending = seen.settle(ending);
        let response = self
            .api
            .map(|api| attrs::response(api, &seen, finish.as_deref()));
        let phases = seen.phases.finish();
        let usage = seen.usage;
        if let Some(response) = response {
            attrs.extend(response);
            self.server_side(&mut attrs, seen.timings.as_ref(), seen.model.as_deref());
            let has_reasoning = phases.reasoning.is_some();
            attrs.push(KeyValue::new(attr::REASONING_PRESENT, has_reasoning));
            if streamed {
                if let Some(t) = phases.first_chunk {
                    attrs.push(KeyValue::new(
                        attr::RESPONSE_TIME_TO_FIRST_CHUNK,
                        self.secs(t),
                    ));
                }
                if let Some(t) = phases.first_token {
                    attrs.push(KeyValue::new(attr::TIME_TO_FIRST_TOKEN, self.secs(t)));
                }
                if let Some(t) = phases.first_answer {
                    attrs.push(KeyValue::new(
                        attr::TIME_TO_FIRST_ANSWER_TOKEN,
                        self.secs(t),
                    ));
                }
                attrs.push(KeyValue::new(
                    attr::REASONING_CHUNKS,
                    phases.reasoning_chunks as i64,
                ));
                attrs.push(KeyValue::new(
                    attr::ANSWER_CHUNKS,
                    phases.answer_chunks as i64,
                ));
                // The children's facts again, on the request span: metrics are derived from this span alone.
                if let Some((from, to)) = phases.think_span() {
                    attrs.push(KeyValue::new(attr::THINK_DURATION, secs_between(from, to)));
                    if usage.reasoning.is_none() {
                        attrs.push(KeyValue::new(
                            attr::USAGE_REASONING_OUTPUT_TOKENS_ESTIMATE,
                            phases.reasoning_chunks as i64,
                        ));
                    }
                }
                if let Some(first) = phases.first_answer {
                    let to = answer_end(&phases, end);
                    attrs.push(KeyValue::new(
                        attr::ANSWER_DURATION,
                        secs_between(first, to),
                    ));
                }
            }
            if seen.parse_errors > 0 {
                attrs.push(KeyValue::new(
                    attr::STREAM_PARSE_ERRORS,
                    seen.parse_errors as i64,
                ));
            }
            let capture = self.shared.capture_content;
            if let Some(out) =
                attrs::output_messages(capture, &phases, &seen.tools, finish.as_deref())
            {
                attrs.push(KeyValue::new(attr::OUTPUT_MESSAGES, out));
            }
        }
        // The first reason wins: the transport, then the server's own error, then the stream's shape.
        let failure: Option<(String, String)> = match &ending {
            Ending::Complete if status >= 400 => Some((
                status.to_string(),
                self.server_message(
                    seen.server_error.as_deref(),
                    &format!("upstream answered HTTP {status}"),
                ),
            )),
            Ending::Complete => match (&seen.server_error, self.api) {
                (Some(e), _) => Some((
                    "upstream_error".into(),
                    self.server_message(Some(e), "upstream reported an error in the stream"),
                )),
                (None, Some(_)) if streamed && seen.parsed && !seen.done => Some((
                    "stream_truncated".into(),
                    "the stream ended without its final chunk".into(),
                )),
                _ => None,
            },
            cut => cut.failure(),
        };
        for _ in 0..seen.parse_errors {
            self.shared
                .events
                .record_event(llmtel_pipelines::stats::ReceiverEvent::StreamParseError);
        }
        if let Some(first) = &seen.first_parse_error {
            self.span.add_event(
                event::STREAM_PARSE_ERROR,
                vec![KeyValue::new(attr::EXCEPTION_MESSAGE, first.clone())],
            );
        }
        if let Some((kind, _)) = &failure {
            attrs.push(KeyValue::new(attr::ERROR_TYPE, kind.clone()));
        }
        if let Some(e) = self.energy.take().and_then(|t| t.finish(end)) {
            attrs.push(KeyValue::new(attr::GPU_ENERGY, e.joules));
            attrs.push(KeyValue::new(attr::GPU_ENERGY_METHOD, e.method.as_str()));
        }
        if streamed && self.api.is_some() {
            self.emit_phases(&phases, &usage, end);
        }
        self.span.add_attributes(attrs);
        if let Some((_, message)) = failure {
            self.span.set_error(message);
        }
        // Dropping the span (with self) ends it and sends it with its children, one batch for the request.
    }

    /// The `think` and `answer` children. Token counts: exact where the server counted them, else the chunk count
    /// (marked `llmtel.usage.estimated`).
    fn emit_phases(&mut self, p: &Phases<Instant>, usage: &Usage, end: Instant) {
        let model = self.facts.model.clone().unwrap_or_default();
        let think_tokens = match usage.reasoning {
            Some(n) => (n, false),
            None => (p.reasoning_chunks, true),
        };
        let answer_tokens = match (usage.output, usage.reasoning) {
            (Some(out), Some(r)) => (out.saturating_sub(r), false),
            (Some(out), None) if p.reasoning.is_none() => (out, false),
            (Some(out), None) => (out.saturating_sub(p.reasoning_chunks), true),
            (None, _) => (p.answer_chunks, true),
        };
        let answer_end = answer_end(p, end);
        let phases = [
            ("think", p.think_span(), p.reasoning_chunks, think_tokens),
            (
                "answer",
                p.first_answer.map(|a| (a, answer_end)),
                p.answer_chunks,
                answer_tokens,
            ),
        ];
        for (name, window, chunks, (tokens, estimated)) in phases {
            let Some((from, to)) = window else { continue };
            let attrs = vec![
                KeyValue::new(attr::OPERATION_NAME, name),
                KeyValue::new(attr::REQUEST_MODEL, model.clone()),
                KeyValue::new(attr::PHASE, name),
                KeyValue::new(attr::CHUNKS, chunks as i64),
                KeyValue::new(attr::USAGE_OUTPUT_TOKENS, tokens as i64),
                KeyValue::new(attr::USAGE_ESTIMATED, estimated),
            ];
            let (from, to) = (self.wall(from), self.wall(to));
            self.span.add_child(name, from, to, attrs);
        }
    }

    /// The server's view of the request (its timings, the queue-wait estimate, cold load, the phase children) and
    /// its context window, onto `attrs` (which hold the response's counts by now) and the span.
    fn server_side(
        &mut self,
        attrs: &mut Vec<KeyValue>,
        timings: Option<&(ServerTimings, Instant)>,
        response_model: Option<&str>,
    ) {
        let request_model = self.facts.model.clone().unwrap_or_default();
        if let Some((t, at)) = timings {
            server::ollama_attributes(attrs, t);
            let side = &self.shared.server_side;
            let view = server::view(t, self.start, *at, side.thresholds, &mut |end| {
                side.loads.is_new(&request_model, end)
            });
            attrs.extend(view.attrs);
            for p in view.phases {
                let mut a = vec![
                    KeyValue::new(attr::OPERATION_NAME, p.name),
                    KeyValue::new(attr::REQUEST_MODEL, request_model.clone()),
                ];
                a.extend(p.attrs);
                let (from, to) = (self.wall(p.from), self.wall(p.to));
                self.span.add_child(p.name, from, to, a);
            }
        }
        let length = self.facts.num_ctx.or_else(|| {
            let models = [request_model.as_str(), response_model.unwrap_or_default()];
            self.shared.server_side.windows.lookup(&models)
        });
        let window = context::of_response(length, attrs);
        attrs.extend(window);
    }

    /// The server's own error message for the span status, only with content capture on: servers echo the
    /// rejected input in validation errors, so the message may hold prompt text. Cut to 256 characters.
    fn server_message(&self, message: Option<&str>, generic: &str) -> String {
        match message {
            Some(m) if self.shared.capture_content => m.chars().take(256).collect(),
            _ => generic.to_owned(),
        }
    }
}

/// Where the answer phase ends: the end of the stream (never before the last answer chunk).
fn answer_end(p: &Phases<Instant>, end: Instant) -> Instant {
    end.max(p.last_answer.unwrap_or(end))
}

fn secs_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}
