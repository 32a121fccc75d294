//! The report for programs: JSON (one object: the source, the rows, the price of thinking) and CSV (one tidy
//! table, `table,model,think,quantity,value,note`, so one header serves both parts). Both carry the numbers the
//! text table prints, unrounded; an unknown number is `null` (JSON) or empty (CSV), with its reason where there is
//! one.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::price::Price;
use super::rows::Row;

fn row_fields(r: &Row) -> [(&'static str, Option<f64>); 9] {
    [
        ("requests", Some(r.requests)),
        ("errors", Some(r.errors)),
        ("latency_p50_seconds", r.p50),
        ("latency_p95_seconds", r.p95),
        ("time_to_first_token_p50_seconds", r.ttft_p50),
        ("time_to_first_answer_token_p50_seconds", r.first_answer_p50),
        ("output_tokens_per_second_p50", r.tokens_per_second_p50),
        ("energy_per_request_mean_joules", r.energy_mean),
        ("think_share", r.think_share),
    ]
}

fn price_fields(p: &Price) -> [(&'static str, Option<f64>, Option<&'static str>); 7] {
    [
        ("requests_on", Some(p.requests_on), None),
        ("requests_off", Some(p.requests_off), None),
        ("latency_p50_ratio", p.latency_p50, None),
        (
            "time_to_first_answer_token_p50_ratio",
            p.first_answer_p50,
            None,
        ),
        (
            "output_tokens_per_second_p50_ratio",
            p.tokens_per_second_p50,
            None,
        ),
        (
            "energy_per_request_ratio",
            p.energy_per_request.ok(),
            p.energy_per_request.err(),
        ),
        (
            "vram_difference_bytes",
            p.vram_difference.ok(),
            p.vram_difference.err(),
        ),
    ]
}

fn number(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map_or(Value::Null, Value::from)
}

/// The report as one JSON document.
pub fn json(source: &str, rows: &[Row], prices: &[Price]) -> String {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut o = json!({"model": r.model, "think": r.think});
            for (k, v) in row_fields(r) {
                o[k] = number(v);
            }
            o
        })
        .collect();
    let prices: Vec<Value> = prices
        .iter()
        .map(|p| {
            let mut o = json!({"model": p.model, "think": p.think, "baseline": "off"});
            for (k, v, why) in price_fields(p) {
                o[k] = number(v);
                if let Some(why) = why {
                    o[format!("{k}_note")] = Value::from(why);
                }
            }
            o
        })
        .collect();
    let doc = json!({"source": source, "rows": rows, "thinking_price": prices});
    // A `Value` made of strings, numbers and nulls always serialises.
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The report as CSV.
pub fn csv(rows: &[Row], prices: &[Price]) -> String {
    let mut out = String::from("table,model,think,quantity,value,note\n");
    let mut line = |table: &str, model: &str, think: &str, q: &str, v: Option<f64>, note: &str| {
        let value = v
            .filter(|x| x.is_finite())
            .map_or_else(String::new, |x| x.to_string());
        let _ = writeln!(
            out,
            "{table},{},{},{q},{value},{}",
            field(model),
            field(think),
            field(note)
        );
    };
    for r in rows {
        for (q, v) in row_fields(r) {
            line("requests", &r.model, &r.think, q, v, "");
        }
    }
    for p in prices {
        for (q, v, why) in price_fields(p) {
            line(
                "thinking_price",
                &p.model,
                &p.think,
                q,
                v,
                why.unwrap_or(""),
            );
        }
    }
    out
}
