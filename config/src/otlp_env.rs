//! The standard `OTEL_EXPORTER_OTLP_*` environment variables, applied to a decoded config's OTLP exporters (whose
//! settings are in `otlp_exporters.rs`).
//!
//! Variables, as the OpenTelemetry SDK spec defines them: `OTEL_EXPORTER_OTLP_ENDPOINT`, `_HEADERS`, `_PROTOCOL`
//! (`grpc`, `http/protobuf` — the spec's default —, `http/json`), `_COMPRESSION`, `_TIMEOUT` (milliseconds),
//! `_CERTIFICATE`, each also per signal (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, …), the per-signal one winning.
//! - With the built-in config, an endpoint variable adds an exporter for each signal that has an endpoint, and puts
//!   it in that signal's pipelines: forwarding is on as soon as the endpoint is set.
//! - With a config file, an `otlp`/`otlp_http` exporter that leaves `endpoint` empty takes it from the variables,
//!   and header keys it does not set come from `_HEADERS`.

use crate::components::{ExporterConfig, Signal};
use crate::decode::{Check, Ctx};
use crate::env::EnvLookup;
use crate::model::Config;
use crate::otlp_exporters::{Compression, Encoding, OtlpExporterConfig, Protocol, Secret};
use crate::types::{ComponentId, Duration};

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
