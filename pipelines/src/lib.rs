//! llmtel's pipeline engine: the OTLP data model, the stage traits, bounded queues between stages, fan-out to
//! exporters, the processors and connectors that need no network, and the graph built from a validated config.
//!
//! Data comes in through receivers (implemented in `collector` and `instrument`, which own the sockets) and leaves
//! through exporters. This crate opens no sockets.

// Modules in the order data travels (a comment above each keeps rustfmt from sorting them by name).
// The data model: OTLP protobuf, one signal per batch.
pub mod payload;
// Stage 1 is the receivers, which own sockets and so live in `collector` and `instrument`; here are the stage
// traits and the handle receivers push into.
pub mod stage;
// The bounded queues between stages.
mod queue;
// What a batch holds in memory, which the queues count.
mod memsize;
// The memory_limiter's gate at a pipeline's inlet: refuses while the process's RSS is above its soft limit.
pub mod memory_gate;
// The persistent sending queue on disk (`sending_queue.storage`).
mod persist;
// Stage 2: processors, inside one pipeline.
pub mod processors;
// Stage 3: connectors, from the end of one pipeline into the start of others.
pub mod connectors;
// Stage 4: exporters that need no network.
pub mod exporters;
// The request explorer's store: GenAI requests read from spans, in latency buckets with bounded samples.
pub mod explorer;
// OTLP → Prometheus series → exposition text, served by `collector`'s `prometheus` exporter.
pub mod prometheus;
// What building the graph can fail with.
mod build_error;
// One task per exporter, taking batches from its queue.
mod runner;
// The graph built from config, which starts and stops all of the above.
pub mod graph;
// Counters of everything that passed, for self-telemetry.
pub mod stats;
// Typed warnings, counted per component and logged rate-limited.
pub mod events;

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
