//! Load-test tags from the W3C `baggage` header (`llmtel.load.run_id=…,llmtel.load.level=…`): `llmtel load` sends
//! them so that a load test's requests carry the run and level on their spans, and through the `genai_metrics`
//! connector's dimensions, on their metrics. Only members whose key is one of the names in
//! [`llmtel_config::semconv::attr`] (`LOAD_RUN_ID`, `LOAD_LEVEL`) are read, each value bounded; the header itself
//! goes upstream untouched ([`super::headers`]).

use http::HeaderMap;
use opentelemetry::KeyValue;

use llmtel_config::semconv::attr;

/// Longest value kept: a run id or a level is short; anything longer is not ours.
const MAX_VALUE: usize = 64;

/// The load-test attributes the request's `baggage` headers carry (none for ordinary traffic).
pub fn load_tags(headers: &HeaderMap) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = Vec::new();
    let members = headers
        .get_all("baggage")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for member in members {
        // `key=value;property…`: properties are not ours.
        let kv = member.split(';').next().unwrap_or_default();
        let Some((key, value)) = kv.split_once('=') else {
            continue;
        };
        let key = match key.trim() {
            k if k == attr::LOAD_RUN_ID => attr::LOAD_RUN_ID,
            k if k == attr::LOAD_LEVEL => attr::LOAD_LEVEL,
            _ => continue,
        };
        let value = value.trim();
        let printable = value.bytes().all(|b| b.is_ascii_graphic());
        if value.is_empty() || value.len() > MAX_VALUE || !printable {
            continue;
        }
        if out.iter().all(|o| o.key.as_str() != key) {
            out.push(KeyValue::new(key, value.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(values: &[&str]) -> Vec<(String, String)> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("baggage", http::HeaderValue::from_str(v).unwrap());
        }
        load_tags(&h)
            .into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_two_load_members_and_nothing_else() {
        let got = tags(&[
            "userId=alice, llmtel.load.run_id=run-7;p=1",
            "llmtel.load.level=8,llmtel.load.x=1",
        ]);
        assert_eq!(
            got,
            [
                ("llmtel.load.run_id".to_owned(), "run-7".to_owned()),
                ("llmtel.load.level".to_owned(), "8".to_owned())
            ]
        );
    }

    #[test]
    fn ordinary_traffic_and_odd_values_get_no_tags() {
        assert!(tags(&[]).is_empty());
        assert!(tags(&["llmtel.load.run_id="]).is_empty());
        let long = format!("llmtel.load.run_id={}", "x".repeat(65));
        assert!(tags(&[&long]).is_empty());
        // The first of two members with one key wins.
        assert_eq!(tags(&["llmtel.load.level=1,llmtel.load.level=2"]).len(), 1);
    }
}
