//! The HTTP side of the `prometheus` exporter: `GET /metrics` on its endpoint (default `127.0.0.1:9464`), in text
//! format 0.0.4, or OpenMetrics 1.0 when the scraper's `Accept` asks for it (real Prometheus does), gzip-compressed
//! when the scraper accepts gzip. It reads the exporter's store ([`Shared`]) and answers the scraper. Over TLS and
//! behind a bearer token when the exporter's `tls:` and `auth:` say so (`crate::listen`).
//!
//! Negotiation and rendering run on a blocking thread under one short hold of the store's lock and produce a
//! string; compression and sending happen after the lock is released, so a slow scraper never holds the store.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::shared::Shared;
use crate::listen::bearer::Bearer;
use crate::listen::incoming::Incoming;

/// Serves `/metrics` from `store` on the connections of `listener` until its stop (the exporter's); with `bearer`, only to scrapers
/// that send its token.
pub(super) fn spawn(id: String, listener: Incoming, bearer: Option<Arc<Bearer>>, store: Shared) {
    let app = Router::new().route("/metrics", get(scrape));
    let app = crate::listen::bearer::layer(app, bearer).with_state(store);
    tokio::spawn(async move {
        // A scrape that connected just before the stop (a reload's hand-over) still gets its answer.
        let stopped = listener.settled();
        let serve = axum::serve(listener, app).with_graceful_shutdown(stopped);
        if let Err(e) = serve.await {
            tracing::error!(exporter = %id, error = %e, "prometheus endpoint stopped with an error");
        }
    });
}

async fn scrape(State(store): State<Shared>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let rendered = tokio::task::spawn_blocking(move || {
        let (format, text) = {
            let mut store = store.lock();
            let format = store.negotiate(accept.as_deref());
            (format, store.render(format))
        };
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(text.len() / 8),
                flate2::Compression::fast(),
            );
            enc.write_all(text.as_bytes())
                .and_then(|()| enc.finish())
                .map(|b| (format, b, true))
        } else {
            Ok((format, text.into_bytes(), false))
        }
    })
    .await;
    match rendered {
        Ok(Ok((format, body, gzipped))) => {
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
