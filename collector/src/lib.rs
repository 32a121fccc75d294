//! llmtel's network edges and their wiring. Data enters through the receivers ([`receivers`], and those of
//! `llmtel-instrument`), flows through the pipelines of `llmtel-pipelines`, and leaves through the exporters
//! ([`exporters`], and those of `llmtel-pipelines`); [`factory`] builds each from its config, and [`start`] /
//! [`run`] bring a whole config up and down. On SIGHUP, [`run_reloading`] starts the re-read config as a new
//! generation beside the running one, hands it the listening sockets ([`listeners`]), then drains the old one
//! ([`Running::reload`]; the rest of the reload in [`reload`]). Beside the flow: the admin endpoint ([`admin`]) with llmtel's own
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
// The listening sockets, handed from one generation to the next on a reload.
pub mod listeners;
// A graceful stop for axum servers that lets a client who just connected have its answer.
pub mod gate;
// Every component, built from its config.
pub mod factory;
// Reload on SIGHUP: the config source, the refusal's log lines, the counters.
pub mod reload;
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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llmtel_config::ValidConfig;
use llmtel_pipelines::{BuildError, Factory, ShutdownReport, Stats, Topology};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use factory::CollectorFactory;
pub use listeners::Listeners;

use crate::telemetry::SelfTelemetry;

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
    admin: Option<Admin>,
    telemetry: Arc<SelfTelemetry>,
    explorer: explorer::ExplorerHub,
    listeners: Listeners,
    shutdown_timeout: Duration,
    /// Generations replaced by a reload, draining or drained (one small handle per reload: `stop` reports them all).
    retiring: Vec<JoinHandle<ShutdownReport>>,
}

/// The running admin endpoint.
#[derive(Debug)]
struct Admin {
    cfg: llmtel_config::AdminConfig,
    shutdown: CancellationToken,
    serve: JoinHandle<()>,
}

impl Admin {
    async fn start(
        cfg: &llmtel_config::AdminConfig,
        ready: &Arc<AtomicBool>,
        telemetry: &Arc<SelfTelemetry>,
        explorer: &explorer::ExplorerHub,
        listeners: &Listeners,
    ) -> Result<Admin, RunError> {
        let shutdown = CancellationToken::new();
        let (addr, serve) = admin::start(
            cfg,
            ready.clone(),
            telemetry.clone(),
            explorer.clone(),
            shutdown.clone(),
        )
        .await
        .map_err(|e| RunError::Build(e.into()))?;
        listeners.record("admin", addr);
        Ok(Admin {
            cfg: cfg.clone(),
            shutdown,
            serve: tokio::spawn(serve),
        })
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.serve).await;
    }
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
    let admin_cfg = &cfg.service.telemetry.admin;
    let admin = if admin_cfg.enabled {
        Some(Admin::start(admin_cfg, &ready, &telemetry, &explorer, &listeners).await?)
    } else {
        None
    };
    let topology = match Topology::start(cfg, factory, stats).await {
        Ok(t) => t,
        Err(e) => {
            if let Some(a) = admin {
                a.stop().await;
            }
            return Err(e.into());
        }
    };
    ready.store(true, Ordering::Relaxed);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "llmtel is ready");
    Ok(Running {
        topology,
        ready,
        admin,
        telemetry,
        explorer,
        listeners,
        // The sidecar drains first, while the pipelines still take its spans; then the queues drain.
        shutdown_timeout: cfg.service.shutdown_timeout.get() + cfg.max_drain(),
        retiring: Vec::new(),
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

    /// Replaces the running pipelines with those of `cfg`, built by `factory` (which must bind through this
    /// `Running`'s [`Listeners`], as [`CollectorFactory::next_generation`] does). The new generation starts first,
    /// handed the sockets of every listener whose address did not change, so no client is refused; then the old one
    /// stops accepting and drains its queues and its requests in flight in the background, within its
    /// `service.shutdown_timeout`, as at shutdown. The counters carry on; `/readyz` stays ready. If the new
    /// generation cannot start (a new port that cannot be bound, say), what it started is stopped, the old one
    /// keeps running untouched, and the error is returned.
    pub async fn reload(
        &mut self,
        cfg: &ValidConfig,
        factory: &dyn Factory,
    ) -> Result<(), RunError> {
        let generation = self.listeners.begin();
        let admin_cfg = &cfg.service.telemetry.admin;
        let wanted = admin_cfg.enabled.then_some(admin_cfg);
        // `Some(new)` when the admin endpoint's settings change (or it turns on or off); it stays up otherwise.
        let new_admin = if wanted == self.admin.as_ref().map(|a| &a.cfg) {
            None
        } else if let Some(admin_cfg) = wanted {
            let started = Admin::start(
                admin_cfg,
                &self.ready,
                &self.telemetry,
                &self.explorer,
                &self.listeners,
            )
            .await;
            match started {
                Ok(a) => Some(Some(a)),
                Err(e) => {
                    self.listeners.abort(generation);
                    return Err(e);
                }
            }
        } else {
            Some(None)
        };
        let stats = self.topology.stats().clone();
        let topology = match Topology::start(cfg, factory, stats).await {
            Ok(t) => t,
            Err(e) => {
                self.listeners.abort(generation);
                if let Some(Some(a)) = new_admin {
                    a.stop().await;
                }
                return Err(e.into());
            }
        };
        self.listeners.commit(generation);
        let old = std::mem::replace(&mut self.topology, topology);
        let timeout = self.shutdown_timeout;
        self.retiring.push(tokio::spawn(async move {
            let report = old.shutdown(timeout).await;
            if report.drained {
                tracing::info!("the replaced generation drained: every queue delivered");
            }
            report
        }));
        self.shutdown_timeout = cfg.service.shutdown_timeout.get() + cfg.max_drain();
        if let Some(admin) = new_admin
            && let Some(old) = std::mem::replace(&mut self.admin, admin)
        {
            old.stop().await;
        }
        Ok(())
    }

    /// Graceful stop: `/readyz` turns 503 at once; receivers stop accepting, the sidecar lets requests in flight
    /// finish within its `drain_timeout` (its spans still flow into the running pipelines), queued data drains to
    /// exporters; all within `drain_timeout` + `service.shutdown_timeout` (a generation replaced by a reload and
    /// still draining finishes within its own); then the admin endpoint closes.
    pub async fn stop(self) -> ShutdownReport {
        self.ready.store(false, Ordering::Relaxed);
        tracing::info!(timeout = ?self.shutdown_timeout, "shutting down: draining queued telemetry");
        let mut report = self.topology.shutdown(self.shutdown_timeout).await;
        for retiring in self.retiring {
            match retiring.await {
                Ok(r) => {
                    report.drained &= r.drained;
                    report.items_lost += r.items_lost;
                    report.unfinished.extend(r.unfinished);
                }
                Err(e) => {
                    tracing::error!(error = %e, "a replaced generation's drain ended abnormally");
                    report.drained = false;
                }
            }
        }
        if let Some(a) = self.admin {
            a.stop().await;
        }
        self.telemetry.shutdown();
        if report.drained {
            tracing::info!("shutdown complete: every queue drained");
        }
        report
    }
}

/// Runs `cfg` until SIGINT or SIGTERM, then stops gracefully. SIGHUP is ignored (logged): use [`run_reloading`].
pub async fn run(cfg: ValidConfig) -> Result<ShutdownReport, RunError> {
    run_reloading(cfg, None).await
}

/// Runs `cfg` until SIGINT or SIGTERM, then stops gracefully; on SIGHUP re-reads the config from `source` and,
/// if it is valid, replaces the running generation with it ([`Running::reload`]); if not, logs every error and
/// keeps running as before. Each reload is counted on the admin endpoint ([`reload`]).
pub async fn run_reloading(
    cfg: ValidConfig,
    source: Option<reload::ConfigSource>,
) -> Result<ShutdownReport, RunError> {
    // Before anything starts: SIGHUP's default action ends the process.
    let mut signals = Signals::new();
    let mut factory = CollectorFactory::for_config(&cfg);
    let mut running = start_with_explorer(
        &cfg,
        &factory,
        factory.listeners.clone(),
        factory.explorer().clone(),
    )
    .await?;
    while signals.next().await == Wake::Reload {
        let Some(source) = &source else {
            tracing::warn!("received SIGHUP: this llmtel has no config to re-read; ignored");
            continue;
        };
        tracing::info!("received SIGHUP: reloading the config");
        let cfg = match source() {
            Ok(cfg) => cfg,
            Err(e) => {
                reload::refused(&e);
                reload::record(false);
                continue;
            }
        };
        let next = factory.next_generation(&cfg);
        match running.reload(&cfg, &next).await {
            Ok(()) => {
                factory = next;
                reload::record(true);
                tracing::info!(
                    "config reloaded: the new pipelines are running, the old ones drain"
                );
            }
            Err(e) => {
                reload::refused(&e.to_string());
                reload::record(false);
            }
        }
    }
    Ok(running.stop().await)
}

/// What woke the run loop.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Stop,
    Reload,
}

/// SIGINT, SIGTERM and SIGHUP, listened for from creation on.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for {name}");
                    None
                }
            };
            Self {
                term: listen(SignalKind::terminate(), "SIGTERM; stopping on SIGINT only"),
                hup: listen(SignalKind::hangup(), "SIGHUP; no reload"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn next(&mut self) -> Wake {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { tracing::info!("received SIGINT"); Wake::Stop }
                () = recv(&mut self.term) => { tracing::info!("received SIGTERM"); Wake::Stop }
                () = recv(&mut self.hup) => Wake::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Wake::Stop
        }
    }
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
