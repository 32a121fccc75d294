//! llmtel's instrumentation of LLM servers: the sidecar proxy ([`proxy`]), the response stream parsers
//! ([`stream`]), the think/answer phase tracker ([`phase`]), and the bridge that turns the OpenTelemetry SDK's
//! spans and metrics into pipeline batches ([`sdk`]).
//!
//! Data flow: client → [`proxy`] → model server; the response is forwarded chunk by chunk and a copy of each
//! chunk goes to a per-request task that frames and decodes it ([`stream`]), tracks phases ([`phase`]) and, at the
//! end, emits the request's spans through `tracing` + `tracing-opentelemetry` into an SDK tracer provider whose
//! exporter ([`sdk`]) hands OTLP batches to the pipelines.

pub mod gpu;
pub mod ollama;
pub mod phase;
pub mod proxy;
pub mod sdk;
pub mod stream;

pub use ollama::OllamaReceiver;
pub use proxy::LlmProxyReceiver;
