//! Bearer-token auth, as the Collector's `bearertokenauth` server side: a request passes when it carries
//! `Authorization: Bearer TOKEN` (gRPC: the `authorization` metadata) with the configured token, compared in
//! constant time. Otherwise HTTP answers 401 with `WWW-Authenticate: Bearer` and gRPC UNAUTHENTICATED; each
//! refusal is counted (`auth_refused`). Neither the token nor what the client sent is ever logged.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use llmtel_config::BearerAuthConfig;
use llmtel_config::otlp_exporters::Secret;
use llmtel_pipelines::events::{self, Event, EventCounter};

/// The configured token of one listener, and its refusal counter.
pub(crate) struct Bearer {
    token: Secret,
    refused: Arc<EventCounter>,
}

impl Bearer {
    /// From the settings at `path` (reads `bearer_token_file`), counting for `component`.
    pub(crate) fn build(
        component: &str,
        path: &str,
        cfg: &BearerAuthConfig,
    ) -> Result<Self, String> {
        let token = match (&cfg.bearer_token, &cfg.bearer_token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("{path}.bearer_token_file {file}: {e}"))?;
                let t = text.trim();
                if t.is_empty() {
                    return Err(format!(
                        "{path}.bearer_token_file {file}: the file is empty"
                    ));
                }
                Secret(t.to_owned())
            }
            (None, None) => return Err(format!("{path}: no bearer_token or bearer_token_file")),
        };
        Ok(Self {
            token,
            refused: events::counter(component, Event::AuthRefused),
        })
    }

    /// Whether `headers` carry the token; counts a refusal when not.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        let ok = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .any(|v| bearer_of(v.as_bytes()).is_some_and(|t| self.token.matches(t)));
        if !ok {
            self.refused.emit(
                1,
                &"no Authorization: Bearer header with the configured token",
            );
        }
        ok
    }
}

/// The token of an `Authorization: Bearer TOKEN` value (the scheme is case-insensitive).
fn bearer_of(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Axum middleware: the request goes on with the token, else 401 with `WWW-Authenticate: Bearer`.
pub(crate) async fn require(bearer: Arc<Bearer>, req: Request, next: Next) -> Response {
    if bearer.allows(req.headers()) {
        return next.run(req).await;
    }
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        "missing or invalid bearer token (Authorization: Bearer …)\n",
    )
        .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// The middleware as a layer for a router, or nothing when `bearer` is `None`.
pub(crate) fn layer<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    bearer: Option<Arc<Bearer>>,
) -> axum::Router<S> {
    match bearer {
        Some(b) => router.route_layer(axum::middleware::from_fn(move |req, next| {
            require(b.clone(), req, next)
        })),
        None => router,
    }
}

/// The gRPC check: UNAUTHENTICATED without the token in the `authorization` metadata.
pub(crate) fn grpc_check(
    bearer: &Bearer,
    metadata: &tonic::metadata::MetadataMap,
) -> Result<(), tonic::Status> {
    if bearer.allows(&metadata.clone().into_headers()) {
        Ok(())
    } else {
        Err(tonic::Status::unauthenticated(
            "missing or invalid bearer token (authorization: Bearer … metadata)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> Bearer {
        Bearer::build(
            "bearer-test",
            "x.auth",
            &BearerAuthConfig {
                bearer_token: Some(Secret("t0ken".into())),
                bearer_token_file: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn only_the_configured_token_passes() {
        let b = bearer();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            b.allows(&h)
        };
        assert!(with("Bearer t0ken"));
        assert!(with("bearer t0ken"));
        assert!(!with("Bearer t0ke"));
        assert!(!with("Basic t0ken"));
        assert!(!with("t0ken"));
        assert!(!b.allows(&HeaderMap::new()));
        assert_eq!(
            events::counter("bearer-test", Event::AuthRefused).total(),
            4
        );
    }

    #[test]
    fn a_token_file_is_read_and_an_empty_or_missing_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  abc\n").unwrap();
        let cfg = |f: &std::path::Path| BearerAuthConfig {
            bearer_token: None,
            bearer_token_file: Some(f.display().to_string()),
        };
        let b = Bearer::build("bearer-file-test", "x.auth", &cfg(&file)).unwrap();
        assert!(b.token.matches(b"abc"));
        std::fs::write(&file, "\n").unwrap();
        let e = Bearer::build("bearer-file-test", "x.auth", &cfg(&file))
            .err()
            .unwrap();
        assert!(
            e.starts_with("x.auth.bearer_token_file ") && e.ends_with("the file is empty"),
            "{e}"
        );
        let e = Bearer::build("bearer-file-test", "x.auth", &cfg(&dir.path().join("none")))
            .err()
            .unwrap();
        assert!(e.contains("none"), "{e}");
    }
}
