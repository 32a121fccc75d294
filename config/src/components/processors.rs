//! Settings of each processor type (`batch`, `memory_limiter`, `attributes`, `metric_transform`) and [`ProcessorConfig`], which
//! decodes one by its type. The `///` docs on each field are the user manual.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Attributes, Signal};
use crate::decode::{Check, Ctx, Decode, child};
use crate::types::{AttrValue, Duration};
use crate::{config_enum, config_struct};

/// A configured processor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ProcessorConfig {
    /// `batch`: groups items into larger batches.
    Batch(BatchConfig),
    /// `memory_limiter`: refuses new data while llmtel's resident memory is above a soft limit.
    MemoryLimiter(MemoryLimiterConfig),
    /// `attributes`: inserts, updates, deletes or hashes attributes.
    Attributes(AttributesConfig),
    /// `metric_transform`: renames metrics and labels, aggregates labels away, scales, keeps or drops by name.
    MetricTransform(MetricTransformConfig),
}

/// Processor types this build knows.
pub const PROCESSOR_TYPES: &[&str] = &["batch", "memory_limiter", "attributes", "metric_transform"];

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
            "memory_limiter" => {
                MemoryLimiterConfig::decode(value, path, ctx).map(Self::MemoryLimiter)
            }
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
    /// Processor `memory_limiter`, with the OpenTelemetry Collector's semantics: llmtel's resident memory (RSS,
    /// read from `/proc/self/status` every `check_interval`) is compared with a soft limit, `limit_mib −
    /// spike_limit_mib`. At or above it, every receiver feeding a pipeline that lists this processor refuses new
    /// data with a retryable error (gRPC UNAVAILABLE, HTTP 503 + Retry-After), counted as refused for memory; data
    /// already accepted goes on. It must be the first processor of each pipeline that lists it. Where the RSS
    /// cannot be read (not Linux) it logs one warning and never refuses; the queues' bounds still hold.
    pub struct MemoryLimiterConfig {
        /// How often the RSS is read. Above zero; the Collector advises 1s.
        check_interval: Duration = Duration::from_secs(1),
        /// The hard limit, in MiB of resident memory. Above zero.
        limit_mib: u64 = 0,
        /// Headroom for what arrives between two checks, in MiB: the soft limit is `limit_mib` minus this.
        /// Unset: 20 % of `limit_mib`. Must be below `limit_mib`.
        spike_limit_mib: Option<u64> = None,
    }
}

impl MemoryLimiterConfig {
    /// The spike headroom in MiB: `spike_limit_mib`, or 20 % of the limit when unset.
    pub fn spike_mib(&self) -> u64 {
        self.spike_limit_mib.unwrap_or(self.limit_mib / 5)
    }

    /// The soft limit in MiB, above which data is refused.
    pub fn soft_limit_mib(&self) -> u64 {
        self.limit_mib.saturating_sub(self.spike_mib())
    }
}

impl Check for MemoryLimiterConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.check_interval.get().is_zero() {
            ctx.error(
                &child(path, "check_interval"),
                "0: expected a duration above zero, e.g. 1s",
            );
        }
        if self.limit_mib == 0 {
            ctx.error(
                &child(path, "limit_mib"),
                "0 or missing: expected the memory limit in MiB, e.g. 160",
            );
        } else if self.spike_mib() >= self.limit_mib {
            ctx.error(
                &child(path, "spike_limit_mib"),
                format!(
                    "{}: must be below limit_mib ({})",
                    self.spike_mib(),
                    self.limit_mib
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
