//! Settings of receiver `prometheus`: which Prometheus endpoints to scrape, written as the Collector's
//! `prometheus` receiver takes them (`config.scrape_configs`, a subset of a Prometheus configuration), and
//! [`scrape_url`], which turns one target into the URL the receiver GETs.

use std::collections::{BTreeMap, BTreeSet};

use crate::config_struct;
use crate::decode::{Check, Ctx, child, index};
use crate::otlp_exporters::Secret;
use crate::types::Duration;

config_struct! {
    /// Receiver `prometheus`: scrapes Prometheus and OpenMetrics endpoints (a model server's `/metrics`, Node
    /// Exporter, DCGM exporter…) and turns what they expose into OTLP metrics, the way the Collector's
    /// `prometheus` receiver does. See `docs/config.md` for the mapping.
    pub struct PrometheusReceiverConfig {
        /// The scrape settings, as in a Prometheus configuration file (only `scrape_configs` is read).
        config: ScrapeSettings = ScrapeSettings::default(),
    }
}

impl Check for PrometheusReceiverConfig {}

config_struct! {
    /// The `config:` section of receiver `prometheus`.
    pub struct ScrapeSettings {
        /// One entry per job: targets that share a job name, interval, path and credentials.
        scrape_configs: Vec<ScrapeConfig> = Vec::new(),
    }
}

impl Check for ScrapeSettings {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        let list = child(path, "scrape_configs");
        if self.scrape_configs.is_empty() {
            ctx.error(
                &list,
                "empty: expected at least one scrape config with a job_name and static_configs targets",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, job) in self.scrape_configs.iter().enumerate() {
            if !job.job_name.is_empty() && !seen.insert(job.job_name.as_str()) {
                ctx.error(
                    &child(&index(&list, i), "job_name"),
                    format!("{:?}: a job of that name is defined twice", job.job_name),
                );
            }
        }
    }
}

config_struct! {
    /// One scrape job.
    pub struct ScrapeConfig {
        /// The job name: the `job` label of every series scraped, and `service.name` of their resource.
        job_name: String = String::new(),
        /// How often each target is scraped.
        scrape_interval: Duration = Duration::from_secs(60),
        /// Time allowed for one scrape; a target slower than this counts as down (`up` 0). At most the interval.
        scrape_timeout: Duration = Duration::from_secs(10),
        /// The path scraped on targets given as `host:port`.
        metrics_path: String = "/metrics".to_owned(),
        /// `http` or `https`, for targets given as `host:port`.
        scheme: String = "http".to_owned(),
        /// Sent as `Authorization: Bearer …`. Never logged or printed.
        bearer_token: Option<Secret> = None,
        /// A file whose content (trimmed) is the bearer token, read at every scrape so a rotated token is picked up.
        bearer_token_file: Option<String> = None,
        /// The targets, each `host:port` or a full URL (`http://host:port/path`), with labels added to their series.
        static_configs: Vec<StaticConfig> = Vec::new(),
    }
}

impl Check for ScrapeConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.job_name.trim().is_empty() {
            ctx.error(
                &child(path, "job_name"),
                "empty: expected a job name such as llama or node",
            );
        }
        for (name, d) in [
            ("scrape_interval", self.scrape_interval),
            ("scrape_timeout", self.scrape_timeout),
        ] {
            if d.get().is_zero() {
                ctx.error(&child(path, name), "0s: expected a duration above zero");
            }
        }
        if self.scrape_timeout > self.scrape_interval {
            ctx.error(
                &child(path, "scrape_timeout"),
                format!(
                    "{}: longer than scrape_interval ({}): expected at most the interval",
                    humantime::format_duration(self.scrape_timeout.get()),
                    humantime::format_duration(self.scrape_interval.get())
                ),
            );
        }
        if self.scheme != "http" && self.scheme != "https" {
            ctx.error(
                &child(path, "scheme"),
                format!("{:?}: expected http or https", self.scheme),
            );
        }
        if !self.metrics_path.starts_with('/') {
            ctx.error(
                &child(path, "metrics_path"),
                format!("{:?}: expected a path starting with /", self.metrics_path),
            );
        }
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            ctx.error(
                &child(path, "bearer_token_file"),
                "set together with bearer_token: expected one of them",
            );
        }
        let statics = child(path, "static_configs");
        let mut targets = 0;
        for (i, s) in self.static_configs.iter().enumerate() {
            let spath = index(&statics, i);
            for (j, t) in s.targets.iter().enumerate() {
                targets += 1;
                if let Err(e) = scrape_url(t, &self.scheme, &self.metrics_path) {
                    ctx.error(&index(&child(&spath, "targets"), j), e);
                }
            }
        }
        if targets == 0 {
            ctx.error(
                &statics,
                "no target: expected static_configs: [{targets: [\"host:port\"]}]",
            );
        }
    }
}

config_struct! {
    /// Targets and the labels added to every series scraped from them.
    pub struct StaticConfig {
        /// `host:port` (scraped at `scheme://host:port` + `metrics_path`) or a full `http(s)://host:port/path` URL.
        targets: Vec<String> = Vec::new(),
        /// Labels added to every series of these targets (data point attributes). `job` and `instance` are
        /// not allowed here: they come from `job_name` and the target.
        labels: BTreeMap<String, String> = BTreeMap::new(),
    }
}

impl Check for StaticConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        for name in self.labels.keys() {
            let p = child(&child(path, "labels"), name);
            if let Err(e) = check_label_name(name) {
                ctx.error(&p, e);
            }
        }
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?}: expected a label name of letters, digits and _ (not starting with a digit)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!("{name:?}: names starting with __ are reserved"));
    }
    if name == "job" || name == "instance" {
        return Err(format!(
            "{name:?}: set by the receiver (job_name and the target's host:port)"
        ));
    }
    Ok(())
}

/// A target resolved to what is scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeUrl {
    /// The full URL GET.
    pub url: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The host, without brackets for IPv6.
    pub host: String,
    /// The port (the scheme's default when none is written).
    pub port: u16,
    /// `host:port` as Prometheus writes `instance`.
    pub instance: String,
}

/// Resolves `target` (`host:port`, or a full `http(s)://host[:port][/path]` URL) with the job's `scheme` and
/// `metrics_path`.
pub fn scrape_url(target: &str, scheme: &str, metrics_path: &str) -> Result<ScrapeUrl, String> {
    let expected = "expected host:port or http://host:port/path";
    let t = target.trim();
    let (scheme, rest) = match t.split_once("://") {
        Some((s, r)) if s == "http" || s == "https" => (s, r),
        Some((s, _)) => return Err(format!("{target:?}: scheme {s:?}: {expected}")),
        None => (scheme, t),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, metrics_path),
    };
    if authority.is_empty() || authority.contains(['@', ' ', '?', '#']) || path.contains(' ') {
        return Err(format!("{target:?}: {expected}"));
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("{target:?}: {expected}")),
            },
            None => return Err(format!("{target:?}: unclosed [ in the host")),
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err(format!("{target:?}: no host: {expected}"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("{target:?}: port {p:?} is not a number from 0 to 65535"))?,
        None => default_port,
    };
    let hostport = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(ScrapeUrl {
        url: format!("{scheme}://{hostport}{path}"),
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
        instance: hostport,
    })
}

#[cfg(test)]
mod tests;
