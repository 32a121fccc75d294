//! One GenAI request, read from its spans: the request span (any span with `gen_ai.operation.name` that is not one
//! of the sidecar's phase children) and its children (`load`, `queue`, `prefill`, `think`, `answer`, `decode`).
//! Spans come from the sidecar or from other programs over OTLP; what a span does not say stays `None`. Used by
//! the explorer's store ([`super::store`]) and by the debug exporter's one line per request.

use std::collections::HashMap;

use llmtel_config::semconv::attr;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};

/// The sidecar's child spans of a request: never requests themselves.
pub const PHASE_NAMES: &[&str] = &["load", "queue", "prefill", "think", "answer", "decode"];

/// One child span of a request, placed relative to the request's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// `load`, `queue`, `prefill`, `think`, `answer`, `decode`, or another child's name.
    pub name: String,
    /// Seconds from the request's start to the child's.
    pub offset_s: f64,
    /// The child's duration in seconds.
    pub duration_s: f64,
    /// `gen_ai.usage.output_tokens` of the child (think and answer), if it says.
    pub tokens: Option<i64>,
}

/// What the explorer and the debug exporter show of one GenAI request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestSummary {
    /// Trace id, hex.
    pub trace_id: String,
    /// The request span's id, hex: the sample's id.
    pub span_id: String,
    /// The span's name (`chat qwen3:14b`).
    pub name: String,
    /// `gen_ai.operation.name`.
    pub operation: String,
    /// `gen_ai.request.model` (or the response's model), `unknown` when neither is set.
    pub model: String,
    /// `llmtel.think.mode` (`on`, `off`, `default`…), `unknown` for spans from other programs.
    pub think_mode: String,
    /// Start, nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// The whole request, in seconds.
    pub duration_s: f64,
    /// Time to the first token (thinking or answering).
    pub ttft_s: Option<f64>,
    /// Time to the first answer token.
    pub ttfa_s: Option<f64>,
    /// Thinking time.
    pub think_s: Option<f64>,
    /// Answering time.
    pub answer_s: Option<f64>,
    /// Prompt tokens.
    pub input_tokens: Option<i64>,
    /// Output tokens (thinking and answer).
    pub output_tokens: Option<i64>,
    /// Thinking tokens: the `think` child's count, else the server's reasoning count or the chunk estimate.
    pub think_tokens: Option<i64>,
    /// Answer tokens: the `answer` child's count.
    pub answer_tokens: Option<i64>,
    /// The first finish reason.
    pub finish_reason: Option<String>,
    /// `error.type`, when the request failed.
    pub error: Option<String>,
    /// The span's Error status message.
    pub error_message: Option<String>,
    /// `http.response.status_code`.
    pub http_status: Option<i64>,
    /// The server's queue wait estimate, seconds.
    pub queue_wait_s: Option<f64>,
    /// Whether the request waited for a model load.
    pub cold_load: Option<bool>,
    /// Child spans in start order.
    pub phases: Vec<Phase>,
    /// `gen_ai.input.messages`: only on spans made with content capture on.
    pub input_messages: Option<String>,
    /// `gen_ai.output.messages`: only on spans made with content capture on.
    pub output_messages: Option<String>,
}

impl RequestSummary {
    /// Whether the request failed: an `error.type` or an Error status.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Output tokens per second of generation (from the first token to the end), when both are known.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let tokens = self.output_tokens? as f64;
        let generating = self.duration_s - self.ttft_s.unwrap_or(0.0);
        (generating > 0.0 && tokens > 0.0).then(|| tokens / generating)
    }
}

/// Every GenAI request in `batch`, with the children the batch holds.
pub fn requests(batch: &[ResourceSpans]) -> Vec<RequestSummary> {
    let spans: Vec<&Span> = batch
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let mut children: HashMap<&[u8], Vec<&Span>> = HashMap::new();
    for s in &spans {
        if !s.parent_span_id.is_empty() {
            children.entry(&s.parent_span_id).or_default().push(s);
        }
    }
    spans
        .iter()
        .filter(|s| is_request(s))
        .map(|s| {
            let kids = children.get(s.span_id.as_slice()).map_or(&[][..], |v| v);
            summarize(s, kids)
        })
        .collect()
}

/// A GenAI request span: it names an operation and is not one of the sidecar's phase children.
pub fn is_request(s: &Span) -> bool {
    let Some(op) = text(&s.attributes, attr::OPERATION_NAME) else {
        return false;
    };
    !PHASE_NAMES.contains(&op.as_str()) && find(&s.attributes, attr::PHASE).is_none()
}

fn summarize(s: &Span, kids: &[&Span]) -> RequestSummary {
    let a = &s.attributes;
    let start = s.start_time_unix_nano;
    let secs = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e9;
    let mut phases: Vec<Phase> = kids
        .iter()
        .filter(|c| c.trace_id == s.trace_id)
        .map(|c| Phase {
            name: c.name.clone(),
            offset_s: secs(start, c.start_time_unix_nano),
            duration_s: secs(c.start_time_unix_nano, c.end_time_unix_nano),
            tokens: int(&c.attributes, attr::USAGE_OUTPUT_TOKENS),
        })
        .collect();
    phases.sort_by(|x, y| x.offset_s.total_cmp(&y.offset_s));
    let phase_tokens = |name: &str| {
        phases
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.tokens)
    };
    let status = s.status.as_ref();
    let error_status = status.is_some_and(|st| st.code == StatusCode::Error as i32);
    let error = text(a, attr::ERROR_TYPE).or_else(|| error_status.then(|| "error".to_owned()));
    RequestSummary {
        trace_id: hex::encode(&s.trace_id),
        span_id: hex::encode(&s.span_id),
        name: s.name.clone(),
        operation: text(a, attr::OPERATION_NAME).unwrap_or_default(),
        model: text(a, attr::REQUEST_MODEL)
            .or_else(|| text(a, attr::RESPONSE_MODEL))
            .unwrap_or_else(|| "unknown".to_owned()),
        think_mode: text(a, attr::THINK_MODE).unwrap_or_else(|| "unknown".to_owned()),
        start_unix_nano: start,
        duration_s: secs(start, s.end_time_unix_nano),
        ttft_s: number(a, attr::TIME_TO_FIRST_TOKEN)
            .or_else(|| number(a, attr::LATENCY_TIME_TO_FIRST_TOKEN)),
        ttfa_s: number(a, attr::TIME_TO_FIRST_ANSWER_TOKEN),
        think_s: number(a, attr::THINK_DURATION),
        answer_s: number(a, attr::ANSWER_DURATION),
        input_tokens: int(a, attr::USAGE_INPUT_TOKENS)
            .or_else(|| int(a, attr::USAGE_PROMPT_TOKENS)),
        output_tokens: int(a, attr::USAGE_OUTPUT_TOKENS)
            .or_else(|| int(a, attr::USAGE_COMPLETION_TOKENS)),
        think_tokens: phase_tokens("think")
            .or_else(|| int(a, attr::USAGE_REASONING_OUTPUT_TOKENS))
            .or_else(|| int(a, attr::USAGE_REASONING_OUTPUT_TOKENS_ESTIMATE)),
        answer_tokens: phase_tokens("answer"),
        finish_reason: text(a, attr::RESPONSE_FINISH_REASONS),
        error_message: error
            .as_ref()
            .and(status)
            .map(|st| st.message.clone())
            .filter(|m| !m.is_empty()),
        error,
        http_status: int(a, attr::HTTP_RESPONSE_STATUS_CODE),
        queue_wait_s: number(a, attr::SERVER_QUEUE_WAIT),
        cold_load: match find(a, attr::MODEL_COLD_LOAD) {
            Some(Any::BoolValue(b)) => Some(*b),
            _ => None,
        },
        phases,
        input_messages: text(a, attr::INPUT_MESSAGES),
        output_messages: text(a, attr::OUTPUT_MESSAGES),
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// A string (a list's first element: finish reasons).
fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    fn of(v: &Any) -> Option<String> {
        match v {
            Any::StringValue(s) => Some(s.clone()),
            Any::ArrayValue(a) => a.values.first()?.value.as_ref().and_then(of),
            _ => None,
        }
    }
    find(attrs, key).and_then(of)
}

/// A finite number (an integer, a double, or either sent as a string).
fn number(attrs: &[KeyValue], key: &str) -> Option<f64> {
    let v = match find(attrs, key)? {
        Any::IntValue(i) => *i as f64,
        Any::DoubleValue(d) => *d,
        Any::StringValue(s) => s.parse().ok()?,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match find(attrs, key)? {
        Any::IntValue(i) => Some(*i),
        Any::DoubleValue(d) if d.is_finite() => Some(*d as i64),
        Any::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}
