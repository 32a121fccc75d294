//! Receiver `prometheus`: scrapes Prometheus text 0.0.4 and OpenMetrics endpoints into OTLP metrics.
//!
//! Each target of each `scrape_configs` job is its own task: every `scrape_interval` it GETs the target
//! ([`fetch`], within `scrape_timeout`), parses the exposition ([`parse`], a pure function), maps it to OTLP
//! ([`map`], with the target's start-time and staleness [`map::Tracker`]), adds the synthetic `up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling` and
//! `scrape_series_added`, and pushes one batch into the metrics pipelines. A slow or dead target delays only its
//! own task; it reports `up` 0 and is logged once when it goes down and once when it is back. A full pipeline
//! queue drops that scrape (the values are cumulative, the next scrape carries them), logged once per episode.

pub mod fetch;
pub mod map;
pub mod otlp;
pub mod parse;
pub mod series;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use llmtel_config::{ComponentId, PrometheusReceiverConfig, scrape_url};
use llmtel_pipelines::{BoxFuture, BuildError, Output, Payload, Receiver, StartError};
use tokio_util::sync::CancellationToken;

use fetch::{HttpClient, Token};
use map::{Target, Tracker};

/// One target, ready to scrape.
#[derive(Debug, Clone)]
struct Job {
    url: http::Uri,
    target: Target,
    interval: Duration,
    timeout: Duration,
    token: Token,
}

/// The `prometheus` receiver.
#[derive(Debug)]
pub struct PrometheusReceiver {
    id: String,
    jobs: Vec<Job>,
    client: HttpClient,
}

impl PrometheusReceiver {
    /// A receiver `id` scraping what `cfg` lists; `tls` for `https://` targets.
    pub fn new(
        id: &ComponentId,
        cfg: &PrometheusReceiverConfig,
        tls: &rustls::ClientConfig,
    ) -> Result<Self, BuildError> {
        let fail = |message: String| BuildError::Component {
            component: id.to_string(),
            message,
        };
        let mut jobs = Vec::new();
        for sc in &cfg.config.scrape_configs {
            let token = match (&sc.bearer_token, &sc.bearer_token_file) {
                (Some(t), _) => Token::Value(t.expose().to_owned()),
                (None, Some(f)) => Token::File(f.clone()),
                (None, None) => Token::None,
            };
            for st in &sc.static_configs {
                for t in &st.targets {
                    let u = scrape_url(t, &sc.scheme, &sc.metrics_path)
                        .map_err(|e| fail(format!("job {}: {e}", sc.job_name)))?;
                    let url = u
                        .url
                        .parse::<http::Uri>()
                        .map_err(|e| fail(format!("job {}: {:?}: {e}", sc.job_name, u.url)))?;
                    jobs.push(Job {
                        url,
                        target: Target {
                            job: sc.job_name.clone(),
                            instance: u.instance,
                            host: u.host,
                            port: u.port,
                            scheme: u.scheme,
                            labels: st
                                .labels
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        },
                        interval: sc.scrape_interval.get(),
                        timeout: sc.scrape_timeout.get(),
                        token: token.clone(),
                    });
                }
            }
        }
        Ok(Self {
            id: id.to_string(),
            jobs,
            client: fetch::client(tls),
        })
    }
}

impl Receiver for PrometheusReceiver {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        Box::pin(async move {
            let id: Arc<str> = self.id.into();
            tracing::info!(receiver = %id, targets = self.jobs.len(), "prometheus receiver scraping");
            let mut tasks = tokio::task::JoinSet::new();
            for job in self.jobs {
                tasks.spawn(scrape_loop(
                    id.clone(),
                    job,
                    self.client.clone(),
                    output.clone(),
                    shutdown.clone(),
                ));
            }
            drop(output);
            let serve: BoxFuture<'static, ()> =
                Box::pin(async move { while tasks.join_next().await.is_some() {} });
            Ok(serve)
        })
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Scrapes one target until shutdown.
async fn scrape_loop(
    id: Arc<str>,
    job: Job,
    client: HttpClient,
    output: Output,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(job.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tracker = Tracker::default();
    let mut was_up: Option<bool> = None;
    let mut refused = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => break,
        }
        let now_ns = unix_ns();
        let began = Instant::now();
        let answer = tokio::select! {
            r = fetch::fetch(&client, &job.url, &job.token, job.timeout) => r,
            () = shutdown.cancelled() => break,
        };
        let parsed = answer.and_then(|b| {
            parse::parse(&b.bytes, b.open_metrics)
                .map_err(|e| format!("unreadable exposition: {e}"))
        });
        let elapsed = began.elapsed().as_secs_f64();
        let (mut metrics, info, up, samples, added) = match parsed {
            Ok(fams) => {
                let m = map::map(&fams, &job.target, now_ns, &mut tracker);
                (m.metrics, m.info, true, m.samples, m.added)
            }
            Err(e) => {
                if was_up != Some(false) {
                    tracing::warn!(receiver = %id, job = %job.target.job, target = %job.url, error = %e,
                        "scrape target down; its up is 0 until it answers (logged once)");
                }
                (map::down(&mut tracker, now_ns), Vec::new(), false, 0, 0)
            }
        };
        if up && was_up == Some(false) {
            tracing::info!(receiver = %id, job = %job.target.job, target = %job.url, "scrape target up again");
        }
        was_up = Some(up);
        metrics.extend(otlp::synthetic(
            &job.target,
            now_ns,
            up,
            elapsed,
            samples,
            added,
        ));
        let batch = Payload::Metrics(vec![otlp::resource_metrics(&job.target, &info, metrics)]);
        match output.try_send(batch) {
            Ok(()) => refused = false,
            Err(e) => {
                if !refused {
                    tracing::warn!(receiver = %id, target = %job.url, error = %e,
                        "metrics pipeline full or closed: this scrape is dropped (cumulative values come with the next; logged once until one gets through)");
                }
                refused = true;
            }
        }
    }
}
