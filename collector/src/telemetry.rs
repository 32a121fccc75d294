//! llmtel's own telemetry: its logs (tracing to stderr) and its metrics, recorded through an OpenTelemetry SDK
//! meter and rendered by `opentelemetry-prometheus` on the admin endpoint's `/metrics`.
//!
//! The pipeline engine counts with plain atomics ([`Stats`]); observable instruments read them at each scrape, so
//! the hot path never touches the SDK.

use std::sync::Arc;

use llmtel_config::{Config, LogFormat};
use llmtel_pipelines::stats::{Snapshot, Stage, Stats};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use tracing_subscriber::EnvFilter;

/// Sets up llmtel's log output from the config; `RUST_LOG`, when set, overrides the configured level. Safe to call
/// more than once (later calls keep the first setup).
pub fn init_logs(cfg: &Config) {
    let logs = &cfg.service.telemetry.logs;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&logs.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match logs.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// One counter on the admin endpoint: which stage, which counter of [`Snapshot`], and its name.
struct CounterDef {
    stage: Stage,
    name: &'static str,
    description: &'static str,
    read: fn(&Snapshot) -> u64,
}

const COUNTERS: &[CounterDef] = &[
    CounterDef {
        stage: Stage::Receiver,
        name: "llmtel.receiver.accepted_items",
        description: "Items a receiver handed to its pipelines.",
        read: |s| s.accepted,
    },
    CounterDef {
        stage: Stage::Receiver,
        name: "llmtel.receiver.refused_items",
        description: "Items a receiver refused because a pipeline queue was full or a memory_limiter refused (the client was told to retry).",
        read: |s| s.refused,
    },
    CounterDef {
        stage: Stage::Receiver,
        name: "llmtel.receiver.memory_refused_items",
        description: "Of the refused items, those a memory_limiter refused because llmtel's memory was above its soft limit.",
        read: |s| s.refused_memory,
    },
    CounterDef {
        stage: Stage::Receiver,
        name: "llmtel.receiver.rejected_items",
        description: "Items a receiver rejected as invalid (answered as an OTLP partial success; not retried).",
        read: |s| s.failed,
    },
    CounterDef {
        stage: Stage::Pipeline,
        name: "llmtel.pipeline.accepted_items",
        description: "Items taken from a pipeline's input queue.",
        read: |s| s.accepted,
    },
    CounterDef {
        stage: Stage::Pipeline,
        name: "llmtel.pipeline.sent_items",
        description: "Items a pipeline handed to its exporters after processing.",
        read: |s| s.sent,
    },
    CounterDef {
        stage: Stage::Exporter,
        name: "llmtel.exporter.sent_items",
        description: "Items an exporter sent.",
        read: |s| s.sent,
    },
    CounterDef {
        stage: Stage::Exporter,
        name: "llmtel.exporter.failed_items",
        description: "Items an exporter gave up on after its retries.",
        read: |s| s.failed,
    },
    CounterDef {
        stage: Stage::Exporter,
        name: "llmtel.exporter.dropped_items",
        description: "Items dropped because the exporter's queue was full while other exporters took them (only exporters without sending_queue.block_on_overflow), or still queued at the shutdown timeout.",
        read: |s| s.dropped,
    },
    CounterDef {
        stage: Stage::Exporter,
        name: "llmtel.exporter.overflowed_items",
        description: "Items folded into an otel_metric_overflow series by a cardinality cap.",
        read: |s| s.overflowed,
    },
    CounterDef {
        stage: Stage::Connector,
        name: "llmtel.connector.accepted_items",
        description: "Items a connector handed to its downstream pipelines.",
        read: |s| s.accepted,
    },
    CounterDef {
        stage: Stage::Connector,
        name: "llmtel.connector.dropped_items",
        description: "Items dropped because the connector's queue was full while other exporters took them.",
        read: |s| s.dropped,
    },
];

/// llmtel's meter provider and the Prometheus registry it renders into.
#[derive(Debug, Clone)]
pub struct SelfTelemetry {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
    stats: Stats,
}

/// Records every export into llmtel's own histograms.
#[derive(Debug)]
struct ExportHistograms {
    duration: opentelemetry::metrics::Histogram<f64>,
    size: opentelemetry::metrics::Histogram<u64>,
}

impl llmtel_pipelines::stats::ExportObserver for ExportHistograms {
    fn exported(
        &self,
        exporter: &str,
        signal: llmtel_pipelines::Signal,
        items: usize,
        duration: std::time::Duration,
        ok: bool,
    ) {
        let attrs = [
            KeyValue::new("exporter", exporter.to_owned()),
            KeyValue::new("signal", signal.as_str()),
        ];
        self.size.record(items as u64, &attrs);
        let outcome = KeyValue::new("outcome", if ok { "success" } else { "failure" });
        self.duration.record(
            duration.as_secs_f64(),
            &[attrs[0].clone(), attrs[1].clone(), outcome],
        );
    }
}

impl SelfTelemetry {
    /// Registers observable instruments over `stats`, with `cfg`'s resource.
    pub fn new(cfg: &Config, stats: &Stats) -> Result<Self, String> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| format!("self-telemetry: {e}"))?;
        let resource = Resource::builder_empty()
            .with_attributes(
                cfg.service
                    .telemetry
                    .resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_resource(resource)
            .build();
        let meter = provider.meter("llmtel");
        crate::reload::register(&meter);
        for def in COUNTERS {
            let stats = stats.clone();
            let key = def.stage.as_str();
            let read = def.read;
            let stage = def.stage;
            meter
                .u64_observable_counter(def.name)
                .with_description(def.description)
                .with_callback(move |obs| {
                    for s in stats.snapshot().iter().filter(|s| s.stage == stage) {
                        let attrs = [
                            KeyValue::new(key, s.id.clone()),
                            KeyValue::new("signal", s.signal.as_str()),
                        ];
                        obs.observe(read(s), &attrs);
                    }
                })
                .build();
        }
        for (i, event) in llmtel_pipelines::stats::ReceiverEvent::ALL
            .iter()
            .enumerate()
        {
            let (name, description) = event.describe();
            let stats = stats.clone();
            meter
                .u64_observable_counter(name)
                .with_description(description)
                .with_callback(move |obs| {
                    let mut per_receiver: std::collections::BTreeMap<String, u64> =
                        Default::default();
                    for s in stats
                        .snapshot()
                        .iter()
                        .filter(|s| s.stage == Stage::Receiver)
                    {
                        *per_receiver.entry(s.id.clone()).or_default() += s.events[i];
                    }
                    for (receiver, n) in per_receiver.into_iter().filter(|(_, n)| *n > 0) {
                        obs.observe(n, &[KeyValue::new("receiver", receiver)]);
                    }
                })
                .build();
        }
        meter
            .u64_observable_counter("llmtel.events")
            .with_description(
                "Things that went wrong, by component and event (each also logged, at most once a minute).",
            )
            .with_callback(|obs| {
                for (component, event, n) in llmtel_pipelines::events::snapshot() {
                    obs.observe(
                        n,
                        &[
                            KeyValue::new("component", component),
                            KeyValue::new("event", event.name()),
                        ],
                    );
                }
            })
            .build();
        stats.set_export_observer(Arc::new(ExportHistograms {
            duration: meter
                .f64_histogram("llmtel.exporter.send.duration")
                .with_unit("s")
                .with_description("Time one export took, retries included, by outcome.")
                .with_boundaries(vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0,
                ])
                .build(),
            size: meter
                .u64_histogram("llmtel.exporter.batch.size")
                .with_unit("{item}")
                .with_description("Items per batch an exporter sent.")
                .with_boundaries(vec![
                    1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0,
                ])
                .build(),
        }));
        let queue_gauge =
            |name: &'static str,
             description: &'static str,
             read: fn(&llmtel_pipelines::stats::QueueGauge) -> u64| {
                let stats = stats.clone();
                meter
                    .u64_observable_gauge(name)
                    .with_description(description)
                    .with_callback(move |obs| {
                        for q in stats.queues() {
                            let attrs = [
                                KeyValue::new("stage", q.stage.as_str()),
                                KeyValue::new("id", q.id.clone()),
                            ];
                            obs.observe(read(&q), &attrs);
                        }
                    })
                    .build()
            };
        let _ = queue_gauge("llmtel.queue.batches", "Batches waiting in a queue.", |q| {
            q.batches()
        });
        let _ = queue_gauge("llmtel.queue.items", "Items waiting in a queue.", |q| {
            q.items()
        });
        let _ = queue_gauge(
            "llmtel.queue.capacity",
            "Capacity of a queue, in batches.",
            |q| q.capacity as u64,
        );
        Ok(Self {
            provider,
            registry,
            stats: stats.clone(),
        })
    }

    /// The engine's counters these metrics are read from.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Exporters that are wedged: queue full and no successful export for a minute.
    pub fn wedged_exporters(&self) -> Vec<String> {
        self.stats
            .wedged_exporters(std::time::Duration::from_secs(60))
    }

    /// The Prometheus text exposition of llmtel's own metrics.
    pub fn render(&self) -> Result<String, String> {
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Stops the meter provider.
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

/// Shared handle for the admin server.
pub type SharedTelemetry = Arc<SelfTelemetry>;
