//! Support for llmtel's end-to-end tests: a capturing exporter that can be held shut, llmtel in-process with it,
//! the real `llmtel` binary as a child process, and a small HTTP client. Every listener is `127.0.0.1:0`; every
//! process a test starts is stopped when its handle drops.
//!
//! A fixture that cannot do its job (a port, a process, a file it needs) fails the test that uses it: it panics
//! saying what it was doing and why, as a failed assertion would, instead of handing every test an error to
//! unwrap. Nothing here unwraps silently; shared state survives a panicking test thread (see `lock.rs`).

pub mod cdp;
pub mod compliance;
pub mod emulator;
pub mod exposer;
pub mod gpu;
pub mod node_exporter;
pub mod prom;
pub mod py;
pub mod sink;
pub mod traces;
pub mod victoria;

// The fixtures behind the re-exports below, each used through its item at the crate root.
mod capture;
mod config;
mod http;
mod lock;
mod otlp;
mod process;
mod scrape;
mod wait;

pub use self::capture::{Capture, CaptureFactory, Captured, start_in_process};
pub use self::config::{default_config_on_port_zero, write_temp};
pub use self::http::{HttpAnswer, SdkHttpClient, http_request, raw_upstream, try_http_request};
pub use self::otlp::trace_request;
pub use self::process::{LlmtelProcess, llmtel_binary};
pub use self::scrape::{sample_value, scrape_value, scrape_value_or_zero};
pub use self::wait::{exports_settled, exports_settled_at, wait_until, wait_until_async};
