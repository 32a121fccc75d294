//! The HTTP side of `prometheusremotewrite`: one POST per request to the write URL with the protocol's headers
//! (`Content-Encoding: snappy`, `Content-Type: application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0`,
//! `User-Agent`), the configured headers and authentication (values marked sensitive: never printed). The answer
//! is classified by the remote write rules (`retry::remote_write_http`).

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llmtel_config::PrometheusRemoteWriteConfig;

use crate::exporters::post::{HttpsClient, post};
use crate::exporters::retry::{self, Failure};

/// Error bodies are read up to this size (only their start is shown).
const MAX_RESPONSE: usize = 64 << 10;

/// Debug output shows header names only: values print as `Sensitive`.
#[derive(Debug)]
pub(super) struct RemoteWriteClient {
    client: HttpsClient,
    url: http::Uri,
    headers: http::HeaderMap,
}

impl RemoteWriteClient {
    pub(super) fn new(
        cfg: &PrometheusRemoteWriteConfig,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let url = cfg
            .endpoint
            .parse::<http::Uri>()
            .map_err(|e| format!("endpoint {:?}: {e}", cfg.endpoint))?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("headers: {k:?} is not a valid header name"))?;
            headers.insert(name, secret_value(v.expose(), &format!("headers.{k}"))?);
        }
        if let Some(basic) = &cfg.basic_auth {
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                basic.username,
                basic.password.expose()
            ));
            headers.insert(
                http::header::AUTHORIZATION,
                secret_value(&format!("Basic {token}"), "basic_auth")?,
            );
        }
        if let Some(token) = &cfg.bearer_token {
            headers.insert(
                http::header::AUTHORIZATION,
                secret_value(&format!("Bearer {}", token.expose()), "bearer_token")?,
            );
        }
        // The protocol's own headers go last: configured headers cannot replace them.
        for (name, value) in [
            (http::header::CONTENT_ENCODING, "snappy"),
            (http::header::CONTENT_TYPE, "application/x-protobuf"),
            (
                http::HeaderName::from_static("x-prometheus-remote-write-version"),
                "0.1.0",
            ),
            (
                http::header::USER_AGENT,
                concat!("llmtel/", env!("CARGO_PKG_VERSION")),
            ),
        ] {
            headers.insert(name, http::HeaderValue::from_static(value));
        }
        Ok(Self {
            client,
            url,
            headers,
        })
    }

    /// Posts one snappy-compressed `WriteRequest`.
    pub(super) async fn send(&self, body: Bytes) -> Result<(), Failure> {
        let url = &self.url;
        let mut req = http::Request::post(url.clone())
            .body(Full::new(body))
            .map_err(|e| Failure::Permanent(format!("build request to {url}: {e}")))?;
        req.headers_mut().extend(self.headers.clone());
        let answer = post(&self.client, req, &url.to_string(), MAX_RESPONSE).await?;
        let (status, body, retry_after) = (answer.status, answer.body, answer.retry_after);
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_owned();
        let text = if text.is_empty() {
            "(empty body)".to_owned()
        } else {
            text
        };
        Err(retry::remote_write_http(
            status,
            &format!("POST {url}: {text}"),
            retry_after.as_deref(),
        ))
    }
}

/// A header value holding a secret: the error names `what`, never the value.
fn secret_value(v: &str, what: &str) -> Result<http::HeaderValue, String> {
    let mut value =
        http::HeaderValue::from_str(v).map_err(|_| format!("{what}: not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}
