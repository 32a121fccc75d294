//! llmtel's pipeline engine: the OTLP data model, the stage traits, bounded queues between stages, fan-out to
//! exporters, the processors and connectors that need no network, and the graph built from a validated config.
//!
//! Data comes in through receivers (implemented in `collector` and `instrument`, which own the sockets) and leaves
//! through exporters. This crate opens no sockets.

pub mod events;
pub mod graph;
pub mod payload;
mod persist;
pub mod prometheus;
mod queue;
mod runner;
pub mod stage;
pub mod stats;

/// Processors: synchronous, I/O-free transforms inside one pipeline.
pub mod processors {
    pub mod attributes;
    pub mod batch;
    pub mod metric_transform;
}

/// Exporters that need no network.
pub mod exporters {
    pub mod debug;
    pub mod prometheus;
}

/// Connectors: an exporter in one pipeline, a receiver in another.
pub mod connectors {
    pub mod forward;
    pub mod genai_metrics;
}

pub use graph::{BuildError, Factory, ShutdownReport, Topology, builtin_exporter};
pub use payload::{Payload, Signal};
pub use stage::{
    BoxFuture, Connector, ExportError, Exported, Exporter, Inbox, Output, Processor, Receiver,
    SendError, StartError,
};
pub use stats::{Snapshot, Stage, Stats};

/// The message of an error and its causes, each cause once (hyper's errors repeat their source's text), e.g.
/// `client error (Connect): tcp connect error: Connection refused (os error 111)`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
