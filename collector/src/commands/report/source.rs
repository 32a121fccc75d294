//! Where `llmtel report`'s samples come from: a llmtel Prometheus endpoint (parsed exposition text, totals since
//! llmtel started) or a Prometheus server's query API (the increase over a window, asked per series family so the
//! answer has the same shape as the exposition).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::names::{HISTOGRAMS, MODEL, REQUESTS, THINK};

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

pub(crate) async fn from_endpoint(url: &str) -> Result<Vec<Sample>, String> {
    let text = get(url, "text/plain;version=0.0.4")
        .await
        .map_err(|e| format!("{e} (is llmtel running? `llmtel` or `llmtel demo` serve it)"))?;
    Ok(parse_exposition(&text))
}

/// The PromQL queries a Prometheus report runs, each with the sample name its result stands for.
pub(crate) fn queries(window: &str) -> Vec<(String, String)> {
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

pub(crate) async fn from_prometheus(base: &str, window: &str) -> Result<Vec<Sample>, String> {
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

pub(crate) fn percent_encode(s: &str) -> String {
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

pub(crate) fn parse_value(v: &str) -> Option<f64> {
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
