//! Exporters that own a socket, where data leaves llmtel: `otlp` / `otlp_http` forward batches to a backend,
//! `prometheus` serves the metrics that reach it on `/metrics`, `prometheusremotewrite` (`remote_write`) pushes them
//! to a Prometheus-compatible store. The retry rules, backoff and retry loop the pushing exporters share are in `retry.rs`, their HTTP POST in
//! `post.rs`. Batches come from each exporter's queue in the
//! pipeline engine (`llmtel-pipelines`), which also holds the exporters that need no network (`debug`);
//! [`crate::factory`] builds them all from config.

pub mod otlp;
pub(crate) mod post;
pub mod prometheus;
pub mod remote_write;
pub(crate) mod retry;
