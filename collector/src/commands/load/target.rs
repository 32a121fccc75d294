//! What `llmtel load` sends: the target's address (checked: plain HTTP, loopback unless the user named another
//! host), the request path and JSON body of each API with its think mode and output limit, and the `baggage`
//! header that tags each request with the run and level (read back by the sidecar, `instrument/src/proxy/`).

use llmtel_config::semconv::attr;
use llmtel_instrument::stream::Api;
use serde_json::{Value, json};

/// The API the load speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadApi {
    /// Ollama's native `POST /api/chat` (NDJSON stream).
    Ollama,
    /// OpenAI-compatible `POST /v1/chat/completions` (vLLM, llama.cpp, SGLang, Ollama).
    OpenaiChat,
    /// OpenAI Responses `POST /v1/responses`.
    OpenaiResponses,
    /// Anthropic Messages `POST /v1/messages`.
    Anthropic,
}

impl LoadApi {
    /// The sidecar's name for the API, whose decoder reads the stream.
    pub fn api(self) -> Api {
        match self {
            Self::Ollama => Api::OllamaChat,
            Self::OpenaiChat => Api::OpenAiChat,
            Self::OpenaiResponses => Api::OpenAiResponses,
            Self::Anthropic => Api::AnthropicMessages,
        }
    }

    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Ollama => "/api/chat",
            Self::OpenaiChat => "/v1/chat/completions",
            Self::OpenaiResponses => "/v1/responses",
            Self::Anthropic => "/v1/messages",
        }
    }
}

/// A think mode to sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThinkMode {
    /// Say nothing about thinking: the server's default.
    Default,
    /// Ask the model to think.
    On,
    /// Ask it not to.
    Off,
}

impl ThinkMode {
    /// As written in tables, files and the `--think` option.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

/// The JSON body of one streamed request, as each API asks for thinking and limits its output: Ollama `think` and
/// `options.num_predict`; OpenAI chat `reasoning_effort` (`none` for off) and `max_tokens`, with usage asked for in
/// the stream; Responses `reasoning.effort` and `max_output_tokens`; Anthropic `thinking` and `max_tokens`
/// (required there: without `--max-tokens`, 1024).
pub fn body(
    api: LoadApi,
    model: &str,
    prompt: &str,
    think: ThinkMode,
    max_tokens: Option<u32>,
) -> Value {
    let messages = json!([{"role": "user", "content": prompt}]);
    let mut b = match api {
        LoadApi::Ollama => json!({"model": model, "messages": messages, "stream": true}),
        LoadApi::OpenaiChat => json!({
            "model": model, "messages": messages, "stream": true,
            "stream_options": {"include_usage": true},
        }),
        LoadApi::OpenaiResponses => json!({"model": model, "input": prompt, "stream": true}),
        LoadApi::Anthropic => json!({
            "model": model, "messages": messages, "stream": true,
            "max_tokens": max_tokens.unwrap_or(1024),
        }),
    };
    let Some(obj) = b.as_object_mut() else {
        unreachable!("every body above is an object")
    };
    match (api, think) {
        (_, ThinkMode::Default) => {}
        (LoadApi::Ollama, t) => {
            obj.insert("think".into(), json!(t == ThinkMode::On));
        }
        (LoadApi::OpenaiChat, t) => {
            let effort = if t == ThinkMode::On { "medium" } else { "none" };
            obj.insert("reasoning_effort".into(), json!(effort));
        }
        (LoadApi::OpenaiResponses, t) => {
            let effort = if t == ThinkMode::On { "medium" } else { "none" };
            obj.insert("reasoning".into(), json!({"effort": effort}));
        }
        (LoadApi::Anthropic, ThinkMode::On) => {
            let budget = (max_tokens.unwrap_or(1024) / 2).max(1024);
            obj.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
            // Anthropic wants the budget below max_tokens.
            obj.insert("max_tokens".into(), json!(budget.saturating_mul(2)));
        }
        (LoadApi::Anthropic, _) => {
            obj.insert("thinking".into(), json!({"type": "disabled"}));
        }
    }
    if let Some(n) = max_tokens {
        match api {
            LoadApi::Ollama => {
                obj.insert("options".into(), json!({"num_predict": n}));
            }
            LoadApi::OpenaiChat => {
                obj.insert("max_tokens".into(), json!(n));
            }
            LoadApi::OpenaiResponses => {
                obj.insert("max_output_tokens".into(), json!(n));
            }
            LoadApi::Anthropic if think != ThinkMode::On => {
                obj.insert("max_tokens".into(), json!(n));
            }
            LoadApi::Anthropic => {}
        }
    }
    b
}

/// The `baggage` header value that tags a request with its run and level.
pub fn baggage(run_id: &str, level: &str) -> String {
    format!(
        "{}={run_id},{}={level}",
        attr::LOAD_RUN_ID,
        attr::LOAD_LEVEL
    )
}

/// A checked target: `http://host:port` without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The base URL, e.g. `http://127.0.0.1:11434`.
    pub base: String,
    /// Whether the host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    pub loopback: bool,
}

/// Checks `url`: plain `http://` with a host (any path is dropped). `https` is refused with what to do instead.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("--target {url:?}: not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "--target {url:?}: https is not supported by llmtel load; aim it at the plain-HTTP port, or at a llmtel sidecar on this host"
            ));
        }
        _ => return Err(format!("--target {url:?}: expected http://HOST:PORT")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("--target {url:?}: expected http://HOST:PORT"));
    };
    let host = authority.host().trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(Target {
        base: format!("http://{authority}"),
        loopback,
    })
}
