//! The component factory: turns each receiver's and exporter's config into the running component, in whichever
//! crate it lives (`otlp` here, `llm_proxy` / `ollama` / `gpu` / `host` in `llmtel-instrument`, `debug` in
//! `llmtel-pipelines`). The pipeline graph (`llmtel_pipelines::Topology`) calls it while it starts; it is the one
//! place that knows every crate's components.

use std::sync::Arc;

use llmtel_config::{ComponentId, ExporterConfig, ReceiverConfig};
use llmtel_pipelines::{BuildError, Exporter, Factory, Receiver};

use crate::listeners::Listeners;
use crate::{exporters, receivers, tls};

/// Builds llmtel's components from their config.
#[derive(Debug, Clone)]
pub struct CollectorFactory {
    pub(crate) listeners: Listeners,
    resource: llmtel_config::Attributes,
    /// One energy ledger for the whole process: every `gpu` receiver feeds it, every `llm_proxy` reads it.
    energy: Arc<llmtel_instrument::energy::Ledger>,
    /// What the admin endpoint's request explorer shows: every `llm_proxy`'s requests in flight, and the store
    /// the first `explorer` exporter fills.
    explorer: crate::explorer::ExplorerHub,
    /// Whether the proxies keep the live list of requests in flight: only while a page can show it (the admin
    /// endpoint is on).
    live: bool,
}

impl Default for CollectorFactory {
    fn default() -> Self {
        Self::new(Listeners::default())
    }
}

impl CollectorFactory {
    /// A factory recording bound addresses in `listeners`.
    pub fn new(listeners: Listeners) -> Self {
        Self {
            listeners,
            resource: llmtel_config::Attributes::new(),
            energy: Arc::default(),
            explorer: Default::default(),
            live: true,
        }
    }

    /// Without the request explorer's live list of requests in flight (the admin endpoint, which shows it, is
    /// off): the proxies then do no bookkeeping for it.
    pub fn without_live_requests(mut self) -> Self {
        self.live = false;
        self
    }

    /// The factory for `cfg`: its resource, and the live list only when the admin endpoint is on.
    pub fn for_config(cfg: &llmtel_config::ValidConfig) -> Self {
        let f = Self::default().with_resource(&cfg.service.telemetry.resource);
        if cfg.service.telemetry.admin.enabled {
            f
        } else {
            f.without_live_requests()
        }
    }

    /// The factory for the next generation of a reload (`crate::reload`) to `cfg`: the same sockets, energy
    /// ledger and request explorer, with `cfg`'s resource and live-list setting.
    pub fn next_generation(&self, cfg: &llmtel_config::ValidConfig) -> Self {
        Self {
            listeners: self.listeners.clone(),
            resource: cfg.service.telemetry.resource.clone(),
            energy: self.energy.clone(),
            explorer: self.explorer.clone(),
            live: cfg.service.telemetry.admin.enabled,
        }
    }

    /// The request explorer's data, for [`crate::start_with_explorer`].
    pub fn explorer(&self) -> &crate::explorer::ExplorerHub {
        &self.explorer
    }

    /// Resource attributes for the telemetry llmtel produces itself (the sidecar's spans and metrics);
    /// `service.name` defaults to `llmtel`.
    pub fn with_resource(mut self, resource: &llmtel_config::Attributes) -> Self {
        self.resource = resource.clone();
        self
    }

    /// TLS settings (system roots) for receivers that poll or proxy to `https://` servers.
    fn tls(&self, id: &ComponentId) -> Result<Arc<rustls::ClientConfig>, BuildError> {
        tls::client_config(None).map_err(|e| BuildError::Component {
            component: id.to_string(),
            message: e,
        })
    }

    fn sdk_resource(&self) -> opentelemetry_sdk::Resource {
        let mut attrs = self.resource.clone();
        attrs
            .entry("service.name".to_owned())
            .or_insert_with(|| "llmtel".to_owned());
        opentelemetry_sdk::Resource::builder_empty()
            .with_attributes(
                attrs
                    .into_iter()
                    .map(|(k, v)| opentelemetry::KeyValue::new(k, v)),
            )
            .build()
    }
}

impl Factory for CollectorFactory {
    fn receiver(
        &self,
        id: &ComponentId,
        cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        match cfg {
            ReceiverConfig::Otlp(c) => Ok(Box::new(receivers::otlp::OtlpReceiver::new(
                id,
                c,
                self.listeners.clone(),
            ))),
            ReceiverConfig::Gpu(c) => Ok(Box::new(
                llmtel_instrument::gpu::GpuReceiver::new(
                    id.as_str(),
                    c,
                    self.sdk_resource(),
                    Box::new(llmtel_instrument::gpu::nvml::open),
                )
                .with_ledger(self.energy.clone()),
            )),
            ReceiverConfig::Host(c) => Ok(Box::new(llmtel_instrument::host::HostReceiver::new(
                id.as_str(),
                c,
                self.sdk_resource(),
            ))),
            ReceiverConfig::Ollama(c) => Ok(Box::new(llmtel_instrument::OllamaReceiver::new(
                id.as_str(),
                c,
                self.sdk_resource(),
                self.tls(id)?,
            ))),
            ReceiverConfig::LlmProxy(c) => {
                let tls = self.tls(id)?;
                let (listeners, registry) = (self.listeners.clone(), self.listeners.clone());
                let name = format!("{id} listen");
                let socket_name = name.clone();
                let proxy = llmtel_instrument::LlmProxyReceiver::new(
                    id.as_str(),
                    c,
                    self.sdk_resource(),
                    tls,
                    Box::new(move |addr| listeners.record(&name, addr)),
                )
                .with_bind(Box::new(move |listen| registry.bind(&socket_name, listen)))
                .with_energy(self.energy.clone());
                let settings = format!("receivers.{id}");
                let proxy = match tls::server_config(&c.tls, &settings, tls::ALPN_H2_HTTP1) {
                    Ok(Some(server)) => proxy.with_tls(server),
                    Ok(None) => proxy,
                    Err(message) => {
                        return Err(BuildError::Component {
                            component: id.to_string(),
                            message,
                        });
                    }
                };
                let proxy = if self.live {
                    proxy.with_live(self.explorer.live())
                } else {
                    proxy
                };
                Ok(Box::new(proxy))
            }
            ReceiverConfig::Prometheus(c) => Ok(Box::new(
                receivers::prometheus::PrometheusReceiver::new(id, c, &*self.tls(id)?)?,
            )),
        }
    }

    fn exporter(
        &self,
        id: &ComponentId,
        cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        use llmtel_config::otlp_exporters::Protocol;
        match cfg {
            ExporterConfig::Otlp(c) => Ok(Box::new(exporters::otlp::OtlpExporter::new(
                id,
                Protocol::Grpc,
                c,
            )?)),
            ExporterConfig::OtlpHttp(c) => Ok(Box::new(exporters::otlp::OtlpExporter::new(
                id,
                Protocol::Http,
                c,
            )?)),
            ExporterConfig::Prometheus(c) => Ok(Box::new(
                exporters::prometheus::PrometheusExporter::new(id, c, &self.listeners)?,
            )),
            ExporterConfig::Explorer(c) => Ok(Box::new(
                llmtel_pipelines::exporters::explorer::ExplorerExporter::new(
                    self.explorer.store_for(id.as_str(), c),
                ),
            )),
            ExporterConfig::PrometheusRemoteWrite(c) => Ok(Box::new(
                exporters::remote_write::RemoteWriteExporter::new(id, c)?,
            )),
            other => llmtel_pipelines::builtin_exporter(id, other),
        }
    }
}
