//! Settings of the OTLP exporters (`otlp` over gRPC, `otlp_http` over HTTP); the standard
//! `OTEL_EXPORTER_OTLP_*` environment variables that feed them are applied by `otlp_env.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::components::{QueueConfig, Signal};
use crate::decode::{Check, Ctx, Decode, child};
use crate::types::Duration;
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

    /// Whether `candidate` is this secret, in time that does not depend on where they differ (only on the
    /// candidate's length), so that a client cannot guess a token byte by byte.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let secret = self.0.as_bytes();
        let mut diff = u8::from(secret.len() != candidate.len());
        for (i, c) in candidate.iter().enumerate() {
            // Compares every byte of the candidate even past the secret's end, against 0.
            diff |= c ^ secret.get(i).copied().unwrap_or(0);
        }
        diff == 0
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
            max_size_mib: 32,
            num_consumers: 4,
            block_on_overflow: true,
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
pub(crate) fn check_url(url: &str) -> Result<(), String> {
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
