//! Receiver `llm_proxy`: a transparent reverse proxy in front of an LLM server.
//!
//! Requests arrive over HTTP/1.1 or h2c on `listen` ([`serve`]) and go to `upstream` over pooled keep-alive
//! HTTP/1.1 connections that the proxy drives itself ([`forward`], [`h1`]). For the APIs the proxy understands ([`crate::stream::Api`]) the request body is
//! read whole (bounded) to learn the model and options ([`request`]); everything else streams through untouched
//! with a plain HTTP span. Responses go back with the upstream's status, headers (less hop-by-hop ones,
//! [`headers`]) and bytes, as they come: what one read of the upstream brought, in one write ([`body`]); a copy of each chunk feeds the request's tracker
//! ([`record`]), which emits the spans when the body ends. A request the proxy cannot relay gets an
//! [`error::ProxyError`] in the client's dialect. Each request's spans go into this receiver's pipelines as one
//! OTLP batch ([`span`]); the in-flight gauge is an SDK metric ([`telemetry`]). Beside the requests, an
//! [`UpstreamWatch`] learns which server the upstream is (for `gen_ai.provider.name`, unless the config names
//! it) and checks its health (`llmtel.upstream.up`), and a [`ContextWatch`] learns its models' context windows.
//! The sidecar's limits: at most `max_concurrent_requests` at once ([`limit`]), a `write_timeout` for clients that
//! stop reading ([`stall`]), and at shutdown a `drain_timeout` for requests in flight ([`serve`]).
//!
//! With `tls:` clients speak HTTPS ([`serve`]); with `api_keys:` they must send a key ([`auth`]).
//!
//! This file wires the parts: config in, a bound listener and a running accept loop out.

mod auth;
mod baggage;
pub mod body;
mod concurrency;
mod error;
mod forward;
mod h1;
mod handle;
mod headers;
mod limit;
pub mod live;
mod record;
pub mod request;
mod serve;
mod span;
mod stall;
mod telemetry;

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use llmtel_config::LlmProxyConfig;
use llmtel_pipelines::events::{self, Event};
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use opentelemetry_sdk::Resource;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

pub(crate) use self::forward::http_client;
use self::forward::{Forwarder, Upstream};
use self::handle::State;
use self::record::Shared;
use self::record::server::{ServerSide, Thresholds};
use self::telemetry::Telemetry;
use crate::upstream::{ContextWatch, UpstreamWatch};

/// How long start-up waits for the first look at the upstream, so that the first requests' spans name the
/// server; past it llmtel starts anyway and the watch goes on in the background.
const FIRST_CHECK_WAIT: Duration = Duration::from_secs(1);

/// Gives the receiver its listening socket for `listen` (non-blocking): the caller's registry of sockets, which
/// hands a running socket over to the next generation on a reload.
pub type Bind = Box<dyn Fn(&str) -> std::io::Result<std::net::TcpListener> + Send + Sync>;

/// The `llm_proxy` receiver, built from its config.
pub struct LlmProxyReceiver {
    id: String,
    cfg: LlmProxyConfig,
    resource: Resource,
    tls: Arc<rustls::ClientConfig>,
    on_bound: Box<dyn Fn(SocketAddr) + Send + Sync>,
    bind: Option<Bind>,
    energy: Option<Arc<crate::energy::Ledger>>,
    live: Option<Arc<live::LiveRequests>>,
    server_tls: Option<Arc<rustls::ServerConfig>>,
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
            bind: None,
            energy: None,
            live: None,
            server_tls: None,
        }
    }

    /// Gives each model request its share of GPU energy from `ledger` (fed by a `gpu` receiver), over the GPUs
    /// `gpus` in the config names.
    pub fn with_energy(mut self, ledger: Arc<crate::energy::Ledger>) -> Self {
        self.energy = Some(ledger);
        self
    }
}

impl LlmProxyReceiver {
    /// Takes the listening socket from `bind` instead of binding `listen` itself.
    pub fn with_bind(mut self, bind: Bind) -> Self {
        self.bind = Some(bind);
        self
    }

    /// Lists this receiver's requests in flight in `registry` (the request explorer's page shows them).
    pub fn with_live(mut self, registry: Arc<live::LiveRequests>) -> Self {
        self.live = Some(registry);
        self
    }
}

impl LlmProxyReceiver {
    /// Serves clients over TLS with `config` (built from the `tls:` settings by the caller, with ALPN `h2` and
    /// `http/1.1`), each handshake under `tls.handshake_timeout`.
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.server_tls = Some(config);
        self
    }
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
            let settings = format!("receivers.{}", self.id);
            let api_keys = auth::ApiKeys::load(&self.id, &settings, &self.cfg.api_keys, |name| {
                std::env::var(name).ok()
            })
            .map_err(fail)?;
            let max_concurrent =
                NonZeroU64::new(self.cfg.max_concurrent_requests).ok_or_else(|| {
                    fail("max_concurrent_requests: 0: expected at least 1".to_owned())
                })?;
            let listen = self.cfg.listen.as_str();
            let listener = match &self.bind {
                Some(bind) => bind(listen).and_then(TcpListener::from_std),
                None => TcpListener::bind(listen).await,
            }
            .map_err(|e| fail(format!("bind {listen}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| fail(format!("bind {listen}: {e}")))?;
            (self.on_bound)(addr);
            if let Some(w) = llmtel_config::exposure_warning(
                "llm_proxy",
                addr.ip(),
                self.server_tls.is_some(),
                api_keys.is_some(),
                &settings,
                "api_keys (file or env)",
            ) {
                tracing::warn!(component = %self.id, endpoint = %addr, "{w}");
            }
            let tls = self.server_tls.clone().map(|config| serve::Tls {
                acceptor: tokio_rustls::TlsAcceptor::from(config),
                handshake_timeout: self.cfg.tls.handshake_timeout.get(),
            });
            let watch = UpstreamWatch::new(
                &self.id,
                &self.cfg.upstream,
                &self.cfg.provider,
                http_client(&self.tls, self.cfg.health_check_timeout.get()),
                self.cfg.health_check_interval.get(),
                self.cfg.health_check_timeout.get(),
            );
            let provider = watch.provider();
            let up = watch.up_state();
            let (first_tx, first_rx) = tokio::sync::oneshot::channel();
            // Ended with the proxy, or with this future if the proxy never serves.
            let watching =
                AbortOnDropHandle::new(tokio::spawn(watch.run(shutdown.clone(), first_tx)));
            // Not answering within the wait is no reason not to start: it is only logged, by the watch.
            let _ = tokio::time::timeout(FIRST_CHECK_WAIT, first_rx).await;
            let context = ContextWatch::new(
                &self.cfg.upstream,
                provider.clone(),
                http_client(&self.tls, self.cfg.health_check_timeout.get()),
                self.cfg.health_check_interval.get(),
                self.cfg.health_check_timeout.get(),
            );
            let windows = context.windows();
            let learning = AbortOnDropHandle::new(tokio::spawn(context.run(shutdown.clone())));
            let concurrency = Arc::default();

            let telemetry = Telemetry::start(
                &output,
                self.resource.clone(),
                self.cfg.metrics_interval.get(),
            );
            telemetry.watch_upstream(up, provider.clone(), (upstream.host.clone(), upstream.port));
            telemetry.watch_concurrency(&concurrency, (upstream.host.clone(), upstream.port));
            // Idle connections kept: as many as may be in flight at once, within reason.
            let max_idle =
                usize::try_from(self.cfg.max_concurrent_requests.min(1024)).unwrap_or(1024);
            let client = h1::Client::new(
                &upstream.uri,
                &self.tls,
                self.cfg.connect_timeout.get(),
                max_idle,
            );
            let tasks = TaskTracker::new();
            let state = Arc::new(State {
                shared: Arc::new(Shared {
                    spans: telemetry.spans.clone(),
                    in_flight: telemetry.in_flight.clone(),
                    provider,
                    server: (upstream.host.clone(), upstream.port),
                    capture_content: self.cfg.capture_content,
                    tasks: tasks.clone(),
                    events: output.clone(),
                    energy: self.energy.clone().map(|l| {
                        crate::energy::EnergyScope::new(
                            l,
                            crate::energy::GpuSelector::new(&self.cfg.gpus),
                        )
                    }),
                    server_side: ServerSide {
                        thresholds: Thresholds {
                            queued: self.cfg.queued_threshold.get(),
                            cold_load: self.cfg.cold_load_threshold.get(),
                        },
                        windows,
                        concurrency,
                        loads: Default::default(),
                    },
                    live: self.live.clone().map(|registry| live::LiveScope {
                        registry,
                        receiver: self.id.clone(),
                    }),
                    cut: CancellationToken::new(),
                }),
                forward: Forwarder::new(
                    &self.id,
                    upstream,
                    client,
                    self.cfg.response_timeout.get(),
                ),
                max_body: usize::try_from(self.cfg.max_request_body_size_mib << 20)
                    .unwrap_or(usize::MAX),
                read_timeout: self.cfg.read_timeout.get(),
                include_usage: self.cfg.include_usage,
                api_keys,
                limit: limit::Limit::new(max_concurrent),
                refused: events::counter(&self.id, Event::ProxyConcurrencyLimit),
                write_timeout: self.cfg.write_timeout.get(),
                stalled: events::counter(&self.id, Event::ProxyClientStalled),
            });
            let drain = serve::Drain {
                timeout: self.cfg.drain_timeout.get(),
                cut_count: events::counter(&self.id, Event::ProxyShutdownCut),
            };
            tracing::info!(component = %self.id, endpoint = %addr, upstream = %self.cfg.upstream,
                tls = tls.is_some(), api_keys = state.api_keys.is_some(), "llm_proxy listening");
            let id = self.id.clone();
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                serve::serve(&id, listener, tls, state, shutdown, drain).await;
                // A check under way has nothing to finish.
                drop((watching, learning));
                tasks.close();
                if tokio::time::timeout(Duration::from_secs(5), tasks.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "llm_proxy: some request telemetry did not finish within 5s of shutdown"
                    );
                }
                telemetry.shutdown().await;
                drop(output);
            });
            Ok(serve)
        })
    }
}
