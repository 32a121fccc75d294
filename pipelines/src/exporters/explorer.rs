//! Exporter `explorer`: reads the GenAI requests out of each trace batch that reaches it and adds them to the
//! explorer's store ([`crate::explorer::RequestStore`]), which the admin endpoint's request explorer page reads.
//! Nothing leaves the process; the work per batch is one pass over its spans and one short lock.

use std::sync::Arc;

use crate::explorer::{RequestStore, requests};
use crate::payload::Payload;
use crate::stage::{BoxFuture, ExportError, Exported, Exporter};

/// The explorer exporter.
#[derive(Debug)]
pub struct ExplorerExporter {
    store: Arc<RequestStore>,
}

impl ExplorerExporter {
    /// An exporter filling `store`.
    pub fn new(store: Arc<RequestStore>) -> Self {
        Self { store }
    }
}

impl Exporter for ExplorerExporter {
    fn export(&self, batch: Payload) -> BoxFuture<'_, Result<Exported, ExportError>> {
        if let Payload::Traces(spans) = &batch {
            self.store.add(requests(spans));
        }
        Box::pin(async { Ok(Exported::default()) })
    }
}
