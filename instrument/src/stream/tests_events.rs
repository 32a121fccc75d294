//! The typed-event dialects (Responses, Anthropic), and what every dialect says of tool calls and prompt caches.

use super::tests::{decode, summary, wrong_types_read_as_absent};
use super::*;

/// [`summary`] with the tool fragments and cache counts.
fn full_summary(d: &Delta) -> String {
    let mut out = vec![summary(d)];
    for t in &d.tools {
        let key = match t.key {
            ToolKey::New => "new".to_owned(),
            ToolKey::Index(i) => i.to_string(),
            ToolKey::Last => "last".to_owned(),
        };
        let mut s = format!("tool[{key}");
        if let Some(id) = &t.id {
            s.push_str(&format!(" id={id}"));
        }
        if let Some(n) = &t.name {
            s.push_str(&format!(" name={n}"));
        }
        if !t.arguments.is_empty() {
            s.push_str(&format!(" args={}", t.arguments));
        }
        if t.whole {
            s.push_str(" whole");
        }
        s.push(']');
        out.push(s);
    }
    if let Some(n) = d.cache.read {
        out.push(format!("cache_read={n}"));
    }
    if let Some(n) = d.cache.creation {
        out.push(format!("cache_creation={n}"));
    }
    out.retain(|s| !s.is_empty());
    out.join(" ")
}

/// Frames of the typed-event dialects and the tool and cache frames of the others, with what each says.
const FRAMES: &[(Api, &str, &str)] = &[
    // === Responses ===
    (
        Api::OpenAiResponses,
        r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","model":"qwen3","status":"in_progress","output":[],"usage":null}}"#,
        r#"model="qwen3" id="resp_1""#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.reasoning_text.delta","item_id":"rs_1","output_index":0,"content_index":0,"delta":"Let me"}"#,
        r#"reasoning="Let me""#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":0,"delta":" think"}"#,
        r#"reasoning=" think""#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.reasoning_text.done","item_id":"rs_1","output_index":0,"text":"Let me think"}"#,
        "",
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"<think>a</think>Hi \u00e9"}"#,
        r#"content="<think>a</think>Hi é""#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.output_text.done","output_index":1,"text":"Hi"}"#,
        "",
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"","status":"in_progress"}}"#,
        "tool_calls=1 tool[2 id=call_1 name=get_weather]",
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":2,"delta":"{\"city\":"}"#,
        r#"tool_calls=1 tool[2 args={"city":]"#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.function_call_arguments.done","item_id":"fc_1","output_index":2,"arguments":"{\"city\":\"Oslo\"}"}"#,
        r#"tool[2 args={"city":"Oslo"} whole]"#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.output_item.done","output_index":2,"item":{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{}"}}"#,
        "tool[2 id=call_1 name=get_weather args={} whole]",
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"message","role":"assistant","content":[]}}"#,
        "",
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.completed","response":{"id":"resp_1","model":"qwen3","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"not again"}]}],"usage":{"input_tokens":12,"output_tokens":30,"total_tokens":42,"input_tokens_details":{"cached_tokens":8},"output_tokens_details":{"reasoning_tokens":20}}}}"#,
        r#"done=true finish="stop" model="qwen3" id="resp_1" input=12 output=30 reasoning_tokens=20 cache_read=8"#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":5,"output_tokens":6,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}}}"#,
        r#"done=true finish="stop" input=5 output=6"#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,"output_tokens":16}}}"#,
        r#"done=true finish="max_output_tokens" input=5 output=16"#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"model crashed"}}}"#,
        r#"done=true finish="error" error="model crashed""#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"type":"error","code":"rate_limit","message":"slow down","param":null}"#,
        r#"error="slow down""#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"id":"resp_2","object":"response","model":"m","status":"completed","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"s"}],"content":[{"type":"reasoning_text","text":"r"}]},{"type":"message","content":[{"type":"output_text","text":"Hello"},{"type":"refusal","refusal":"no"}]},{"type":"function_call","call_id":"c9","name":"f","arguments":"{\"x\":1}"}],"usage":{"input_tokens":1,"output_tokens":2}}"#,
        r#"reasoning="rs" content="Hello" tool_calls=1 finish="stop" model="m" id="resp_2" input=1 output=2 tool[new id=c9 name=f args={"x":1} whole]"#,
    ),
    (
        Api::OpenAiResponses,
        r#"{"error":{"message":"model not found","type":"invalid_request_error"}}"#,
        r#"error="model not found""#,
    ),
    // === Anthropic ===
    (
        Api::AnthropicMessages,
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"usage":{"input_tokens":7,"cache_read_input_tokens":24,"cache_creation_input_tokens":0,"output_tokens":1}}}"#,
        r#"model="claude" id="msg_1" input=7 cache_read=24 cache_creation=0"#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        "",
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm"}}"#,
        r#"reasoning="Hmm""#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        "",
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi \"x\""}}"#,
        r#"content="Hi \"x\"""#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#,
        "tool_calls=1 tool[2 id=toolu_1 name=get_weather]",
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}}"#,
        r#"tool_calls=1 tool[2 args={"city": "Os]"#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"content_block_stop","index":2}"#,
        "",
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}"#,
        r#"finish="tool_use" output=42"#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":9,"output_tokens":3}}"#,
        r#"finish="end_turn" input=9 output=3"#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"type":"message_stop"}"#,
        "done=true",
    ),
    (Api::AnthropicMessages, r#"{"type":"ping"}"#, ""),
    (
        Api::AnthropicMessages,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        r#"error="Overloaded""#,
    ),
    (
        Api::AnthropicMessages,
        r#"{"id":"msg_2","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"why","signature":"s"},{"type":"text","text":"Sure."},{"type":"tool_use","id":"toolu_2","name":"calc","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"cache_creation_input_tokens":5,"output_tokens":8}}"#,
        r#"reasoning="why" content="Sure." tool_calls=1 finish="tool_use" model="claude" id="msg_2" input=3 output=8 tool[new id=toolu_2 name=calc args={"a":1} whole] cache_creation=5"#,
    ),
    // === Tool calls and caches of the older dialects ===
    (
        Api::OllamaChat,
        r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"id":"call_a","function":{"index":0,"name":"get","arguments":{"q":"x"}}},{"function":{"name":"put","arguments":{}}}]},"done":false}"#,
        r#"tool_calls=2 model="m" tool[new id=call_a name=get args={"q":"x"} whole] tool[new name=put args={} whole]"#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":""}}]}}]}"#,
        r#"tool_calls=1 id="c" tool[0 id=call_1 name=get]"#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\""}}]}}]}"#,
        r#"tool_calls=1 id="c" tool[0 args={"q"]"#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c","choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_2","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":4,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":3}}}"#,
        r#"tool_calls=1 finish="tool_calls" id="c" input=4 output=5 tool[new id=call_2 name=f args={} whole] cache_read=3"#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        r#"id="c" input=4 output=5 usage_only=true cache_read=0"#,
    ),
];

#[test]
fn each_event_and_body_decodes_what_it_says() {
    for (api, frame, want) in FRAMES {
        assert_eq!(full_summary(&decode(*api, frame)), *want, "{frame}");
    }
}

#[test]
fn events_read_the_same_with_their_event_lines_and_crlf() {
    for (api, frame, want) in FRAMES
        .iter()
        .filter(|(api, ..)| matches!(api, Api::OpenAiResponses | Api::AnthropicMessages))
    {
        let v: serde_json::Value = serde_json::from_str(frame).unwrap();
        let name = v["type"].as_str().unwrap_or("message");
        let event = format!("event: {name}\r\ndata: {frame}\r\n\r\n");
        let d = decode_frame(*api, Framing::Sse, event.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(full_summary(&d), *want, "{event}");
    }
    // A whole body is done whatever it says.
    let d = decode_frame(
        Api::AnthropicMessages,
        Framing::Whole,
        br#"{"type":"message","content":[]}"#,
    )
    .unwrap()
    .unwrap();
    assert!(d.done);
}

#[test]
fn a_member_of_another_type_reads_as_absent_in_the_new_frames_too() {
    use serde_json::json;
    let wrong = [
        json!(null),
        json!(true),
        json!(1.5),
        json!("s"),
        json!([1, {"text": "x"}]),
        json!({"text": "x", "thinking": "y", "type": "tool_use"}),
    ];
    // `error` is read whatever its type; tool arguments are any JSON object, read whole.
    let checked = wrong_types_read_as_absent(FRAMES, &wrong, |p| {
        p.iter()
            .any(|s| s == "error" || s == "arguments" || s == "input")
    });
    assert!(checked > 600, "{checked} variants checked");
}

#[test]
fn tool_arguments_that_are_not_objects_are_absent_but_the_call_counts() {
    let d = decode(
        Api::AnthropicMessages,
        r#"{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":"x"}]}"#,
    );
    assert_eq!((d.tool_calls, d.tools[0].arguments.as_str()), (1, ""));
    let d = decode(
        Api::OllamaChat,
        r#"{"message":{"tool_calls":[{"function":{"name":"f","arguments":[1]}}]}}"#,
    );
    assert_eq!((d.tool_calls, d.tools[0].arguments.as_str()), (1, ""));
}

#[test]
fn finish_reasons_are_named_as_the_conventions_say() {
    for (raw, tools, want) in [
        ("stop", false, "stop"),
        ("stop", true, "tool_call"),
        ("tool_calls", false, "tool_call"),
        ("tool_use", true, "tool_call"),
        ("end_turn", false, "stop"),
        ("stop_sequence", false, "stop"),
        ("max_tokens", false, "length"),
        ("max_output_tokens", false, "length"),
        ("length", true, "length"),
        ("content_filter", false, "content_filter"),
        ("error", false, "error"),
        ("load", false, "load"),
    ] {
        assert_eq!(finish_reason(raw, tools), want, "{raw} {tools}");
    }
}

#[test]
fn the_new_paths_are_chat_and_count_tokens_is_not_genai() {
    assert_eq!(Api::from_path("/v1/responses"), Some(Api::OpenAiResponses));
    assert_eq!(
        Api::from_path("/v1/messages/"),
        Some(Api::AnthropicMessages)
    );
    for api in [Api::OpenAiResponses, Api::AnthropicMessages] {
        assert_eq!(api.operation(), "chat");
        assert!(api.can_stream() && !api.streams_by_default());
        assert!(!api.is_openai(), "the proxy never adds stream_options here");
    }
    assert!(Api::AnthropicMessages.input_excludes_cache());
    assert!(!Api::OpenAiResponses.input_excludes_cache());
    assert_eq!(Api::from_path("/v1/messages/count_tokens"), None);
    assert_eq!(
        Dialect::of_path("/v1/messages/count_tokens"),
        Dialect::Anthropic
    );
    assert_eq!(Dialect::of_path("/v1/models"), Dialect::OpenAi);
    assert_eq!(Dialect::of_path("/api/tags"), Dialect::Ollama);
}
