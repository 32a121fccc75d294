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
mod otlp_env;
pub mod otlp_exporters;
pub mod semconv;
mod suggest;
pub mod types;
mod validate;

use std::fmt;
use std::ops::Deref;
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

/// A config that passed every check: each section's own (ranges, relations between fields) and the whole-config
/// ones (pipelines name defined components of the right signal, no connector cycle, no two listeners on one
/// address).
///
/// Only [`parse`], [`load`] and [`validate`] make one, so whatever is built from it (the pipeline graph, its
/// stages) may rely on those checks instead of trusting a caller. Read it through `Deref`; to change it, take the
/// [`Config`] out with [`ValidConfig::into_inner`], edit it and [`validate`] it again.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig(Config);

/// Loads the config from `path`, or the built-in default when `path` is `None`, using the process environment.
pub fn load(path: Option<&Path>) -> Result<ValidConfig, LoadError> {
    load_with_env(path, &env::process_env)
}

/// [`load`] with an injected environment.
pub fn load_with_env(path: Option<&Path>, env: EnvLookup<'_>) -> Result<ValidConfig, LoadError> {
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
pub fn parse(text: &str, env: EnvLookup<'_>) -> Result<ValidConfig, Vec<ConfigError>> {
    parse_with(text, env, false)
}

/// Checks a config that was edited after parsing (a test setting ports to 0, a command-line override) as
/// [`parse`] would have checked it, and returns every error found.
pub fn validate(cfg: Config) -> Result<ValidConfig, Vec<ConfigError>> {
    let mut ctx = Ctx::default();
    // Each section's own checks run as it is decoded. Decoding the config's serialised form runs them on the
    // values as they are now; `${ENV}` and `OTEL_*` were applied when the config was first parsed and are not
    // applied again. Secrets serialise as "[REDACTED]", a value no check looks into.
    match serde_json::to_value(&cfg) {
        Ok(value) => {
            let _ = Config::decode(&value, "", &mut ctx);
        }
        Err(e) => ctx.error("", format!("cannot check the config: {e}")),
    }
    validate::validate(&cfg, &mut ctx);
    if ctx.has_errors() {
        Err(ctx.into_errors())
    } else {
        Ok(ValidConfig(cfg))
    }
}

/// Parses and validates config text; `builtin` says whether it is the built-in config, which
/// `OTEL_EXPORTER_OTLP_*` variables extend with exporters (see [`otlp`]).
fn parse_with(
    text: &str,
    env: EnvLookup<'_>,
    builtin: bool,
) -> Result<ValidConfig, Vec<ConfigError>> {
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
    otlp_env::apply_env(&mut cfg, builtin, env, &mut ctx);
    validate::validate(&cfg, &mut ctx);
    if ctx.has_errors() {
        Err(ctx.into_errors())
    } else {
        Ok(ValidConfig(cfg))
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

// === impl ValidConfig ===

impl ValidConfig {
    /// The config, to edit; [`validate`] it again to use it.
    pub fn into_inner(self) -> Config {
        self.0
    }

    /// [`Config::override_llm_proxy`] (what `llmtel --listen` and `--upstream` do), then the checks again: a new
    /// listen address may collide with another listener.
    pub fn override_llm_proxy(
        self,
        listen: Option<&str>,
        upstream: Option<&str>,
    ) -> Result<ValidConfig, String> {
        if listen.is_none() && upstream.is_none() {
            return Ok(self);
        }
        let mut cfg = self.0;
        cfg.override_llm_proxy(listen, upstream)?;
        validate(cfg).map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("with --listen/--upstream applied: {}", list.join("; "))
        })
    }
}

impl Deref for ValidConfig {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.0
    }
}

impl AsRef<Config> for ValidConfig {
    fn as_ref(&self) -> &Config {
        &self.0
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
mod limits_tests;
#[cfg(test)]
mod remote_write_tests;
#[cfg(test)]
mod tests;
