//! The top of the config: component sections and `service` (pipelines, llmtel's own telemetry, shutdown).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::components::{
    Attributes, CONNECTOR_TYPES, ConnectorConfig, EXPORTER_TYPES, ExporterConfig, PROCESSOR_TYPES,
    ProcessorConfig, RECEIVER_TYPES, ReceiverConfig, Signal,
};
use crate::decode::{Check, Ctx, Decode, as_map, child, reject_unknown_keys, unknown_message};
use crate::types::{ComponentId, Duration, Endpoint};
use crate::{config_enum, config_struct};

/// A whole llmtel config, shaped like the OpenTelemetry Collector's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// Where telemetry comes from.
    pub receivers: BTreeMap<ComponentId, ReceiverConfig>,
    /// What is done to it on the way.
    pub processors: BTreeMap<ComponentId, ProcessorConfig>,
    /// Where it goes.
    pub exporters: BTreeMap<ComponentId, ExporterConfig>,
    /// Links from one pipeline to another.
    pub connectors: BTreeMap<ComponentId, ConnectorConfig>,
    /// Pipelines and llmtel's own settings.
    pub service: ServiceConfig,
}

impl Config {
    /// The longest `drain_timeout` of the `llm_proxy` receivers (zero without one): how much longer than
    /// `service.shutdown_timeout` a stop may take, since the sidecar drains before the pipelines do.
    pub fn max_drain(&self) -> std::time::Duration {
        self.receivers
            .values()
            .filter_map(|r| match r {
                ReceiverConfig::LlmProxy(p) => Some(p.drain_timeout.get()),
                _ => None,
            })
            .max()
            .unwrap_or_default()
    }

    /// Sets the listen address and/or upstream of the config's one `llm_proxy` receiver: what `llmtel --listen`
    /// and `--upstream` do. An error names the flag and the problem (no such receiver, several, a bad value).
    pub fn override_llm_proxy(
        &mut self,
        listen: Option<&str>,
        upstream: Option<&str>,
    ) -> Result<(), String> {
        if listen.is_none() && upstream.is_none() {
            return Ok(());
        }
        let flags = match (listen, upstream) {
            (Some(_), Some(_)) => "--listen/--upstream",
            (Some(_), None) => "--listen",
            _ => "--upstream",
        };
        let proxies: Vec<&ComponentId> = self
            .receivers
            .iter()
            .filter(|(_, r)| matches!(r, ReceiverConfig::LlmProxy(_)))
            .map(|(id, _)| id)
            .collect();
        let id = match proxies.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(format!("{flags}: the config has no llm_proxy receiver")),
            many => {
                let names: Vec<&str> = many.iter().map(|id| id.as_str()).collect();
                return Err(format!(
                    "{flags}: the config has {} llm_proxy receivers ({}); set listen/upstream on each in the config",
                    many.len(),
                    names.join(", ")
                ));
            }
        };
        let Some(ReceiverConfig::LlmProxy(p)) = self.receivers.get_mut(&id) else {
            return Ok(());
        };
        if let Some(l) = listen {
            p.listen = Endpoint::parse(l).map_err(|e| format!("--listen {e}"))?;
        }
        if let Some(u) = upstream {
            crate::components::check_upstream(u).map_err(|e| format!("--upstream {e}"))?;
            p.upstream = u.trim_end_matches('/').to_owned();
            // One `ollama` receiver watches the same server (the built-in config's does).
            let mut pollers = self.receivers.values_mut().filter_map(|r| match r {
                ReceiverConfig::Ollama(o) => Some(o),
                _ => None,
            });
            if let (Some(o), None) = (pollers.next(), pollers.next()) {
                o.endpoint = u.trim_end_matches('/').to_owned();
            }
        }
        Ok(())
    }
}

const TOP_KEYS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "service",
];

impl Decode for Config {
    fn decode(value: &Value, path: &str, ctx: &mut Ctx) -> Option<Self> {
        let map = as_map(value, path, ctx)?;
        reject_unknown_keys(&map, TOP_KEYS, path, ctx);
        let service = match map.get("service") {
            Some(v) => ServiceConfig::decode(v, "service", ctx).unwrap_or_default(),
            None => {
                ctx.error(
                    "service",
                    "missing: expected service.pipelines with at least one pipeline",
                );
                ServiceConfig::default()
            }
        };
        Some(Self {
            receivers: components(
                &map,
                "receivers",
                RECEIVER_TYPES,
                ctx,
                ReceiverConfig::decode_kind,
            ),
            processors: components(
                &map,
                "processors",
                PROCESSOR_TYPES,
                ctx,
                ProcessorConfig::decode_kind,
            ),
            exporters: components(
                &map,
                "exporters",
                EXPORTER_TYPES,
                ctx,
                ExporterConfig::decode_kind,
            ),
            connectors: components(
                &map,
                "connectors",
                CONNECTOR_TYPES,
                ctx,
                ConnectorConfig::decode_kind,
            ),
            service,
        })
    }
}

/// Decodes one component section: each key is a component id whose type picks the settings' shape.
fn components<T>(
    map: &serde_json::Map<String, Value>,
    section: &str,
    types: &[&str],
    ctx: &mut Ctx,
    decode_kind: fn(&str, &Value, &str, &mut Ctx) -> Option<T>,
) -> BTreeMap<ComponentId, T> {
    let mut out = BTreeMap::new();
    let Some(value) = map.get(section) else {
        return out;
    };
    let Some(entries) = as_map(value, section, ctx) else {
        return out;
    };
    for (key, settings) in entries.iter() {
        let path = child(section, key);
        let id = match ComponentId::parse(key) {
            Ok(id) => id,
            Err(e) => {
                ctx.error(&path, e);
                continue;
            }
        };
        if !types.contains(&id.kind()) {
            ctx.error(&path, unknown_message("type", id.kind(), types));
            continue;
        }
        match decode_kind(id.kind(), settings, &path, ctx) {
            Some(cfg) => {
                out.insert(id, cfg);
            }
            // A decoder reports its own errors; one that returns nothing without saying why is a bug, not silence.
            None if !ctx.has_errors() => ctx.error(
                &path,
                format!("type {:?} has no settings decoder", id.kind()),
            ),
            None => {}
        }
    }
    out
}

config_struct! {
    /// The `service` section.
    pub struct ServiceConfig {
        /// Pipelines by id: `traces`, `metrics`, `logs`, or one of those followed by `/name`.
        pipelines: BTreeMap<String, PipelineConfig> = BTreeMap::new(),
        /// llmtel's own logs, admin endpoint and resource.
        telemetry: TelemetryConfig = TelemetryConfig::default(),
        /// On SIGINT/SIGTERM, how long queued data may take to drain to exporters before llmtel exits anyway
        /// (what is still queued then is counted as dropped and logged).
        shutdown_timeout: Duration = Duration::from_secs(10),
    }
}

impl Check for ServiceConfig {}

impl ServiceConfig {
    /// The signal of pipeline `id` (`traces/x` → traces), or `None` when the id names no signal.
    pub fn pipeline_signal(id: &str) -> Option<Signal> {
        let kind = id.split_once('/').map_or(id, |(k, _)| k);
        Signal::ALL.into_iter().find(|s| s.as_str() == kind)
    }
}

config_struct! {
    /// One pipeline: its receivers feed its processors, in order, whose output goes to every exporter.
    pub struct PipelineConfig {
        /// Receivers or connectors this pipeline takes data from.
        receivers: Vec<String> = Vec::new(),
        /// Processors applied in order.
        processors: Vec<String> = Vec::new(),
        /// Exporters or connectors this pipeline sends to.
        exporters: Vec<String> = Vec::new(),
        /// Requests waiting to enter the pipeline, at most. When it is full, receivers refuse new data
        /// (gRPC UNAVAILABLE, HTTP 503 with Retry-After) instead of blocking or dropping.
        queue_size: usize = 64,
    }
}

impl Check for PipelineConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.queue_size == 0 {
            ctx.error(&child(path, "queue_size"), "0: expected at least 1");
        }
    }
}

config_struct! {
    /// llmtel's own telemetry.
    pub struct TelemetryConfig {
        /// llmtel's log output.
        logs: LogsConfig = LogsConfig::default(),
        /// The admin HTTP endpoint: `/healthz`, `/readyz` and llmtel's own metrics on `/metrics`.
        admin: AdminConfig = AdminConfig::default(),
        /// Resource attributes of the telemetry llmtel itself produces. `OTEL_RESOURCE_ATTRIBUTES` and
        /// `OTEL_SERVICE_NAME` fill in keys not set here.
        resource: Attributes = Attributes::new(),
    }
}

impl Check for TelemetryConfig {}

config_enum! {
    /// Log line format.
    pub enum LogFormat {
        /// Human-readable lines.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
}

config_struct! {
    /// llmtel's log output (to stderr).
    pub struct LogsConfig {
        /// A level (error, warn, info, debug, trace) or a filter such as `info,llmtel_pipelines=debug`.
        /// `RUST_LOG` overrides it.
        level: String = "info".to_owned(),
        /// text or json.
        format: LogFormat = LogFormat::Text,
    }
}

impl Check for LogsConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];
        for directive in self
            .level
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            let level = directive
                .rsplit_once('=')
                .map_or(directive, |(_, l)| l)
                .to_ascii_lowercase();
            if !LEVELS.contains(&level.as_str()) {
                ctx.error(
                    &child(path, "level"),
                    unknown_message("log level", &level, LEVELS),
                );
            }
        }
    }
}

config_struct! {
    /// The admin endpoint.
    pub struct AdminConfig {
        /// Serve it at all.
        enabled: bool = true,
        /// Address to listen on.
        endpoint: Endpoint = Endpoint("127.0.0.1:8888".into()),
        /// Server TLS; see `docs/security.md`.
        tls: crate::components::ServerTlsConfig = crate::components::ServerTlsConfig::default(),
        /// Bearer-token auth on `/metrics` and the request explorer; `/healthz` and `/readyz` stay open for
        /// probes (they say nothing but up or ready).
        auth: crate::components::BearerAuthConfig = crate::components::BearerAuthConfig::default(),
    }
}

impl Check for AdminConfig {}
