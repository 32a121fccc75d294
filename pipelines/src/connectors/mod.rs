//! Connectors: an exporter at the end of one pipeline and a receiver at the start of another. Batches come from the
//! connector's queue, filled by the pipelines that export to it; what it makes goes into the pipelines that receive
//! from it, possibly of another signal (`genai_metrics` turns spans into metrics).

pub mod forward;
pub mod genai_metrics;
