//! Receiver `llm_proxy`: a transparent reverse proxy in front of an LLM server.
//!
//! Requests arrive over HTTP/1.1 or h2c on `listen` and go to `upstream` over pooled keep-alive connections. For
//! the APIs the proxy understands ([`crate::stream::Api`]) the request body is read whole (bounded) to learn the
//! model and options; everything else streams through untouched with a plain HTTP span. Responses go back with
//! the upstream's status, headers (less hop-by-hop ones) and bytes, chunk by chunk ([`body`]); a copy of each
//! chunk feeds the request's tracker ([`record`]), which emits the spans when the body ends. Spans and the
//! in-flight metric go through the OpenTelemetry SDK into this receiver's pipelines ([`crate::sdk`]).

pub mod body;
mod record;
pub mod request;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use llmtel_config::LlmProxyConfig;
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing_subscriber::layer::SubscriberExt as _;

use self::body::{BodyError, TappedBody, UsageFilter};
use self::record::{Arrival, Exchange, Shared};
use crate::sdk::PipelineSpanExporter;
use crate::stream::{Api, Framing};

/// The body type of responses to clients and requests to the upstream.
type ProxyBody = UnsyncBoxBody<Bytes, BodyError>;

type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, ProxyBody>;

/// The `llm_proxy` receiver, built from its config.
pub struct LlmProxyReceiver {
    id: String,
    cfg: LlmProxyConfig,
    resource: Resource,
    tls: Arc<rustls::ClientConfig>,
    on_bound: Box<dyn Fn(SocketAddr) + Send + Sync>,
}

impl std::fmt::Debug for LlmProxyReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmProxyReceiver")
            .field("id", &self.id)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl LlmProxyReceiver {
    /// A receiver `id` with settings `cfg`. `resource` describes llmtel on the spans and metrics; `tls` is used
    /// for `https://` upstreams; `on_bound` learns the address actually bound (port 0 in tests).
    pub fn new(
        id: &str,
        cfg: &LlmProxyConfig,
        resource: Resource,
        tls: Arc<rustls::ClientConfig>,
        on_bound: Box<dyn Fn(SocketAddr) + Send + Sync>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            cfg: cfg.clone(),
            resource,
            tls,
            on_bound,
        }
    }
}

/// The upstream, split once at start-up.
#[derive(Debug)]
struct Upstream {
    /// `http://host:port` plus any path prefix, without a trailing `/`.
    base: String,
    host: String,
    port: u16,
}

impl Upstream {
    fn parse(url: &str) -> Result<Self, String> {
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
        })
    }

    fn uri_for(&self, path_and_query: &str) -> Result<Uri, String> {
        format!("{}{}", self.base, path_and_query)
            .parse()
            .map_err(|e| format!("{e}"))
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
struct State {
    shared: Arc<Shared>,
    client: UpstreamClient,
    upstream: Upstream,
    max_body: usize,
    response_timeout: Duration,
    read_timeout: Duration,
    include_usage: bool,
    /// Rate limit of the "upstream unreachable" warning: an outage must not log once per request.
    upstream_warning: llmtel_pipelines::stats::LogLimiter,
}

impl Receiver for LlmProxyReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        Box::pin(async move {
            let fail = |message: String| StartError {
                component: self.id.clone(),
                message,
            };
            let upstream = Upstream::parse(&self.cfg.upstream).map_err(fail)?;
            let listen = self.cfg.listen.as_str();
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| fail(format!("bind {listen}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| fail(format!("bind {listen}: {e}")))?;
            (self.on_bound)(addr);

            let tracer_provider = SdkTracerProvider::builder()
                .with_simple_exporter(PipelineSpanExporter::new(output.clone()))
                // Every request is recorded, whatever the caller sampled: its metrics are derived from the spans.
                .with_sampler(Sampler::AlwaysOn)
                .with_resource(self.resource.clone())
                .build();
            let tracer = tracer_provider.tracer("llmtel");
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer.clone())
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_level(false)
                .with_tracked_inactivity(false);
            let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
            let meter_provider = crate::sdk::meter_provider(
                &output,
                self.resource.clone(),
                self.cfg.metrics_interval.get(),
            );
            let in_flight = meter_provider
                .meter("llmtel")
                .i64_up_down_counter("llmtel.proxy.active_requests")
                .with_unit("{request}")
                .with_description("Requests the sidecar is forwarding now, by model")
                .build();

            let client = http_client(&self.tls, self.cfg.connect_timeout.get());
            let tasks = TaskTracker::new();
            let state = Arc::new(State {
                shared: Arc::new(Shared {
                    tracer,
                    dispatch,
                    in_flight,
                    provider: self.cfg.provider.clone(),
                    server: (upstream.host.clone(), upstream.port),
                    capture_content: self.cfg.capture_content,
                    tasks: tasks.clone(),
                    events: output.clone(),
                }),
                client,
                upstream,
                max_body: usize::try_from(self.cfg.max_request_body_size_mib << 20)
                    .unwrap_or(usize::MAX),
                response_timeout: self.cfg.response_timeout.get(),
                read_timeout: self.cfg.read_timeout.get(),
                include_usage: self.cfg.include_usage,
                upstream_warning: Default::default(),
            });
            tracing::info!(component = %self.id, endpoint = %addr, upstream = %self.cfg.upstream,
                "llm_proxy listening");
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                serve(listener, state, shutdown).await;
                tasks.close();
                if tokio::time::timeout(Duration::from_secs(5), tasks.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "llm_proxy: some request telemetry did not finish within 5s of shutdown"
                    );
                }
                // A last collection of the live metrics, then the providers let go of the output.
                let _ = tokio::task::spawn_blocking(move || {
                    let _ = meter_provider.shutdown();
                    let _ = tracer_provider.shutdown();
                })
                .await;
                drop(output);
            });
            Ok(serve)
        })
    }
}

/// A pooled keep-alive HTTP/1.1 client for `http://` and `https://` (with `tls`) servers.
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

/// Accepts connections until `shutdown`, then lets requests in flight finish (up to 10 s).
async fn serve(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // A client that connects and sends no complete request head within 30 s is dropped (hyper needs a timer for it).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    // Connections, so that those still open when the grace period ends can be closed.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _peer) = tokio::select! {
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "llm_proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
        let conn = builder
            .serve_connection(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "llm_proxy: client connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("llm_proxy: requests still running 10s after shutdown began; closing them");
        // Their spans end as `client_disconnected` before the providers shut down.
        conns.abort_all();
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(*n);
    }
}

/// HTTP/2 clients may split cookies over several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let parts: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if parts.len() > 1
        && let Ok(joined) = HeaderValue::from_str(&parts.join("; "))
    {
        headers.insert(header::COOKIE, joined);
    }
}

struct HeaderExtract<'a>(&'a HeaderMap);

impl Extractor for HeaderExtract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInject<'a>(&'a mut HeaderMap);

impl Injector for HeaderInject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An error answer in the client's dialect: Ollama `{"error": "..."}`, OpenAI `{"error": {"message": ...}}`.
fn error_response(openai: bool, status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = if openai {
        serde_json::json!({"error": {"message": message, "type": "llmtel_proxy_error", "code": status.as_u16()}})
    } else {
        serde_json::json!({ "error": message })
    };
    let mut resp = Response::new(full(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (parts, body) = req.into_parts();
    state
        .shared
        .events
        .record_event(llmtel_pipelines::stats::ReceiverEvent::ProxyRequest);
    let parent = TraceContextPropagator::new().extract(&HeaderExtract(&parts.headers));
    // The span opens now, so that upload time counts; it is named once the body says what the request is.
    let arrival = Arrival::new(&state.shared, parent.clone());
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let api = (parts.method == Method::POST)
        .then(|| Api::from_path(&path))
        .flatten();
    let openai = api.map_or(path.starts_with("/v1/"), Api::is_openai);
    let method = parts.method.clone();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    if parts.version == http::Version::HTTP_2 {
        join_cookies(&mut headers);
    }
    headers.remove(header::HOST);
    headers.remove("traceparent");
    headers.remove("tracestate");

    // For understood APIs: the body, whole, and the same body with usage requested (if the proxy asks for it).
    let (exchange, bodies) = match api {
        Some(api) => {
            let read = tokio::time::timeout(
                state.read_timeout,
                Limited::new(body, state.max_body).collect(),
            )
            .await;
            let bytes = match read {
                Ok(Ok(c)) => Ok(c.to_bytes()),
                Ok(Err(e))
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    Err((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request_too_large",
                        format!(
                            "llmtel: request body over {} MiB (llm_proxy max_request_body_size_mib)",
                            state.max_body >> 20
                        ),
                    ))
                }
                Ok(Err(e)) => Err((
                    StatusCode::BAD_REQUEST,
                    "client_disconnected",
                    format!("llmtel: reading the request body: {e}"),
                )),
                Err(_) => Err((
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!(
                        "llmtel: the request body did not arrive within {:?} (llm_proxy read_timeout)",
                        state.read_timeout
                    ),
                )),
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err((status, kind, msg)) => {
                    let facts = request::RequestFacts::default();
                    let exchange = Exchange::start(
                        state.shared.clone(),
                        arrival,
                        Some(api),
                        facts,
                        method.as_str(),
                        &path,
                    );
                    exchange.fail(status.as_u16(), kind, &msg);
                    return Ok(error_response(openai, status, &msg));
                }
            };
            let facts = request::parse(api, &bytes, state.shared.capture_content);
            let wants_usage =
                state.include_usage && api.is_openai() && facts.stream && !facts.client_asked_usage;
            let with_usage = wants_usage
                .then(|| request::with_usage_requested(&bytes))
                .flatten()
                .map(Bytes::from);
            let exchange = Exchange::start(
                state.shared.clone(),
                arrival,
                Some(api),
                facts,
                method.as_str(),
                &path,
            );
            (exchange, Upload::Whole(bytes, with_usage))
        }
        None => {
            let facts = request::RequestFacts::default();
            let exchange = Exchange::start(
                state.shared.clone(),
                arrival,
                None,
                facts,
                method.as_str(),
                &path,
            );
            (exchange, Upload::Stream(body))
        }
    };
    inject_context(&exchange.context(), &parent, &mut headers);

    let uri = match state.upstream.uri_for(&path_and_query) {
        Ok(u) => u,
        Err(e) => {
            let msg = format!("llmtel: cannot build the upstream URL for {path_and_query:?}: {e}");
            exchange.fail(400, "bad_request", &msg);
            return Ok(error_response(openai, StatusCode::BAD_REQUEST, &msg));
        }
    };
    let build = |body: ProxyBody, len: Option<usize>| {
        let mut up = Request::new(body);
        *up.method_mut() = method.clone();
        *up.uri_mut() = uri.clone();
        *up.headers_mut() = headers.clone();
        if let Some(len) = len {
            up.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        up
    };
    let (first, fallback, added_usage) = match bodies {
        Upload::Whole(original, Some(with_usage)) => {
            let mut up = build(full(with_usage.clone()), Some(with_usage.len()));
            // The added usage event is removed from the stream, which needs it uncompressed.
            up.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            (up, Some(original), true)
        }
        Upload::Whole(original, None) => (
            build(full(original.clone()), Some(original.len())),
            None,
            false,
        ),
        Upload::Stream(body) => (
            build(body.map_err(BodyError::from).boxed_unsync(), None),
            None,
            false,
        ),
    };
    let mut result = send(&state, first).await;
    let mut added_usage = added_usage;
    if let (Ok(r), Some(original)) = (&result, fallback)
        && matches!(r.status().as_u16(), 400 | 422)
    {
        // The server refused `stream_options`: send the request exactly as the client wrote it.
        tracing::debug!(upstream = %state.upstream.base, "llm_proxy: upstream refused stream_options; retrying as sent");
        added_usage = false;
        result = send(&state, build(full(original.clone()), Some(original.len()))).await;
    }
    let resp = match result {
        Ok(r) => r,
        Err((status, kind, msg)) => {
            exchange.fail(status.as_u16(), kind, &msg);
            return Ok(error_response(openai, status, &msg));
        }
    };
    let (mut rparts, rbody) = resp.into_parts();
    if rparts.headers.contains_key(header::TRANSFER_ENCODING) {
        // hyper decoded the chunked body; a Content-Length beside it (RFC 9112 says ignore it) must not frame ours.
        rparts.headers.remove(header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(&mut rparts.headers);
    let framing = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or(Framing::Whole, Framing::from_content_type);
    let encoding = rparts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|e| !e.eq_ignore_ascii_case("identity"))
        .map(str::to_owned);
    let filter = match api {
        // A compressed stream cannot be filtered: it passes unchanged (with the usage event the proxy asked for).
        Some(api) if added_usage && framing == Framing::Sse && encoding.is_none() => {
            rparts.headers.remove(header::CONTENT_LENGTH);
            Some(UsageFilter::new(api))
        }
        _ => None,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    exchange.follow(rparts.status.as_u16(), framing, encoding, rx);
    let body = TappedBody::new(rbody, tx, state.read_timeout, filter);
    Ok(Response::from_parts(rparts, body.boxed_unsync()))
}

/// What goes upstream: a body read whole (and the same body with usage requested, when the proxy asks for it),
/// or the client's body streamed through.
enum Upload {
    Whole(Bytes, Option<Bytes>),
    Stream(Incoming),
}

/// Sends `up` to the upstream within the response timeout; an error is the status, `error.type` and message
/// for the client.
async fn send(
    state: &State,
    up: Request<ProxyBody>,
) -> Result<Response<Incoming>, (StatusCode, &'static str, String)> {
    match tokio::time::timeout(state.response_timeout, state.client.request(up)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            let why = llmtel_pipelines::error_chain(&e);
            if state.upstream_warning.allow() {
                tracing::warn!(upstream = %state.upstream.base, error = %why,
                    "llm_proxy: upstream request failed (clients get 502; logged at most once a minute)");
            }
            Err((
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                format!(
                    "llmtel: upstream {} unreachable: {why}",
                    state.upstream.base
                ),
            ))
        }
        Err(_) => Err((
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "llmtel: upstream {} sent no response headers within {:?} (llm_proxy response_timeout)",
                state.upstream.base, state.response_timeout
            ),
        )),
    }
}

/// Puts the request span's context in `headers` as `traceparent`, keeping the caller's sampling decision: every
/// request is recorded here, but a caller that sampled out asks the upstream not to record either.
fn inject_context(
    cx: &opentelemetry::Context,
    parent: &opentelemetry::Context,
    headers: &mut HeaderMap,
) {
    use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags};
    let ours = cx.span().span_context().clone();
    let theirs = parent.span().span_context().clone();
    let sc = if theirs.is_valid() && !theirs.is_sampled() {
        SpanContext::new(
            ours.trace_id(),
            ours.span_id(),
            TraceFlags::default(),
            false,
            ours.trace_state().clone(),
        )
    } else {
        ours
    };
    let cx = opentelemetry::Context::new().with_remote_span_context(sc);
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInject(headers));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_h2_cookies_are_joined() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        strip_hop_by_hop(&mut h);
        join_cookies(&mut h);
        assert!(h.get("x-private").is_none() && h.get(header::CONNECTION).is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(
            h[header::AUTHORIZATION],
            "Bearer k",
            "end-to-end headers stay"
        );
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h[header::COOKIE], "a=1; b=2");
    }

    #[test]
    fn upstream_urls_keep_their_prefix() {
        let u = Upstream::parse("https://[::1]:8443/ollama/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8443));
        assert_eq!(
            u.uri_for("/api/chat?x=1").unwrap().to_string(),
            "https://[::1]:8443/ollama/api/chat?x=1"
        );
        assert!(Upstream::parse("gpu-box:8000").is_err());
    }
}
