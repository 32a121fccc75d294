//! Settings of each component type: receivers, processors, exporters and connectors.
//!
//! The `///` docs on each field are the user manual: `docs/config.md` points here.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::decode::{Check, Ctx, Decode, as_map, child, reject_unknown_keys};
use crate::semconv::GenAiMetric;
use crate::types::{AttrValue, Duration, Endpoint};
use crate::{config_enum, config_struct};

/// The three kinds of telemetry a pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The word used in pipeline ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// === receivers ===

/// A configured receiver.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and HTTP from other programs.
    Otlp(OtlpReceiverConfig),
    /// `llm_proxy`: the sidecar in front of an LLM server; a trace per request and live request metrics.
    LlmProxy(LlmProxyConfig),
    /// `ollama`: the state of an Ollama server (loaded models, VRAM, version, up).
    Ollama(OllamaReceiverConfig),
    /// `gpu`: NVIDIA GPU metrics from NVML.
    Gpu(GpuReceiverConfig),
}

/// Receiver types this build knows.
pub const RECEIVER_TYPES: &[&str] = &["otlp", "llm_proxy", "ollama", "gpu"];

impl ReceiverConfig {
    /// Decodes the settings of a receiver of type `kind`.
    pub fn decode_kind(kind: &str, value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match kind {
            "otlp" => OtlpReceiverConfig::decode(value, path, ctx).map(Self::Otlp),
            "llm_proxy" => LlmProxyConfig::decode(value, path, ctx).map(Self::LlmProxy),
            "ollama" => OllamaReceiverConfig::decode(value, path, ctx).map(Self::Ollama),
            "gpu" => GpuReceiverConfig::decode(value, path, ctx).map(Self::Gpu),
            _ => None,
        }
    }

    /// The signals this receiver can produce.
    pub fn signals(&self) -> &'static [Signal] {
        match self {
            Self::Otlp(_) => &Signal::ALL,
            Self::LlmProxy(_) => &[Signal::Traces, Signal::Metrics],
            Self::Ollama(_) | Self::Gpu(_) => &[Signal::Metrics],
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
    pub struct OllamaReceiverConfig {
        /// The Ollama server, `http://host:port` or `https://host:port`.
        endpoint: String = "http://127.0.0.1:11434".to_owned(),
        /// How often to poll (and to send the metrics on).
        interval: Duration = Duration::from_secs(10),
        /// Time allowed for each poll; a server slower than this counts as down.
        timeout: Duration = Duration::from_secs(5),
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
        /// `gen_ai.provider.name` on spans and metrics: `ollama`, `vllm`, `llama.cpp`, `openai`...
        provider: String = "ollama".to_owned(),
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
                "empty: expected a provider name such as ollama or vllm",
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
            ("metrics_interval", self.metrics_interval),
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

// === processors ===

/// A configured processor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ProcessorConfig {
    /// `batch`: groups items into larger batches.
    Batch(BatchConfig),
    /// `attributes`: inserts, updates, deletes or hashes attributes.
    Attributes(AttributesConfig),
    /// `metric_transform`: renames metrics and labels, aggregates labels away, scales, keeps or drops by name.
    MetricTransform(MetricTransformConfig),
}

/// Processor types this build knows.
pub const PROCESSOR_TYPES: &[&str] = &["batch", "attributes", "metric_transform"];

impl ProcessorConfig {
    /// The signals this processor works on.
    pub fn signals(&self) -> &'static [Signal] {
        match self {
            Self::MetricTransform(_) => &[Signal::Metrics],
            _ => &Signal::ALL,
        }
    }

    /// Decodes the settings of a processor of type `kind`.
    pub fn decode_kind(kind: &str, value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match kind {
            "batch" => BatchConfig::decode(value, path, ctx).map(Self::Batch),
            "attributes" => AttributesConfig::decode(value, path, ctx).map(Self::Attributes),
            "metric_transform" => {
                MetricTransformConfig::decode(value, path, ctx).map(Self::MetricTransform)
            }
            _ => None,
        }
    }
}

config_struct! {
    /// Processor `batch`, with the OpenTelemetry Collector's semantics. Items are spans, metric data points or
    /// log records.
    pub struct BatchConfig {
        /// Send a batch as soon as this many items are waiting (a trigger, not a cap).
        send_batch_size: usize = 8192,
        /// Upper bound on items per batch; larger input is split. 0 means no bound. Must be 0 or at least
        /// `send_batch_size`.
        send_batch_max_size: usize = 0,
        /// Send whatever is waiting this long after the first item arrived. 0 sends every input at once
        /// (still split by `send_batch_max_size`).
        timeout: Duration = Duration::from_millis(200),
    }
}

impl Check for BatchConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.send_batch_size == 0 {
            ctx.error(&child(path, "send_batch_size"), "0: expected at least 1");
        }
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            ctx.error(
                &child(path, "send_batch_max_size"),
                format!(
                    "{}: must be 0 (no bound) or at least send_batch_size ({})",
                    self.send_batch_max_size, self.send_batch_size
                ),
            );
        }
    }
}

config_struct! {
    /// Processor `attributes`: a list of actions applied in order to each span, log record or metric data point
    /// (`context: item`, the default) or to the resource (`context: resource`). Hashing is how values are redacted.
    pub struct AttributesConfig {
        /// The actions, applied in order.
        actions: Vec<AttributeAction> = Vec::new(),
    }
}

impl Check for AttributesConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.actions.is_empty() {
            ctx.error(
                &child(path, "actions"),
                "empty: expected at least one action",
            );
        }
    }
}

config_enum! {
    /// What an attribute action does.
    pub enum ActionKind {
        /// Add the attribute where it is missing.
        Insert = "insert",
        /// Change the attribute where it exists.
        Update = "update",
        /// Set the attribute whether or not it exists.
        Upsert = "upsert",
        /// Remove the attribute.
        Delete = "delete",
        /// Replace the value by its SHA-256, in lowercase hex.
        Hash = "hash",
    }
}

config_enum! {
    /// Which attributes an action works on.
    pub enum AttrContext {
        /// The attributes of each span, log record or metric data point.
        Item = "item",
        /// The resource's attributes.
        Resource = "resource",
    }
}

config_struct! {
    /// One attribute action.
    pub struct AttributeAction {
        /// The attribute key.
        key: String = String::new(),
        /// insert, update, upsert, delete or hash.
        action: Option<ActionKind> = None,
        /// The value to set (insert, update and upsert only).
        value: Option<AttrValue> = None,
        /// item (default) or resource.
        context: AttrContext = AttrContext::Item,
    }
}

impl Check for AttributeAction {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.key.is_empty() {
            ctx.error(&child(path, "key"), "missing: every action needs a key");
        }
        match self.action {
            None => ctx.error(
                &child(path, "action"),
                format!("missing: expected one of: {}", ActionKind::WORDS.join(", ")),
            ),
            Some(ActionKind::Insert | ActionKind::Update | ActionKind::Upsert)
                if self.value.is_none() =>
            {
                ctx.error(
                    &child(path, "value"),
                    format!(
                        "missing: action {} needs a value",
                        self.action.map(|a| a.as_str()).unwrap_or("")
                    ),
                )
            }
            Some(a @ (ActionKind::Delete | ActionKind::Hash)) if self.value.is_some() => {
                ctx.error(&child(path, "value"), format!("action {a} takes no value"))
            }
            _ => {}
        }
    }
}

config_struct! {
    /// Processor `metric_transform`: each transform picks metrics by name and renames them, their labels and
    /// unit, keeps only some data points, aggregates labels away, scales values or turns a histogram into the
    /// counter of its sum or count, either in place (`update`) or on a copy (`insert`). Then `keep` / `drop`
    /// filter metrics by name. Metrics only.
    pub struct MetricTransformConfig {
        /// The transforms, applied in order; a later one sees what earlier ones made.
        transforms: Vec<MetricTransform> = Vec::new(),
        /// After the transforms, only metrics with these names pass (a trailing `*` matches a prefix). Empty:
        /// every metric.
        keep: Vec<String> = Vec::new(),
        /// After the transforms, metrics with these names are removed (a trailing `*` matches a prefix).
        drop: Vec<String> = Vec::new(),
    }
}

impl Check for MetricTransformConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.transforms.is_empty() && self.keep.is_empty() && self.drop.is_empty() {
            ctx.error(path, "nothing to do: expected transforms, keep or drop");
        }
        for (key, names) in [("keep", &self.keep), ("drop", &self.drop)] {
            for (i, n) in names.iter().enumerate() {
                check_name_pattern(n, &crate::decode::index(&child(path, key), i), ctx);
            }
        }
    }
}

fn check_name_pattern(pattern: &str, path: &str, ctx: &mut Ctx) {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern.is_empty() || body.contains('*') {
        ctx.error(
            path,
            format!("{pattern:?}: expected a metric name, optionally ending in * (a prefix)"),
        );
    }
}

config_enum! {
    /// Whether a transform changes the metric or a copy of it.
    pub enum TransformAction {
        /// Change the metric in place.
        Update = "update",
        /// Add a changed copy; the original stays.
        Insert = "insert",
    }
}

config_enum! {
    /// What a histogram (or summary) is turned into.
    pub enum Extract {
        /// A counter of the histogram's sum (e.g. tokens, from a histogram of tokens per request).
        Sum = "sum",
        /// A counter of the histogram's count (requests).
        Count = "count",
    }
}

config_enum! {
    /// How gauge and counter points that become one series are combined when labels are aggregated away.
    /// Histograms are always added up.
    pub enum Aggregation {
        /// Add up.
        Sum = "sum",
        /// The mean.
        Mean = "mean",
        /// The largest.
        Max = "max",
        /// The smallest.
        Min = "min",
    }
}

config_struct! {
    /// One metric transform. The steps run in this order: `match_labels`, `extract`, `rename_labels`,
    /// `add_labels`, `keep_labels`, `scale`, then the new name, unit and description.
    pub struct MetricTransform {
        /// The metric name it applies to; a trailing `*` matches a prefix.
        include: String = String::new(),
        /// update (in place, the default) or insert (a copy).
        action: TransformAction = TransformAction::Update,
        /// The new metric name.
        new_name: Option<String> = None,
        /// The new unit (UCUM, e.g. `s`, `By`, `%`; empty for none).
        unit: Option<String> = None,
        /// The new description.
        description: Option<String> = None,
        /// Only data points whose label has one of the listed values are kept (all listed labels must match).
        match_labels: BTreeMap<String, Vec<String>> = BTreeMap::new(),
        /// Turn a histogram or summary into a counter of its `sum` or `count`.
        extract: Option<Extract> = None,
        /// Label renames, `old: new`.
        rename_labels: BTreeMap<String, String> = BTreeMap::new(),
        /// Labels set on every data point, `label: value`.
        add_labels: Attributes = Attributes::new(),
        /// Only these labels are kept; points that then share their labels are combined into one (histograms
        /// are added up; gauges and counters as `aggregation` says).
        keep_labels: Option<Vec<String>> = None,
        /// How combined gauge and counter points are aggregated: sum, mean, max or min.
        aggregation: Aggregation = Aggregation::Sum,
        /// Multiply every value by this (histogram bounds, sums, min and max too), e.g. `100` for a ratio as a
        /// percentage or `0.00000095367431640625` for bytes as MiB.
        scale: Option<f64> = None,
    }
}

impl Check for MetricTransform {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.include.is_empty() {
            ctx.error(
                &child(path, "include"),
                "missing: every transform needs the metric name it applies to",
            );
        } else {
            check_name_pattern(&self.include, &child(path, "include"), ctx);
        }
        if self.action == TransformAction::Insert && self.new_name.is_none() {
            ctx.error(
                &child(path, "new_name"),
                "missing: action insert adds a copy, which needs a name of its own",
            );
        }
        if self.new_name.as_deref() == Some("") {
            ctx.error(&child(path, "new_name"), "empty: expected a metric name");
        }
        if let Some(s) = self.scale
            && !(s.is_finite() && s > 0.0)
        {
            ctx.error(
                &child(path, "scale"),
                format!("{s}: expected a number above zero"),
            );
        }
        for (old, new) in &self.rename_labels {
            if new.is_empty() {
                ctx.error(
                    &child(&child(path, "rename_labels"), old),
                    "empty: expected the new label name",
                );
            }
        }
        for (label, values) in &self.match_labels {
            if values.is_empty() {
                ctx.error(
                    &child(&child(path, "match_labels"), label),
                    "empty: expected at least one value",
                );
            }
        }
    }
}

// === exporters ===

/// A configured exporter.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ExporterConfig {
    /// `debug`: logs what passes.
    Debug(DebugExporterConfig),
    /// `otlp`: OTLP over gRPC to another collector or backend.
    Otlp(crate::otlp_exporters::OtlpExporterConfig),
    /// `otlp_http`: OTLP over HTTP (protobuf or JSON) to another collector or backend.
    OtlpHttp(crate::otlp_exporters::OtlpExporterConfig),
    /// `prometheus`: a scrape endpoint serving every metric that reaches it.
    Prometheus(PrometheusExporterConfig),
}

/// Exporter types this build knows.
pub const EXPORTER_TYPES: &[&str] = &["debug", "otlp", "otlp_http", "prometheus"];

impl ExporterConfig {
    /// Decodes the settings of an exporter of type `kind`.
    pub fn decode_kind(kind: &str, value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        use crate::otlp_exporters::{OtlpExporterConfig, Protocol};
        match kind {
            "debug" => DebugExporterConfig::decode(value, path, ctx).map(Self::Debug),
            "otlp" => {
                OtlpExporterConfig::decode_for(Protocol::Grpc, value, path, ctx).map(Self::Otlp)
            }
            "otlp_http" => {
                OtlpExporterConfig::decode_for(Protocol::Http, value, path, ctx).map(Self::OtlpHttp)
            }
            "prometheus" => {
                PrometheusExporterConfig::decode(value, path, ctx).map(Self::Prometheus)
            }
            _ => None,
        }
    }

    /// The queue in front of this exporter.
    pub fn sending_queue(&self) -> &QueueConfig {
        match self {
            Self::Debug(c) => &c.sending_queue,
            Self::Otlp(c) | Self::OtlpHttp(c) => &c.sending_queue,
            Self::Prometheus(c) => &c.sending_queue,
        }
    }

    /// The signals this exporter takes.
    pub fn signals(&self) -> &'static [Signal] {
        match self {
            Self::Prometheus(_) => &[Signal::Metrics],
            _ => &Signal::ALL,
        }
    }
}

config_struct! {
    /// Exporter `prometheus`: serves every metric that reaches it on a scrape endpoint, translated by the
    /// OpenTelemetry "Prometheus and OpenMetrics compatibility" rules.
    pub struct PrometheusExporterConfig {
        /// Address to serve `/metrics` on.
        endpoint: Endpoint = Endpoint("127.0.0.1:9464".into()),
        /// Prefix for every metric name (`namespace_name`).
        namespace: String = String::new(),
        /// Labels added to every series.
        const_labels: Attributes = Attributes::new(),
        /// Series not updated for this long are removed (checked on a timer, whether or not anyone scrapes).
        metric_expiration: Duration = Duration::from_secs(300),
        /// Resource attributes copied onto every series as labels (by default they only go to `target_info`).
        resource_to_labels: Vec<String> = Vec::new(),
        /// Add unit and type suffixes (`_seconds`, `_bytes`, `_total`, `_ratio`).
        add_metric_suffixes: bool = true,
        /// Series per metric name, at most; points of further label sets go into one series labelled
        /// `otel_metric_overflow="true"` (counted in `llmtel_exporter_overflowed_items_total`). 0 means no cap.
        max_series_per_metric: usize = 2000,
        /// Serve OpenMetrics 1.0 (with exemplars) to scrapers that ask for it; text format 0.0.4 otherwise.
        enable_open_metrics: bool = true,
        /// The queue in front of the exporter.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for PrometheusExporterConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if !self.namespace.is_empty()
            && !self
                .namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            ctx.error(
                &child(path, "namespace"),
                format!("{:?}: expected letters, digits and _", self.namespace),
            );
        }
        if self.metric_expiration.get().is_zero() {
            ctx.error(
                &child(path, "metric_expiration"),
                "0s: expected a duration above zero",
            );
        }
        for k in self.const_labels.keys() {
            let ok = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !k.starts_with("__");
            if !ok {
                ctx.error(
                    &child(&child(path, "const_labels"), k),
                    format!("{k:?}: not a valid Prometheus label name"),
                );
            }
        }
    }
}

config_struct! {
    /// The bounded queue in front of every exporter. A pipeline hands each exporter its own copy of each batch;
    /// when this queue is full the batch is dropped for this exporter (counted, logged once) while the others
    /// still get it. Only when every exporter of a pipeline is full does the pipeline wait, so its own input
    /// queue fills and receivers refuse with UNAVAILABLE / 503. Batches are never split by the queue.
    pub struct QueueConfig {
        /// Batches waiting to be exported, at most.
        queue_size: usize = 64,
        /// Items (spans, data points, log records) waiting, at most; 0 means no bound beyond `queue_size`. A
        /// single batch larger than this is still taken when the queue is empty.
        max_items: usize = 0,
        /// Encoded size of the waiting batches, in MiB, at most; 0 means no bound. Bounds memory during an outage.
        max_size_mib: u64 = 0,
        /// Batches exported at the same time.
        num_consumers: usize = 1,
        /// A directory: batches are written there as they enter the queue and deleted once sent (or given up on),
        /// so they survive a restart of llmtel. Unset: the queue lives in memory only.
        storage: Option<String> = None,
    }
}

impl Check for QueueConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.queue_size == 0 {
            ctx.error(&child(path, "queue_size"), "0: expected at least 1");
        }
        if self.num_consumers == 0 || self.num_consumers > 256 {
            ctx.error(
                &child(path, "num_consumers"),
                format!("{}: expected 1 to 256", self.num_consumers),
            );
        }
        if self.storage.as_deref().is_some_and(|s| s.trim().is_empty()) {
            ctx.error(&child(path, "storage"), "empty: expected a directory path");
        }
    }
}

config_enum! {
    /// How much the debug exporter logs.
    pub enum Verbosity {
        /// One line per batch with its counts.
        Basic = "basic",
        /// One line per item: span names, metric names, log bodies' lengths.
        Normal = "normal",
        /// Each item in full, as OTLP JSON.
        Detailed = "detailed",
    }
}

config_struct! {
    /// Exporter `debug`: logs a summary (or the detail) of every batch to llmtel's log.
    pub struct DebugExporterConfig {
        /// basic, normal or detailed.
        verbosity: Verbosity = Verbosity::Basic,
        /// The queue in front of the exporter.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for DebugExporterConfig {}

// === connectors ===

/// A configured connector: an exporter in one pipeline and a receiver in another.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ConnectorConfig {
    /// `forward`: passes data unchanged from one pipeline to another of the same signal.
    Forward(ForwardConfig),
    /// `genai_metrics`: GenAI metrics, with exemplars, from the spans of LLM calls.
    GenAiMetrics(GenAiMetricsConfig),
}

/// Connector types this build knows.
pub const CONNECTOR_TYPES: &[&str] = &["forward", "genai_metrics"];

impl ConnectorConfig {
    /// Decodes the settings of a connector of type `kind`.
    pub fn decode_kind(kind: &str, value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match kind {
            "forward" => ForwardConfig::decode(value, path, ctx).map(Self::Forward),
            "genai_metrics" => GenAiMetricsConfig::decode(value, path, ctx).map(Self::GenAiMetrics),
            _ => None,
        }
    }

    /// Whether data of signal `from` entering this connector can leave it as signal `to`.
    pub fn supports(&self, from: Signal, to: Signal) -> bool {
        match self {
            Self::Forward(_) => from == to,
            Self::GenAiMetrics(_) => from == Signal::Traces && to == Signal::Metrics,
        }
    }

    /// The queue in front of this connector.
    pub fn sending_queue(&self) -> &QueueConfig {
        match self {
            Self::Forward(c) => &c.sending_queue,
            Self::GenAiMetrics(c) => &c.sending_queue,
        }
    }
}

config_struct! {
    /// Connector `forward`.
    pub struct ForwardConfig {
        /// The queue in front of the connector.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for ForwardConfig {}

config_struct! {
    /// Connector `genai_metrics` (traces → metrics): aggregates the spans of LLM calls (any span with
    /// `gen_ai.operation.name`, or the older `gen_ai.system`) into GenAI metrics, each histogram bucket keeping an
    /// exemplar that links to a trace. Spans also go on, unchanged, to the other exporters of their pipeline.
    /// See `docs/genai-metrics.md`.
    pub struct GenAiMetricsConfig {
        /// Span attributes added as dimensions to every metric, besides the built-in ones (operation, provider,
        /// request and response model, `error.type`, `server.address`, think mode).
        dimensions: Vec<String> = Vec::new(),
        /// Series per metric, at most; further attribute sets are counted in one series labelled
        /// `otel.metric.overflow=true`. 0 means no cap.
        max_series_per_metric: usize = 1000,
        /// How often the cumulative metrics are sent on (and at shutdown).
        flush_interval: Duration = Duration::from_secs(5),
        /// Histogram bucket boundaries by metric name, replacing the advised ones, e.g.
        /// `gen_ai.client.operation.duration: [1, 5, 30, 120]`.
        buckets: BTreeMap<String, Vec<f64>> = BTreeMap::new(),
        /// The queue in front of the connector.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for GenAiMetricsConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.flush_interval.get().is_zero() {
            ctx.error(
                &child(path, "flush_interval"),
                "0s: expected a duration above zero",
            );
        }
        for (name, bounds) in &self.buckets {
            let bpath = child(&child(path, "buckets"), name);
            let histogram = GenAiMetric::from_name(name).filter(|m| m.advised_buckets().is_some());
            if histogram.is_none() {
                let known: Vec<&str> = GenAiMetric::histograms().map(GenAiMetric::name).collect();
                ctx.error(
                    &bpath,
                    crate::decode::unknown_message("histogram", name, &known),
                );
            } else if bounds.is_empty()
                || bounds.windows(2).any(|w| w[0] >= w[1])
                || bounds.iter().any(|b| !b.is_finite())
            {
                ctx.error(
                    &bpath,
                    format!("{bounds:?}: expected finite boundaries in increasing order"),
                );
            }
        }
    }
}

/// Map from attribute key to value, for resource attributes.
pub type Attributes = BTreeMap<String, String>;
