//! One scrape over HTTP: GET with the headers Prometheus 2.42 sends, within the scrape timeout, gunzipped, read up
//! to a size limit. The bearer token is read from its file at every scrape and never appears in an error.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

/// What Prometheus 2.42 asks for: OpenMetrics 1.0, then 0.0.1, then text 0.0.4.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// The largest exposition read, compressed or not (a node_exporter page is ~100 KiB).
pub const MAX_BODY: usize = 64 << 20;

/// The client every target of one receiver shares.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A client for `http://` and `https://` targets.
pub fn client(tls: &rustls::ClientConfig) -> HttpClient {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector)
}

/// Where the bearer token comes from.
#[derive(Clone)]
pub enum Token {
    /// None.
    None,
    /// Given in the config.
    Value(String),
    /// Read from this file at every scrape.
    File(String),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Value(_) => f.write_str("Value([REDACTED])"),
            Self::File(p) => write!(f, "File({p:?})"),
        }
    }
}

/// A scraped body.
#[derive(Debug)]
pub struct Body {
    /// The exposition, uncompressed.
    pub bytes: Vec<u8>,
    /// It is OpenMetrics (by its `Content-Type`).
    pub open_metrics: bool,
}

/// GETs `url`, the whole exchange within `timeout`.
pub async fn fetch(
    client: &HttpClient,
    url: &http::Uri,
    token: &Token,
    timeout: Duration,
) -> Result<Body, String> {
    match tokio::time::timeout(timeout, fetch_inner(client, url, token, timeout)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no complete answer within the scrape timeout ({})",
            humantime_secs(timeout)
        )),
    }
}

fn humantime_secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

async fn fetch_inner(
    client: &HttpClient,
    url: &http::Uri,
    token: &Token,
    timeout: Duration,
) -> Result<Body, String> {
    let mut req = http::Request::get(url.clone())
        .header(http::header::ACCEPT, ACCEPT)
        .header(http::header::ACCEPT_ENCODING, "gzip")
        .header(
            http::header::USER_AGENT,
            concat!("llmtel/", env!("CARGO_PKG_VERSION")),
        )
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            timeout.as_secs_f64().to_string(),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let secret = match token {
        Token::None => None,
        Token::Value(v) => Some(v.clone()),
        Token::File(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("bearer_token_file {p:?}: {e}"))?
                .trim()
                .to_owned(),
        ),
    };
    if let Some(t) = secret {
        let mut v = http::HeaderValue::from_str(&format!("Bearer {t}"))
            .map_err(|_| "the bearer token is not a valid header value".to_owned())?;
        v.set_sensitive(true);
        req.headers_mut().insert(http::header::AUTHORIZATION, v);
    }
    let resp = client.request(req).await.map_err(|e| {
        use std::error::Error as _;
        match e.source() {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        }
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let header = |h: http::HeaderName| {
        resp.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let open_metrics =
        header(http::header::CONTENT_TYPE).starts_with("application/openmetrics-text");
    let gzip = header(http::header::CONTENT_ENCODING).contains("gzip");
    let raw = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading the body (at most {MAX_BODY} bytes): {e}"))?
        .to_bytes();
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("gunzip: {e}"))?;
        if out.len() > MAX_BODY {
            return Err(format!("the body is over {MAX_BODY} bytes once gunzipped"));
        }
        out
    } else {
        raw.to_vec()
    };
    Ok(Body {
        bytes,
        open_metrics,
    })
}
