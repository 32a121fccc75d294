//! The command line of `llmtel load` ([`LoadArgs`]) and its checks: every problem at once, each naming its option,
//! into the [`Plan`] the sweep ([`super::run`]) carries out.

use std::path::PathBuf;
use std::time::Duration;

use super::prompts;
use super::target::{self, LoadApi, ThinkMode};

/// Options of `llmtel load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The model server, or a llmtel sidecar in front of one (plain HTTP). Loopback unless you name another host.
    #[arg(long, default_value = "http://127.0.0.1:11434", value_name = "URL")]
    pub target: String,
    /// The API to speak.
    #[arg(long, value_enum, default_value_t = LoadApi::Ollama)]
    pub api: LoadApi,
    /// The model to ask.
    #[arg(long, value_name = "MODEL")]
    pub model: String,
    /// Think modes to sweep, each its own curve: `default` (say nothing), `on`, `off`; e.g. `--think on,off`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "default")]
    pub think: Vec<ThinkMode>,
    /// The prompts: `short` or `long` (built in), or a JSONL file (`{"prompt": "…"}` per line).
    #[arg(long, default_value = "short", value_name = "SET|FILE")]
    pub prompts: String,
    /// Output tokens per answer at most (`num_predict`, `max_tokens`, `max_output_tokens`).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Levels of concurrent streams, e.g. `1,2,4,8,16` (the default when no `--rate` is given).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "N,…",
        conflicts_with = "rate"
    )]
    pub concurrency: Vec<u32>,
    /// Levels of requests started per second, e.g. `0.5,1,2,4`, instead of concurrency levels.
    #[arg(long, value_delimiter = ',', value_name = "R,…")]
    pub rate: Vec<f64>,
    /// Requests per level (at least the level's concurrency).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub requests: u32,
    /// Hold each level this many seconds instead of a request count.
    #[arg(long, value_name = "SECONDS", conflicts_with = "requests")]
    pub duration: Option<f64>,
    /// Requests sent one at a time before each think mode's sweep and not counted (loads the model, fills caches).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: u32,
    /// A request still unanswered after this many seconds counts as a timeout.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// The whole run stops (and reports) after this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECONDS")]
    pub max_time: f64,
    /// Write `levels.csv`, `levels.json` and `chart.svg` (one `chart-think-MODE.svg` per think mode when several)
    /// into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The Prometheus endpoint of a llmtel with a `gpu` receiver, read each second for the GPU's utilisation,
    /// memory and power during each level, e.g. `http://127.0.0.1:9464/metrics`.
    #[arg(long, value_name = "URL")]
    pub metrics: Option<String>,
    /// The run's id, sent with each request (`llmtel.load.run_id`); a new one by default.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
}

/// A checked `llmtel load` command line.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The arguments as given.
    pub args: LoadArgs,
    /// The target.
    pub target: target::Target,
    /// The levels: concurrency (`Ok`) or rate (`Err`).
    pub levels: Vec<LevelSpec>,
    /// The prompts.
    pub prompts: Vec<String>,
    /// The run id.
    pub run_id: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Per-level duration, when held for a time.
    pub duration: Option<Duration>,
    /// The whole run's bound.
    pub max_time: Duration,
}

/// One level to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LevelSpec {
    /// Concurrent streams.
    Concurrency(u32),
    /// Requests started per second.
    Rate(f64),
}

impl LevelSpec {
    /// The tag sent as `llmtel.load.level`: `8`, or `2.5/s`.
    pub fn tag(self) -> String {
        match self {
            Self::Concurrency(c) => c.to_string(),
            Self::Rate(r) => format!("{r}/s"),
        }
    }
}

/// Most requests per level, streams per level and requests per second: bounds a typo cannot get past.
const MAX_REQUESTS: u32 = 100_000;
const MAX_CONCURRENCY: u32 = 4096;
const MAX_RATE: f64 = 10_000.0;

fn seconds(name: &str, v: f64, max: f64, errors: &mut Vec<String>) -> Duration {
    if v.is_finite() && v > 0.0 && v <= max {
        Duration::from_secs_f64(v)
    } else {
        errors.push(format!(
            "--{name} {v}: expected seconds above 0, at most {max}"
        ));
        Duration::ZERO
    }
}

/// Checks the command line; every problem at once, each naming its option.
pub fn plan(args: LoadArgs) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let target = target::parse_target(&args.target)
        .map_err(|e| errors.push(e))
        .ok();
    if args.model.trim().is_empty() {
        errors.push("--model: expected a model name".to_owned());
    }
    let mut levels = Vec::new();
    if args.rate.is_empty() {
        let conc = if args.concurrency.is_empty() {
            vec![1, 2, 4, 8, 16]
        } else {
            args.concurrency.clone()
        };
        for c in conc {
            if (1..=MAX_CONCURRENCY).contains(&c) {
                levels.push(LevelSpec::Concurrency(c));
            } else {
                errors.push(format!(
                    "--concurrency {c}: expected 1 to {MAX_CONCURRENCY}"
                ));
            }
        }
    } else {
        for r in &args.rate {
            if r.is_finite() && *r > 0.0 && *r <= MAX_RATE {
                levels.push(LevelSpec::Rate(*r));
            } else {
                errors.push(format!(
                    "--rate {r}: expected requests per second above 0, at most {MAX_RATE}"
                ));
            }
        }
    }
    if !(1..=MAX_REQUESTS).contains(&args.requests) {
        errors.push(format!(
            "--requests {}: expected 1 to {MAX_REQUESTS}",
            args.requests
        ));
    }
    if args.warmup > 1000 {
        errors.push(format!("--warmup {}: expected 0 to 1000", args.warmup));
    }
    let timeout = seconds("timeout", args.timeout, 86_400.0, &mut errors);
    let max_time = seconds("max-time", args.max_time, 7.0 * 86_400.0, &mut errors);
    let duration = args
        .duration
        .map(|d| seconds("duration", d, 86_400.0, &mut errors));
    if args.max_tokens == Some(0) {
        errors.push("--max-tokens 0: expected at least 1".to_owned());
    }
    let prompts = match args.prompts.as_str() {
        "short" => prompts::built_in(prompts::BuiltIn::Short),
        "long" => prompts::built_in(prompts::BuiltIn::Long),
        file => prompts::from_jsonl(std::path::Path::new(file)).unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        }),
    };
    if let Some(m) = &args.metrics
        && let Err(e) = target::parse_target(m)
    {
        errors.push(e.replace("--target", "--metrics"));
    }
    let run_id = args.run_id.clone().unwrap_or_else(new_run_id);
    if run_id.is_empty()
        || run_id.len() > 64
        || !run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        errors.push(format!(
            "--run-id {run_id:?}: expected 1 to 64 letters, digits, '-', '_', '.' or ':'"
        ));
    }
    let mut think = args.think.clone();
    think.dedup();
    match target {
        Some(target) if errors.is_empty() => Ok(Plan {
            args: LoadArgs { think, ..args },
            target,
            levels,
            prompts,
            run_id,
            timeout,
            duration,
            max_time,
        }),
        _ => Err(errors),
    }
}

/// A run id from the clock: `load-` and the seconds since 1970 in hex.
fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("load-{secs:x}")
}
