//! The sidecar's API keys (`api_keys:`): a request passes when one of `Authorization: Bearer KEY`, `x-api-key: KEY`
//! (Anthropic's header) or `api-key: KEY` (Azure OpenAI's) carries a configured key, compared in constant time.
//! The header that carried it is removed before the request goes upstream unless `forward_upstream` is on, so the
//! key never reaches the model server; other headers (an `Authorization` the upstream needs, sent beside an
//! `x-api-key` for the sidecar) go on. Refusals are counted (`auth_refused`); no key, given or configured, is
//! ever logged or recorded. Keys come from the file and the environment variable the config names, read at start.

use std::sync::Arc;

use http::HeaderMap;
use http::header::{self, HeaderName};
use llmtel_config::ApiKeysConfig;
use llmtel_config::otlp_exporters::Secret;
use llmtel_pipelines::events::{self, Event, EventCounter};

/// The headers a client may carry its key in.
static KEY_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("api-key"),
];

/// The keys one `llm_proxy` accepts.
pub(super) struct ApiKeys {
    keys: Vec<Secret>,
    forward_upstream: bool,
    refused: Arc<EventCounter>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys.len())
            .field("forward_upstream", &self.forward_upstream)
            .finish()
    }
}

impl ApiKeys {
    /// The keys of receiver `id`'s settings `cfg` (at `path`), read from its file and variable; `None` when
    /// `api_keys` is off. `env` looks a variable up (the process environment outside tests).
    pub(super) fn load(
        id: &str,
        path: &str,
        cfg: &ApiKeysConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        if !cfg.enabled() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        if let Some(file) = &cfg.file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("{path}.api_keys.file {file}: {e}"))?;
            let before = keys.len();
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| Secret(l.to_owned())),
            );
            if keys.len() == before {
                return Err(format!("{path}.api_keys.file {file}: no key in it"));
            }
        }
        if let Some(name) = &cfg.env {
            let value = env(name).unwrap_or_default();
            let before = keys.len();
            keys.extend(
                value
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|k| !k.is_empty())
                    .map(|k| Secret(k.to_owned())),
            );
            if keys.len() == before {
                return Err(format!(
                    "{path}.api_keys.env: the environment variable {name} is unset or empty"
                ));
            }
        }
        Ok(Some(Self {
            keys,
            forward_upstream: cfg.forward_upstream,
            refused: events::counter(id, Event::AuthRefused),
        }))
    }

    /// Whether `headers` carry a known key. Removes the header that carried it unless keys are forwarded;
    /// counts a refusal.
    pub(super) fn admit(&self, headers: &mut HeaderMap) -> bool {
        let carrier = KEY_HEADERS.iter().find(|name| {
            headers.get_all(*name).iter().any(|v| {
                let given = if **name == header::AUTHORIZATION {
                    bearer_of(v.as_bytes())
                } else {
                    Some(v.as_bytes().trim_ascii())
                };
                // Every key is compared, so the time taken does not say which one matched.
                given.is_some_and(|g| self.keys.iter().fold(false, |ok, k| k.matches(g) | ok))
            })
        });
        match carrier {
            Some(name) => {
                if !self.forward_upstream {
                    headers.remove(name);
                }
                true
            }
            None => {
                self.refused.emit(
                    1,
                    &"no known API key in Authorization: Bearer, x-api-key or api-key",
                );
                false
            }
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` value (the scheme is case-insensitive).
fn bearer_of(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn keys(forward_upstream: bool) -> ApiKeys {
        let cfg = ApiKeysConfig {
            file: None,
            env: Some("KEYS".into()),
            forward_upstream,
        };
        ApiKeys::load("auth-test", "receivers.llm_proxy", &cfg, |_| {
            Some("k-one, k-two".into())
        })
        .unwrap()
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_known_key_in_any_of_the_three_headers_passes_and_is_removed() {
        let k = keys(false);
        for (name, value) in [
            ("authorization", "Bearer k-one"),
            ("x-api-key", "k-two"),
            ("api-key", "k-one"),
        ] {
            let mut h = headers(&[(name, value), ("content-type", "application/json")]);
            assert!(k.admit(&mut h), "{name}");
            assert!(h.get(name).is_none(), "{name} must not go upstream");
            assert!(h.get("content-type").is_some());
        }
        // The upstream's own Authorization beside the sidecar's x-api-key goes on.
        let mut h = headers(&[
            ("authorization", "Bearer upstream-token"),
            ("x-api-key", "k-one"),
        ]);
        assert!(k.admit(&mut h));
        assert_eq!(h["authorization"], "Bearer upstream-token");
        assert!(h.get("x-api-key").is_none());
    }

    #[test]
    fn unknown_or_missing_keys_are_refused_and_counted() {
        let k = keys(false);
        let before = events::counter("auth-test", Event::AuthRefused).total();
        for pairs in [
            &[][..],
            &[("authorization", "Bearer k-three")],
            &[("authorization", "k-one")],
            &[("x-api-key", "k-on")],
        ] {
            assert!(!k.admit(&mut headers(pairs)), "{pairs:?}");
        }
        assert_eq!(
            events::counter("auth-test", Event::AuthRefused).total() - before,
            4
        );
    }

    #[test]
    fn forward_upstream_keeps_the_header() {
        let mut h = headers(&[("x-api-key", "k-two")]);
        assert!(keys(true).admit(&mut h));
        assert_eq!(h["x-api-key"], "k-two");
    }

    #[test]
    fn a_key_file_is_read_line_by_line_and_a_missing_variable_is_named() {
        let dir = std::env::temp_dir().join(format!("llmtel-keys-{}", std::process::id()));
        std::fs::write(&dir, "# comment\n\n  key-a \nkey-b\n").unwrap();
        let cfg = ApiKeysConfig {
            file: Some(dir.display().to_string()),
            env: None,
            forward_upstream: false,
        };
        let k = ApiKeys::load("auth-file-test", "p", &cfg, |_| None)
            .unwrap()
            .unwrap();
        assert_eq!(k.keys.len(), 2);
        assert!(k.admit(&mut headers(&[("x-api-key", "key-a")])));
        std::fs::remove_file(&dir).unwrap();
        let e = ApiKeys::load("auth-file-test", "p", &cfg, |_| None).unwrap_err();
        assert!(e.starts_with("p.api_keys.file "), "{e}");
        let cfg = ApiKeysConfig {
            file: None,
            env: Some("LLMTEL_NO_SUCH_KEYS".into()),
            forward_upstream: false,
        };
        let e = ApiKeys::load("auth-file-test", "p", &cfg, |_| None).unwrap_err();
        assert_eq!(
            e,
            "p.api_keys.env: the environment variable LLMTEL_NO_SUCH_KEYS is unset or empty"
        );
    }
}
