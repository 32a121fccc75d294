//! The model server behind the sidecar: which kind it is ([`detect`]: Ollama, llama.cpp, vLLM, SGLang, or an
//! OpenAI-compatible server of unknown kind) and whether it is up ([`watch`], polling each kind's own health
//! endpoint). The `llm_proxy` receiver runs one [`UpstreamWatch`] and reads its [`Provider`] into every span
//! and its [`UpState`] into the `llmtel.upstream.up` gauge; the `ollama` receiver uses [`detect`] to learn that
//! its endpoint is not Ollama. Beside the watch, a [`ContextWatch`] learns the loaded models' context windows
//! ([`context`]) for the requests' `llmtel.context.*` attributes. [`probe`] is the one bounded GET they all go
//! through.

pub mod context;
pub mod detect;
pub mod probe;
pub mod provider;
pub mod watch;

pub use self::context::{ContextWatch, ContextWindows};
pub use self::detect::ServerKind;
pub use self::provider::Provider;
pub use self::watch::{AUTO, UpState, UpstreamWatch};
