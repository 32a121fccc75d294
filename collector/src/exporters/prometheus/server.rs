//! The HTTP side of the `prometheus` exporter: `GET /metrics` on its endpoint (default `127.0.0.1:9464`), in text
//! format 0.0.4, or OpenMetrics 1.0 when the scraper's `Accept` asks for it (real Prometheus does), gzip-compressed
//! when the scraper accepts gzip. Rendering runs on a blocking thread and produces a string, so a slow scraper never
//! holds the store.

use std::io::Write;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use llmtel_config::{ComponentId, PrometheusExporterConfig};
use llmtel_pipelines::prometheus::PromStore;
use llmtel_pipelines::{BoxFuture, BuildError, ExportError, Exported, Exporter, Payload};
use tokio_util::sync::CancellationToken;

use super::PrometheusExporter;
use crate::Listeners;

/// The exporter together with the endpoint serving its store.
#[derive(Debug)]
pub struct PrometheusEndpoint {
    inner: PrometheusExporter,
    stop: CancellationToken,
}

/// Binds the endpoint (a taken address fails the start with a clear error) and starts serving it.
pub fn build(
    id: &ComponentId,
    cfg: &PrometheusExporterConfig,
    listeners: &Listeners,
) -> Result<PrometheusEndpoint, BuildError> {
    let err = |message: String| BuildError::Component {
        component: format!("exporters.{id}"),
        message,
    };
    let endpoint = cfg.endpoint.as_str();
    let std_listener =
        std::net::TcpListener::bind(endpoint).map_err(|e| err(format!("bind {endpoint}: {e}")))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| err(format!("{endpoint}: {e}")))?;
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .map_err(|e| err(format!("{endpoint}: {e}")))?;
    let local = listener.local_addr().map_err(|e| err(e.to_string()))?;
    tracing::info!(exporter = %id, endpoint = %local, "prometheus exporter listening on /metrics");
    listeners.record(&format!("{id} prometheus"), local);

    let store = PromStore::new(cfg);
    let stop = CancellationToken::new();
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(store.clone());
    let shutdown = stop.clone();
    let id_text = id.to_string();
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(exporter = %id_text, error = %e, "prometheus endpoint stopped with an error");
        }
    });
    Ok(PrometheusEndpoint {
        inner: PrometheusExporter::new(id.as_str(), cfg, store),
        stop,
    })
}

async fn scrape(State(store): State<PromStore>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = store.negotiate(accept);
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let rendered = tokio::task::spawn_blocking(move || {
        let text = store.render(format);
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(text.len() / 8),
                flate2::Compression::fast(),
            );
            enc.write_all(text.as_bytes())
                .and_then(|()| enc.finish())
                .map(|b| (b, true))
        } else {
            Ok((text.into_bytes(), false))
        }
    })
    .await;
    match rendered {
        Ok(Ok((body, gzipped))) => {
            let mut resp = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
            if gzipped {
                resp.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            resp
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("compress: {e}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("render: {e}\n")).into_response(),
    }
}

impl Exporter for PrometheusEndpoint {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        self.inner.export(batch)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.stop.cancel();
        self.inner.shutdown()
    }
}
