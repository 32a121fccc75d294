//! The endpoints besides the model ones, per [`Server`] personality: Ollama's `/api/version`, `/api/tags`,
//! `/api/ps` (the loaded models with `context_length`) and `/v1/models`; llama.cpp's `/health`, `/props`
//! (`default_generation_settings.n_ctx`) and `/v1/models` (`meta.n_ctx`); vLLM's `/version`, `/health` and
//! `/v1/models` (`max_model_len`); and each one's 404 body. `formats.rs` falls back to [`not_found`].

use std::time::{SystemTime, UNIX_EPOCH};

use super::models::Loaded;
use super::script::{Script, Server};
use super::wire::{CREATED, Reply, arr, obj, s};

/// `expires_at` of a model that never unloads (10:05:00.5 UTC).
const NEVER: &str = "2026-11-28T11:05:00.5+01:00";

/// The answer to an info endpoint of `script`'s server, with the `loaded` models; `None` for any other path.
pub(crate) fn reply(path: &str, script: &Script, loaded: &[Loaded]) -> Option<Reply> {
    let json = |body: String| Some(Reply::whole(200, "application/json", body));
    let n_ctx = script.context_length.to_string();
    match (script.server, path) {
        (Server::Ollama, "/api/version") => json(obj(&[("version", s("0.33.0"))])),
        (Server::Ollama, "/api/tags") => json(obj(&[("models", "[]".into())])),
        (Server::Ollama, "/api/ps") => {
            // Each model: 10 GiB, 9 GiB of it in VRAM.
            let models: Vec<String> = loaded
                .iter()
                .map(|m| {
                    obj(&[
                        ("name", s(&m.name)),
                        ("model", s(&m.name)),
                        ("size", "10737418240".into()),
                        ("digest", s("a1b2c3")),
                        (
                            "details",
                            obj(&[("family", s("qwen3")), ("quantization_level", s("Q4_K_M"))]),
                        ),
                        (
                            "expires_at",
                            s(&m.expires.map_or_else(|| NEVER.to_owned(), rfc3339)),
                        ),
                        ("size_vram", "9663676416".into()),
                        ("context_length", n_ctx.clone()),
                    ])
                })
                .collect();
            json(obj(&[("models", arr(&models))]))
        }
        (Server::Ollama, "/v1/models") => {
            let model = obj(&[
                ("id", s(&script.model)),
                ("object", s("model")),
                ("created", CREATED.to_string()),
                ("owned_by", s("library")),
            ]);
            json(obj(&[("object", s("list")), ("data", arr(&[model]))]))
        }
        (Server::LlamaCpp, "/health") => json(obj(&[("status", s("ok"))])),
        (Server::LlamaCpp, "/props") => {
            let settings = obj(&[
                ("n_ctx", n_ctx),
                ("params", obj(&[("temperature", "0.8".into())])),
            ]);
            json(obj(&[
                ("default_generation_settings", settings),
                ("total_slots", script.slots.unwrap_or(1).max(1).to_string()),
                ("model_alias", s(&script.model)),
                ("model_path", s(&format!("/models/{}.gguf", script.model))),
                ("build_info", s("b0-emulated")),
                ("is_sleeping", "false".into()),
            ]))
        }
        (Server::LlamaCpp, "/v1/models") => {
            let meta = obj(&[
                ("vocab_type", "2".into()),
                ("n_vocab", "49152".into()),
                ("n_ctx", n_ctx),
                ("n_ctx_train", script.context_length.max(32_768).to_string()),
                ("n_embd", "576".into()),
                ("n_params", "134515008".into()),
                ("size", "96576768".into()),
            ]);
            let data = obj(&[
                ("id", s(&script.model)),
                ("aliases", arr(&[s(&script.model)])),
                ("tags", "[]".into()),
                ("object", s("model")),
                ("created", CREATED.to_string()),
                ("owned_by", s("llamacpp")),
                ("meta", meta),
            ]);
            let model = obj(&[
                ("name", s(&script.model)),
                ("model", s(&script.model)),
                ("type", s("model")),
                ("capabilities", arr(&[s("completion")])),
            ]);
            json(obj(&[
                ("models", arr(&[model])),
                ("object", s("list")),
                ("data", arr(&[data])),
            ]))
        }
        (Server::Vllm, "/version") => json(obj(&[("version", s("0.11.0"))])),
        (Server::Vllm, "/health") => Some(Reply::whole(200, "application/json", String::new())),
        (Server::Vllm, "/v1/models") => {
            let model = obj(&[
                ("id", s(&script.model)),
                ("object", s("model")),
                ("created", CREATED.to_string()),
                ("owned_by", s("vllm")),
                ("root", s(&script.model)),
                ("parent", "null".into()),
                ("max_model_len", n_ctx),
                ("permission", "[]".into()),
            ]);
            json(obj(&[("object", s("list")), ("data", arr(&[model]))]))
        }
        _ => None,
    }
}

/// The 404 answer of `server`.
pub(crate) fn not_found(server: Server) -> Reply {
    let body = match server {
        Server::Ollama => obj(&[("error", s("not found"))]),
        Server::LlamaCpp => obj(&[(
            "error",
            obj(&[
                ("message", s("File Not Found")),
                ("type", s("not_found_error")),
                ("code", "404".into()),
            ]),
        )]),
        Server::Vllm => obj(&[("detail", s("Not Found"))]),
    };
    Reply::whole(404, "application/json", body)
}

/// `t` as RFC 3339 in UTC with milliseconds (`2026-12-01T09:50:00.123Z`).
fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        let at = |secs: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // 2026-11-28T10:05:00.5Z, the fixed expiry above.
        assert_eq!(at(1_795_860_300, 500), "2026-11-28T10:05:00.500Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
    }
}
