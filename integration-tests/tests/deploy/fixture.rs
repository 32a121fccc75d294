//! The metrics issue 16 adds (queue wait, cold loads, load time, prefill and decode rates, context use, energy),
//! sent over OTLP/JSON into llmtel's own `otlp` receiver, so that the dashboard's and the rules' queries for them
//! meet data in a real Prometheus whether or not the simulated model server makes the connector emit each one.
//! Names, units and buckets come from `GenAiMetric` (the connector's own definitions) and the exposition names
//! from the pipeline's Prometheus translation, so a renamed metric or a changed unit shows up as an empty query.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::http_request;
use llmtel_config::semconv::{GenAiMetric, Instrument, attr};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The model the fixture's series carry, apart from the simulated server's models.
pub const MODEL: &str = "fixture:1b";

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// Energy per request of the fixture's requests, joules, by think mode: thinking costs 2.5 times as much.
fn per_request(think: &str) -> f64 {
    if think == "on" { 100.0 } else { 40.0 }
}

/// One OTLP/JSON export: every metric from `GenAiMetric::Requests` on (the request counter, so the report has rows for it), as cumulative series for think on and
/// off, each with `2 * tick` observations (all in the middle bucket, or at [`per_request`] for energy).
pub fn request(tick: u64, start_ns: u64, now_ns: u64) -> Value {
    let n = 2 * tick;
    let mut metrics = Vec::new();
    for m in &GenAiMetric::ALL[GenAiMetric::Requests.index()..] {
        let def = m.def();
        let mut points = Vec::new();
        for think in ["on", "off"] {
            let attributes = json!([
                attribute(attr::OPERATION_NAME, "chat"),
                attribute(attr::PROVIDER_NAME, "ollama"),
                attribute(attr::REQUEST_MODEL, MODEL),
                attribute(attr::RESPONSE_MODEL, MODEL),
                attribute(attr::SERVER_ADDRESS, "127.0.0.1"),
                attribute(attr::THINK_MODE, think),
            ]);
            let mut p = json!({
                "attributes": attributes,
                "startTimeUnixNano": start_ns.to_string(),
                "timeUnixNano": now_ns.to_string(),
            });
            match def.instrument {
                Instrument::Counter => p["asInt"] = json!(n.to_string()),
                Instrument::Histogram(bounds) => {
                    let mid = bounds.len() / 2;
                    let value = if *m == GenAiMetric::EnergyPerRequest {
                        per_request(think)
                    } else {
                        bounds[mid]
                    };
                    let bucket = bounds
                        .iter()
                        .position(|b| value <= *b)
                        .unwrap_or(bounds.len());
                    let mut counts = vec!["0".to_owned(); bounds.len() + 1];
                    counts[bucket] = n.to_string();
                    p["count"] = json!(n.to_string());
                    p["sum"] = json!(value * n as f64);
                    p["bucketCounts"] = json!(counts);
                    p["explicitBounds"] = json!(bounds);
                }
            }
            points.push(p);
        }
        let data = match def.instrument {
            Instrument::Counter => {
                json!({"sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": points}})
            }
            Instrument::Histogram(_) => {
                json!({"histogram": {"aggregationTemporality": 2, "dataPoints": points}})
            }
        };
        let mut metric =
            json!({"name": def.name, "unit": def.unit, "description": def.description});
        for (k, v) in data.as_object().into_iter().flatten() {
            metric[k] = v.clone();
        }
        metrics.push(metric);
    }
    json!({"resourceMetrics": [{
        "resource": {"attributes": [attribute("service.name", "deploy-fixture")]},
        "scopeMetrics": [{"scope": {"name": "llmtel.genai_metrics"}, "metrics": metrics}],
    }]})
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Sends [`request`] to `url` (`http://…/v1/metrics`) every 500 ms until `stop`; every answer must be 200.
pub async fn feed(url: String, stop: CancellationToken) {
    let start = now_ns();
    for tick in 1u64.. {
        let body = request(tick, start, now_ns()).to_string().into_bytes();
        let r = http_request("POST", &url, &[("content-type", "application/json")], body).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
