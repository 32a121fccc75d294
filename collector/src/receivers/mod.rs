//! Receivers with a socket of their own in this crate, where data enters llmtel from other programs. Each pushes
//! what it accepts into the pipelines through an [`llmtel_pipelines::Output`] and refuses (retryably) when their
//! queues are full. The receivers that watch the model server (`llm_proxy`, `ollama`, `gpu`) live in
//! `llmtel-instrument`; [`crate::factory`] builds them all from config.

pub mod otlp;
pub mod prometheus;
