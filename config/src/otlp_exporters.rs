//! Settings of the OTLP exporters (`otlp` over gRPC, `otlp_http` over HTTP) and the standard
//! `OTEL_EXPORTER_OTLP_*` environment variables that feed them.
//!
//! Variables, as the OpenTelemetry SDK spec defines them: `OTEL_EXPORTER_OTLP_ENDPOINT`, `_HEADERS`, `_PROTOCOL`
//! (`grpc`, `http/protobuf` — the spec's default —, `http/json`), `_COMPRESSION`, `_TIMEOUT` (milliseconds),
//! `_CERTIFICATE`, each also per signal (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, …), the per-signal one winning.
//! - With the built-in config, an endpoint variable adds an exporter for each signal that has an endpoint, and puts
//!   it in that signal's pipelines: forwarding is on as soon as the endpoint is set.
//! - With a config file, an `otlp`/`otlp_http` exporter that leaves `endpoint` empty takes it from the variables,
//!   and header keys it does not set come from `_HEADERS`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::components::{ExporterConfig, QueueConfig, Signal};
use crate::decode::{Check, Ctx, Decode, child};
use crate::env::EnvLookup;
use crate::model::Config;
use crate::types::{ComponentId, Duration};
use crate::{config_enum, config_struct};

/// The wire protocol of an OTLP exporter (from its type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `otlp`.
    Grpc,
    /// `otlp_http`.
    Http,
}

/// A value that must never be shown: it prints and serialises as `[REDACTED]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

impl Decode for Secret {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        match value {
            Value::String(s) => Some(Self(s.clone())),
            Value::Number(n) => Some(Self(n.to_string())),
            // Not `describe`d: the value may be the secret.
            _ => {
                ctx.error(path, "expected a string");
                None
            }
        }
    }
}

config_enum! {
    /// Compression of export requests.
    pub enum Compression {
        /// gzip.
        Gzip = "gzip",
        /// No compression.
        None = "none",
    }
}

config_enum! {
    /// Body encoding of `otlp_http` requests.
    pub enum Encoding {
        /// Binary protobuf (`application/x-protobuf`).
        Proto = "proto",
        /// OTLP JSON (`application/json`).
        Json = "json",
    }
}

config_struct! {
    /// Retries of failed exports, with exponential backoff and jitter. Only failures the OTLP spec calls
    /// retryable are retried; a server's RetryInfo or Retry-After is honoured when longer than the backoff.
    pub struct RetryConfig {
        /// Retry at all.
        enabled: bool = true,
        /// Wait before the first retry.
        initial_interval: Duration = Duration::from_secs(5),
        /// Longest wait between two attempts.
        max_interval: Duration = Duration::from_secs(30),
        /// Give up on a batch after retrying this long; 0 retries forever.
        max_elapsed_time: Duration = Duration::from_secs(300),
        /// Growth of the wait after each failed attempt.
        multiplier: f64 = 1.5,
        /// Each wait is chosen at random within ± this fraction of itself.
        randomization_factor: f64 = 0.5,
    }
}

impl Check for RetryConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if !(1.0..=100.0).contains(&self.multiplier) {
            ctx.error(
                &child(path, "multiplier"),
                format!("{}: expected 1 to 100", self.multiplier),
            );
        }
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            ctx.error(
                &child(path, "randomization_factor"),
                format!("{}: expected 0 to 1", self.randomization_factor),
            );
        }
        if self.max_interval < self.initial_interval {
            ctx.error(
                &child(path, "max_interval"),
                "must not be less than initial_interval",
            );
        }
    }
}

config_struct! {
    /// TLS for `https://` endpoints (rustls). The system's root certificates are trusted, plus `ca_file`.
    pub struct TlsConfig {
        /// A PEM file of extra CA certificates to trust (e.g. a private CA).
        ca_file: Option<String> = None,
    }
}

impl Check for TlsConfig {}

config_struct! {
    /// Exporters `otlp` (gRPC) and `otlp_http`.
    pub struct OtlpExporterConfig {
        /// Where to send: `http://host:4317` / `https://host:4317` for `otlp`; the base URL for `otlp_http`
        /// (`/v1/traces`, `/v1/metrics`, `/v1/logs` are appended). Empty: taken from `OTEL_EXPORTER_OTLP_ENDPOINT`.
        endpoint: String = String::new(),
        /// `otlp_http` only: full URL for traces, overriding `endpoint`.
        traces_endpoint: Option<String> = None,
        /// `otlp_http` only: full URL for metrics, overriding `endpoint`.
        metrics_endpoint: Option<String> = None,
        /// `otlp_http` only: full URL for logs, overriding `endpoint`.
        logs_endpoint: Option<String> = None,
        /// Headers sent with every request, e.g. an API key. Never logged; `print-config` shows `[REDACTED]`.
        headers: BTreeMap<String, Secret> = BTreeMap::new(),
        /// gzip or none.
        compression: Compression = Compression::Gzip,
        /// `otlp_http` only: proto or json.
        encoding: Encoding = Encoding::Proto,
        /// Time limit of one attempt.
        timeout: Duration = Duration::from_secs(5),
        /// TLS settings for https endpoints.
        tls: TlsConfig = TlsConfig::default(),
        /// Retries of failed exports.
        retry_on_failure: RetryConfig = RetryConfig::default(),
        /// The queue in front of the exporter.
        sending_queue: QueueConfig = QueueConfig {
            queue_size: 256,
            max_size_mib: 64,
            num_consumers: 4,
            ..QueueConfig::default()
        },
    }
}

impl Check for OtlpExporterConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        for (key, url) in [
            ("endpoint", Some(&self.endpoint)),
            ("traces_endpoint", self.traces_endpoint.as_ref()),
            ("metrics_endpoint", self.metrics_endpoint.as_ref()),
            ("logs_endpoint", self.logs_endpoint.as_ref()),
        ] {
            if let Some(url) = url.filter(|u| !u.is_empty())
                && let Err(e) = check_url(url)
            {
                ctx.error(&child(path, key), e);
            }
        }
        if self.timeout.get().is_zero() {
            ctx.error(
                &child(path, "timeout"),
                "0s: expected a time limit above zero",
            );
        }
        for k in self.headers.keys() {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                ctx.error(
                    &child(&child(path, "headers"), k),
                    format!("{k:?}: not a valid header name"),
                );
            }
        }
    }
}

impl OtlpExporterConfig {
    /// Decodes the settings of an exporter speaking `protocol`.
    pub fn decode_for(
        protocol: Protocol,
        value: &Value,
        path: &str,
        ctx: &mut Ctx,
    ) -> Option<Self> {
        let cfg = Self::decode(value, path, ctx)?;
        if protocol == Protocol::Grpc {
            for (key, set) in [
                ("traces_endpoint", cfg.traces_endpoint.is_some()),
                ("metrics_endpoint", cfg.metrics_endpoint.is_some()),
                ("logs_endpoint", cfg.logs_endpoint.is_some()),
                ("encoding", cfg.encoding != Encoding::Proto),
            ] {
                if set {
                    ctx.error(
                        &child(path, key),
                        "only for otlp_http; the otlp exporter speaks gRPC to one endpoint",
                    );
                }
            }
        }
        Some(cfg)
    }

    /// The URL to post `signal` to (`otlp_http`).
    pub fn http_url(&self, signal: Signal) -> String {
        let specific = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        match specific {
            Some(u) if !u.is_empty() => u.clone(),
            _ => format!(
                "{}/v1/{}",
                self.endpoint.trim_end_matches('/'),
                signal.as_str()
            ),
        }
    }
}

/// An endpoint URL: `http://` or `https://`, a host, an optional port and path.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?}: expected a URL starting with http:// or https://, such as http://127.0.0.1:4317"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    if let Some((_, port)) = authority.rsplit_once(':')
        && !port.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(format!("{url:?}: {port:?} is not a port number"));
    }
    Ok(())
}

/// One signal's `OTEL_EXPORTER_OTLP_*` settings.
#[derive(Debug, Default)]
struct EnvExporter {
    endpoint: Option<String>,
    signal_specific: bool,
    headers: Vec<(String, String)>,
    protocol: Option<String>,
    compression: Option<String>,
    timeout_ms: Option<String>,
    certificate: Option<String>,
}

fn env_for(signal: Signal, env: EnvLookup<'_>) -> EnvExporter {
    let s = signal.as_str().to_ascii_uppercase();
    let get = |name: &str| {
        env(&format!("OTEL_EXPORTER_OTLP_{s}_{name}"))
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, true))
            .or_else(|| {
                env(&format!("OTEL_EXPORTER_OTLP_{name}"))
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v, false))
            })
    };
    let endpoint = get("ENDPOINT");
    let mut headers = Vec::new();
    // Base headers first, signal headers after: later keys win.
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
        format!("OTEL_EXPORTER_OTLP_{s}_HEADERS"),
    ] {
        if let Some(raw) = env(&var)
            && let Ok(pairs) = crate::env::parse_resource_attributes(&raw)
        {
            headers.extend(pairs);
        }
    }
    EnvExporter {
        signal_specific: endpoint.as_ref().is_some_and(|(_, specific)| *specific),
        endpoint: endpoint.map(|(v, _)| v),
        headers,
        protocol: get("PROTOCOL").map(|(v, _)| v),
        compression: get("COMPRESSION").map(|(v, _)| v),
        timeout_ms: get("TIMEOUT").map(|(v, _)| v),
        certificate: get("CERTIFICATE").map(|(v, _)| v),
    }
}

/// Applies the `OTEL_EXPORTER_OTLP_*` variables (see the module docs). `builtin` says whether `cfg` is the
/// built-in config.
pub(crate) fn apply_env(cfg: &mut Config, builtin: bool, env: EnvLookup<'_>, ctx: &mut Ctx) {
    // Malformed header variables are reported, not silently ignored (their values are not shown: they are secrets).
    for s in Signal::ALL {
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
            format!(
                "OTEL_EXPORTER_OTLP_{}_HEADERS",
                s.as_str().to_ascii_uppercase()
            ),
        ] {
            if let Some(raw) = env(&var)
                && crate::env::parse_resource_attributes(&raw).is_err()
                && !ctx.has_error_at(&var)
            {
                ctx.error(&var, "expected key=value pairs separated by commas");
            }
        }
    }
    if builtin {
        add_env_exporters(cfg, env, ctx);
        return;
    }
    for (id, exporter) in cfg.exporters.iter_mut() {
        let (ExporterConfig::Otlp(c) | ExporterConfig::OtlpHttp(c)) = exporter else {
            continue;
        };
        let e = env_for(Signal::Traces, env);
        if c.endpoint.is_empty() {
            match e.endpoint {
                Some(url) if !e.signal_specific => c.endpoint = url,
                _ => ctx.error(
                    &format!("exporters.{id}.endpoint"),
                    "missing: set it here or in OTEL_EXPORTER_OTLP_ENDPOINT",
                ),
            }
        }
        for (k, v) in e.headers {
            c.headers.entry(k).or_insert(Secret(v));
        }
    }
}

/// With the built-in config: one exporter per signal whose endpoint variable is set, added to that signal's
/// pipelines.
fn add_env_exporters(cfg: &mut Config, env: EnvLookup<'_>, ctx: &mut Ctx) {
    for signal in Signal::ALL {
        let e = env_for(signal, env);
        let Some(endpoint) = e.endpoint else { continue };
        let var = |name: &str| {
            format!(
                "OTEL_EXPORTER_OTLP_{name} (or OTEL_EXPORTER_OTLP_{}_{name})",
                signal.as_str().to_ascii_uppercase()
            )
        };
        let protocol = match e.protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => (Protocol::Http, Encoding::Proto),
            Some("http/json") => (Protocol::Http, Encoding::Json),
            Some("grpc") => (Protocol::Grpc, Encoding::Proto),
            Some(other) => {
                ctx.error(
                    &var("PROTOCOL"),
                    format!("{other:?}: expected grpc, http/protobuf or http/json"),
                );
                continue;
            }
        };
        let mut c = OtlpExporterConfig {
            encoding: protocol.1,
            ..Default::default()
        };
        match (protocol.0, e.signal_specific) {
            // A per-signal HTTP endpoint is the full URL; the base one gets /v1/<signal> appended.
            (Protocol::Http, true) => {
                c.endpoint = endpoint.clone();
                let url = Some(endpoint);
                match signal {
                    Signal::Traces => c.traces_endpoint = url,
                    Signal::Metrics => c.metrics_endpoint = url,
                    Signal::Logs => c.logs_endpoint = url,
                }
            }
            _ => c.endpoint = endpoint,
        }
        c.headers = e.headers.into_iter().map(|(k, v)| (k, Secret(v))).collect();
        match e.compression.as_deref().map(str::trim) {
            None => {}
            Some("gzip") => c.compression = Compression::Gzip,
            Some("none") => c.compression = Compression::None,
            Some(other) => ctx.error(
                &var("COMPRESSION"),
                format!("{other:?}: expected gzip or none"),
            ),
        }
        if let Some(ms) = e.timeout_ms {
            match ms.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => c.timeout = Duration::from_millis(ms),
                _ => ctx.error(
                    &var("TIMEOUT"),
                    format!("{ms:?}: expected milliseconds above zero"),
                ),
            }
        }
        c.tls.ca_file = e.certificate;
        let path = format!("{} ({})", var("ENDPOINT"), signal);
        c.check(&path, ctx);
        let (kind, exporter) = match protocol.0 {
            Protocol::Grpc => ("otlp", ExporterConfig::Otlp(c)),
            Protocol::Http => ("otlp_http", ExporterConfig::OtlpHttp(c)),
        };
        let name = format!("{kind}/{signal}");
        let Ok(id) = ComponentId::parse(&name) else {
            continue;
        };
        cfg.exporters.insert(id, exporter);
        for (pid, p) in cfg.service.pipelines.iter_mut() {
            if crate::model::ServiceConfig::pipeline_signal(pid) == Some(signal)
                && !p.exporters.contains(&name)
            {
                p.exporters.push(name.clone());
            }
        }
    }
}
