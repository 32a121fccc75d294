//! A counting OTLP backend for tests: gRPC and HTTP on loopback, answers scripted per request (accept, partial
//! success, UNAVAILABLE / 503 with a retry hint, INVALID_ARGUMENT / 400). [`Sink::stop`] closes the listeners and
//! every open connection, so the sender sees a real outage; [`Sink::restart`] comes back on the same ports.

use std::collections::{HashSet, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use llmtel_pipelines::{Payload, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tonic::codec::CompressionEncoding;
use tonic_types::{ErrorDetails, StatusExt};

/// How the sink answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Accept everything.
    Accept,
    /// Accept, but report this many items rejected (traces only).
    Reject(i64),
    /// UNAVAILABLE with RetryInfo / 503 with Retry-After (whole seconds for HTTP).
    Unavailable(Duration),
    /// INVALID_ARGUMENT / 400: the sender must not retry.
    Invalid,
}

/// A span as the sink tells spans apart: protocol, trace id, span id.
type SpanKey = (&'static str, Vec<u8>, Vec<u8>);

/// What the sink has seen, shared across restarts.
#[derive(Debug, Default)]
pub struct SinkState {
    grpc_items: AtomicUsize,
    http_items: AtomicUsize,
    span_items: AtomicUsize,
    attempts: Mutex<Vec<(Instant, &'static str)>>,
    script: Mutex<VecDeque<Answer>>,
    span_ids: Mutex<HashSet<SpanKey>>,
    /// Every span accepted, once per span id (the first copy), for tests that read attributes; kept only after
    /// [`SinkState::keep_spans`], so that load tests do not hold every span.
    spans: Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>,
    keep_spans: std::sync::atomic::AtomicBool,
    /// Spans accepted per string attribute (key, value), duplicates included.
    span_attrs: Mutex<std::collections::HashMap<(String, String), usize>>,
}

impl SinkState {
    /// Items accepted over gRPC.
    pub fn grpc_items(&self) -> usize {
        self.grpc_items.load(Ordering::SeqCst)
    }

    /// Items accepted over HTTP.
    pub fn http_items(&self) -> usize {
        self.http_items.load(Ordering::SeqCst)
    }

    /// Spans accepted over either protocol, duplicates included (the other counters mix every signal).
    pub fn span_items(&self) -> usize {
        self.span_items.load(Ordering::SeqCst)
    }

    /// Distinct spans accepted (by trace and span id) over `proto` ("grpc" or "http"). OTLP delivery is at least
    /// once per hop: a request whose answer was lost in an outage is sent again, so duplicates are allowed and
    /// this is what "nothing lost" is checked against.
    pub fn unique_spans(&self, proto: &str) -> usize {
        self.span_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(p, _, _)| *p == proto)
            .count()
    }

    /// Spans accepted (counting a resent one again) with the string attribute `key` = `value`.
    pub fn spans_with(&self, key: &str, value: &str) -> usize {
        self.span_attrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(key.to_owned(), value.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The trace ids (lowercase hex) of every span accepted.
    pub fn trace_ids(&self) -> std::collections::BTreeSet<String> {
        self.span_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, t, _)| t.iter().map(|b| format!("{b:02x}")).collect())
            .collect()
    }

    fn remember(&self, proto: &'static str, batch: &Payload) {
        if let Payload::Traces(rs) = batch {
            self.span_items
                .fetch_add(batch.item_count(), Ordering::SeqCst);
            use opentelemetry_proto::tonic::common::v1::any_value::Value;
            let mut ids = self.span_ids.lock().unwrap_or_else(PoisonError::into_inner);
            let mut attrs = self
                .span_attrs
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for s in rs
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                if ids.insert((proto, s.trace_id.clone(), s.span_id.clone()))
                    && self.keep_spans.load(Ordering::SeqCst)
                {
                    self.spans
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(s.clone());
                }
                for kv in &s.attributes {
                    if let Some(Value::StringValue(v)) =
                        kv.value.as_ref().and_then(|v| v.value.as_ref())
                    {
                        *attrs.entry((kv.key.clone(), v.clone())).or_default() += 1;
                    }
                }
            }
        }
    }

    /// Keeps every distinct span accepted from now on, for [`SinkState::spans`].
    pub fn keep_spans(&self) {
        self.keep_spans.store(true, Ordering::SeqCst);
    }

    /// Every distinct span accepted since [`SinkState::keep_spans`], in arrival order.
    pub fn spans(&self) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// When each request arrived, and over which protocol.
    pub fn attempts(&self) -> Vec<(Instant, &'static str)> {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers for the next requests, in order; after them every request is accepted.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(answers);
    }

    fn next(&self, proto: &'static str) -> Answer {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), proto));
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(Answer::Accept)
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&SinkState) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if done(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        done(self)
    }
}

/// A running sink.
#[derive(Debug)]
pub struct Sink {
    /// gRPC address.
    pub grpc: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// What it has seen.
    pub state: Arc<SinkState>,
    tasks: JoinSet<()>,
}

#[derive(Debug, Clone)]
struct Grpc(Arc<SinkState>);

impl Grpc {
    fn answer(&self, batch: Payload) -> Result<i64, tonic::Status> {
        match self.0.next("grpc") {
            Answer::Accept => {
                self.0
                    .grpc_items
                    .fetch_add(batch.item_count(), Ordering::SeqCst);
                self.0.remember("grpc", &batch);
                Ok(0)
            }
            Answer::Reject(n) => {
                self.0.grpc_items.fetch_add(
                    batch.item_count().saturating_sub(n as usize),
                    Ordering::SeqCst,
                );
                Ok(n)
            }
            Answer::Unavailable(d) => Err(tonic::Status::with_error_details(
                tonic::Code::Unavailable,
                "sink is busy",
                ErrorDetails::with_retry_info(Some(d)),
            )),
            Answer::Invalid => Err(tonic::Status::invalid_argument(
                "sink says this batch is malformed",
            )),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let rejected = self.answer(Payload::Traces(r.into_inner().resource_spans))?;
        let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: "sink rejected some spans".into(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.answer(Payload::Metrics(r.into_inner().resource_metrics))?;
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.answer(Payload::Logs(r.into_inner().resource_logs))?;
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

async fn http_export(
    state: Arc<SinkState>,
    signal: Signal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut raw = body.to_vec();
    if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
        }
        raw = out;
    }
    let Ok(batch) = Payload::from_request_bytes(signal, &raw) else {
        return (StatusCode::BAD_REQUEST, "bad protobuf").into_response();
    };
    match state.next("http") {
        Answer::Accept => {
            state
                .http_items
                .fetch_add(batch.item_count(), Ordering::SeqCst);
            state.remember("http", &batch);
            (
                StatusCode::OK,
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
                .into_response()
        }
        Answer::Reject(n) => {
            state.http_items.fetch_add(
                batch.item_count().saturating_sub(n as usize),
                Ordering::SeqCst,
            );
            let body = ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message: "sink rejected some spans".into(),
                }),
            };
            (StatusCode::OK, body.encode_to_vec()).into_response()
        }
        Answer::Unavailable(d) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", d.as_secs().to_string())],
            "busy",
        )
            .into_response(),
        Answer::Invalid => {
            let st = tonic_types::Status {
                code: 3,
                message: "sink says this batch is malformed".into(),
                details: vec![],
            };
            (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/x-protobuf")],
                st.encode_to_vec(),
            )
                .into_response()
        }
    }
}

impl Sink {
    /// A sink on free loopback ports.
    pub async fn start() -> Sink {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(any, any, Arc::default(), None).await
    }

    /// A sink serving TLS with this certificate chain and key (PEM), offering h2 and http/1.1.
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Sink {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("the sink's certificate chain (PEM): {e}"));
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .unwrap_or_else(|e| panic!("the sink's key (PEM): {e}"));
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .unwrap_or_else(|e| panic!("the sink's TLS settings: {e}"));
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(any, any, Arc::default(), Some(acceptor)).await
    }

    async fn start_on(
        grpc: SocketAddr,
        http: SocketAddr,
        state: Arc<SinkState>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Sink {
        let grpc_listener = bind_retrying(grpc).await;
        let http_listener = bind_retrying(http).await;
        let svc = Grpc(state.clone());
        let grpc_routes = tonic::service::Routes::new(
            TraceServiceServer::new(svc.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            MetricsServiceServer::new(svc.clone()).accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(LogsServiceServer::new(svc).accept_compressed(CompressionEncoding::Gzip));
        let s = state.clone();
        let (t, m, l) = (s.clone(), s.clone(), s);
        let http_router = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |h, b| http_export(t.clone(), Signal::Traces, h, b)),
            )
            .route(
                "/v1/metrics",
                axum::routing::post(move |h, b| http_export(m.clone(), Signal::Metrics, h, b)),
            )
            .route(
                "/v1/logs",
                axum::routing::post(move |h, b| http_export(l.clone(), Signal::Logs, h, b)),
            );
        let address = |l: &TcpListener| {
            l.local_addr()
                .unwrap_or_else(|e| panic!("the sink's bound address: {e}"))
        };
        let (grpc, http) = (address(&grpc_listener), address(&http_listener));
        let mut tasks = JoinSet::new();
        tasks.spawn(serve(grpc_listener, grpc_routes.prepare(), tls.clone()));
        tasks.spawn(serve(http_listener, http_router, tls));
        Sink {
            grpc,
            http,
            state,
            tasks,
        }
    }

    /// Closes the listeners and every open connection at once, like a killed process.
    pub async fn stop(mut self) -> (SocketAddr, SocketAddr, Arc<SinkState>) {
        self.tasks.shutdown().await;
        (self.grpc, self.http, self.state)
    }

    /// A sink on the same ports, with the same state, after [`Sink::stop`].
    pub async fn restart(stopped: (SocketAddr, SocketAddr, Arc<SinkState>)) -> Sink {
        Self::start_on(stopped.0, stopped.1, stopped.2, None).await
    }
}

/// Serves every connection in a task of its own set, so that dropping this future aborts them all.
pub async fn serve<S>(listener: TcpListener, service: S, tls: Option<tokio_rustls::TlsAcceptor>)
where
    S: tower::Service<http::Request<hyper::body::Incoming>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let svc = tower::ServiceExt::map_response(service.clone(), IntoResponse::into_response);
        let tls = tls.clone();
        connections.spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let svc = TowerToHyperService::new(svc);
            match tls {
                None => {
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                }
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Binds `addr`, retrying briefly: the port of a just-stopped sink may take a moment to be free again.
async fn bind_retrying(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("cannot bind the sink to {addr}");
}
