//! One GET to the model server, bounded in time and size, for detection and health checks: what came back
//! (status, `Server` header, body) or why nothing did. Callers are [`super::detect`], [`super::watch`] and the
//! `ollama` receiver.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

/// The HTTP client probes go through (plain HTTP or TLS, body-less requests).
pub type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

/// The `User-Agent` of every probe, so that a server's access log (and a test's emulator) can tell llmtel's own
/// checks from the clients' requests it forwards.
pub const USER_AGENT: &str = concat!("llmtel/", env!("CARGO_PKG_VERSION"), " (upstream check)");

/// Bodies longer than this are cut: every answer probed is a small JSON document.
const MAX_BODY: usize = 4 << 20;

/// What the server answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Server` header, if any (`llama.cpp` names itself there).
    pub server: Option<String>,
    /// The body; empty if it could not be read whole.
    pub body: Bytes,
}

impl Answer {
    /// A 2xx status.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as a JSON object, if it is one and the status is 2xx.
    pub fn json_object(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        if !self.ok() {
            return None;
        }
        match serde_json::from_slice(&self.body) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            _ => None,
        }
    }
}

/// GETs `url` within `timeout`. `Err` means no HTTP answer at all (refused, DNS, TLS, timeout), with the reason.
pub async fn get(client: &Client, url: &str, timeout: Duration) -> Result<Answer, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let req = http::Request::get(uri)
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(Empty::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let fetch = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("GET {url}: {}", llmtel_pipelines::error_chain(&e)))?;
        let status = resp.status().as_u16();
        let server = resp
            .headers()
            .get(http::header::SERVER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A body that breaks off still came with an answer: the server is there.
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(Answer {
            status,
            server,
            body,
        })
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| format!("GET {url}: no answer within {timeout:?}"))?
}
