//! OTLP/HTTP client: POST to `/v1/<signal>` with protobuf or JSON bodies, gzip when configured.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llmtel_config::otlp_exporters::{Compression, Encoding, OtlpExporterConfig};
use llmtel_pipelines::{Payload, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::response::{Accepted, ExportResponse};
use crate::exporters::post::{HttpsClient, post};
use crate::exporters::retry::{self, Failure};

/// Responses are read up to this size (the OTLP spec bounds them at 4 MiB).
const MAX_RESPONSE: usize = 4 << 20;

/// Debug output shows header names only: their values are marked sensitive and print as `Sensitive`.
#[derive(Debug)]
pub(super) struct HttpTransport {
    client: HttpsClient,
    urls: [http::Uri; 3],
    headers: http::HeaderMap,
    json: bool,
    gzip: bool,
}

impl HttpTransport {
    pub(super) fn new(
        cfg: &OtlpExporterConfig,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let uri = |s: Signal| {
            let url = cfg.http_url(s);
            url.parse::<http::Uri>()
                .map_err(|e| format!("{s} endpoint {url:?}: {e}"))
        };
        // In `Signal::ALL` order, so that `signal.index()` finds each signal's URL.
        let [traces, metrics, logs] = Signal::ALL.map(uri);
        let urls = [traces?, metrics?, logs?];
        let mut headers = http::HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("headers: {k:?} is not a valid header name"))?;
            // The value is a secret: say which header is wrong, never what it holds.
            let mut value = http::HeaderValue::from_str(v.expose())
                .map_err(|_| format!("headers.{k}: not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Self {
            client,
            urls,
            headers,
            json: matches!(cfg.encoding, Encoding::Json),
            gzip: matches!(cfg.compression, Compression::Gzip),
        })
    }

    /// The request body for `batch`, encoded and compressed as configured.
    pub(super) fn encode(&self, batch: Payload) -> Result<Bytes, String> {
        let raw = if self.json {
            to_json(batch)?
        } else {
            batch.into_request_bytes()
        };
        Ok(Bytes::from(if self.gzip { gzip(&raw)? } else { raw }))
    }

    pub(super) async fn send(&self, signal: Signal, body: Bytes) -> Result<Accepted, Failure> {
        let url = &self.urls[signal.index()];
        let content_type = if self.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let mut req =
            http::Request::post(url.clone()).header(http::header::CONTENT_TYPE, content_type);
        if self.gzip {
            req = req.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let mut req = req
            .body(Full::new(body))
            .map_err(|e| Failure::Permanent(format!("build request to {url}: {e}")))?;
        req.headers_mut().extend(self.headers.clone());
        let answer = post(&self.client, req, &url.to_string(), MAX_RESPONSE).await?;
        let (status, body) = (answer.status, answer.body);
        let retry_after = answer.retry_after;
        let is_json = answer
            .content_type
            .is_some_and(|v| v.starts_with("application/json"));
        if (200..300).contains(&status) {
            return Ok(partial_success(signal, &body, is_json));
        }
        Err(retry::http(
            status,
            &error_message(&body, is_json),
            retry_after.as_deref(),
        ))
    }
}

fn to_json(batch: Payload) -> Result<Vec<u8>, String> {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    let r = match batch {
        Payload::Traces(resource_spans) => {
            serde_json::to_vec(&trace::v1::ExportTraceServiceRequest { resource_spans })
        }
        Payload::Metrics(resource_metrics) => {
            serde_json::to_vec(&metrics::v1::ExportMetricsServiceRequest { resource_metrics })
        }
        Payload::Logs(resource_logs) => {
            serde_json::to_vec(&logs::v1::ExportLogsServiceRequest { resource_logs })
        }
    };
    r.map_err(|e| format!("encode OTLP JSON: {e}"))
}

/// gzip-compresses `data`.
fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(data).map_err(|e| format!("gzip: {e}"))?;
    enc.finish().map_err(|e| format!("gzip: {e}"))
}

/// The rejected count and message of a 2xx answer (an empty or unreadable body is full success).
fn partial_success(signal: Signal, body: &[u8], json: bool) -> Accepted {
    fn parse<R: ExportResponse>(body: &[u8], json: bool) -> Accepted {
        let r = if json {
            serde_json::from_slice::<R>(body).ok()
        } else {
            R::decode(body).ok()
        };
        r.map(R::accepted).unwrap_or_default()
    }
    match signal {
        Signal::Traces => parse::<ExportTraceServiceResponse>(body, json),
        Signal::Metrics => parse::<ExportMetricsServiceResponse>(body, json),
        Signal::Logs => parse::<ExportLogsServiceResponse>(body, json),
    }
}

/// The server's message from an error body: a `google.rpc.Status` (protobuf or JSON) or the first 200 bytes of text.
fn error_message(body: &[u8], json: bool) -> String {
    if json {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
            && let Some(m) = v.get("message").and_then(|m| m.as_str())
        {
            return m.to_owned();
        }
    } else if let Ok(st) = tonic_types::Status::decode(body)
        && !st.message.is_empty()
    {
        return st.message;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_owned();
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text
    }
}
