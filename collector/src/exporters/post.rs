//! One HTTP POST of a pushing exporter (`otlp_http`, `prometheusremotewrite`): send the prepared request, read the
//! status, `Retry-After`, content type and a bounded body. A transport failure is retryable; what the status means
//! is for each exporter's rules in `retry.rs`.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::retry::Failure;

/// The pooled HTTPS-capable client the pushing exporters post with.
pub(crate) type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What the server answered.
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Its `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
    /// Up to `max_body` bytes of its body (an unreadable body reads as empty).
    pub body: Bytes,
}

/// Posts `req` to `url` with `client`.
pub(crate) async fn post(
    client: &HttpsClient,
    req: http::Request<Full<Bytes>>,
    url: &str,
    max_body: usize,
) -> Result<Answer, Failure> {
    let resp = client.request(req).await.map_err(|e| Failure::Retryable {
        message: format!("POST {url}: {}", llmtel_pipelines::error_chain(&e)),
        after: None,
    })?;
    let header = |name: http::header::HeaderName| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = resp.status().as_u16();
    let retry_after = header(http::header::RETRY_AFTER);
    let content_type = header(http::header::CONTENT_TYPE);
    let body = http_body_util::Limited::new(resp.into_body(), max_body)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Ok(Answer {
        status,
        retry_after,
        content_type,
        body,
    })
}
