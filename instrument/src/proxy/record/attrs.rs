//! The request span's attributes that come from the response: what the server said ([`Seen`]: model, id,
//! finish reason, token and cache counts, tool calls) in the GenAI conventions' words, and, with content capture,
//! the output messages. Read by the tracker in [`super`] when it makes the spans.

use std::time::Instant;

use opentelemetry::{Array, KeyValue, StringValue, Value};

use llmtel_config::semconv::attr;

use super::seen::Seen;
use crate::phase::Phases;
use crate::stream::{Api, ToolCalls, finish_reason};

/// The finish reason in the conventions' words (`tool_call` when the model called tools), if the server said one.
pub(super) fn finish(seen: &Seen) -> Option<String> {
    seen.finish_reason
        .as_deref()
        .map(|r| finish_reason(r, !seen.tools.is_empty()))
}

/// Model, id, finish reason, counts and tool calls of a GenAI response.
pub(super) fn response(api: Api, seen: &Seen, finish: Option<&str>) -> Vec<KeyValue> {
    let mut attrs = Vec::new();
    if let Some(m) = &seen.model {
        attrs.push(KeyValue::new(attr::RESPONSE_MODEL, m.clone()));
    }
    if let Some(id) = &seen.id {
        attrs.push(KeyValue::new(attr::RESPONSE_ID, id.clone()));
    }
    if let Some(r) = finish {
        attrs.push(KeyValue::new(
            attr::RESPONSE_FINISH_REASONS,
            Value::Array(Array::String(vec![StringValue::from(r.to_owned())])),
        ));
    }
    let (usage, cache) = (&seen.usage, &seen.cache);
    // The conventions' input count includes the cached prompt; Anthropic's leaves it out.
    let input = if api.input_excludes_cache() {
        [usage.input, cache.read, cache.creation]
            .into_iter()
            .flatten()
            .reduce(u64::saturating_add)
    } else {
        usage.input
    };
    for (key, n) in [
        (attr::USAGE_INPUT_TOKENS, input),
        (attr::USAGE_OUTPUT_TOKENS, usage.output),
        (attr::USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning),
        (attr::USAGE_CACHE_READ_INPUT_TOKENS, cache.read),
        (attr::USAGE_CACHE_CREATION_INPUT_TOKENS, cache.creation),
    ] {
        if let Some(n) = n {
            attrs.push(KeyValue::new(key, i64::try_from(n).unwrap_or(i64::MAX)));
        }
    }
    if !seen.tools.is_empty() {
        attrs.push(KeyValue::new(
            attr::TOOL_CALLS,
            i64::try_from(seen.tools.len()).unwrap_or(i64::MAX),
        ));
        let names = seen.tools.names();
        if !names.is_empty() {
            attrs.push(KeyValue::new(
                attr::TOOL_NAMES,
                Value::Array(Array::String(
                    names.into_iter().map(StringValue::from).collect(),
                )),
            ));
        }
    }
    attrs
}

/// `gen_ai.output.messages`, only with content capture: reasoning, answer text and tool calls as parts.
pub(super) fn output_messages(
    capture: bool,
    p: &Phases<Instant>,
    tools: &ToolCalls,
    finish: Option<&str>,
) -> Option<String> {
    if !capture {
        return None;
    }
    let mut parts = Vec::new();
    if !p.reasoning_text.is_empty() {
        parts.push(serde_json::json!({"type": "reasoning", "content": p.reasoning_text}));
    }
    if !p.answer_text.is_empty() {
        parts.push(serde_json::json!({"type": "text", "content": p.answer_text}));
    }
    for c in tools.calls() {
        // Arguments are JSON text; kept as text when they are not JSON (a stream cut short).
        let arguments = serde_json::from_str::<serde_json::Value>(&c.arguments)
            .unwrap_or_else(|_| serde_json::Value::String(c.arguments.clone()));
        parts.push(serde_json::json!({
            "type": "tool_call",
            "id": c.id,
            "name": c.name,
            "arguments": arguments,
        }));
    }
    let msg = serde_json::json!([{
        "role": "assistant",
        "parts": parts,
        "finish_reason": finish.unwrap_or(""),
    }]);
    Some(msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Framing;

    fn seen(api: Api, capture: bool, body: &str) -> Seen {
        let mut s = Seen::new(capture);
        let framing = if body.starts_with('{') {
            Framing::Whole
        } else {
            Framing::Sse
        };
        let mut split = crate::stream::Splitter::new(framing, 1 << 20);
        let now = Instant::now();
        split.push(body.as_bytes(), &mut |f| {
            if let crate::stream::Split::Frame(raw) = f {
                s.frame(api, framing, now, raw);
            }
        });
        if let Some(tail) = split.finish() {
            let tail = tail.to_vec();
            s.frame(api, framing, now, &tail);
        }
        s
    }

    fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
        attrs.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }

    #[test]
    fn anthropic_input_includes_the_cache_and_tool_use_is_a_tool_call() {
        let body = r#"{"id":"m1","type":"message","model":"claude","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"tu1","name":"get_weather","input":{"city":"Oslo"}}],"stop_reason":"tool_use","usage":{"input_tokens":7,"cache_read_input_tokens":24,"cache_creation_input_tokens":3,"output_tokens":8}}"#;
        let s = seen(Api::AnthropicMessages, false, body);
        let f = finish(&s);
        assert_eq!(f.as_deref(), Some("tool_call"));
        let a = response(Api::AnthropicMessages, &s, f.as_deref());
        assert_eq!(get(&a, attr::USAGE_INPUT_TOKENS), Some(&Value::I64(34)));
        assert_eq!(
            get(&a, attr::USAGE_CACHE_READ_INPUT_TOKENS),
            Some(&Value::I64(24))
        );
        assert_eq!(
            get(&a, attr::USAGE_CACHE_CREATION_INPUT_TOKENS),
            Some(&Value::I64(3))
        );
        assert_eq!(get(&a, attr::TOOL_CALLS), Some(&Value::I64(1)));
        assert_eq!(
            get(&a, attr::TOOL_NAMES),
            Some(&Value::Array(Array::String(vec!["get_weather".into()])))
        );
        // Without capture, no arguments anywhere.
        assert!(s.tools.calls().all(|c| c.arguments.is_empty()));
    }

    #[test]
    fn openai_fragments_are_counted_by_index_and_arguments_captured_as_tool_call_parts() {
        let mut body = String::new();
        for (i, frag) in [
            r#"{"index":0,"id":"c0","type":"function","function":{"name":"add","arguments":""}}"#,
            r#"{"index":0,"function":{"arguments":"{\"a\":"}}"#,
            r#"{"index":1,"id":"c1","type":"function","function":{"name":"mul","arguments":"{}"}}"#,
            r#"{"index":0,"function":{"arguments":"1}"}}"#,
        ]
        .iter()
        .enumerate()
        {
            body.push_str(&format!(
                "data: {{\"id\":\"x{i}\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{frag}]}}}}]}}\n\n"
            ));
        }
        body.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\ndata: [DONE]\n\n");
        let s = seen(Api::OpenAiChat, true, &body);
        let f = finish(&s);
        assert_eq!(f.as_deref(), Some("tool_call"));
        let a = response(Api::OpenAiChat, &s, f.as_deref());
        assert_eq!(get(&a, attr::TOOL_CALLS), Some(&Value::I64(2)));
        assert_eq!(get(&a, attr::USAGE_INPUT_TOKENS), Some(&Value::I64(5)));
        // A server that counts cache hits says 0 when there were none: a fact.
        assert_eq!(
            get(&a, attr::USAGE_CACHE_READ_INPUT_TOKENS),
            Some(&Value::I64(0))
        );
        let phases = s.phases.finish();
        assert_eq!(phases.answer_chunks, 4, "tool-call fragments are answer");
        let out = output_messages(true, &phases, &s.tools, f.as_deref()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v[0]["parts"],
            serde_json::json!([
                {"type": "tool_call", "id": "c0", "name": "add", "arguments": {"a": 1}},
                {"type": "tool_call", "id": "c1", "name": "mul", "arguments": {}},
            ])
        );
        assert_eq!(v[0]["finish_reason"], "tool_call");
        assert_eq!(output_messages(false, &phases, &s.tools, None), None);
    }

    #[test]
    fn responses_zero_details_are_no_facts_and_incomplete_is_length() {
        let body = r#"{"id":"resp_1","object":"response","model":"m","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":3,"output_tokens":4,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}}"#;
        let s = seen(Api::OpenAiResponses, false, body);
        let f = finish(&s);
        assert_eq!(f.as_deref(), Some("length"));
        let a = response(Api::OpenAiResponses, &s, f.as_deref());
        assert_eq!(get(&a, attr::USAGE_INPUT_TOKENS), Some(&Value::I64(3)));
        assert_eq!(get(&a, attr::USAGE_CACHE_READ_INPUT_TOKENS), None);
        assert_eq!(get(&a, attr::USAGE_REASONING_OUTPUT_TOKENS), None);
        assert_eq!(get(&a, attr::TOOL_CALLS), None);
        assert!(s.done);
    }

    #[test]
    fn ollamas_newest_chat_stream_shape_gives_the_same_spans_as_the_older_one() {
        let chunk = |delta: &str| {
            format!("data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta}}}]}}\n\n")
        };
        let mut head = chunk(r#"{"role":"assistant","content":"","reasoning":"hm"}"#);
        head.push_str(&chunk(r#"{"content":"Hi"}"#));
        let usage = r#""usage":{"prompt_tokens":3,"completion_tokens":7}"#;
        let older = format!(
            "{head}data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":\"stop\"}}],{usage}}}\n\ndata: [DONE]\n\n"
        );
        let newest = format!(
            "{head}data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[],{usage}}}\n\ndata: [DONE]\n\n"
        );
        let spans = |body: &str| {
            let s = seen(Api::OpenAiChat, true, body);
            let f = finish(&s);
            let a = response(Api::OpenAiChat, &s, f.as_deref());
            let p = s.phases.finish();
            (a, p.reasoning_chunks, p.answer_chunks, p.answer_text, s.done)
        };
        let (old, new) = (spans(&older), spans(&newest));
        assert_eq!(old, new);
        assert_eq!(get(&new.0, attr::USAGE_OUTPUT_TOKENS), Some(&Value::I64(7)));
        assert_eq!((new.1, new.2, new.3.as_str(), new.4), (1, 1, "Hi", true));
    }
}
