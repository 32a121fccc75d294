//! llmtel's configuration: a YAML file shaped like the OpenTelemetry Collector's (`receivers`, `processors`,
//! `exporters`, `connectors`, `service.pipelines`), plus `service.telemetry` for llmtel's own logs and admin
//! endpoint.
//!
//! Loading goes: read the file (or the built-in default) → parse YAML → substitute `${ENV}` in string values →
//! decode into typed sections with defaults → fill llmtel's resource from `OTEL_*` variables → check the pipeline
//! graph. Every step collects all of its errors, each with the path, the value and what was expected, so one run of
//! `llmtel validate` shows everything that is wrong.

pub mod components;
pub mod decode;
pub mod env;
mod model;
pub mod otlp_exporters;
pub mod semconv;
mod suggest;
pub mod types;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use components::*;
pub use decode::ConfigError;
pub use model::*;
pub use types::{AttrValue, ComponentId, Duration, Endpoint};

use decode::{Ctx, Decode};
use env::EnvLookup;

/// The built-in config used when no file is given.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("default.yaml");

/// Why a config could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config was read but is not valid; every problem found is listed.
    Invalid {
        /// The file, or `<built-in default>`.
        origin: String,
        /// Every problem, in document order where possible.
        errors: Vec<ConfigError>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "read config {}: {source}", path.display()),
            Self::Invalid { origin, errors } => {
                let n = errors.len();
                write!(f, "{origin}: {n} error{}", if n == 1 { "" } else { "s" })?;
                for e in errors {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Invalid { .. } => None,
        }
    }
}

/// Loads the config from `path`, or the built-in default when `path` is `None`, using the process environment.
pub fn load(path: Option<&Path>) -> Result<Config, LoadError> {
    load_with_env(path, &env::process_env)
}

/// [`load`] with an injected environment.
pub fn load_with_env(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Config, LoadError> {
    match path {
        None => parse_with(DEFAULT_CONFIG_YAML, env, true).map_err(|errors| LoadError::Invalid {
            origin: "<built-in default>".to_owned(),
            errors,
        }),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| LoadError::Read {
                path: p.to_owned(),
                source,
            })?;
            parse(&text, env).map_err(|errors| LoadError::Invalid {
                origin: p.display().to_string(),
                errors,
            })
        }
    }
}

/// Parses and validates config text (as a config file). Returns every error found.
pub fn parse(text: &str, env: EnvLookup<'_>) -> Result<Config, Vec<ConfigError>> {
    parse_with(text, env, false)
}

/// Parses and validates config text; `builtin` says whether it is the built-in config, which
/// `OTEL_EXPORTER_OTLP_*` variables extend with exporters (see [`otlp`]).
fn parse_with(text: &str, env: EnvLookup<'_>, builtin: bool) -> Result<Config, Vec<ConfigError>> {
    let mut value: serde_json::Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![ConfigError {
                path: String::new(),
                message: format!("not valid YAML: {e}"),
            }]);
        }
    };
    let mut ctx = Ctx::default();
    env::substitute(&mut value, "", env, &mut ctx);
    let cfg = Config::decode(&value, "", &mut ctx);
    let Some(mut cfg) = cfg else {
        return Err(ctx.into_errors());
    };
    apply_otel_resource(&mut cfg.service.telemetry.resource, env, &mut ctx);
    otlp_exporters::apply_env(&mut cfg, builtin, env, &mut ctx);
    validate::validate(&cfg, &mut ctx);
    if ctx.has_errors() {
        Err(ctx.into_errors())
    } else {
        Ok(cfg)
    }
}

/// Fills llmtel's own resource from `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` (which wins over a
/// `service.name` in the former, as the SDK spec says), without overriding keys set in the config.
fn apply_otel_resource(resource: &mut components::Attributes, env: EnvLookup<'_>, ctx: &mut Ctx) {
    // First come, first kept: the config's own keys, then OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES.
    let mut from_env: Vec<(String, String)> = Vec::new();
    if let Some(name) = env("OTEL_SERVICE_NAME").filter(|s| !s.trim().is_empty()) {
        from_env.push(("service.name".to_owned(), name));
    }
    if let Some(raw) = env("OTEL_RESOURCE_ATTRIBUTES").filter(|s| !s.trim().is_empty()) {
        match env::parse_resource_attributes(&raw) {
            Ok(attrs) => from_env.extend(attrs),
            Err(e) => ctx.error("OTEL_RESOURCE_ATTRIBUTES", e),
        }
    }
    from_env.push(("service.name".to_owned(), "llmtel".to_owned()));
    for (k, v) in from_env {
        resource.entry(k).or_insert(v);
    }
}

impl Config {
    /// The effective config as YAML, every default written out.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("# cannot render config as YAML: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
