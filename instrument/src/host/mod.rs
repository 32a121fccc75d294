//! Receiver `host`: this machine's CPU time per CPU and mode, memory, load averages, filesystems, disk I/O and
//! network I/O and errors, every `interval`, under the OpenTelemetry `system.*` names or Node Exporter's names
//! (`names`).
//!
//! [`read`] turns `/proc` (and `statfs`) into a [`Snapshot`]; [`names`] turns a snapshot into metric families.
//! Observable instruments of an SDK meter read the families at each collection: the first callback of a
//! collection reads `/proc` afresh (a [`Cache`] shared by all instruments), so the values sent are those of the
//! moment they are sent. A source that cannot be read is skipped with one warning (another when it reads again).
//! Linux only: elsewhere the receiver warns once and sends nothing.

pub mod names;
pub mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmtel_config::{HostMetricNames, HostReceiverConfig};
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use tokio_util::sync::CancellationToken;

pub use self::names::{Family, Kind};
pub use self::read::Snapshot;

/// Reads one snapshot.
pub type ReadFn = Box<dyn FnMut() -> Snapshot + Send>;

/// The `host` receiver.
pub struct HostReceiver {
    id: String,
    cfg: HostReceiverConfig,
    resource: Resource,
    reader: Option<ReadFn>,
}

impl std::fmt::Debug for HostReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostReceiver")
            .field("id", &self.id)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl HostReceiver {
    /// A receiver reading this machine's `/proc` (none off Linux).
    pub fn new(id: &str, cfg: &HostReceiverConfig, resource: Resource) -> Self {
        Self {
            id: id.to_owned(),
            cfg: cfg.clone(),
            resource,
            reader: live_reader(),
        }
    }

    /// A receiver reading snapshots from `reader` instead (tests).
    pub fn with_reader(mut self, reader: ReadFn) -> Self {
        self.reader = Some(reader);
        self
    }
}

#[cfg(target_os = "linux")]
fn live_reader() -> Option<ReadFn> {
    let proc = std::path::PathBuf::from("/proc");
    let tps = rustix::param::clock_ticks_per_second();
    Some(Box::new(move || read::read(&proc, tps, &mut read::statfs)))
}

#[cfg(not(target_os = "linux"))]
fn live_reader() -> Option<ReadFn> {
    None
}

/// The families of the latest read, shared by every instrument; read again once older than `fresh`.
pub struct Cache {
    reader: ReadFn,
    names: HostMetricNames,
    fresh: Duration,
    at: Option<Instant>,
    families: Arc<BTreeMap<String, Family>>,
    /// Sources whose failure was logged (cleared when they read again).
    failing: BTreeSet<&'static str>,
    receiver: String,
}

impl Cache {
    /// A cache over `reader`, mapped by `names`.
    pub fn new(reader: ReadFn, names: HostMetricNames, fresh: Duration, receiver: &str) -> Self {
        Self {
            reader,
            names,
            fresh,
            at: None,
            families: Arc::default(),
            failing: BTreeSet::new(),
            receiver: receiver.to_owned(),
        }
    }

    /// The families, read afresh when the last read is older than `fresh`.
    pub fn families(&mut self) -> Arc<BTreeMap<String, Family>> {
        if self.at.is_some_and(|at| at.elapsed() < self.fresh) {
            return self.families.clone();
        }
        let snap = (self.reader)();
        self.log_failures(&snap);
        let list = match self.names {
            HostMetricNames::Otel => names::otel(&snap),
            HostMetricNames::NodeExporter => names::node_exporter(&snap),
        };
        self.families = Arc::new(list.into_iter().map(|f| (f.name.clone(), f)).collect());
        self.at = Some(Instant::now());
        self.families.clone()
    }

    fn log_failures(&mut self, snap: &Snapshot) {
        // Nothing at all (no /proc): one warning, not one per source.
        let failed: Vec<(&'static str, String)> = if snap.failed.len() == read::SOURCES {
            vec![("/proc", snap.failed[0].1.clone())]
        } else {
            snap.failed.clone()
        };
        let now: BTreeSet<&'static str> = failed.iter().map(|(s, _)| *s).collect();
        for (source, why) in &failed {
            if self.failing.insert(source) {
                tracing::warn!(receiver = %self.receiver, source, "cannot read host {source} metrics: {why}");
            }
        }
        for source in self.failing.difference(&now).copied().collect::<Vec<_>>() {
            tracing::info!(receiver = %self.receiver, source, "host {source} metrics read again");
            self.failing.remove(source);
        }
    }
}

impl Receiver for HostReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        Box::pin(async move {
            let Self {
                id,
                cfg,
                resource,
                reader,
            } = *self;
            let Some(reader) = reader else {
                tracing::warn!(receiver = %id, "host metrics are read from /proc, which only Linux has; host metrics disabled");
                return Ok(idle(output, shutdown));
            };
            let interval = cfg.interval.get();
            let cache = Arc::new(Mutex::new(Cache::new(
                reader,
                cfg.names,
                (interval / 2).min(Duration::from_secs(1)),
                &id,
            )));
            // The first read (blocking file I/O, off the async workers) fixes the instruments.
            let first = cache.clone();
            let families = tokio::task::spawn_blocking(move || lock(&first).families())
                .await
                .map_err(|e| StartError {
                    component: id.clone(),
                    message: format!("reading /proc panicked: {e}"),
                })?;
            tracing::info!(receiver = %id, metrics = families.len(), names = %cfg.names, "host receiver reading /proc");
            let provider = crate::sdk::meter_provider(&output, resource, interval);
            register(&provider, &cache, &families);
            Ok(Box::pin(async move {
                shutdown.cancelled().await;
                let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
                drop(output);
            }) as BoxFuture<'static, ()>)
        })
    }
}

fn lock(cache: &Mutex<Cache>) -> std::sync::MutexGuard<'_, Cache> {
    cache.lock().unwrap_or_else(|p| p.into_inner())
}

/// The receiver without `/proc`: nothing to send; ends at shutdown.
fn idle(output: Output, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        shutdown.cancelled().await;
        drop(output);
    })
}

/// One observable instrument per family, each reading its points from `cache`.
fn register(
    provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    cache: &Arc<Mutex<Cache>>,
    families: &BTreeMap<String, Family>,
) {
    let meter = provider.meter("llmtel.host");
    for f in families.values() {
        let cache = cache.clone();
        let name = f.name.clone();
        let observe = move |emit: &mut dyn FnMut(f64, &[KeyValue])| {
            let families = lock(&cache).families();
            if let Some(f) = families.get(&name) {
                for (v, attrs) in &f.points {
                    let attrs: Vec<KeyValue> = attrs
                        .iter()
                        .map(|(k, v)| KeyValue::new(*k, v.clone()))
                        .collect();
                    emit(*v, &attrs);
                }
            }
        };
        let (name, unit, description) = (f.name.clone(), f.unit, f.description);
        match f.kind {
            Kind::Counter => {
                meter
                    .f64_observable_counter(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(move |o| observe(&mut |v, a| o.observe(v, a)))
                    .build();
            }
            Kind::Gauge => {
                meter
                    .f64_observable_gauge(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(move |o| observe(&mut |v, a| o.observe(v, a)))
                    .build();
            }
            Kind::UpDown => {
                meter
                    .i64_observable_up_down_counter(name)
                    .with_unit(unit)
                    .with_description(description)
                    .with_callback(move |o| observe(&mut |v, a| o.observe(v as i64, a)))
                    .build();
            }
        }
    }
}

#[cfg(test)]
mod tests;
