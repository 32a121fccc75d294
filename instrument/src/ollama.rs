//! Receiver `ollama`: the state of an Ollama server, polled from `/api/ps` and `/api/version`.
//!
//! Every `interval` a task asks the server which models are loaded (size, VRAM size, context length, expiry) and
//! its version, and keeps the answer as a snapshot. Observable instruments of an SDK meter read the snapshot
//! into this receiver's metrics pipelines on the same interval. A server that does not answer sets
//! `ollama.up` to 0 and empties the model list; that is logged once when it happens and once when it recovers,
//! never per poll. A server that answers, but not as Ollama, is asked what it is ([`crate::upstream::detect`]):
//! with `skip_if_not_ollama` (the built-in config) the receiver then logs one info line and stops polling,
//! reporting nothing; without it, it warns once and reports `ollama.up` 0 while polling on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use llmtel_config::OllamaReceiverConfig;
use llmtel_pipelines::{BoxFuture, Output, Receiver, StartError};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::upstream::detect::{self, ServerKind};
use crate::upstream::probe::{self, Client};

/// One loaded model, as `/api/ps` reports it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoadedModel {
    /// `name`, e.g. `qwen3:14b`.
    pub name: String,
    /// `size`: bytes in memory, VRAM included.
    pub size: u64,
    /// `size_vram`: bytes in GPU memory.
    pub size_vram: u64,
    /// `context_length`, in tokens (newer servers).
    pub context_length: Option<u64>,
    /// `expires_at`: when the model unloads, RFC 3339.
    pub expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PsResponse {
    #[serde(default)]
    models: Vec<LoadedModel>,
}

#[derive(Debug, Default, Deserialize)]
struct VersionResponse {
    #[serde(default)]
    version: String,
}

/// What the last poll found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The server answered.
    pub up: bool,
    /// Its version.
    pub version: Option<String>,
    /// Models loaded.
    pub models: Vec<LoadedModel>,
}

/// The `ollama` receiver.
#[derive(Debug)]
pub struct OllamaReceiver {
    id: String,
    cfg: OllamaReceiverConfig,
    resource: Resource,
    tls: Arc<rustls::ClientConfig>,
}

impl OllamaReceiver {
    /// A receiver `id` polling the server `cfg` names; `tls` for `https://` servers.
    pub fn new(
        id: &str,
        cfg: &OllamaReceiverConfig,
        resource: Resource,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            cfg: cfg.clone(),
            resource,
            tls,
        }
    }
}

/// Why a poll found no snapshot.
#[derive(Debug)]
struct PollError {
    /// The server answered HTTP (a 404 from another kind of server, a 500), as opposed to not at all.
    answered: bool,
    message: String,
}

/// GETs `url` and decodes its JSON, within `timeout`.
async fn get_json<T: serde::de::DeserializeOwned>(
    client: &Client,
    url: &str,
    timeout: Duration,
) -> Result<T, PollError> {
    let answer = probe::get(client, url, timeout)
        .await
        .map_err(|message| PollError {
            answered: false,
            message,
        })?;
    let fail = |message: String| PollError {
        answered: true,
        message,
    };
    if !answer.ok() {
        return Err(fail(format!("GET {url}: HTTP {}", answer.status)));
    }
    serde_json::from_slice(&answer.body)
        .map_err(|e| fail(format!("GET {url}: not the expected JSON: {e}")))
}

/// Polls once.
async fn poll(client: &Client, base: &str, timeout: Duration) -> Result<Snapshot, PollError> {
    let ps: PsResponse = get_json(client, &format!("{base}/api/ps"), timeout).await?;
    // The version is nice to have; a server that answers /api/ps is up either way.
    let version = get_json::<VersionResponse>(client, &format!("{base}/api/version"), timeout)
        .await
        .ok()
        .map(|v| v.version)
        .filter(|v| !v.is_empty());
    Ok(Snapshot {
        up: true,
        version,
        models: ps.models,
    })
}

/// Another kind of server than Ollama at `base`, if it says so: asked only after `/api/ps` got an HTTP answer
/// that was not Ollama's.
async fn other_server(client: &Client, base: &str, timeout: Duration) -> Option<ServerKind> {
    match detect::detect(client, base, timeout).await {
        Ok(ServerKind::Ollama) | Err(_) => None,
        Ok(kind) => Some(kind),
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time such as `2026-11-28T11:05:00.5+01:00`.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        frac = format!("0.{}", &r[..digits]).parse().ok()?;
        rest = &r[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from 1970-01-01 to y-mo-d (proleptic Gregorian), H. Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset) as f64 + frac)
}

impl Receiver for OllamaReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        Box::pin(async move {
            let base = self.cfg.endpoint.trim_end_matches('/').to_owned();
            let uri: http::Uri = base.parse().map_err(|e| StartError {
                component: self.id.clone(),
                message: format!("endpoint {base:?}: {e}"),
            })?;
            let server = uri.host().unwrap_or_default().to_owned();
            // `None`: nothing to report (before the first poll, or the server is not Ollama and is skipped).
            let snapshot: Arc<Mutex<Option<Snapshot>>> = Arc::new(Mutex::new(None));
            let provider =
                crate::sdk::meter_provider(&output, self.resource.clone(), self.cfg.interval.get());
            register(&provider, &snapshot, &server);
            let client: Client = crate::proxy::http_client(&self.tls, self.cfg.timeout.get());
            let (interval, timeout, id, skip) = (
                self.cfg.interval.get(),
                self.cfg.timeout.get(),
                self.id.clone(),
                self.cfg.skip_if_not_ollama,
            );
            tracing::info!(receiver = %id, endpoint = %base, "ollama receiver polling");
            let serve: BoxFuture<'static, ()> = Box::pin(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut was_up: Option<bool> = None;
                let mut other: Option<ServerKind> = None;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = shutdown.cancelled() => break,
                    }
                    let next = match poll(&client, &base, timeout).await {
                        Ok(s) => {
                            if was_up != Some(true) {
                                tracing::info!(receiver = %id, endpoint = %base, version = s.version.as_deref().unwrap_or("?"),
                                    models = s.models.len(), "ollama server answers");
                            }
                            other = None;
                            Some(s)
                        }
                        Err(e) => {
                            // Only a server that answered, and not as Ollama, is asked what it is (once).
                            let kind = match other {
                                Some(k) => Some(k),
                                None if e.answered => other_server(&client, &base, timeout).await,
                                None => None,
                            };
                            match kind {
                                Some(k) if skip => {
                                    tracing::info!(receiver = %id, endpoint = %base, server = k.provider_name(),
                                        "the server is not Ollama: the ollama receiver stops polling it (its health is llmtel.upstream.up)");
                                    *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
                                    break;
                                }
                                Some(k) => {
                                    if other.is_none() {
                                        tracing::warn!(receiver = %id, endpoint = %base, server = k.provider_name(),
                                            "the ollama receiver's endpoint is not an Ollama server: ollama.up is 0 and no models are reported; point endpoint at Ollama, remove the receiver, or set skip_if_not_ollama (logged once)");
                                    }
                                    other = Some(k);
                                }
                                None if was_up != Some(false) => {
                                    tracing::warn!(receiver = %id, error = %e.message,
                                        "ollama server not answering; ollama.up is 0 until it does (logged once)");
                                }
                                None => {}
                            }
                            Some(Snapshot::default())
                        }
                    };
                    was_up = next.as_ref().map(|s| s.up);
                    *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = next;
                }
                // Skipped: nothing to report, and nothing more to poll until shutdown.
                shutdown.cancelled().await;
                let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
                drop(output);
            });
            Ok(serve)
        })
    }
}

/// The observable instruments, reading `snapshot` at each collection.
fn register(
    provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    snapshot: &Arc<Mutex<Option<Snapshot>>>,
    server: &str,
) {
    let meter = provider.meter("llmtel.ollama");
    let read = {
        let snapshot = snapshot.clone();
        move || snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    };
    let server = KeyValue::new("server.address", server.to_owned());
    let (r, s) = (read.clone(), server.clone());
    meter
        .i64_observable_gauge("ollama.up")
        .with_description("1 when the Ollama server answers /api/ps, 0 when it does not")
        .with_callback(move |o| {
            if let Some(snap) = r() {
                o.observe(i64::from(snap.up), std::slice::from_ref(&s));
            }
        })
        .build();
    let (r, s) = (read.clone(), server.clone());
    meter
        .i64_observable_gauge("ollama.build.info")
        .with_description("The Ollama server's version (value 1)")
        .with_callback(move |o| {
            if let Some(v) = r().and_then(|snap| snap.version) {
                o.observe(1, &[s.clone(), KeyValue::new("ollama.version", v)]);
            }
        })
        .build();
    let (r, s) = (read.clone(), server.clone());
    meter
        .i64_observable_gauge("ollama.models.loaded")
        .with_unit("{model}")
        .with_description("Models loaded")
        .with_callback(move |o| {
            if let Some(snap) = r()
                && snap.up
            {
                o.observe(snap.models.len() as i64, std::slice::from_ref(&s));
            }
        })
        .build();
    type Field = fn(&LoadedModel) -> Option<f64>;
    let per_model: [(&'static str, &'static str, &'static str, Field); 4] = [
        (
            "ollama.model.size",
            "By",
            "Memory a loaded model takes, VRAM included",
            |m| Some(m.size as f64),
        ),
        (
            "ollama.model.vram.size",
            "By",
            "GPU memory a loaded model takes",
            |m| Some(m.size_vram as f64),
        ),
        (
            "ollama.model.context_length",
            "{token}",
            "Context length a model was loaded with",
            |m| m.context_length.map(|c| c as f64),
        ),
        (
            "ollama.model.expires_at",
            "s",
            "When a loaded model unloads, in seconds since the Unix epoch",
            |m| m.expires_at.as_deref().and_then(parse_rfc3339),
        ),
    ];
    for (name, unit, description, field) in per_model {
        let (r, s) = (read.clone(), server.clone());
        meter
            .f64_observable_gauge(name)
            .with_unit(unit)
            .with_description(description)
            .with_callback(move |o| {
                for m in r().map(|snap| snap.models).unwrap_or_default() {
                    if let Some(v) = field(&m) {
                        o.observe(
                            v,
                            &[
                                s.clone(),
                                KeyValue::new("gen_ai.request.model", m.name.clone()),
                            ],
                        );
                    }
                }
            })
            .build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_with_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339("2026-11-28T11:05:00.5+01:00"),
            Some(1_795_860_300.5)
        );
        assert_eq!(
            parse_rfc3339("2026-11-28T10:05:00.5Z"),
            Some(1_795_860_300.5)
        );
        assert_eq!(
            parse_rfc3339("2024-06-04T14:38:31-07:00"),
            Some(1_717_537_111.0)
        );
        assert_eq!(parse_rfc3339("not a time"), None);
        assert_eq!(parse_rfc3339("2024-06-04T14:38:31"), None, "no offset");
    }

    #[test]
    fn ps_answers_decode_old_and_new_servers() {
        let ps: PsResponse = serde_json::from_str(
            r#"{"models":[{"name":"a","size":10,"size_vram":5,"expires_at":"2026-11-28T10:05:00Z","digest":"x"},
                          {"name":"b","size":1,"size_vram":0,"context_length":8192}]}"#,
        )
        .unwrap();
        assert_eq!(ps.models[0].context_length, None);
        assert_eq!(ps.models[1].context_length, Some(8192));
        assert_eq!(ps.models[1].expires_at, None);
    }
}
