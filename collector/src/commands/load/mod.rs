//! `llmtel load`: a think-aware load generator. It sweeps a model server (or a llmtel sidecar in front of one)
//! through levels of concurrent streams or of request rates, per think mode, and prints per level the request
//! and token rates, TTFT and time to first answer token, think and answer time, inter-token latency, end-to-end
//! percentiles, errors, timeouts, the queue-wait estimate from the server's timings and the GPU's state; then a
//! table, the knee, and with `--out DIR` CSV, JSON and an SVG chart of the decay curves (`docs/load.md`).
//!
//! The parts: [`target`] (what is sent, where), [`client`] (one request, read with the sidecar's decoders),
//! [`run`] (the sweep, progress, Ctrl-C), [`stats`] (a level's figures, the knee), [`output`] (table, CSV, JSON),
//! [`svg`] (the chart), [`gpu`] (the GPU during a level), [`prompts`].

pub mod client;
pub mod gpu;
pub mod output;
pub mod plan;
pub mod prompts;
pub mod run;
pub mod stats;
pub mod svg;
pub mod target;

pub use plan::{LevelSpec, LoadArgs, Plan, plan};
pub use target::{LoadApi, ThinkMode};

/// Why `llmtel load` stopped without a report, for the exit status (`crate::cli`): 64 for a bad command line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The command line is not valid: every problem, one a line.
    #[error("{}", .0.join("\n"))]
    Usage(Vec<String>),
    /// The runtime could not start, or the results could not be written.
    #[error("{0}")]
    Failed(String),
}

/// What a finished (or interrupted) run says.
#[derive(Debug)]
pub struct Finished {
    /// Whether Ctrl-C or `--max-time` ended it early.
    pub interrupted: bool,
}

/// Carries out `llmtel load`: runs the sweep, prints the table and the knee, writes `--out`.
pub fn execute(args: LoadArgs) -> Result<Finished, LoadError> {
    let plan = plan(args).map_err(LoadError::Usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadError::Failed(format!("start the async runtime: {e}")))?;
    let report = runtime.block_on(run::run(&plan));
    let interrupted = report.levels.iter().any(|l| l.interrupted) || report.interrupted;
    print!("{}", output::table(&report));
    if let Some(dir) = &plan.args.out {
        output::write_dir(dir, &report).map_err(LoadError::Failed)?;
        eprintln!("llmtel load: results in {}", dir.display());
    }
    Ok(Finished { interrupted })
}

#[cfg(test)]
mod tests;
