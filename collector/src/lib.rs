//! llmtel's network edges and their wiring. Data enters through the receivers ([`receivers`], and those of
//! `llmtel-instrument`), flows through the pipelines of `llmtel-pipelines`, and leaves through the exporters
//! ([`exporters`], and those of `llmtel-pipelines`); [`factory`] builds each from its config, and [`start`] /
//! [`run`] bring a whole config up and down. Beside the flow: the admin endpoint ([`admin`]) with llmtel's own
//! telemetry ([`telemetry`]), the commands ([`commands`]) and the command line ([`cli`]).

// Modules in the order data travels, then the admin side (a comment above each keeps rustfmt from sorting them).
// Stage 1: receivers with a socket in this crate (`otlp`).
pub mod receivers;
// Stage 4: exporters with a socket (`otlp`, `otlp_http`, `prometheus`).
pub mod exporters;
// Client TLS for the servers llmtel dials, used by receivers and exporters alike, and server TLS for listeners.
mod tls;
// What every listener shares: TLS-terminated connections and bearer auth.
mod listen;
// Every component, built from its config.
pub mod factory;
// The admin endpoint: health, readiness, llmtel's own metrics.
pub mod admin;
// The request explorer page and its JSON, on the admin endpoint.
pub mod explorer;
// llmtel's own logs and metrics.
pub mod telemetry;
// The commands beside `run`: `demo`, `report`.
pub mod commands;
// The command line.
pub mod cli;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llmtel_config::ValidConfig;
use llmtel_pipelines::{BuildError, Factory, ShutdownReport, Stats, Topology};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use factory::CollectorFactory;

use crate::telemetry::SelfTelemetry;

/// The addresses llmtel's listeners actually bound, by name (`"otlp otlp grpc"`, `"admin"`): with port 0 in the
/// config, this is how a caller learns the port.
#[derive(Debug, Clone, Default)]
pub struct Listeners(Arc<Mutex<Vec<(String, SocketAddr)>>>);

impl Listeners {
    /// Records a bound address.
    pub fn record(&self, name: &str, addr: SocketAddr) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_owned(), addr));
    }

    /// The address bound under `name`.
    pub fn get(&self, name: &str) -> Option<SocketAddr> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }
}

/// Why llmtel could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pipeline graph could not be built, or a receiver could not bind.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The admin endpoint or self-telemetry could not start.
    #[error("{0}")]
    Telemetry(String),
}

/// A running llmtel.
#[derive(Debug)]
pub struct Running {
    topology: Topology,
    ready: Arc<AtomicBool>,
    admin_shutdown: CancellationToken,
    admin: Option<JoinHandle<()>>,
    telemetry: Arc<SelfTelemetry>,
    listeners: Listeners,
    shutdown_timeout: Duration,
}

/// Starts everything `cfg` describes with `factory` and returns once every listener is bound. The explorer page
/// shows nothing of a factory other than [`CollectorFactory`]: use [`start_with_explorer`] with its hub.
pub async fn start(
    cfg: &ValidConfig,
    factory: &dyn Factory,
    listeners: Listeners,
) -> Result<Running, RunError> {
    start_with_explorer(cfg, factory, listeners, explorer::ExplorerHub::default()).await
}

/// [`start`], with the admin endpoint's request explorer showing `explorer` (the factory's
/// [`CollectorFactory::explorer`]).
pub async fn start_with_explorer(
    cfg: &ValidConfig,
    factory: &dyn Factory,
    listeners: Listeners,
    explorer: explorer::ExplorerHub,
) -> Result<Running, RunError> {
    let stats = Stats::default();
    let telemetry = Arc::new(SelfTelemetry::new(cfg, &stats).map_err(RunError::Telemetry)?);
    let ready = Arc::new(AtomicBool::new(false));
    let admin_shutdown = CancellationToken::new();
    let admin_cfg = &cfg.service.telemetry.admin;
    let admin = if admin_cfg.enabled {
        let (addr, serve) = admin::start(
            admin_cfg,
            ready.clone(),
            telemetry.clone(),
            explorer,
            admin_shutdown.clone(),
        )
        .await
        .map_err(|e| RunError::Build(e.into()))?;
        listeners.record("admin", addr);
        Some(tokio::spawn(serve))
    } else {
        None
    };
    let topology = match Topology::start(cfg, factory, stats).await {
        Ok(t) => t,
        Err(e) => {
            admin_shutdown.cancel();
            return Err(e.into());
        }
    };
    ready.store(true, Ordering::Relaxed);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "llmtel is ready");
    Ok(Running {
        topology,
        ready,
        admin_shutdown,
        admin,
        telemetry,
        listeners,
        // The sidecar drains first, while the pipelines still take its spans; then the queues drain.
        shutdown_timeout: cfg.service.shutdown_timeout.get() + cfg.max_drain(),
    })
}

impl Running {
    /// The addresses bound.
    pub fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    /// Every component's counters.
    pub fn stats(&self) -> &Stats {
        self.topology.stats()
    }

    /// llmtel's own metrics as Prometheus text.
    pub fn render_self_metrics(&self) -> Result<String, String> {
        self.telemetry.render()
    }

    /// Graceful stop: `/readyz` turns 503 at once; receivers stop accepting, the sidecar lets requests in flight
    /// finish within its `drain_timeout` (its spans still flow into the running pipelines), queued data drains to
    /// exporters; all within `drain_timeout` + `service.shutdown_timeout`; then the admin endpoint closes.
    pub async fn stop(self) -> ShutdownReport {
        self.ready.store(false, Ordering::Relaxed);
        tracing::info!(timeout = ?self.shutdown_timeout, "shutting down: draining queued telemetry");
        let report = self.topology.shutdown(self.shutdown_timeout).await;
        self.admin_shutdown.cancel();
        if let Some(a) = self.admin {
            let _ = tokio::time::timeout(Duration::from_secs(2), a).await;
        }
        self.telemetry.shutdown();
        if report.drained {
            tracing::info!("shutdown complete: every queue drained");
        }
        report
    }
}

/// Runs `cfg` until SIGINT or SIGTERM, then stops gracefully.
pub async fn run(cfg: ValidConfig) -> Result<ShutdownReport, RunError> {
    let factory = CollectorFactory::for_config(&cfg);
    let running = start_with_explorer(
        &cfg,
        &factory,
        factory.listeners.clone(),
        factory.explorer().clone(),
    )
    .await?;
    wait_for_signal().await;
    Ok(running.stop().await)
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
                    _ = term.recv() => tracing::info!("received SIGTERM"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
