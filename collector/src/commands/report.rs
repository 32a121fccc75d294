//! `llmtel report`: the think-mode vs no-think baseline as a table. Per model and think mode: requests, errors,
//! P50/P95 request latency, P50 time to first token and to the first answer token, P50 output tokens/s, and the
//! share of request time spent thinking.
//!
//! It reads either a llmtel Prometheus endpoint (totals since llmtel started) or a Prometheus server (the increase
//! over a window). Both give the same samples (bucket counts, sums, request counts), and one computation turns
//! them into the table; percentiles are interpolated inside buckets the way PromQL's `histogram_quantile` does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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
}

const MODEL: &str = "gen_ai_request_model";
const THINK: &str = "llmtel_think_mode";
const REQUESTS: &str = "llmtel_client_requests_total";
const DURATION: &str = "gen_ai_client_operation_duration_seconds";
const TTFT: &str = "gen_ai_server_time_to_first_token_seconds";
const FIRST_ANSWER: &str = "llmtel_client_time_to_first_answer_token_seconds";
const TOKENS_RATE: &str = "llmtel_client_output_tokens_rate_per_second";
const THINK_TIME: &str = "llmtel_client_think_duration_seconds";
const HISTOGRAMS: [&str; 5] = [DURATION, TTFT, FIRST_ANSWER, TOKENS_RATE, THINK_TIME];

/// One sample: a series name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`…_bucket`, `…_sum`, `…_total`).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Why `llmtel report` printed no table. The command line ([`crate::cli`]) prints it after `llmtel report: ` and
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

/// Carries out `llmtel report`: prints the table, or returns why it could not.
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
            runtime.block_on(from_prometheus(prom, &args.window)),
        ),
        None => (
            format!("{} (totals since llmtel started)", args.url),
            runtime.block_on(from_endpoint(&args.url)),
        ),
    };
    let rows = compute(&samples.map_err(ReportError::Failed)?);
    if rows.is_empty() {
        println!("No LLM requests recorded yet in {source}.");
    } else {
        println!("{source}");
        print!("{}", render(&rows));
    }
    Ok(())
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

async fn get(url: &str, accept: &str) -> Result<String, String> {
    if url.starts_with("https://") {
        return Err(format!(
            "{url}: https is not supported by llmtel report; use the plain-HTTP address"
        ));
    }
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::get(url)
        .header(http::header::ACCEPT, accept)
        .body(Empty::new())
        .map_err(|e| format!("{url}: not a valid URL ({e})"))?;
    let send = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("cannot read {url}: {}", llmtel_pipelines::error_chain(&e)))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url}: the response broke off: {e}"))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(format!("{url}: HTTP {status}: {}", text.trim()));
        }
        String::from_utf8(body.to_vec()).map_err(|_| format!("{url}: the response is not UTF-8"))
    };
    tokio::time::timeout(Duration::from_secs(30), send)
        .await
        .map_err(|_| format!("{url}: no answer within 30 s"))?
}

async fn from_endpoint(url: &str) -> Result<Vec<Sample>, String> {
    let text = get(url, "text/plain;version=0.0.4")
        .await
        .map_err(|e| format!("{e} (is llmtel running? `llmtel` or `llmtel demo` serve it)"))?;
    Ok(parse_exposition(&text))
}

/// The PromQL queries a Prometheus report runs, each with the sample name its result stands for.
fn queries(window: &str) -> Vec<(String, String)> {
    let by = format!("{MODEL}, {THINK}");
    let mut q = vec![(
        REQUESTS.to_owned(),
        format!("sum by ({by}, error_type) (increase({REQUESTS}[{window}]))"),
    )];
    for h in HISTOGRAMS {
        q.push((
            format!("{h}_bucket"),
            format!("sum by (le, {by}) (increase({h}_bucket[{window}]))"),
        ));
        q.push((
            format!("{h}_sum"),
            format!("sum by ({by}) (increase({h}_sum[{window}]))"),
        ));
    }
    q
}

async fn from_prometheus(base: &str, window: &str) -> Result<Vec<Sample>, String> {
    let base = base.trim_end_matches('/');
    let mut samples = Vec::new();
    for (name, query) in queries(window) {
        let url = format!("{base}/api/v1/query?query={}", percent_encode(&query));
        let text = get(&url, "application/json").await?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{base}: not a Prometheus API answer ({e})"))?;
        let result = v
            .pointer("/data/result")
            .and_then(|r| r.as_array())
            .ok_or_else(|| format!("{base}: not a Prometheus API answer (no data.result)"))?;
        for series in result {
            let labels = series
                .get("metric")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            let value = series
                .pointer("/value/1")
                .and_then(|v| v.as_str())
                .and_then(parse_value);
            if let Some(value) = value {
                samples.push(Sample {
                    name: name.clone(),
                    labels,
                    value,
                });
            }
        }
    }
    Ok(samples)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

/// The samples of a Prometheus text (or OpenMetrics) exposition; comments and lines it cannot read are skipped.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut key = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => break i,
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        };
        rest = &inner[end + 1..];
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `gen_ai.request.model`.
    pub model: String,
    /// `llmtel.think.mode` (`-` where the span had none).
    pub think: String,
    /// Requests, failed ones included.
    pub requests: f64,
    /// Failed requests.
    pub errors: f64,
    /// Request duration percentiles, seconds.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// Median time to first token (reasoning or answer), seconds.
    pub ttft_p50: Option<f64>,
    /// Median time to the first answer token, seconds.
    pub first_answer_p50: Option<f64>,
    /// Median output tokens per second of generation.
    pub tokens_per_second_p50: Option<f64>,
    /// Time spent thinking over all request time, 0..1.
    pub think_share: Option<f64>,
}

type Key = (String, String);

fn key_of(s: &Sample) -> Option<Key> {
    let model = s.labels.get(MODEL)?.clone();
    let think = s
        .labels
        .get(THINK)
        .cloned()
        .unwrap_or_else(|| "-".to_owned());
    Some((model, think))
}

/// Cumulative bucket counts by upper bound, summed over every series of a group.
#[derive(Debug, Default)]
struct Buckets(Vec<(f64, f64)>);

impl Buckets {
    fn add(&mut self, le: f64, count: f64) {
        match self.0.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => self.0.push((le, count)),
        }
    }

    /// The `q` quantile, interpolated linearly within the bucket it falls in (as `histogram_quantile`).
    fn quantile(&mut self, q: f64) -> Option<f64> {
        self.0.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = self.0.last().filter(|(le, _)| le.is_infinite())?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut prev_bound = 0.0;
        let mut prev_count = 0.0;
        for &(le, count) in &self.0 {
            if count >= rank {
                if le.is_infinite() {
                    return Some(prev_bound);
                }
                let in_bucket = count - prev_count;
                if in_bucket <= 0.0 {
                    return Some(le);
                }
                return Some(prev_bound + (le - prev_bound) * (rank - prev_count) / in_bucket);
            }
            prev_bound = le;
            prev_count = count;
        }
        None
    }
}

/// Turns samples into rows, sorted by model and think mode.
pub fn compute(samples: &[Sample]) -> Vec<Row> {
    let mut requests: BTreeMap<Key, (f64, f64)> = BTreeMap::new();
    let mut buckets: BTreeMap<(&str, Key), Buckets> = BTreeMap::new();
    let mut sums: BTreeMap<(&str, Key), f64> = BTreeMap::new();
    for s in samples {
        let Some(key) = key_of(s) else { continue };
        if s.name == REQUESTS {
            let e = requests.entry(key).or_default();
            e.0 += s.value;
            if s.labels.get("error_type").is_some_and(|t| !t.is_empty()) {
                e.1 += s.value;
            }
            continue;
        }
        for h in HISTOGRAMS {
            if s.name.strip_suffix("_bucket") == Some(h) {
                if let Some(le) = s.labels.get("le").and_then(|l| parse_value(l)) {
                    buckets
                        .entry((h, key.clone()))
                        .or_default()
                        .add(le, s.value);
                }
            } else if s.name.strip_suffix("_sum") == Some(h) {
                *sums.entry((h, key.clone())).or_default() += s.value;
            }
        }
    }
    let mut rows = Vec::new();
    for (key, (total, errors)) in requests {
        if total <= 0.0 {
            continue;
        }
        let mut q = |h: &'static str, q: f64| {
            buckets
                .get_mut(&(h, key.clone()))
                .and_then(|b| b.quantile(q))
        };
        let (p50, p95) = (q(DURATION, 0.5), q(DURATION, 0.95));
        let (ttft_p50, first_answer_p50) = (q(TTFT, 0.5), q(FIRST_ANSWER, 0.5));
        let tokens_per_second_p50 = q(TOKENS_RATE, 0.5);
        let busy = sums.get(&(DURATION, key.clone())).copied().unwrap_or(0.0);
        let thinking = sums.get(&(THINK_TIME, key.clone())).copied().unwrap_or(0.0);
        let think_share = (busy > 0.0).then(|| (thinking / busy).clamp(0.0, 1.0));
        rows.push(Row {
            model: key.0,
            think: key.1,
            requests: total,
            errors,
            p50,
            p95,
            ttft_p50,
            first_answer_p50,
            tokens_per_second_p50,
            think_share,
        });
    }
    rows
}

fn secs(v: Option<f64>) -> String {
    match v {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.2} s"),
        None => "-".to_owned(),
    }
}

fn count(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The rows as an aligned text table.
pub fn render(rows: &[Row]) -> String {
    let header = [
        "MODEL",
        "THINK",
        "REQUESTS",
        "ERRORS",
        "P50",
        "P95",
        "TTFT P50",
        "1ST ANSWER P50",
        "OUT TOK/S P50",
        "THINKING",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.think.clone(),
                count(r.requests),
                count(r.errors),
                secs(r.p50),
                secs(r.p95),
                secs(r.ttft_p50),
                secs(r.first_answer_p50),
                r.tokens_per_second_p50
                    .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}")),
                r.think_share
                    .map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |row: Vec<&str>| {
        let mut l = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i < 2 {
                let _ = write!(l, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(l, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for c in &cells {
        line(c.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests;
