//! The sweep: per think mode a warm-up, then each level in turn, its requests sent by `concurrency` workers (a
//! closed loop) or started at a fixed rate (an open loop), until its request count or duration is reached. A
//! progress line per level goes to stderr (redrawn on a terminal, plain lines otherwise). Ctrl-C or `--max-time`
//! stops the requests in flight and ends the sweep; what was measured is still reported ([`Report`]).

use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::client::{self, End, HttpClient, Outcome};
use super::plan::{LevelSpec, Plan};
use super::stats::{self, Level};
use super::target::{self, ThinkMode};

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's id (`llmtel.load.run_id` on each request).
    pub run_id: String,
    /// The target's base URL.
    pub target: String,
    /// The API spoken.
    pub api: super::target::LoadApi,
    /// The model asked.
    pub model: String,
    /// Every level run, per think mode in sweep order.
    pub levels: Vec<Level>,
    /// Per think mode, the knee's level tag, when there is one.
    pub knees: Vec<(String, Option<String>)>,
    /// Requests sent in all (warm-up included).
    pub requests_sent: u64,
    /// The load generator's own CPU time (user + system) for the whole run, in seconds (Linux; else `None`).
    pub generator_cpu_s: Option<f64>,
    /// Whether Ctrl-C or `--max-time` ended the run early.
    pub interrupted: bool,
}

impl Report {
    /// The generator's CPU time per request sent, in milliseconds.
    pub fn cpu_ms_per_request(&self) -> Option<f64> {
        let cpu = self.generator_cpu_s?;
        (self.requests_sent > 0).then(|| cpu * 1e3 / self.requests_sent as f64)
    }
}

/// What every request of a run shares.
struct Shared {
    client: HttpClient,
    url: String,
    plan: Plan,
}

/// Runs the whole sweep.
pub async fn run(plan: &Plan) -> Report {
    let stop = CancellationToken::new();
    let watcher = {
        let stop = stop.clone();
        let max = plan.max_time;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => eprintln!("\nllmtel load: interrupted; reporting what was measured"),
                () = tokio::time::sleep(max) => eprintln!("\nllmtel load: --max-time reached; reporting what was measured"),
                () = stop.cancelled() => {}
            }
            stop.cancel();
        })
    };
    let cpu_before = cpu_seconds();
    let most = plan.levels.iter().map(|l| match l {
        LevelSpec::Concurrency(c) => *c as usize,
        LevelSpec::Rate(_) => 64,
    });
    let shared = Arc::new(Shared {
        client: client::client(most.max().unwrap_or(1)),
        url: format!("{}{}", plan.target.base, plan.args.api.path()),
        plan: plan.clone(),
    });
    if !plan.target.loopback {
        eprintln!(
            "llmtel load: sending load to {}, which is not this host",
            plan.target.base
        );
    }
    let mut levels = Vec::new();
    let mut knees = Vec::new();
    let mut sent = 0u64;
    for think in plan.args.think.clone() {
        if stop.is_cancelled() {
            break;
        }
        let bodies = bodies(plan, think);
        sent += warm_up(&shared, &bodies, &stop).await;
        let first = levels.len();
        for spec in &plan.levels {
            if stop.is_cancelled() {
                break;
            }
            let (level, n) = run_level(&shared, think, *spec, &bodies, &stop).await;
            sent += n;
            levels.push(level);
        }
        let mine: Vec<&Level> = levels[first..].iter().collect();
        let knee = stats::knee(&mine).map(|i| mine[i].level.clone());
        knees.push((think.name().to_owned(), knee));
    }
    let interrupted = stop.is_cancelled();
    stop.cancel();
    let _ = watcher.await;
    Report {
        run_id: plan.run_id.clone(),
        target: plan.target.base.clone(),
        api: plan.args.api,
        model: plan.args.model.clone(),
        levels,
        knees,
        requests_sent: sent,
        generator_cpu_s: cpu_seconds().zip(cpu_before).map(|(a, b)| a - b),
        interrupted,
    }
}

/// The request bodies of a think mode, one per prompt.
fn bodies(plan: &Plan, think: ThinkMode) -> Arc<Vec<Bytes>> {
    let a = &plan.args;
    Arc::new(
        plan.prompts
            .iter()
            .map(|p| Bytes::from(target::body(a.api, &a.model, p, think, a.max_tokens).to_string()))
            .collect(),
    )
}

/// Sends the warm-up requests one at a time; how many were sent.
async fn warm_up(shared: &Arc<Shared>, bodies: &Arc<Vec<Bytes>>, stop: &CancellationToken) -> u64 {
    let n = shared.plan.args.warmup;
    let baggage = target::baggage(&shared.plan.run_id, "warmup");
    for i in 0..n {
        let body = bodies[i as usize % bodies.len()].clone();
        let send = client::send(
            &shared.client,
            &shared.url,
            shared.plan.args.api.api(),
            body,
            &baggage,
            shared.plan.timeout,
        );
        tokio::select! {
            o = send => if let End::Error(e) = &o.end {
                eprintln!("llmtel load: warm-up request failed: {e}");
            },
            () = stop.cancelled() => return u64::from(i),
        }
    }
    u64::from(n)
}

/// Runs one level: its figures and the requests it sent.
async fn run_level(
    shared: &Arc<Shared>,
    think: ThinkMode,
    spec: LevelSpec,
    bodies: &Arc<Vec<Bytes>>,
    stop: &CancellationToken,
) -> (Level, u64) {
    let plan = &shared.plan;
    let (count, deadline) = match (plan.duration, spec) {
        (Some(d), _) => (u32::MAX, Some(Instant::now() + d)),
        (None, LevelSpec::Concurrency(c)) => (plan.args.requests.max(c), None),
        (None, LevelSpec::Rate(_)) => (plan.args.requests, None),
    };
    let tag = spec.tag();
    let baggage: Arc<str> = target::baggage(&plan.run_id, &tag).into();
    let next = Arc::new(AtomicU32::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    // Claims the next request of the level, if the level is not over.
    let claim = move |next: &AtomicU32| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        (i < count && deadline.is_none_or(|d| Instant::now() < d)).then_some(i)
    };
    let request = {
        let (shared, bodies, baggage) = (shared.clone(), bodies.clone(), baggage.clone());
        move |i: u32| {
            let (shared, bodies, baggage) = (shared.clone(), bodies.clone(), baggage.clone());
            async move {
                let body = bodies[i as usize % bodies.len()].clone();
                let api = shared.plan.args.api.api();
                client::send(
                    &shared.client,
                    &shared.url,
                    api,
                    body,
                    &baggage,
                    shared.plan.timeout,
                )
                .await
            }
        }
    };
    match spec {
        LevelSpec::Concurrency(c) => {
            for _ in 0..c {
                let (tx, next, request) = (tx.clone(), next.clone(), request.clone());
                tasks.spawn(async move {
                    while let Some(i) = claim(&next) {
                        if tx.send(request(i).await).is_err() {
                            break;
                        }
                    }
                });
            }
        }
        LevelSpec::Rate(r) => {
            let (tx, next) = (tx.clone(), next.clone());
            tasks.spawn(async move {
                let mut inner = JoinSet::new();
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / r));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                loop {
                    tick.tick().await;
                    let Some(i) = claim(&next) else { break };
                    let (tx, request) = (tx.clone(), request.clone());
                    inner.spawn(async move {
                        let _ = tx.send(request(i).await);
                    });
                    while inner.try_join_next().is_some() {}
                }
                while inner.join_next().await.is_some() {}
            });
        }
    }
    drop(tx);
    let gpu_stop = CancellationToken::new();
    let gpu = plan.args.metrics.clone().map(|url| {
        tokio::spawn(super::gpu::sample(
            shared.client.clone(),
            url,
            gpu_stop.clone(),
        ))
    });
    let mut progress = Progress::new(think, &tag, (deadline.is_none()).then_some(count));
    let mut outcomes = Vec::new();
    let mut interrupted = false;
    let mut redraw = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            o = rx.recv() => match o {
                Some(o) => outcomes.push(o),
                None => break,
            },
            _ = redraw.tick() => progress.draw(&outcomes, start.elapsed(), false),
            () = stop.cancelled() => {
                interrupted = true;
                tasks.abort_all();
                break;
            }
        }
    }
    let wall = start.elapsed();
    while tasks.join_next().await.is_some() {}
    progress.draw(&outcomes, wall, true);
    gpu_stop.cancel();
    let gpu = match gpu {
        Some(g) => g.await.ok().flatten(),
        None => None,
    };
    let (conc, rate) = match spec {
        LevelSpec::Concurrency(c) => (Some(c), None),
        LevelSpec::Rate(r) => (None, Some(r)),
    };
    let mut level = stats::level(think.name(), conc, rate, &tag, &outcomes, wall);
    level.interrupted = interrupted;
    level.gpu = gpu;
    (level, outcomes.len() as u64)
}

/// The live progress line of a level.
struct Progress {
    tty: bool,
    label: String,
    total: Option<u32>,
}

impl Progress {
    fn new(think: ThinkMode, tag: &str, total: Option<u32>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let label = format!("think {:<7} level {tag:>6}", think.name());
        if !tty {
            eprintln!("llmtel load: {label}: started");
        }
        Self { tty, label, total }
    }

    fn draw(&mut self, outcomes: &[Outcome], elapsed: Duration, last: bool) {
        if !self.tty && !last {
            return;
        }
        let ok = outcomes.iter().filter(|o| o.end == End::Ok).count();
        let failed = outcomes.len() - ok;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let tokens: u64 = outcomes.iter().map(|o| o.output_tokens).sum();
        let bar = match self.total {
            Some(t) if t > 0 => {
                let filled = (outcomes.len() * 20 / t as usize).min(20);
                format!(
                    "[{}{}] {}/{t}",
                    "#".repeat(filled),
                    " ".repeat(20 - filled),
                    outcomes.len()
                )
            }
            _ => format!("{} done", outcomes.len()),
        };
        let line = format!(
            "{}: {bar}  ok {ok}  failed {failed}  {:.2} req/s  {:.1} tok/s  {:.1} s",
            self.label,
            ok as f64 / secs,
            tokens as f64 / secs,
            secs
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}{}", if last { "\n" } else { "" })
        } else {
            writeln!(err, "llmtel load: {line}")
        };
        let _ = err.flush();
    }
}

/// This process's CPU time so far (user + system), from `/proc/self/stat` (clock ticks of 1/100 s, Linux's
/// `USER_HZ`); `None` elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: the fields follow its last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14 and stime field 15 (proc(5)), i.e. indices 11 and 12 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
