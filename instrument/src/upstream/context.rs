//! The context windows of the models the upstream has loaded, learned off the request path: a task beside the
//! health watch ([`super::watch`]) asks the server every `health_check_interval`, and sooner (at most every
//! [`NUDGE_GAP`]) when a request names a model it does not know yet. Requests only read what it learned
//! ([`ContextWindows::lookup`]); they never wait for it.
//!
//! Where each server says it: Ollama `GET /api/ps` (`models[].context_length`, by `name` and `model`);
//! llama.cpp `GET /props` (`default_generation_settings.n_ctx`, the window of the model it serves, whatever
//! name a request gives) and `GET /v1/models` (`data[].meta.n_ctx`); vLLM and others `GET /v1/models`
//! (`data[].max_model_len`). Which to ask follows the proxy's [`Provider`]. A window once learned stays known
//! when the model leaves the list (Ollama unloads idle models; it is likely loaded the same way again) and is
//! replaced when the server reports another.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::detect::ServerKind;
use super::probe::{Client, get};
use super::provider::Provider;

/// The least time between two refreshes that requests asked for.
pub const NUDGE_GAP: Duration = Duration::from_secs(2);

/// What is known, and the wake-up for the refresh task.
#[derive(Debug, Default)]
struct Known {
    by_model: HashMap<String, u64>,
    /// The window of a server that serves one model under any name (llama.cpp).
    any: Option<u64>,
}

/// The context windows learned from the upstream. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct ContextWindows {
    known: Arc<RwLock<Known>>,
    nudge: Arc<Notify>,
}

impl ContextWindows {
    /// The window of the first of `models` that is known (else the server's one-model window); when none is
    /// known, the refresh task is woken and `None` returned at once.
    pub fn lookup(&self, models: &[&str]) -> Option<u64> {
        let found = {
            // A poisoned lock still holds whole maps: writers only insert.
            let k = self.known.read().unwrap_or_else(|p| p.into_inner());
            models
                .iter()
                .find_map(|m| k.by_model.get(*m).copied())
                .or(k.any)
        };
        if found.is_none() && models.iter().any(|m| !m.is_empty()) {
            self.nudge.notify_one();
        }
        found
    }

    /// Adds what one refresh learned.
    fn learn(&self, by_model: HashMap<String, u64>, any: Option<u64>) {
        let mut k = self.known.write().unwrap_or_else(|p| p.into_inner());
        k.by_model.extend(by_model);
        if any.is_some() {
            k.any = any;
        }
    }
}

/// The task that keeps [`ContextWindows`] up to date, ready to [`ContextWatch::run`].
#[derive(Debug)]
pub struct ContextWatch {
    base: String,
    client: Client,
    interval: Duration,
    timeout: Duration,
    provider: Provider,
    windows: ContextWindows,
}

impl ContextWatch {
    /// A watch of the server at `base` (no trailing `/`) whose kind `provider` names, asking every `interval`,
    /// each ask waiting up to `timeout`.
    pub fn new(
        base: &str,
        provider: Provider,
        client: Client,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            interval,
            timeout,
            provider,
            windows: ContextWindows::default(),
        }
    }

    /// What the requests read.
    pub fn windows(&self) -> ContextWindows {
        self.windows.clone()
    }

    /// Refreshes until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let last = Instant::now();
            let kind = ServerKind::from_provider(&self.provider.get());
            self.refresh(kind).await;
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = self.windows.nudge.notified() => {
                    let gap = NUDGE_GAP.saturating_sub(last.elapsed());
                    tokio::select! {
                        () = tokio::time::sleep(gap) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
                () = shutdown.cancelled() => break,
            }
        }
    }

    async fn refresh(&self, kind: ServerKind) {
        let json = |path: &'static str| async move {
            let url = format!("{}{path}", self.base);
            match get(&self.client, &url, self.timeout).await {
                Ok(a) => a.json_object().map(Value::Object),
                Err(e) => {
                    tracing::debug!(url = %url, error = %e, "context window lookup failed");
                    None
                }
            }
        };
        match kind {
            ServerKind::Ollama => {
                if let Some(v) = json("/api/ps").await {
                    self.windows.learn(ollama_ps(&v), None);
                }
            }
            ServerKind::LlamaCpp => {
                let any = json("/props").await.as_ref().and_then(llama_props);
                let models = json("/v1/models")
                    .await
                    .map(|v| openai_models(&v))
                    .unwrap_or_default();
                self.windows.learn(models, any);
            }
            ServerKind::Vllm | ServerKind::Sglang | ServerKind::Other => {
                if let Some(v) = json("/v1/models").await {
                    self.windows.learn(openai_models(&v), None);
                }
            }
        }
    }
}

fn positive(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64).filter(|n| *n > 0)
}

/// Ollama `/api/ps`: each loaded model's `context_length`, under both its `name` and its `model`.
pub fn ollama_ps(v: &Value) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for m in v
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(n) = positive(m.get("context_length")) else {
            continue;
        };
        for key in ["name", "model"] {
            if let Some(name) = m.get(key).and_then(Value::as_str) {
                out.insert(name.to_owned(), n);
            }
        }
    }
    out
}

/// llama.cpp `/props`: `default_generation_settings.n_ctx`.
pub fn llama_props(v: &Value) -> Option<u64> {
    positive(
        v.get("default_generation_settings")
            .and_then(|d| d.get("n_ctx")),
    )
}

/// `/v1/models`: each model's `max_model_len` (vLLM, SGLang) or `meta.n_ctx` (llama.cpp), by `id`.
pub fn openai_models(v: &Value) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for m in v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = positive(m.get("max_model_len"))
            .or_else(|| positive(m.get("meta").and_then(|x| x.get("n_ctx"))));
        if let (Some(id), Some(n)) = (m.get("id").and_then(Value::as_str), n) {
            out.insert(id.to_owned(), n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn each_servers_answer_gives_the_windows() {
        // Real llama-server answers (fixtures captured from b0 with SmolLM2-135M, `-c 2048`).
        let props = parse(include_str!("../stream/fixtures/llama_cpp_props.json"));
        assert_eq!(llama_props(&props), Some(2048));
        let models = parse(include_str!("../stream/fixtures/llama_cpp_models.json"));
        assert_eq!(
            openai_models(&models),
            HashMap::from([("/root/.cache/llmtel-llm/model.gguf".to_owned(), 2048)])
        );
        let ps = parse(
            r#"{"models":[{"name":"qwen3:14b","model":"qwen3:14b-q4","size":1,"context_length":8192},
                {"name":"gemma3:1b","model":"gemma3:1b","size_vram":2},{"name":"x","context_length":"big"}]}"#,
        );
        assert_eq!(
            ollama_ps(&ps),
            HashMap::from([
                ("qwen3:14b".to_owned(), 8192),
                ("qwen3:14b-q4".to_owned(), 8192)
            ])
        );
        let vllm = parse(
            r#"{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model","max_model_len":32768},{"id":"y"}]}"#,
        );
        assert_eq!(
            openai_models(&vllm),
            HashMap::from([("Qwen/Qwen3-8B".to_owned(), 32768)])
        );
        for odd in [r#"{}"#, r#"{"models":5}"#, r#"{"data":[1,2]}"#] {
            assert!(ollama_ps(&parse(odd)).is_empty() && openai_models(&parse(odd)).is_empty());
            assert_eq!(llama_props(&parse(odd)), None);
        }
    }

    #[test]
    fn lookups_take_a_named_window_first_then_the_servers_own_and_wake_the_refresh_when_unknown() {
        let w = ContextWindows::default();
        assert_eq!(w.lookup(&["qwen3:14b"]), None);
        // The miss left a wake-up for the refresh task.
        let woken = w.nudge.notified();
        tokio::pin!(woken);
        assert!(futures_util::FutureExt::now_or_never(woken.as_mut()).is_some());
        w.learn(HashMap::from([("qwen3:14b".to_owned(), 8192)]), None);
        assert_eq!(w.lookup(&["other", "qwen3:14b"]), Some(8192));
        w.learn(HashMap::new(), Some(2048));
        assert_eq!(w.lookup(&["anything"]), Some(2048));
        assert_eq!(w.lookup(&["qwen3:14b"]), Some(8192));
        // A model that left the list stays known; a new report replaces it.
        w.learn(HashMap::from([("qwen3:14b".to_owned(), 4096)]), None);
        assert_eq!(w.lookup(&["qwen3:14b"]), Some(4096));
    }
}
