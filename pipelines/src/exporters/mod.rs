//! Exporters that need no network. Batches come from each exporter's own queue, filled by the pipelines that list
//! it; they leave the process here. Exporters that open sockets (`otlp`, `otlp_http`, `prometheus`) live in the
//! `collector` crate, which owns the network edges; the translation `prometheus` serves is [`crate::prometheus`].

pub mod debug;
pub mod explorer;
