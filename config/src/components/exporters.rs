//! Settings of each exporter type (`debug`, `explorer`, `otlp`, `otlp_http`, `prometheus`) and [`ExporterConfig`], which
//! decodes one by its type; the OTLP exporters' own settings are in `otlp_exporters.rs`. The `///` docs on each field
//! are the user manual.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Attributes, QueueConfig, Signal};
use crate::decode::{Check, Ctx, Decode, child};
use crate::types::{Duration, Endpoint};
use crate::{config_enum, config_struct};

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
    /// `explorer`: keeps bounded samples of GenAI requests for the request explorer page on the admin endpoint.
    Explorer(ExplorerExporterConfig),
    /// `prometheusremotewrite`: Prometheus remote write 1.0 to Prometheus, Mimir, Thanos, Cortex, VictoriaMetrics.
    PrometheusRemoteWrite(PrometheusRemoteWriteConfig),
}

/// Exporter types this build knows.
pub const EXPORTER_TYPES: &[&str] = &[
    "debug",
    "explorer",
    "otlp",
    "otlp_http",
    "prometheus",
    "prometheusremotewrite",
];

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
            "explorer" => ExplorerExporterConfig::decode(value, path, ctx).map(Self::Explorer),
            "prometheusremotewrite" => PrometheusRemoteWriteConfig::decode(value, path, ctx)
                .map(Self::PrometheusRemoteWrite),
            _ => None,
        }
    }

    /// The queue in front of this exporter.
    pub fn sending_queue(&self) -> &QueueConfig {
        match self {
            Self::Debug(c) => &c.sending_queue,
            Self::Otlp(c) | Self::OtlpHttp(c) => &c.sending_queue,
            Self::Prometheus(c) => &c.sending_queue,
            Self::Explorer(c) => &c.sending_queue,
            Self::PrometheusRemoteWrite(c) => &c.sending_queue,
        }
    }

    /// The signals this exporter takes.
    pub fn signals(&self) -> &'static [Signal] {
        match self {
            Self::Prometheus(_) | Self::PrometheusRemoteWrite(_) => &[Signal::Metrics],
            Self::Explorer(_) => &[Signal::Traces],
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
        /// Server TLS for scrapers (`scheme: https` in Prometheus); see `docs/security.md`.
        tls: super::ServerTlsConfig = super::ServerTlsConfig::default(),
        /// Bearer-token auth (Prometheus' `authorization: {credentials: …}`); refused with 401.
        auth: super::BearerAuthConfig = super::BearerAuthConfig::default(),
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

config_struct! {
    /// Exporter `explorer`: keeps bounded samples of the GenAI requests whose spans reach it (from the sidecar or
    /// from other programs over OTLP) for the request explorer page on the admin endpoint (`docs/explorer.md`).
    /// Prompt and completion text is kept only when the spans carry it (`capture_content` on the sidecar).
    pub struct ExplorerExporterConfig {
        /// Samples kept per latency bucket of each model and operation (the most recent ones).
        samples_per_bucket: usize = 4,
        /// Samples kept in all, at most (bucket samples, the slowest and the failed together). Models and
        /// operations beyond what fits are counted but not sampled.
        max_samples: usize = 2000,
        /// The slowest requests kept per model and operation.
        slowest: usize = 5,
        /// The most recent failed requests kept per model and operation.
        failed: usize = 10,
        /// A link to each request's trace in your trace backend; `{trace_id}` is replaced by the trace id (hex),
        /// e.g. `http://localhost:16686/trace/{trace_id}` (Jaeger) or
        /// `http://localhost:3000/explore?left={"queries":[{"query":"{trace_id}"}]}` (Grafana Tempo). Empty: no link.
        trace_url: String = String::new(),
        /// The queue in front of the exporter.
        sending_queue: QueueConfig = QueueConfig::default(),
    }
}

impl Check for ExplorerExporterConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.samples_per_bucket == 0 {
            ctx.error(&child(path, "samples_per_bucket"), "0: expected at least 1");
        }
        if self.max_samples == 0 {
            ctx.error(&child(path, "max_samples"), "0: expected at least 1");
        }
        if !self.trace_url.is_empty() && !self.trace_url.contains("{trace_id}") {
            ctx.error(
                &child(path, "trace_url"),
                format!(
                    "{:?}: expected a URL with {{trace_id}} in it",
                    self.trace_url
                ),
            );
        }
    }
}

config_struct! {
    /// HTTP basic authentication.
    pub struct BasicAuthConfig {
        /// The user name.
        username: String = String::new(),
        /// The password. Never logged; `print-config` shows `[REDACTED]`.
        password: crate::otlp_exporters::Secret = crate::otlp_exporters::Secret(String::new()),
    }
}

impl Check for BasicAuthConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.username.is_empty() || self.username.contains(':') {
            ctx.error(
                &child(path, "username"),
                "expected a non-empty user name without ':'",
            );
        }
    }
}

config_struct! {
    /// Exporter `prometheusremotewrite`: Prometheus remote write 1.0 (protobuf, snappy) to `endpoint`, with the
    /// metric names, suffixes and labels of the `prometheus` exporter. Delta sums and histograms are converted to
    /// cumulative (accumulated per series, as the `prometheus` exporter does), never dropped.
    pub struct PrometheusRemoteWriteConfig {
        /// The write URL, e.g. `http://prometheus:9090/api/v1/write` or `http://victoria:8428/api/v1/write`.
        endpoint: String = String::new(),
        /// Headers sent with every request (e.g. `X-Scope-OrgID` for Mimir). Never logged. The protocol's own
        /// headers (`Content-Type`, `Content-Encoding`, `X-Prometheus-Remote-Write-Version`) cannot be replaced.
        headers: BTreeMap<String, crate::otlp_exporters::Secret> = BTreeMap::new(),
        /// HTTP basic authentication (hosted backends).
        basic_auth: Option<BasicAuthConfig> = None,
        /// A bearer token sent as `Authorization: Bearer …`. Never logged.
        bearer_token: Option<crate::otlp_exporters::Secret> = None,
        /// Prefix for every metric name (`namespace_name`).
        namespace: String = String::new(),
        /// Labels added to every series (e.g. `cluster`, `region`).
        external_labels: Attributes = Attributes::new(),
        /// Resource attributes copied onto every series as labels (by default they only go to `target_info`).
        resource_to_labels: Vec<String> = Vec::new(),
        /// Add unit and type suffixes (`_seconds`, `_bytes`, `_total`, `_ratio`), as the `prometheus` exporter does.
        add_metric_suffixes: bool = true,
        /// Series per metric name, at most; further label sets go into one `otel_metric_overflow="true"` series.
        max_series_per_metric: usize = 2000,
        /// A series' cumulative state (needed to convert deltas) is forgotten after this long without a point.
        metric_expiration: Duration = Duration::from_secs(300),
        /// Time limit of one attempt.
        timeout: Duration = Duration::from_secs(5),
        /// TLS settings for https endpoints.
        tls: crate::otlp_exporters::TlsConfig = crate::otlp_exporters::TlsConfig::default(),
        /// Retries: 5xx and 429 are retried with backoff (honouring `Retry-After`); other 4xx are dropped and counted.
        retry_on_failure: crate::otlp_exporters::RetryConfig = crate::otlp_exporters::RetryConfig::default(),
        /// The queue in front of the exporter. One consumer by default, so that each series' samples arrive in
        /// order (stores reject out-of-order samples).
        sending_queue: QueueConfig = QueueConfig {
            queue_size: 1024,
            max_size_mib: 32,
            block_on_overflow: true,
            ..QueueConfig::default()
        },
    }
}

impl Check for PrometheusRemoteWriteConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.endpoint.is_empty() {
            ctx.error(
                &child(path, "endpoint"),
                "required: the remote write URL, such as http://127.0.0.1:9090/api/v1/write",
            );
        } else if let Err(e) = crate::otlp_exporters::check_url(&self.endpoint) {
            ctx.error(&child(path, "endpoint"), e);
        }
        if self.basic_auth.is_some() && self.bearer_token.is_some() {
            ctx.error(
                &child(path, "bearer_token"),
                "basic_auth and bearer_token both set: choose one",
            );
        }
        if self.timeout.get().is_zero() {
            ctx.error(
                &child(path, "timeout"),
                "0s: expected a time limit above zero",
            );
        }
        if self.metric_expiration.get().is_zero() {
            ctx.error(
                &child(path, "metric_expiration"),
                "0s: expected a duration above zero",
            );
        }
        for k in self.headers.keys() {
            let lower = k.to_ascii_lowercase();
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                ctx.error(
                    &child(&child(path, "headers"), k),
                    format!("{k:?}: not a valid header name"),
                );
            } else if matches!(
                lower.as_str(),
                "content-type" | "content-encoding" | "x-prometheus-remote-write-version"
            ) {
                ctx.error(
                    &child(&child(path, "headers"), k),
                    "set by the remote write protocol; cannot be replaced",
                );
            }
        }
        let prom = PrometheusExporterConfig {
            namespace: self.namespace.clone(),
            const_labels: self.external_labels.clone(),
            ..PrometheusExporterConfig::default()
        };
        // Same rules for the namespace and label names as the prometheus exporter; reported under this path.
        let mut sub = Ctx::default();
        prom.check(path, &mut sub);
        for e in sub.into_errors() {
            ctx.error(
                &e.path.replace(".const_labels", ".external_labels"),
                e.message,
            );
        }
    }
}

impl PrometheusRemoteWriteConfig {
    /// The `prometheus` exporter settings that give the same translation (names, suffixes, labels).
    pub fn translation(&self) -> PrometheusExporterConfig {
        PrometheusExporterConfig {
            namespace: self.namespace.clone(),
            const_labels: self.external_labels.clone(),
            metric_expiration: self.metric_expiration,
            resource_to_labels: self.resource_to_labels.clone(),
            add_metric_suffixes: self.add_metric_suffixes,
            max_series_per_metric: self.max_series_per_metric,
            ..PrometheusExporterConfig::default()
        }
    }
}
