//! The upstream watch of one `llm_proxy`: a task that learns which server the sidecar fronts (unless the config
//! names it) and checks that server's health every `health_check_interval`. What it learns goes into the
//! proxy's [`Provider`] (read by every request's spans and metrics) and into an [`UpState`] (read by the
//! `llmtel.upstream.up` gauge). A server that does not answer is asked again, 1 s later and then less and less
//! often up to the interval, and with `provider: auto` detected again once it answers: another server may have
//! taken its port. Changes are logged once each, never per check.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::detect::{ServerKind, check, detect};
use super::probe::Client;
use super::provider::Provider;

/// The `provider` setting that asks the watch to detect the server.
pub const AUTO: &str = "auto";

/// The first wait after a failed check; it doubles up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Whether the upstream passed its last health check: unknown before the first one. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct UpState(Arc<AtomicU8>);

impl UpState {
    /// `None` before the first check, then whether the last one passed.
    pub fn get(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(false),
            _ => Some(true),
        }
    }

    fn set(&self, up: bool) {
        self.0.store(if up { 2 } else { 1 }, Ordering::Relaxed);
    }
}

/// The watch of one upstream, ready to [`UpstreamWatch::run`].
#[derive(Debug)]
pub struct UpstreamWatch {
    id: String,
    base: String,
    client: Client,
    interval: Duration,
    timeout: Duration,
    /// The kind the config names; `None` with `provider: auto`.
    fixed: Option<ServerKind>,
    provider: Provider,
    up: UpState,
}

impl UpstreamWatch {
    /// A watch for component `id` of the server at `base` (its URL, path prefix included, no trailing `/`),
    /// whose `provider` setting is [`AUTO`] or a name; each check waits up to `timeout`, and runs every
    /// `interval`. Until the server is detected its provider reads `openai` (an OpenAI-compatible server).
    pub fn new(
        id: &str,
        base: &str,
        provider: &str,
        client: Client,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        let auto = provider.trim().eq_ignore_ascii_case(AUTO);
        let (fixed, name) = if auto {
            (None, ServerKind::Other.provider_name())
        } else {
            (Some(ServerKind::from_provider(provider)), provider.trim())
        };
        Self {
            id: id.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            client,
            interval,
            timeout,
            fixed,
            provider: Provider::new(name),
            up: UpState::default(),
        }
    }

    /// The provider the proxy's requests carry.
    pub fn provider(&self) -> Provider {
        self.provider.clone()
    }

    /// Whether the upstream is up, for the gauge.
    pub fn up_state(&self) -> UpState {
        self.up.clone()
    }

    /// Checks until `shutdown`; `first_done` is told when the first check has ended, whatever it found.
    pub async fn run(self, shutdown: CancellationToken, first_done: oneshot::Sender<()>) {
        let Self {
            id, base, client, ..
        } = &self;
        let mut first_done = Some(first_done);
        let mut kind = self.fixed;
        let mut detected: Option<ServerKind> = None;
        let mut was_up: Option<bool> = None;
        let mut retry = FIRST_RETRY;
        loop {
            let result = match kind {
                Some(k) => check(client, base, k, self.timeout).await,
                None => match detect(client, base, self.timeout).await {
                    Ok(k) => {
                        if detected != Some(k) {
                            let name = k.provider_name();
                            self.provider.set(name);
                            tracing::info!(component = %id, upstream = %base, provider = name,
                                "upstream detected; spans and metrics say gen_ai.provider.name={name}");
                        }
                        detected = Some(k);
                        kind = Some(k);
                        check(client, base, k, self.timeout).await
                    }
                    Err(e) => Err(e),
                },
            };
            let up = matches!(result, Ok(true));
            match &result {
                Ok(true) if was_up == Some(false) => {
                    tracing::info!(component = %id, upstream = %base, "upstream answers again");
                }
                Ok(false) if was_up != Some(false) => {
                    let path = kind.map_or("/health", ServerKind::health_path);
                    tracing::warn!(component = %id, upstream = %base, check = path,
                        "upstream fails its health check (loading a model?); llmtel.upstream.up is 0 until it passes (logged once)");
                }
                Err(e) if was_up != Some(false) => {
                    tracing::warn!(component = %id, upstream = %base, error = %e,
                        "upstream not answering; llmtel.upstream.up is 0 until it does (logged once)");
                }
                _ => {}
            }
            self.up.set(up);
            was_up = Some(up);
            if result.is_err() && self.fixed.is_none() {
                kind = None;
            }
            if let Some(done) = first_done.take() {
                let _ = done.send(());
            }
            let wait = if up {
                retry = FIRST_RETRY;
                self.interval
            } else {
                let w = retry.min(self.interval);
                retry = retry.saturating_mul(2);
                w
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }
}
