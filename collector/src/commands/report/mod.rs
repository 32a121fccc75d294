//! `llmtel report`: the think-mode vs no-think baseline. Per model and think mode: requests, errors, P50/P95 request
//! latency, P50 time to first token and to the first answer token, P50 output tokens/s, mean energy per request and
//! the share of request time spent thinking; then the price of thinking (on ÷ off per model). As a table, JSON or
//! CSV, all with the same numbers.
//!
//! It reads either a llmtel Prometheus endpoint (totals since llmtel started) or a Prometheus server (the increase
//! over a window). Both give the same samples (bucket counts, sums, request counts), and one computation
//! ([`rows`], [`price`]) turns them into the report.

pub mod machine;
pub(crate) mod names;
pub mod price;
pub mod rows;
pub mod source;
pub mod table;

pub use price::{Price, price};
pub use rows::{Row, compute};
pub use source::{Sample, parse_exposition};
pub use table::{render, render_price};

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text tables for people.
    Table,
    /// One JSON object: `source`, `rows`, `thinking_price`.
    Json,
    /// One CSV table: `table,model,think,quantity,value,note`.
    Csv,
}

/// Options of `llmtel report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The llmtel metrics endpoint to read (totals since llmtel started).
    #[arg(
        long,
        default_value = "http://127.0.0.1:9464/metrics",
        value_name = "URL"
    )]
    pub url: String,
    /// A Prometheus server to ask instead, e.g. `http://127.0.0.1:9090`; the report then covers `--window`.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// With `--prometheus`: how far back, as a PromQL duration (`15m`, `1h`, `7d`).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub window: String,
    /// Output format: `table` for people, `json` or `csv` for programs (the same numbers, unrounded).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Why `llmtel report` printed no report. The command line (`crate::cli`) prints it after `llmtel report: ` and
/// picks the exit status: 64 (EX_USAGE) for [`ReportError::BadWindow`], 1 otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `--window` is not a PromQL duration.
    #[error("--window {0:?}: expected a PromQL duration such as 15m, 1h or 7d")]
    BadWindow(String),
    /// The runtime could not start, or the samples could not be read.
    #[error("{0}")]
    Failed(String),
}

/// Carries out `llmtel report`: prints the report, or returns why it could not.
pub fn execute(args: &ReportArgs) -> Result<(), ReportError> {
    if args.prometheus.is_some() && !valid_window(&args.window) {
        return Err(ReportError::BadWindow(args.window.clone()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReportError::Failed(format!("start the async runtime: {e}")))?;
    let (source, samples) = match &args.prometheus {
        Some(prom) => (
            format!("Prometheus {prom}, the last {}", args.window),
            runtime.block_on(source::from_prometheus(prom, &args.window)),
        ),
        None => (
            format!("{} (totals since llmtel started)", args.url),
            runtime.block_on(source::from_endpoint(&args.url)),
        ),
    };
    let rows = compute(&samples.map_err(ReportError::Failed)?);
    print!("{}", write(args.format, &source, &rows));
    Ok(())
}

/// The whole report in `format`.
pub fn write(format: Format, source: &str, rows: &[Row]) -> String {
    let prices = price(rows);
    match format {
        Format::Json => machine::json(source, rows, &prices),
        Format::Csv => machine::csv(rows, &prices),
        Format::Table if rows.is_empty() => format!("No LLM requests recorded yet in {source}.\n"),
        Format::Table => format!("{source}\n{}\n{}", render(rows), render_price(&prices)),
    }
}

/// Whether `w` is a PromQL duration: one or more `<digits><unit>` with units ms, s, m, h, d, w, y.
fn valid_window(w: &str) -> bool {
    let mut rest = w;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
