//! Which model server is behind a URL: Ollama, llama.cpp, vLLM, SGLang, or an OpenAI-compatible server of
//! unknown kind, learned from the endpoints each serves and no other does (and llama.cpp's `Server` header); and
//! each kind's own health check. The answers are classified by pure functions ([`classify`], [`is_up`]), so
//! every server's answer shape is unit-tested here; [`detect`] and [`check`] do the GETs.

use std::time::Duration;

use super::probe::{Answer, Client, get};

/// The kinds of server llmtel tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Ollama: `GET /api/version` → `{"version": "0.13.3"}`.
    Ollama,
    /// llama.cpp's `llama-server`: `Server: llama.cpp` on every answer; `GET /props` → `default_generation_settings`,
    /// `build_info`.
    LlamaCpp,
    /// vLLM: `GET /version` → `{"version": "0.11.0"}`.
    Vllm,
    /// SGLang: `GET /get_model_info` → `{"model_path": …}` (or `/get_server_info`).
    Sglang,
    /// Any other server that answers HTTP (taken to be OpenAI-compatible).
    Other,
}

/// The probes [`detect`] makes, in order: the cheapest and most telling first. SGLang comes before vLLM because
/// an SGLang server may answer `/version` too.
pub const PROBES: [(&str, Probe); 5] = [
    ("/api/version", Probe::OllamaVersion),
    ("/props", Probe::LlamaCppProps),
    ("/get_model_info", Probe::SglangModelInfo),
    ("/get_server_info", Probe::SglangServerInfo),
    ("/version", Probe::VllmVersion),
];

/// What a probe asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Ollama's `GET /api/version`.
    OllamaVersion,
    /// llama.cpp's `GET /props`.
    LlamaCppProps,
    /// SGLang's `GET /get_model_info`.
    SglangModelInfo,
    /// SGLang's `GET /get_server_info`.
    SglangServerInfo,
    /// vLLM's `GET /version`.
    VllmVersion,
}

impl ServerKind {
    /// `gen_ai.provider.name` for this kind. `openai` for a server of unknown kind: it speaks OpenAI's API, and
    /// that is what OpenAI client instrumentations record for it too.
    pub fn provider_name(self) -> &'static str {
        match self {
            Self::Ollama => "ollama",
            Self::LlamaCpp => "llama.cpp",
            Self::Vllm => "vllm",
            Self::Sglang => "sglang",
            Self::Other => "openai",
        }
    }

    /// The kind a configured `provider` names; any other name checks health as a server of unknown kind.
    pub fn from_provider(name: &str) -> Self {
        match name.trim().to_ascii_lowercase().as_str() {
            "ollama" => Self::Ollama,
            "llama.cpp" | "llama_cpp" | "llamacpp" | "llama-server" => Self::LlamaCpp,
            "vllm" => Self::Vllm,
            "sglang" => Self::Sglang,
            _ => Self::Other,
        }
    }

    /// The path of this kind's own health check.
    pub fn health_path(self) -> &'static str {
        match self {
            Self::Ollama => "/api/version",
            Self::LlamaCpp | Self::Vllm | Self::Sglang | Self::Other => "/health",
        }
    }
}

/// The kind an answer to `probe` proves, if it proves one.
pub fn classify(probe: Probe, answer: &Answer) -> Option<ServerKind> {
    let names_llama_cpp = answer
        .server
        .as_deref()
        .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("llama.cpp"));
    if names_llama_cpp {
        return Some(ServerKind::LlamaCpp);
    }
    let obj = answer.json_object()?;
    let has = |k: &str| obj.contains_key(k);
    let version = obj.get("version").is_some_and(serde_json::Value::is_string);
    match probe {
        Probe::OllamaVersion if version => Some(ServerKind::Ollama),
        Probe::LlamaCppProps if has("default_generation_settings") || has("build_info") => {
            Some(ServerKind::LlamaCpp)
        }
        Probe::SglangModelInfo if has("model_path") => Some(ServerKind::Sglang),
        Probe::SglangServerInfo if has("model_path") || has("tp_size") => Some(ServerKind::Sglang),
        Probe::VllmVersion if version => Some(ServerKind::Vllm),
        _ => None,
    }
}

/// Whether `answer` to `kind`'s health check means the server is up: a 2xx for the servers whose health
/// endpoint is known (llama.cpp answers 503 while it loads its model), any HTTP answer for a server of unknown
/// kind (it may have no health endpoint at all).
pub fn is_up(kind: ServerKind, answer: &Answer) -> bool {
    match kind {
        ServerKind::Other => true,
        _ => answer.ok(),
    }
}

/// Asks the server at `base` (`http://host:port`, with its path prefix, no trailing `/`) what it is. `Err`: it
/// did not answer HTTP at all, with the reason.
pub async fn detect(client: &Client, base: &str, timeout: Duration) -> Result<ServerKind, String> {
    for (i, (path, probe)) in PROBES.iter().enumerate() {
        match get(client, &format!("{base}{path}"), timeout).await {
            Ok(answer) => {
                if let Some(kind) = classify(*probe, &answer) {
                    return Ok(kind);
                }
            }
            // Nothing there at all: no use asking the other paths.
            Err(e) if i == 0 => return Err(e),
            // It answered before: one slow path does not make it unreachable.
            Err(_) => {}
        }
    }
    Ok(ServerKind::Other)
}

/// Runs `kind`'s health check against `base`: `Ok(up)` if it answered HTTP, `Err` with the reason if not.
pub async fn check(
    client: &Client,
    base: &str,
    kind: ServerKind,
    timeout: Duration,
) -> Result<bool, String> {
    let answer = get(client, &format!("{base}{}", kind.health_path()), timeout).await?;
    Ok(is_up(kind, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, server: Option<&str>, body: &str) -> Answer {
        Answer {
            status,
            server: server.map(str::to_owned),
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    /// The kind `detect` would settle on, given each path's answer (a path missing from `answers` gets 404).
    fn detect_offline(answers: &[(&str, Answer)]) -> ServerKind {
        for (path, probe) in PROBES {
            let a = answers.iter().find(|(p, _)| *p == path).map_or_else(
                || answer(404, None, "404 page not found"),
                |(_, a)| a.clone(),
            );
            if let Some(k) = classify(probe, &a) {
                return k;
            }
        }
        ServerKind::Other
    }

    #[test]
    fn ollama_by_its_version_endpoint() {
        let a = answer(200, None, r#"{"version":"0.13.3"}"#);
        assert_eq!(detect_offline(&[("/api/version", a)]), ServerKind::Ollama);
    }

    #[test]
    fn llama_cpp_by_its_server_header_on_any_answer() {
        let not_found = answer(
            404,
            Some("llama.cpp"),
            r#"{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}"#,
        );
        assert_eq!(
            classify(Probe::OllamaVersion, &not_found),
            Some(ServerKind::LlamaCpp)
        );
    }

    #[test]
    fn llama_cpp_by_its_props() {
        let props = answer(
            200,
            None,
            r#"{"default_generation_settings":{"n_ctx":4096,"params":{}},"total_slots":1,
                "model_path":"/models/qwen3-0.6b.gguf","chat_template":"...","build_info":"b6000-abcdef"}"#,
        );
        assert_eq!(detect_offline(&[("/props", props)]), ServerKind::LlamaCpp);
        let old = answer(
            200,
            None,
            r#"{"default_generation_settings":{},"total_slots":4}"#,
        );
        assert_eq!(detect_offline(&[("/props", old)]), ServerKind::LlamaCpp);
    }

    #[test]
    fn vllm_by_its_version_endpoint() {
        let v = answer(200, None, r#"{"version":"0.11.0"}"#);
        assert_eq!(detect_offline(&[("/version", v)]), ServerKind::Vllm);
    }

    #[test]
    fn sglang_by_its_model_or_server_info() {
        let info = answer(
            200,
            None,
            r#"{"model_path":"Qwen/Qwen3-8B","tokenizer_path":"Qwen/Qwen3-8B","is_generation":true}"#,
        );
        let version = answer(200, None, r#"{"version":"0.5.4"}"#);
        assert_eq!(
            detect_offline(&[("/get_model_info", info), ("/version", version.clone())]),
            ServerKind::Sglang,
            "SGLang may answer /version too: its own endpoints decide first"
        );
        let server = answer(
            200,
            None,
            r#"{"tp_size":1,"model_path":"m","version":"0.5.4"}"#,
        );
        assert_eq!(
            detect_offline(&[("/get_server_info", server)]),
            ServerKind::Sglang
        );
    }

    #[test]
    fn any_other_answer_is_an_unknown_openai_compatible_server() {
        assert_eq!(detect_offline(&[]), ServerKind::Other);
        // Shapes that look alike but are not proof: an error status, a version that is not a string, HTML.
        let lookalikes = [
            ("/api/version", answer(500, None, r#"{"version":"1"}"#)),
            ("/version", answer(200, None, r#"{"version":1}"#)),
            ("/props", answer(200, None, "<html>props</html>")),
            ("/get_model_info", answer(200, None, r#"{"id":"m"}"#)),
        ];
        assert_eq!(detect_offline(&lookalikes), ServerKind::Other);
    }

    #[test]
    fn provider_names_and_health_checks() {
        for (name, kind) in [
            ("ollama", ServerKind::Ollama),
            ("llama.cpp", ServerKind::LlamaCpp),
            ("vLLM", ServerKind::Vllm),
            ("sglang", ServerKind::Sglang),
            ("openai", ServerKind::Other),
            ("tgi", ServerKind::Other),
        ] {
            assert_eq!(ServerKind::from_provider(name), kind, "{name}");
        }
        assert_eq!(ServerKind::LlamaCpp.provider_name(), "llama.cpp");
        assert_eq!(ServerKind::Other.provider_name(), "openai");
        assert_eq!(ServerKind::Ollama.health_path(), "/api/version");
        assert_eq!(ServerKind::Vllm.health_path(), "/health");
        let loading = answer(
            503,
            Some("llama.cpp"),
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
        );
        assert!(
            !is_up(ServerKind::LlamaCpp, &loading),
            "loading is not serving"
        );
        assert!(is_up(
            ServerKind::LlamaCpp,
            &answer(200, None, r#"{"status":"ok"}"#)
        ));
        assert!(
            is_up(ServerKind::Vllm, &answer(200, None, "")),
            "vLLM's /health has no body"
        );
        assert!(
            is_up(ServerKind::Other, &answer(404, None, "")),
            "any answer"
        );
    }
}
