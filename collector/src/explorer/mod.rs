//! The request explorer, served by the admin endpoint ([`crate::admin`]) on its bind: one page (`/`, HTML with a
//! little inline JavaScript, no external assets) and the JSON behind each of its views ([`json`]). Its data is
//! what the process already has: the `llm_proxy` receivers' list of requests in flight, the `explorer` exporter's
//! store of recent requests (fed from the traces pipeline, so GenAI spans from other programs show too) and the
//! engine's counters per component.

pub mod json;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use llmtel_config::ExplorerExporterConfig;
use llmtel_instrument::proxy::live::LiveRequests;
use llmtel_pipelines::Stats;
use llmtel_pipelines::explorer::{Limits, RequestStore};

/// The page, compiled in.
const PAGE: &str = include_str!("page.html");

/// What the explorer reads, shared by the factory (which hands it to the proxies and the `explorer` exporter) and
/// the admin endpoint.
#[derive(Debug, Clone, Default)]
pub struct ExplorerHub {
    live: Arc<LiveRequests>,
    shown: Arc<OnceLock<Shown>>,
}

#[derive(Debug)]
struct Shown {
    /// The exporter whose store it is: after a reload (`crate::reload`) the same exporter keeps it.
    id: String,
    store: Arc<RequestStore>,
    trace_url: String,
}

impl ExplorerHub {
    /// The list of requests in flight.
    pub fn live(&self) -> Arc<LiveRequests> {
        self.live.clone()
    }

    /// The store for exporter `id`: the first `explorer` exporter built is the one the page shows; another gets
    /// a store of its own (and a warning), so two never count the same request twice. The exporter the page shows,
    /// built again by a reload, gets its store back, with the requests it holds.
    pub fn store_for(&self, id: &str, cfg: &ExplorerExporterConfig) -> Arc<RequestStore> {
        if let Some(shown) = self.shown.get().filter(|s| s.id == id) {
            return shown.store.clone();
        }
        let store = Arc::new(RequestStore::new(Limits::new(cfg)));
        let shown = self.shown.get_or_init(|| Shown {
            id: id.to_owned(),
            store: store.clone(),
            trace_url: cfg.trace_url.clone(),
        });
        if !Arc::ptr_eq(&shown.store, &store) {
            tracing::warn!(
                exporter = id,
                "a second explorer exporter: the request explorer page shows the first one only"
            );
        }
        store
    }
}

#[derive(Debug, Clone)]
struct ExplorerState {
    hub: ExplorerHub,
    stats: Stats,
}

/// The explorer's routes, for the admin endpoint's router.
pub fn routes<S: Clone + Send + Sync + 'static>(hub: ExplorerHub, stats: Stats) -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/explorer", get(page))
        .route("/api/inflight", get(inflight))
        .route("/api/requests", get(requests))
        .route("/api/requests/{id}", get(request))
        .route("/api/pipeline", get(pipeline))
        .with_state(ExplorerState { hub, stats })
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        v.to_string(),
    )
        .into_response()
}

async fn inflight(State(s): State<ExplorerState>) -> Response {
    json_response(StatusCode::OK, &json::inflight(&s.hub.live.snapshot()))
}

async fn requests(State(s): State<ExplorerState>, uri: Uri) -> Response {
    let snapshot = s
        .hub
        .shown
        .get()
        .map(|shown| shown.store.snapshot())
        .unwrap_or_default();
    let filter = json::Filter::parse(uri.query());
    json_response(StatusCode::OK, &json::requests(&snapshot, &filter))
}

async fn request(State(s): State<ExplorerState>, Path(id): Path<String>) -> Response {
    let Some(shown) = s.hub.shown.get() else {
        return json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "no explorer exporter is configured: no requests are kept"}),
        );
    };
    match shown.store.find(&id) {
        Some(r) => json_response(StatusCode::OK, &json::request(&r, &shown.trace_url)),
        None => json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": format!("request {id:?} is not (or no longer) among the samples kept")}),
        ),
    }
}

async fn pipeline(State(s): State<ExplorerState>) -> Response {
    json_response(StatusCode::OK, &json::pipeline(&s.stats))
}
