//! Settings of each receiver type (`otlp`, `llm_proxy`, `ollama`, `gpu`) and [`ReceiverConfig`], which decodes
//! one by its type. The `///` docs on each field are the user manual: `docs/config.md` points here.

use serde_json::Value;

use super::Signal;
use crate::config_struct;
use crate::decode::{Check, Ctx, Decode, as_map, child, reject_unknown_keys};
use crate::types::{Duration, Endpoint};

/// A configured receiver.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "decoded once per receiver at start-up; a box would only add noise to every match"
)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and HTTP from other programs.
    Otlp(OtlpReceiverConfig),
    /// `llm_proxy`: the sidecar in front of an LLM server; a trace per request and live request metrics.
    LlmProxy(LlmProxyConfig),
    /// `ollama`: the state of an Ollama server (loaded models, VRAM, version, up).
    Ollama(OllamaReceiverConfig),
    /// `gpu`: NVIDIA GPU metrics from NVML.
    Gpu(GpuReceiverConfig),
    /// `prometheus`: scrapes Prometheus and OpenMetrics endpoints into OTLP metrics.
    Prometheus(super::PrometheusReceiverConfig),
    /// `host`: this machine's CPU, memory, load, filesystems, disks and network (`super::host`).
    Host(super::HostReceiverConfig),
}

/// Receiver types this build knows.
pub const RECEIVER_TYPES: &[&str] = &["otlp", "llm_proxy", "ollama", "gpu", "prometheus", "host"];

impl ReceiverConfig {
    /// Decodes the settings of a receiver of type `kind`.
    pub fn decode_kind(kind: &str, value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match kind {
            "otlp" => OtlpReceiverConfig::decode(value, path, ctx).map(Self::Otlp),
            "llm_proxy" => LlmProxyConfig::decode(value, path, ctx).map(Self::LlmProxy),
            "ollama" => OllamaReceiverConfig::decode(value, path, ctx).map(Self::Ollama),
            "gpu" => GpuReceiverConfig::decode(value, path, ctx).map(Self::Gpu),
            "prometheus" => {
                super::PrometheusReceiverConfig::decode(value, path, ctx).map(Self::Prometheus)
            }
            "host" => super::HostReceiverConfig::decode(value, path, ctx).map(Self::Host),
            _ => None,
        }
    }

    /// The signals this receiver can produce.
    pub fn signals(&self) -> &'static [Signal] {
        match self {
            Self::Otlp(_) => &Signal::ALL,
            Self::LlmProxy(_) => &[Signal::Traces, Signal::Metrics],
            Self::Ollama(_) | Self::Gpu(_) => &[Signal::Metrics],
            Self::Prometheus(_) => &[Signal::Metrics],
            Self::Host(_) => &[Signal::Metrics],
        }
    }
}

config_struct! {
    /// Receiver `gpu`: per NVIDIA GPU, utilisation, memory, temperature, power, energy, clocks, fan, PCIe
    /// throughput, throttle reasons and per-process memory, read through NVML (loaded at run time). Without a GPU
    /// or driver it warns once and llmtel runs on.
    pub struct GpuReceiverConfig {
        /// How often to sample (and to send the metrics on).
        interval: Duration = Duration::from_secs(5),
    }
}

impl Check for GpuReceiverConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.interval.get().is_zero() {
            ctx.error(
                &child(path, "interval"),
                "0s: expected a duration above zero",
            );
        }
    }
}

config_struct! {
    /// Receiver `ollama`: polls an Ollama server's `/api/ps` and `/api/version` and reports, per loaded model, its
    /// size, VRAM size, context length and expiry, the server version, and whether the server answers at all.
    /// Every server's health, Ollama's included, is the sidecar's `llmtel.upstream.up`.
    pub struct OllamaReceiverConfig {
        /// The Ollama server, `http://host:port` or `https://host:port`.
        endpoint: String = "http://127.0.0.1:11434".to_owned(),
        /// How often to poll (and to send the metrics on).
        interval: Duration = Duration::from_secs(10),
        /// Time allowed for each poll; a server slower than this counts as down.
        timeout: Duration = Duration::from_secs(5),
        /// What to do when `endpoint` answers but is another server (llama.cpp, vLLM, SGLang…; told apart as
        /// the sidecar's `provider: auto` does). `false`: warn once and report `ollama.up` 0 while polling on.
        /// `true`: log one info line and stop polling, with no `ollama.*` metrics. The built-in config sets it,
        /// because its `ollama` receiver follows `--upstream` to whatever server that is.
        skip_if_not_ollama: bool = false,
    }
}

impl Check for OllamaReceiverConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if let Err(e) = check_upstream(&self.endpoint) {
            ctx.error(&child(path, "endpoint"), e);
        }
        for (name, d) in [("interval", self.interval), ("timeout", self.timeout)] {
            if d.get().is_zero() {
                ctx.error(&child(path, name), "0s: expected a duration above zero");
            }
        }
    }
}

config_struct! {
    /// Receiver `llm_proxy`: a transparent reverse proxy in front of an LLM server (Ollama or any
    /// OpenAI-compatible server). Clients talk to `listen` instead of the server; every response reaches them
    /// unchanged while each request becomes a trace (`chat {model}` with `think` and `answer` children) and the
    /// requests in flight a live metric. See `docs/sidecar.md`.
    pub struct LlmProxyConfig {
        /// Address clients connect to (HTTP/1.1 and h2c). `llmtel --listen ADDR` / `LLMTEL_LISTEN` set it too.
        listen: Endpoint = Endpoint("127.0.0.1:11435".into()),
        /// The LLM server: `http://host:port` or `https://host:port`, optionally with a path prefix that is
        /// prepended to every request path. `llmtel --upstream URL` / `LLMTEL_UPSTREAM` set it too.
        upstream: String = "http://127.0.0.1:11434".to_owned(),
        /// `gen_ai.provider.name` on spans and metrics. `auto`: learned from the upstream at start (Ollama →
        /// `ollama`, llama.cpp → `llama.cpp`, vLLM → `vllm`, SGLang → `sglang`, any other server → `openai`),
        /// asked again while it does not answer; requests that end before it is known say `openai`. Any other
        /// value (`ollama`, `vllm`, `my-server`…) is used as given, and chooses the health check.
        provider: String = "auto".to_owned(),
        /// Largest request body, in MiB, for the APIs the proxy understands (they are read whole to learn the
        /// model and options; images make them large). Larger requests get HTTP 413. Other paths stream through
        /// with no limit.
        max_request_body_size_mib: u64 = 64,
        /// Time to open a connection to the upstream; past it the client gets 502.
        connect_timeout: Duration = Duration::from_secs(10),
        /// Time from sending the request to the upstream's response headers (a model may need minutes to load);
        /// past it the client gets 504.
        response_timeout: Duration = Duration::from_secs(600),
        /// Longest silence between two chunks of a response body; past it the response is cut and the span
        /// says `error.type=timeout`.
        read_timeout: Duration = Duration::from_secs(300),
        /// For OpenAI-style streams whose client did not ask for usage, ask the upstream for it (insert
        /// `stream_options.include_usage`, ask for an uncompressed response) to get exact token counts, and
        /// remove that extra usage event before the client sees it. Costs holding each SSE event until it is
        /// complete (servers send whole events, so in practice nothing waits). A server that refuses it (400/422)
        /// gets the request again as the client sent it. Turn off in front of servers that then add
        /// `"usage": null` to every chunk (OpenAI's own API).
        include_usage: bool = true,
        /// Record prompts and completions on spans (`gen_ai.input.messages`, `gen_ai.output.messages`, as JSON
        /// strings, per the GenAI conventions). Off by default: text is never stored unless this is on.
        capture_content: bool = false,
        /// How often the live metrics (requests in flight) are read into the pipeline.
        metrics_interval: Duration = Duration::from_secs(5),
        /// How often the upstream's own health endpoint is asked whether it is up (`llmtel.upstream.up`):
        /// Ollama's `/api/version`, `/health` of llama.cpp, vLLM and SGLang (a 2xx is up), `/health` of any other
        /// server (any HTTP answer is up). A server that is down is asked again sooner, from 1 s up to this.
        health_check_interval: Duration = Duration::from_secs(10),
        /// Time allowed for each health check and detection probe; a server slower than this counts as down.
        health_check_timeout: Duration = Duration::from_secs(5),
        /// A request whose estimated queue wait (`llmtel.server.queue_wait`: wall time minus the server's own
        /// load, prefill and decode times) passes this counts as queued (`llmtel.server.queued`). Above the few
        /// milliseconds a server spends parsing and templating a request.
        queued_threshold: Duration = Duration::from_millis(50),
        /// A request whose server-reported load time passes this made the server load its model
        /// (`llmtel.model.cold_load`). A warm model reports a few milliseconds.
        cold_load_threshold: Duration = Duration::from_millis(250),
        /// The GPUs that serve this upstream, by NVML index (`"0"`) or UUID (`"GPU-5e4c…"`), for the energy each
        /// request is given (`llmtel.gpu.energy`). Empty: every GPU of the host. Needs a `gpu` receiver.
        gpus: Vec<String> = Vec::new(),
        /// Server TLS for clients (HTTP/1.1 and HTTP/2 by ALPN); see `docs/security.md`.
        tls: super::ServerTlsConfig = super::ServerTlsConfig::default(),
        /// API keys clients must send (`Authorization: Bearer`, `x-api-key` or `api-key`); off by default.
        api_keys: super::ApiKeysConfig = super::ApiKeysConfig::default(),
        // === Limits of the sidecar (docs/sidecar.md, "Limits") ===
        /// Most requests the proxy serves at once (every path, from arrival until the response body ends).
        /// Beyond it a request is refused at once, before the upstream sees it: HTTP 503 with `Retry-After: 1`
        /// (529 `overloaded_error` for the Anthropic API), `error.type=concurrency_limit`, counted as
        /// `llmtel_events_total{event="proxy_concurrency_limit"}`. 512 is Ollama's own default queue
        /// (`OLLAMA_MAX_QUEUE`), so the sidecar does not refuse before the server would; it bounds the sockets
        /// and request bodies llmtel holds. At least 1.
        max_concurrent_requests: u64 = 512,
        /// Longest time a response may wait for a client that stopped reading (its connection takes no more
        /// bytes while the next chunk is ready). Past it the response is abandoned, the client's connection
        /// closed, the upstream request cancelled (so the model stops generating) and the span says
        /// `error.type=client_stalled`. As nginx's `send_timeout`. Above zero.
        write_timeout: Duration = Duration::from_secs(60),
        /// On SIGTERM/SIGINT, how long requests in flight may take to finish (the proxy stops accepting at
        /// once and `/readyz` answers 503); the rest are then cancelled upstream and their spans say
        /// `error.type=shutdown`. 25 s fits in Kubernetes' default 30 s grace period. llmtel exits at most
        /// `drain_timeout` + `service.shutdown_timeout` after the signal. 0 cancels at once.
        drain_timeout: Duration = Duration::from_secs(25),
    }
}

impl Check for LlmProxyConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if let Err(e) = check_upstream(&self.upstream) {
            ctx.error(&child(path, "upstream"), e);
        }
        if self.provider.trim().is_empty() {
            ctx.error(
                &child(path, "provider"),
                "empty: expected auto or a provider name such as ollama or vllm",
            );
        }
        if self.max_concurrent_requests == 0 {
            ctx.error(
                &child(path, "max_concurrent_requests"),
                "0: expected at least 1 (the most requests served at once)",
            );
        }
        check_mib(
            self.max_request_body_size_mib,
            &child(path, "max_request_body_size_mib"),
            ctx,
        );
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("read_timeout", self.read_timeout),
            ("write_timeout", self.write_timeout),
            ("metrics_interval", self.metrics_interval),
            ("health_check_interval", self.health_check_interval),
            ("health_check_timeout", self.health_check_timeout),
            ("cold_load_threshold", self.cold_load_threshold),
        ] {
            if d.get().is_zero() {
                ctx.error(&child(path, name), "0s: expected a duration above zero");
            }
        }
    }
}

/// Checks an upstream URL for `llm_proxy`: `http` or `https`, a host, an optional port and path, nothing else.
pub fn check_upstream(url: &str) -> Result<(), String> {
    let expected = "expected http://host:port or https://host:port, such as http://127.0.0.1:11434";
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{url:?}: no scheme: {expected}"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{url:?}: scheme {scheme:?} not supported: {expected}"
        ));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || rest.contains(['?', '#', ' ']) {
        return Err(format!("{url:?}: {expected}"));
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let port = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, "")) => None,
            Some((_, p)) => Some(p.strip_prefix(':').unwrap_or(p)),
            None => return Err(format!("{url:?}: unclosed [ in the host: {expected}")),
        },
        None => authority.split_once(':').map(|(_, p)| p),
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!(
            "{url:?}: port {port:?} is not a number from 0 to 65535"
        ));
    }
    Ok(())
}

/// Receiver `otlp`. Without `protocols` both gRPC and HTTP are served on their default endpoints; with it, only
/// the protocols listed (an empty `grpc:` enables gRPC with defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OtlpReceiverConfig {
    /// Which protocols to serve.
    pub protocols: OtlpProtocols,
}

/// The protocols of the `otlp` receiver.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OtlpProtocols {
    /// OTLP/gRPC (the trace, metrics and logs services). Absent means off, once `protocols` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`). Absent means off, once `protocols` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpServerConfig>,
}

impl Default for OtlpReceiverConfig {
    fn default() -> Self {
        Self {
            protocols: OtlpProtocols {
                grpc: Some(GrpcServerConfig::default()),
                http: Some(HttpServerConfig::default()),
            },
        }
    }
}

impl Decode for OtlpReceiverConfig {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        let map = as_map(value, path, ctx)?;
        reject_unknown_keys(&map, &["protocols"], path, ctx);
        let Some(protocols) = map.get("protocols") else {
            return Some(Self::default());
        };
        let ppath = child(path, "protocols");
        let pmap = as_map(protocols, &ppath, ctx)?;
        reject_unknown_keys(&pmap, &["grpc", "http"], &ppath, ctx);
        // A protocol is on when its key is present, even with no settings under it (Collector semantics).
        let grpc = pmap
            .get("grpc")
            .map(|v| GrpcServerConfig::decode(v, &child(&ppath, "grpc"), ctx).unwrap_or_default());
        let http = pmap
            .get("http")
            .map(|v| HttpServerConfig::decode(v, &child(&ppath, "http"), ctx).unwrap_or_default());
        if grpc.is_none() && http.is_none() {
            ctx.error(&ppath, "no protocol enabled: add grpc:, http: or both");
        }
        Some(Self {
            protocols: OtlpProtocols { grpc, http },
        })
    }
}

config_struct! {
    /// OTLP/gRPC server settings.
    pub struct GrpcServerConfig {
        /// Address to listen on. Loopback by default; use `0.0.0.0:4317` to accept other hosts.
        endpoint: Endpoint = Endpoint("127.0.0.1:4317".into()),
        /// Largest request accepted, in MiB, after decompression. Larger requests are refused with
        /// RESOURCE_EXHAUSTED and a message naming the limit.
        max_recv_msg_size_mib: u64 = 4,
        /// Server TLS (ALPN `h2`); see `docs/security.md`.
        tls: super::ServerTlsConfig = super::ServerTlsConfig::default(),
        /// Bearer-token auth (`authorization: Bearer T` metadata); refused with UNAUTHENTICATED.
        auth: super::BearerAuthConfig = super::BearerAuthConfig::default(),
    }
}

impl Check for GrpcServerConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        check_mib(
            self.max_recv_msg_size_mib,
            &child(path, "max_recv_msg_size_mib"),
            ctx,
        );
    }
}

config_struct! {
    /// OTLP/HTTP server settings.
    pub struct HttpServerConfig {
        /// Address to listen on. Loopback by default; use `0.0.0.0:4318` to accept other hosts.
        endpoint: Endpoint = Endpoint("127.0.0.1:4318".into()),
        /// Largest request body accepted, in MiB, after decompression. Larger bodies get HTTP 413.
        max_request_body_size_mib: u64 = 4,
        /// Server TLS (ALPN `h2` and `http/1.1`); see `docs/security.md`.
        tls: super::ServerTlsConfig = super::ServerTlsConfig::default(),
        /// Bearer-token auth (`Authorization: Bearer T`); refused with 401.
        auth: super::BearerAuthConfig = super::BearerAuthConfig::default(),
    }
}

impl Check for HttpServerConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        check_mib(
            self.max_request_body_size_mib,
            &child(path, "max_request_body_size_mib"),
            ctx,
        );
    }
}

fn check_mib(v: u64, path: &str, ctx: &mut Ctx) {
    if !(1..=1024).contains(&v) {
        ctx.error(path, format!("{v}: expected a size from 1 to 1024 MiB"));
    }
}
