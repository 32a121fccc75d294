//! Why the proxy answered a request itself instead of relaying the upstream's answer: one typed error per cause,
//! each knowing its HTTP status, its `error.type` on the request span, and how to say it to the client in the
//! client's dialect. Made by the request intake ([`super::request`]) and forwarding ([`super::forward`]); turned
//! into the client's answer and the span's failure by [`super::handle`].
//!
//! The messages are what clients and spans show; they name the setting that bit, so that a user knows what to
//! change.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::body::{ProxyBody, full};
use crate::stream::Dialect;

/// A request the proxy could not relay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The request body is larger than `max_request_body_size_mib`.
    #[error("llmtel: request body over {max_mib} MiB (llm_proxy max_request_body_size_mib)")]
    RequestTooLarge {
        /// The limit, in MiB.
        max_mib: usize,
    },
    /// Reading the request body failed: the client went away or sent a broken body.
    #[error("llmtel: reading the request body: {0}")]
    ClientDisconnected(String),
    /// The request body did not arrive within `read_timeout`.
    #[error("llmtel: the request body did not arrive within {0:?} (llm_proxy read_timeout)")]
    RequestTimeout(Duration),
    /// The request's path and query do not make a URL with the upstream's.
    #[error("llmtel: cannot build the upstream URL for {path_and_query:?}: {error}")]
    BadUpstreamUrl {
        /// The request's path and query.
        path_and_query: String,
        /// Why the URL is invalid.
        error: String,
    },
    /// The upstream could not be reached (refused, reset, TLS, DNS).
    #[error("llmtel: upstream {upstream} unreachable: {error}")]
    UpstreamUnavailable {
        /// The upstream's base URL.
        upstream: String,
        /// The error and its causes.
        error: String,
    },
    /// The upstream sent no response headers within `response_timeout`.
    #[error(
        "llmtel: upstream {upstream} sent no response headers within {timeout:?} (llm_proxy response_timeout)"
    )]
    UpstreamTimeout {
        /// The upstream's base URL.
        upstream: String,
        /// The limit that passed.
        timeout: Duration,
    },
    /// `api_keys` is on and the request carried no known key.
    #[error(
        "llmtel: missing or unknown API key (send it as Authorization: Bearer KEY, x-api-key or api-key)"
    )]
    Unauthorized,
    /// `max_concurrent_requests` requests were already in flight; refused before the upstream saw it.
    #[error(
        "llmtel: {max} requests already in flight (llm_proxy max_concurrent_requests); retry after {RETRY_AFTER_SECS}s"
    )]
    Overloaded {
        /// The limit.
        max: u64,
    },
}

/// How long a refused client is told to wait (`Retry-After`, seconds): short, because the limit counts requests
/// in flight and one ends every few seconds under load; the `openai` and `anthropic` clients retry after it.
pub const RETRY_AFTER_SECS: u64 = 1;

impl ProxyError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ClientDisconnected(_) | Self::BadUpstreamUrl { .. } => StatusCode::BAD_REQUEST,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The status in `dialect`: Anthropic's API says 529 `overloaded_error` when it is overloaded, and its clients
    /// retry that; every other status is the same in every dialect.
    pub fn status_in(&self, dialect: Dialect) -> StatusCode {
        match (self, dialect) {
            (Self::Overloaded { .. }, Dialect::Anthropic) => {
                // 529 is in range, so this is never the fallback.
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            _ => self.status(),
        }
    }

    /// The error's `type` in Anthropic's terms (its API answers 413 `request_too_large`, 5xx `api_error`).
    fn anthropic_type(&self) -> &'static str {
        match self {
            Self::RequestTooLarge { .. } => "request_too_large",
            Self::ClientDisconnected(_) | Self::BadUpstreamUrl { .. } | Self::RequestTimeout(_) => {
                "invalid_request_error"
            }
            Self::UpstreamUnavailable { .. } | Self::UpstreamTimeout { .. } => "api_error",
            Self::Unauthorized => "authentication_error",
            Self::Overloaded { .. } => "overloaded_error",
        }
    }

    /// `error.type` on the request span.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::RequestTooLarge { .. } => "request_too_large",
            Self::ClientDisconnected(_) => "client_disconnected",
            Self::RequestTimeout(_) | Self::UpstreamTimeout { .. } => "timeout",
            Self::BadUpstreamUrl { .. } => "bad_request",
            Self::UpstreamUnavailable { .. } => "upstream_unavailable",
            Self::Unauthorized => "unauthorized",
            Self::Overloaded { .. } => llmtel_config::semconv::error_type::CONCURRENCY_LIMIT,
        }
    }

    /// The answer to the client, in its dialect: Ollama `{"error": "..."}`, OpenAI and Responses
    /// `{"error": {"message": ...}}`, Anthropic `{"type": "error", "error": {"type": ..., "message": ...}}` (with
    /// Anthropic's own error types, which its clients map to their exceptions). A refusal for load carries
    /// `Retry-After`.
    pub fn response(&self, dialect: Dialect) -> Response<ProxyBody> {
        let status = self.status_in(dialect);
        let message = self.to_string();
        let body = match dialect {
            Dialect::OpenAi | Dialect::Responses => {
                serde_json::json!({"error": {"message": message, "type": "llmtel_proxy_error", "code": status.as_u16()}})
            }
            Dialect::Anthropic => serde_json::json!({
                "type": "error",
                "error": {"type": self.anthropic_type(), "message": message},
            }),
            Dialect::Ollama => serde_json::json!({ "error": message }),
        };
        let mut resp = Response::new(full(Bytes::from(body.to_string())));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, Self::Overloaded { .. }) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn each_error_answers_in_the_clients_dialect_with_its_status() {
        let e = ProxyError::RequestTooLarge { max_mib: 4 };
        assert_eq!(
            (e.status(), e.error_type()),
            (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large")
        );
        let resp = e.response(Dialect::OpenAi);
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {
                "message": "llmtel: request body over 4 MiB (llm_proxy max_request_body_size_mib)",
                "type": "llmtel_proxy_error",
                "code": 413,
            }})
        );
        let e = ProxyError::UpstreamTimeout {
            upstream: "http://gpu:11434".into(),
            timeout: Duration::from_secs(2),
        };
        let body = e
            .response(Dialect::Ollama)
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(
            &body[..],
            br#"{"error":"llmtel: upstream http://gpu:11434 sent no response headers within 2s (llm_proxy response_timeout)"}"#
        );
        assert_eq!((e.status().as_u16(), e.error_type()), (504, "timeout"));
        let body = e
            .response(Dialect::Anthropic)
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "api_error");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("within 2s")
        );
        let v: serde_json::Value = serde_json::from_slice(
            &e.response(Dialect::Responses)
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        assert_eq!(
            v["error"]["code"], 504,
            "Responses clients read OpenAI errors"
        );
    }

    #[tokio::test]
    async fn a_refusal_for_load_says_when_to_retry_in_each_dialect() {
        let e = ProxyError::Overloaded { max: 8 };
        assert_eq!(e.error_type(), "concurrency_limit");
        for (dialect, status) in [
            (Dialect::OpenAi, 503),
            (Dialect::Responses, 503),
            (Dialect::Ollama, 503),
            (Dialect::Anthropic, 529),
        ] {
            let resp = e.response(dialect);
            assert_eq!(resp.status().as_u16(), status, "{dialect:?}");
            assert_eq!(resp.headers()[header::RETRY_AFTER], "1", "{dialect:?}");
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains("max_concurrent_requests"), "{text}");
            if dialect == Dialect::Anthropic {
                assert!(text.contains("overloaded_error"), "{text}");
            }
        }
    }
}
