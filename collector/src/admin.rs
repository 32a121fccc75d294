//! The admin endpoint (default `127.0.0.1:8888`): `/healthz` (the process is up), `/readyz` (every receiver is
//! listening, llmtel is not shutting down and no exporter is wedged: a full queue and no successful export for a
//! minute) and `/metrics` (llmtel's own metrics, Prometheus text format); beside them, on the same bind, the
//! request explorer's page and JSON ([`crate::explorer`]). With `tls:` it serves HTTPS; with `auth:` the metrics
//! and the explorer need the bearer token, while `/healthz` and `/readyz` stay open for probes (they tell nothing
//! but up and ready).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use llmtel_pipelines::{BoxFuture, StartError};
use tokio_util::sync::CancellationToken;

use crate::explorer::ExplorerHub;
use crate::telemetry::SharedTelemetry;

#[derive(Debug, Clone)]
struct AdminState {
    ready: Arc<AtomicBool>,
    telemetry: SharedTelemetry,
}

/// Binds the admin endpoint; returns its address and the future serving it until `shutdown`.
pub async fn start(
    cfg: &llmtel_config::AdminConfig,
    ready: Arc<AtomicBool>,
    telemetry: SharedTelemetry,
    explorer: ExplorerHub,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, BoxFuture<'static, ()>), StartError> {
    let err = |message: String| StartError {
        component: "service.telemetry.admin".to_owned(),
        message,
    };
    const SETTINGS: &str = "service.telemetry.admin";
    let endpoint = cfg.endpoint.as_str();
    let guard = crate::listen::Guard::build(
        SETTINGS,
        SETTINGS,
        &cfg.tls,
        Some(&cfg.auth),
        crate::tls::ALPN_H2_HTTP1,
    )
    .map_err(err)?;
    let listener = tokio::net::TcpListener::bind(endpoint)
        .await
        .map_err(|e| err(format!("bind {endpoint}: {e}")))?;
    let local = listener.local_addr().map_err(|e| err(e.to_string()))?;
    tracing::info!(endpoint = %local, "admin endpoint listening (/healthz, /readyz, /metrics)");
    tracing::info!(url = %format!("{}://{local}/", guard.scheme()), "request explorer page");
    let explorer = crate::explorer::routes(explorer, telemetry.stats().clone());
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .merge(explorer);
    let app = crate::listen::bearer::layer(guarded, guard.bearer())
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState { ready, telemetry });
    let listener = guard.incoming("admin endpoint", listener, local, shutdown.clone());
    Ok((
        local,
        Box::pin(async move {
            let serve =
                axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "admin endpoint stopped with an error");
            }
        }),
    ))
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if !s.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response();
    }
    let wedged = s.telemetry.wedged_exporters();
    if wedged.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!(
            "not ready: exporter {} has a full queue and no successful export for 60s\n",
            wedged.join(", ")
        );
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(s): State<AdminState>) -> Response {
    match s.telemetry.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("render metrics: {e}\n"),
        )
            .into_response(),
    }
}
