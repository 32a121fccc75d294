//! The request explorer's data, from spans the pipeline already carries: [`summary`] reads one GenAI request from
//! its spans (the sidecar's or another program's), [`store`] keeps bounded samples of them in latency buckets.
//! The `explorer` exporter ([`crate::exporters::explorer`]) fills the store; `collector`'s admin endpoint serves it.

pub mod store;
pub mod summary;

pub use store::{Limits, RequestStore};
pub use summary::{RequestSummary, requests};
