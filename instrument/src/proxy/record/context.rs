//! The context window of one request on the request span: `llmtel.context.length` (the request's own
//! `options.num_ctx`, else the loaded model's window the upstream reported, [`crate::upstream::context`]),
//! `llmtel.context.utilization` (prompt plus output over it) and `llmtel.context.filled` (the prompt took 95 % or
//! more of it: Ollama then silently drops the prompt's start). Nothing when the length is unknown, and no
//! utilization without a prompt count. Called by the tracker ([`super`]) when it makes the spans.

use opentelemetry::KeyValue;

use llmtel_config::semconv::attr;

/// The share of the window at which a prompt counts as filling it.
const FILLED: f64 = 0.95;

/// The context attributes of a response whose span attributes so far are `attrs` (the conventions' input and
/// output counts among them), in a window of `length` tokens.
pub(super) fn of_response(length: Option<u64>, attrs: &[KeyValue]) -> Vec<KeyValue> {
    let count = |key: &str| {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .and_then(|kv| match kv.value {
                opentelemetry::Value::I64(n) => u64::try_from(n).ok(),
                _ => None,
            })
    };
    attributes(
        length,
        count(attr::USAGE_INPUT_TOKENS),
        count(attr::USAGE_OUTPUT_TOKENS),
    )
}

/// The context attributes of a request that ran in a window of `length` tokens with `input` prompt and `output`
/// generated tokens.
pub(super) fn attributes(
    length: Option<u64>,
    input: Option<u64>,
    output: Option<u64>,
) -> Vec<KeyValue> {
    let Some(length) = length.filter(|l| *l > 0) else {
        return Vec::new();
    };
    let mut attrs = vec![KeyValue::new(
        attr::CONTEXT_LENGTH,
        i64::try_from(length).unwrap_or(i64::MAX),
    )];
    if let Some(input) = input {
        let used = input.saturating_add(output.unwrap_or(0));
        attrs.push(KeyValue::new(
            attr::CONTEXT_UTILIZATION,
            used as f64 / length as f64,
        ));
        attrs.push(KeyValue::new(
            attr::CONTEXT_FILLED,
            input as f64 >= FILLED * length as f64,
        ));
    }
    attrs
}

#[cfg(test)]
mod tests {
    use opentelemetry::Value;

    use super::*;

    fn get(attrs: &[KeyValue], key: &str) -> Option<Value> {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    #[test]
    fn utilization_is_prompt_plus_output_over_the_window_and_filled_is_95_percent_of_prompt() {
        let a = attributes(Some(2048), Some(1000), Some(24));
        assert_eq!(get(&a, attr::CONTEXT_LENGTH), Some(Value::I64(2048)));
        assert_eq!(get(&a, attr::CONTEXT_UTILIZATION), Some(Value::F64(0.5)));
        assert_eq!(get(&a, attr::CONTEXT_FILLED), Some(Value::Bool(false)));
        // 1946 ≥ 0.95 × 2048 = 1945.6.
        let a = attributes(Some(2048), Some(1946), None);
        assert_eq!(get(&a, attr::CONTEXT_FILLED), Some(Value::Bool(true)));
        let a = attributes(Some(2048), Some(1945), None);
        assert_eq!(get(&a, attr::CONTEXT_FILLED), Some(Value::Bool(false)));
    }

    #[test]
    fn counts_are_read_from_the_response_attributes() {
        let so_far = [
            KeyValue::new(attr::USAGE_INPUT_TOKENS, 100_i64),
            KeyValue::new(attr::USAGE_OUTPUT_TOKENS, 28_i64),
        ];
        let a = of_response(Some(256), &so_far);
        assert_eq!(get(&a, attr::CONTEXT_UTILIZATION), Some(Value::F64(0.5)));
    }

    #[test]
    fn nothing_without_a_length_and_no_share_without_a_prompt_count() {
        assert!(attributes(None, Some(10), Some(5)).is_empty());
        assert!(attributes(Some(0), Some(10), Some(5)).is_empty());
        let a = attributes(Some(4096), None, Some(5));
        assert_eq!(get(&a, attr::CONTEXT_LENGTH), Some(Value::I64(4096)));
        assert_eq!(get(&a, attr::CONTEXT_UTILIZATION), None);
        assert_eq!(get(&a, attr::CONTEXT_FILLED), None);
    }
}
