//! The command line: `llmtel [run] [--config F] [--upstream URL] [--listen ADDR]`, `llmtel demo`, `llmtel report`,
//! `llmtel load`, `llmtel validate`, `llmtel print-config`, `llmtel --version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::report::ReportError;

/// Exit status for a config that is not valid (sysexits EX_USAGE).
pub const EXIT_BAD_CONFIG: u8 = 64;

/// llmtel: OpenTelemetry sidecar and pipeline for LLM inference servers.
#[derive(Debug, Parser)]
#[command(name = "llmtel", version, about)]
pub struct Cli {
    /// Config file (YAML, shaped like the OpenTelemetry Collector's). Without it, the built-in default is used
    /// (see `llmtel print-config`).
    #[arg(long, short, global = true, env = "LLMTEL_CONFIG")]
    pub config: Option<PathBuf>,

    /// The LLM server the sidecar forwards to, e.g. `http://gpu-box:8000` for vLLM (sets the `llm_proxy`
    /// receiver's `upstream`).
    #[arg(long, global = true, env = "LLMTEL_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,

    /// Where the sidecar listens for clients, e.g. `0.0.0.0:11435` (sets the `llm_proxy` receiver's `listen`).
    #[arg(long, global = true, env = "LLMTEL_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run llmtel until SIGINT or SIGTERM (the default); SIGHUP reloads the config.
    Run,
    /// Check a config and print every problem found; exits 64 if there is any.
    Validate,
    /// Print the effective config, every default written out.
    PrintConfig,
    /// Run llmtel in front of a built-in simulated model server, with a gentle request load: traces and metrics
    /// within seconds, with no GPU and no Ollama.
    Demo {
        /// Seconds between two demo requests.
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        interval: f64,
    },
    /// Print, per model and think mode, requests, latency percentiles, time to first token and to the first
    /// answer token, output tokens/s, energy per request and the share of time spent thinking; then the price of
    /// thinking (think on ÷ think off per model). `--format table|json|csv`.
    Report(crate::commands::report::ReportArgs),
    /// Load-test a model server (or a llmtel sidecar in front of one): a sweep of concurrency levels or request
    /// rates, per think mode; per level throughput, TTFT, time to first answer token, think and answer time,
    /// latency percentiles and queue wait; a table, the knee, and with `--out DIR` CSV, JSON and an SVG chart.
    Load(crate::commands::load::LoadArgs),
}

/// Carries out a parsed command line and returns the process exit status.
pub fn execute(cli: Cli) -> ExitCode {
    let path = cli.config.as_deref();
    let origin = path.map_or_else(
        || "<built-in default>".to_owned(),
        |p| p.display().to_string(),
    );
    let cfg = match llmtel_config::load(path) {
        Ok(cfg) => cfg,
        Err(e @ llmtel_config::LoadError::Invalid { .. }) => {
            eprintln!("llmtel: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
        Err(e) => {
            eprintln!("llmtel: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let cfg = match cfg.override_llm_proxy(cli.listen.as_deref(), cli.upstream.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("llmtel: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Validate => {
            println!("{origin}: valid");
            ExitCode::SUCCESS
        }
        Command::PrintConfig => {
            print!("{}", cfg.to_yaml());
            ExitCode::SUCCESS
        }
        Command::Run => {
            crate::telemetry::init_logs(&cfg);
            // SIGHUP re-reads the same file (or the built-in config), with the environment as it is then and the
            // same command-line overrides.
            let (path, listen, upstream) =
                (cli.config.clone(), cli.listen.clone(), cli.upstream.clone());
            let source: crate::reload::ConfigSource = Box::new(move || {
                llmtel_config::load(path.as_deref())
                    .map_err(|e| e.to_string())?
                    .override_llm_proxy(listen.as_deref(), upstream.as_deref())
                    .map_err(|e| e.to_string())
            });
            run_async(async move {
                crate::run_reloading(cfg, Some(source))
                    .await
                    .map_err(anyhow::Error::from)
            })
        }
        Command::Demo { interval } => {
            if cli.upstream.is_some() {
                eprintln!(
                    "llmtel: --upstream: the demo runs its own simulated model server; run `llmtel --upstream URL` for a real one"
                );
                return ExitCode::from(EXIT_BAD_CONFIG);
            }
            if !(interval.is_finite() && (0.01..=3600.0).contains(&interval)) {
                eprintln!("llmtel: --interval {interval}: expected seconds from 0.01 to 3600");
                return ExitCode::from(EXIT_BAD_CONFIG);
            }
            crate::telemetry::init_logs(&cfg);
            let opts = crate::commands::demo::DemoOptions {
                interval: std::time::Duration::from_secs_f64(interval),
            };
            run_async(crate::commands::demo::run(cfg, opts))
        }
        Command::Load(args) => match crate::commands::load::execute(args) {
            Ok(f) if f.interrupted => ExitCode::from(130),
            Ok(_) => ExitCode::SUCCESS,
            Err(e @ crate::commands::load::LoadError::Usage(_)) => {
                eprintln!("llmtel load: {e}");
                ExitCode::from(EXIT_BAD_CONFIG)
            }
            Err(e) => {
                eprintln!("llmtel load: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Report(args) => match crate::commands::report::execute(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("llmtel report: {e}");
                match e {
                    ReportError::BadWindow(_) => ExitCode::from(EXIT_BAD_CONFIG),
                    ReportError::Failed(_) => ExitCode::FAILURE,
                }
            }
        },
    }
}

/// Runs `main` on a multi-threaded runtime; an error is logged and printed, and the exit status is a failure.
fn run_async<T>(main: impl std::future::Future<Output = anyhow::Result<T>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("llmtel: start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "llmtel could not start");
            eprintln!("llmtel: {e:#}");
            ExitCode::FAILURE
        }
    }
}
