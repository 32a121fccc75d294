//! llmtel's instrumentation of LLM servers: the sidecar proxy ([`proxy`]), the response stream parsers
//! ([`stream`]), the think/answer phase tracker ([`phase`]), the GPU and model-server samplers ([`gpu`],
//! [`ollama`]), this machine's CPU, memory, disks and network ([`host`]), which model server the sidecar fronts
//! and whether it is up ([`upstream`]), and the bridge that turns the OpenTelemetry SDK's live metrics into pipeline batches ([`sdk`]).
//!
//! Data flow: client → [`proxy`] → model server; the response is forwarded chunk by chunk and a copy of each
//! chunk goes to a per-request task that frames and decodes it ([`stream`]), tracks phases ([`phase`]) and, at the
//! end, makes the request's spans (the request span with its `think` and `answer` children) as OTLP and hands
//! them to the pipelines as one batch. Live values (requests in flight, GPU, loaded models) are SDK metrics
//! whose exporter ([`sdk`]) hands OTLP batches to the pipelines.

pub mod energy;
pub mod gpu;
pub mod host;
pub mod ollama;
pub mod phase;
pub mod proxy;
pub mod sdk;
pub mod stream;
pub mod upstream;

pub use ollama::OllamaReceiver;
pub use proxy::LlmProxyReceiver;
