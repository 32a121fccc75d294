//! HTTP for tests, on loopback: a small client ([`http_request`]), one the OpenTelemetry SDK's exporters can use
//! from their own threads ([`SdkHttpClient`]), and a hand-written upstream that misbehaves ([`raw_upstream`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Sends one HTTP/1.1 request to a loopback address.
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> HttpAnswer {
    try_http_request(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// Sends one HTTP/1.1 request to a loopback address; an unreachable server is an `Err`.
pub async fn try_http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<HttpAnswer, String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

/// An HTTP client for the OpenTelemetry SDK's OTLP/HTTP exporters. The SDK's batch processors run on their own
/// threads, outside any tokio runtime; this client spawns each request onto the test's runtime instead.
#[derive(Debug, Clone)]
pub struct SdkHttpClient {
    handle: tokio::runtime::Handle,
}

impl SdkHttpClient {
    /// A client that runs its requests on the current tokio runtime.
    pub fn current() -> Self {
        Self {
            handle: tokio::runtime::Handle::current(),
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for SdkHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let task = self.handle.spawn(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<Full<Bytes>>();
            let (parts, body) = request.into_parts();
            let resp = client
                .request(http::Request::from_parts(parts, Full::new(body)))
                .await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(parts, body))
        });
        task.await?
    }
}

/// A hand-written HTTP server on `127.0.0.1:0` that answers every connection with `response` (raw HTTP/1.1 bytes,
/// head and body) and closes it: for upstreams that misbehave in ways no real server library allows.
pub async fn raw_upstream(response: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind a raw upstream on 127.0.0.1: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the raw upstream's address: {e}"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(response).await;
            let _ = s.shutdown().await;
        }
    });
    format!("http://{addr}")
}
