//! Forwarding: the upstream (its URL, split once at start), the pooled client that reaches it ([`super::h1`]: its
//! own connections, read by the task that writes to the client), sending a request within the response timeout
//! (with the one retry, as the client wrote it, when a server refuses the `stream_options` the proxy added), and
//! relaying the response: the upstream's status and headers for the client, and its body tapped ([`super::body`])
//! so that the request's [`Exchange`] follows a copy.
//!
//! Requests come from [`super::handle`] with their headers ready ([`super::headers`]); failures come back as
//! [`ProxyError`]s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, Uri};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use llmtel_pipelines::events::{self, Event, EventCounter};

use super::body::{Hold, ProxyBody, TappedBody, UsageFilter};
use super::error::ProxyError;
use super::h1::{self, Outgoing, SendError, UpstreamBody};
use super::headers;
use super::record::Exchange;
use crate::stream::{Api, Framing};

/// A pooled keep-alive HTTP/1.1 client for `http://` and `https://` (with `tls`) servers, for the proxy's own
/// requests (health checks, model lists); requests it relays go through [`h1::Client`].
pub(crate) fn http_client<B>(
    tls: &rustls::ClientConfig,
    connect_timeout: Duration,
) -> Client<hyper_rustls::HttpsConnector<HttpConnector>, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// The upstream, split once at start-up.
#[derive(Debug)]
pub(super) struct Upstream {
    /// `http://host:port` plus any path prefix, without a trailing `/`.
    pub base: String,
    pub host: String,
    pub port: u16,
    /// The URL, parsed.
    pub uri: Uri,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Self, String> {
        llmtel_config::check_upstream(url)?;
        let uri: Uri = url.parse().map_err(|e| format!("upstream {url:?}: {e}"))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| format!("upstream {url:?}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            host,
            port,
            uri,
        })
    }

    /// Checks that `path_and_query` makes a URL with the upstream's (a request target is written as it is).
    fn check(&self, path_and_query: &str) -> Result<(), ProxyError> {
        format!("{}{}", self.base, path_and_query)
            .parse::<Uri>()
            .map(drop)
            .map_err(|e| ProxyError::BadUpstreamUrl {
                path_and_query: path_and_query.to_owned(),
                error: e.to_string(),
            })
    }
}

/// What goes upstream: a body read whole (and the same body with usage requested, when the proxy asks for it),
/// or the client's body streamed through.
pub(super) enum Upload {
    Whole(Bytes, Option<Bytes>),
    Stream(Incoming),
}

/// The way to the upstream.
#[derive(Debug)]
pub(super) struct Forwarder {
    pub upstream: Upstream,
    client: h1::Client,
    response_timeout: Duration,
    /// Counts requests the upstream could not take and warns at most once a minute: an outage must not log
    /// once per request.
    unavailable: Arc<EventCounter>,
}

/// The upstream's answer, and whether its stream holds the usage event the proxy asked for.
pub(super) struct Answer {
    pub response: Response<UpstreamBody>,
    pub added_usage: bool,
}

impl Forwarder {
    /// The way to `upstream` for receiver `id`, through `client`.
    pub fn new(
        id: &str,
        upstream: Upstream,
        client: h1::Client,
        response_timeout: Duration,
    ) -> Self {
        Self {
            upstream,
            client,
            response_timeout,
            unavailable: events::counter(id, Event::UpstreamUnavailable),
        }
    }

    /// Sends the request upstream and waits for the response headers.
    pub async fn forward(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        upload: Upload,
    ) -> Result<Answer, ProxyError> {
        self.upstream.check(path_and_query)?;
        let (first, fallback, added_usage) = match upload {
            Upload::Whole(original, Some(with_usage)) => {
                // The added usage event is removed from the stream, which needs it uncompressed.
                let mut headers = headers.clone();
                headers.insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static("identity"),
                );
                let first = self
                    .send(
                        method,
                        path_and_query,
                        &headers,
                        Outgoing::Whole(with_usage),
                    )
                    .await?;
                (first, Some(original), true)
            }
            Upload::Whole(original, None) => (
                self.send(method, path_and_query, headers, Outgoing::Whole(original))
                    .await?,
                None,
                false,
            ),
            Upload::Stream(body) => (
                self.send(method, path_and_query, headers, Outgoing::Stream(body))
                    .await?,
                None,
                false,
            ),
        };
        match fallback {
            Some(original) if matches!(first.status().as_u16(), 400 | 422) => {
                // The server refused `stream_options`: send the request exactly as the client wrote it.
                tracing::debug!(upstream = %self.upstream.base,
                    "llm_proxy: upstream refused stream_options; retrying as sent");
                drop(first);
                let response = self
                    .send(method, path_and_query, headers, Outgoing::Whole(original))
                    .await?;
                Ok(Answer {
                    response,
                    added_usage: false,
                })
            }
            _ => Ok(Answer {
                response: first,
                added_usage,
            }),
        }
    }

    /// Sends one request to the upstream within the response timeout.
    async fn send(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Outgoing,
    ) -> Result<Response<UpstreamBody>, ProxyError> {
        let sending = self.client.send(method, path_and_query, headers, body);
        match tokio::time::timeout(self.response_timeout, sending).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(SendError::ClientBody(why))) => Err(ProxyError::ClientDisconnected(why)),
            Ok(Err(SendError::Upstream(why))) => {
                self.unavailable
                    .emit(1, &format_args!("upstream {}: {why}", self.upstream.base));
                Err(ProxyError::UpstreamUnavailable {
                    upstream: self.upstream.base.clone(),
                    error: why,
                })
            }
            Err(_) => Err(ProxyError::UpstreamTimeout {
                upstream: self.upstream.base.clone(),
                timeout: self.response_timeout,
            }),
        }
    }
}

/// The client's response to `answer`: the upstream's status, headers (less hop-by-hop ones) and body, whose copy
/// `exchange` follows on a task of its own until the body ends; the body keeps `hold` until then.
pub(super) fn relay(
    exchange: Exchange,
    api: Option<Api>,
    answer: Answer,
    read_timeout: Duration,
    hold: Hold,
) -> Response<ProxyBody> {
    let (mut parts, body) = answer.response.into_parts();
    headers::for_client(&mut parts.headers);
    let framing = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or(Framing::Whole, Framing::from_content_type);
    let encoding = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|e| !e.eq_ignore_ascii_case("identity"))
        .map(str::to_owned);
    let filter = match api {
        // A compressed stream cannot be filtered: it passes unchanged (with the usage event the proxy asked for).
        Some(api) if answer.added_usage && framing == Framing::Sse && encoding.is_none() => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Some(UsageFilter::new(api))
        }
        _ => None,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    exchange.follow(parts.status.as_u16(), framing, encoding, rx);
    let body = TappedBody::new(body, tx, read_timeout, filter, hold);
    Response::from_parts(parts, body.boxed_unsync())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_their_prefix() {
        let u = Upstream::parse("https://[::1]:8443/ollama/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8443));
        assert_eq!(u.uri.path(), "/ollama/");
        assert!(u.check("/api/chat?x=1").is_ok());
        assert!(Upstream::parse("gpu-box:8000").is_err());
    }
}
