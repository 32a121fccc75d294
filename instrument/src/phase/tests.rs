use proptest::prelude::*;

use super::*;
use crate::stream::{Api, Framing, Split, Splitter, decode_frame};

/// Runs a body through splitter, decoder and tracker; each delta is stamped with its frame's ordinal.
fn track(api: Api, framing: Framing, body: &[u8], cuts: &[usize]) -> Phases<usize> {
    let mut splitter = Splitter::new(framing, 1 << 20);
    let mut tracker = PhaseTracker::new(true);
    let mut n = 0;
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&c| c < body.len()).collect();
    bounds.sort_unstable();
    bounds.push(body.len());
    for end in bounds {
        splitter.push(&body[at..end], &mut |f| {
            if let Split::Frame(raw) = f
                && let Ok(Some(d)) = decode_frame(api, framing, raw)
            {
                tracker.observe(n, &d);
                n += 1;
            }
        });
        at = end;
    }
    if let Some(tail) = splitter.finish()
        && let Ok(Some(d)) = decode_frame(api, framing, tail)
    {
        tracker.observe(n, &d);
    }
    tracker.finish()
}

fn ollama_chat(thinking: &[&str], content: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for t in thinking {
        let m = serde_json::json!({"model":"m","message":{"role":"assistant","content":"","thinking":t},"done":false});
        out.push_str(&format!("{m}\n"));
    }
    for c in content {
        let m = serde_json::json!({"model":"m","message":{"role":"assistant","content":c},"done":false});
        out.push_str(&format!("{m}\n"));
    }
    out.push_str("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"eval_count\":9}\n");
    out.into_bytes()
}

fn openai_sse(field: &str, thinking: &[&str], content: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for t in thinking {
        let m = serde_json::json!({"choices":[{"index":0,"delta":{field: t}}]});
        out.push_str(&format!("data: {m}\n\n"));
    }
    for c in content {
        let m = serde_json::json!({"choices":[{"index":0,"delta":{"content": c}}]});
        out.push_str(&format!("data: {m}\n\n"));
    }
    out.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    out.into_bytes()
}

/// A Responses stream as vLLM (`reasoning_text`) or Ollama (`reasoning_summary_text`) sends it, `event:` lines
/// included, ending with a tool call.
fn responses_sse(summary: bool, thinking: &[&str], content: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    let mut event = |v: serde_json::Value| {
        let name = v["type"].as_str().unwrap_or_default().to_owned();
        out.push_str(&format!("event: {name}\ndata: {v}\n\n"));
    };
    event(serde_json::json!({"type":"response.created","response":{"id":"r","model":"m","status":"in_progress"}}));
    let kind = if summary {
        "response.reasoning_summary_text.delta"
    } else {
        "response.reasoning_text.delta"
    };
    for t in thinking {
        event(serde_json::json!({"type": kind, "output_index": 0, "delta": t}));
    }
    for c in content {
        event(serde_json::json!({"type":"response.output_text.delta","output_index":1,"delta": c}));
    }
    event(serde_json::json!({"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","call_id":"c","name":"f","arguments":""}}));
    event(serde_json::json!({"type":"response.function_call_arguments.delta","output_index":2,"delta":"{\"é\":1}"}));
    event(serde_json::json!({"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":1,"output_tokens":2}}}));
    out.into_bytes()
}

/// An Anthropic Messages stream: a thinking block, a text block, a tool_use block.
fn anthropic_sse(thinking: &[&str], content: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    let mut event = |v: serde_json::Value| {
        let name = v["type"].as_str().unwrap_or_default().to_owned();
        out.push_str(&format!("event: {name}\ndata: {v}\n\n"));
    };
    event(serde_json::json!({"type":"message_start","message":{"id":"m1","model":"m","usage":{"input_tokens":3,"cache_read_input_tokens":2}}}));
    event(serde_json::json!({"type":"ping"}));
    event(serde_json::json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}));
    for t in thinking {
        event(serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking": t}}));
    }
    event(serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}));
    event(serde_json::json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}));
    for c in content {
        event(serde_json::json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text": c}}));
    }
    event(serde_json::json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}));
    event(serde_json::json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1}"}}));
    event(serde_json::json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}));
    event(serde_json::json!({"type":"message_stop"}));
    out.into_bytes()
}

#[test]
fn ollama_thinking_field_then_content() {
    let body = ollama_chat(&["Let", " me", " see"], &["The", " answer é"]);
    let p = track(Api::OllamaChat, Framing::Ndjson, &body, &[]);
    assert_eq!(p.reasoning, Some((0, 2)));
    assert_eq!(p.first_answer, Some(3));
    assert_eq!(p.think_span(), Some((0, 3)));
    assert_eq!((p.reasoning_chunks, p.answer_chunks), (3, 2));
    assert_eq!(p.reasoning_text, "Let me see");
    assert_eq!(p.answer_text, "The answer é");
    assert_eq!(p.first_token, Some(0));
    assert!(!p.inline_tags);
}

#[test]
fn openai_reasoning_and_reasoning_content_fields() {
    for field in ["reasoning", "reasoning_content"] {
        let body = openai_sse(field, &["a", "b"], &["c"]);
        let p = track(Api::OpenAiChat, Framing::Sse, &body, &[]);
        assert_eq!(p.reasoning, Some((0, 1)), "{field}");
        assert_eq!(p.first_answer, Some(2), "{field}");
        assert_eq!((p.reasoning_chunks, p.answer_chunks), (2, 1), "{field}");
    }
}

#[test]
fn inline_tags_split_across_events_and_whitespace_after_the_close() {
    let body = openai_sse(
        "reasoning",
        &[],
        &[
            "<thi",
            "nk>Let me",
            " think</th",
            "ink>",
            "\n\n",
            "Yes",
            ".",
        ],
    );
    let p = track(Api::OpenAiChat, Framing::Sse, &body, &[]);
    assert!(p.inline_tags);
    assert_eq!(p.reasoning_text, "Let me think");
    assert_eq!(p.answer_text, "\n\nYes.");
    // Event 0 is only a tag fragment; reasoning text arrives in events 1 and 2; "\n\n" (event 4) starts nothing.
    assert_eq!(p.reasoning, Some((1, 2)));
    assert_eq!(p.first_answer, Some(5));
    assert_eq!((p.reasoning_chunks, p.answer_chunks), (2, 2));
}

#[test]
fn a_closing_tag_without_an_opening_one_makes_earlier_text_reasoning() {
    let body = ollama_chat(
        &[],
        &["Okay", ", the user", " wants</think>", "\n\nHi", "!"],
    );
    let p = track(Api::OllamaChat, Framing::Ndjson, &body, &[]);
    assert_eq!(p.reasoning_text, "Okay, the user wants");
    assert_eq!(p.answer_text, "\n\nHi!");
    assert_eq!(p.reasoning, Some((0, 2)));
    assert_eq!(p.first_answer, Some(3));
    assert_eq!(p.first_token, Some(0));
    assert_eq!((p.reasoning_chunks, p.answer_chunks), (3, 2));
}

#[test]
fn no_thinking_at_all_is_all_answer() {
    let body = ollama_chat(&[], &["Hello", " there", " <b>bold</b>"]);
    let p = track(Api::OllamaChat, Framing::Ndjson, &body, &[]);
    assert_eq!(p.reasoning, None);
    assert_eq!(p.think_span(), None);
    assert_eq!(p.first_answer, Some(0));
    assert_eq!(p.answer_chunks, 3);
    assert_eq!(p.answer_text, "Hello there <b>bold</b>");
}

#[test]
fn thinking_cut_off_before_any_answer_ends_at_the_last_reasoning_chunk() {
    let body = ollama_chat(&["a", "b", "c"], &[]);
    let p = track(Api::OllamaChat, Framing::Ndjson, &body, &[]);
    assert_eq!(p.think_span(), Some((0, 2)));
    assert_eq!(p.first_answer, None);
}

#[test]
fn an_unterminated_think_block_is_reasoning() {
    let body = ollama_chat(&[], &["<think>", "still", " going <"]);
    let p = track(Api::OllamaChat, Framing::Ndjson, &body, &[]);
    assert_eq!(p.reasoning_text, "still going <");
    assert_eq!(p.answer_chunks, 0);
}

/// A stream in one of the dialects, with reasoning given its own way.
fn styled_body(style: u8, thinking: &[String], answer: &[String]) -> (Api, Framing, Vec<u8>) {
    let t: Vec<&str> = thinking.iter().map(String::as_str).collect();
    let a: Vec<&str> = answer.iter().map(String::as_str).collect();
    match style % 7 {
        0 => (Api::OllamaChat, Framing::Ndjson, ollama_chat(&t, &a)),
        4 => (
            Api::OpenAiResponses,
            Framing::Sse,
            responses_sse(thinking.len() % 2 == 0, &t, &a),
        ),
        5 => (Api::AnthropicMessages, Framing::Sse, anthropic_sse(&t, &a)),
        1 => (
            Api::OpenAiChat,
            Framing::Sse,
            openai_sse("reasoning_content", &t, &a),
        ),
        2 => {
            let mut inline: Vec<String> = vec!["<think>".into()];
            inline.extend(thinking.iter().cloned());
            inline.push("</think>".into());
            inline.extend(answer.iter().cloned());
            let i: Vec<&str> = inline.iter().map(String::as_str).collect();
            (
                Api::OpenAiChat,
                Framing::Sse,
                openai_sse("reasoning", &[], &i),
            )
        }
        3 => {
            let mut inline: Vec<String> = thinking.to_vec();
            inline.push("</think>".into());
            inline.extend(answer.iter().cloned());
            let i: Vec<&str> = inline.iter().map(String::as_str).collect();
            (Api::OllamaChat, Framing::Ndjson, ollama_chat(&[], &i))
        }
        // Inline tags in Responses output text, split as in the other dialects.
        _ => {
            let mut inline: Vec<String> = vec!["<think>".into()];
            inline.extend(thinking.iter().cloned());
            inline.push("</think>".into());
            inline.extend(answer.iter().cloned());
            let i: Vec<&str> = inline.iter().map(String::as_str).collect();
            (Api::OpenAiResponses, Framing::Sse, responses_sse(false, &[], &i))
        }
    }
}

/// Text pieces with multi-byte characters and tag look-alikes, never a whole tag.
fn pieces() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        "[a-z é€🙂<>/\n]{1,6}".prop_filter("no tags", |s| !s.contains("think")),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any cut of the bytes into chunks gives the same phases, counts and texts: in every dialect, with cuts inside
    /// event names, JSON, multi-byte characters, and between an `event:` line and its `data:` line.
    #[test]
    fn any_chunking_gives_the_same_phases(
        style in 0u8..7,
        thinking in pieces(),
        answer in pieces(),
        cuts in prop::collection::vec(0usize..6000, 0..40),
    ) {
        let (api, framing, body) = styled_body(style, &thinking, &answer);
        let whole = track(api, framing, &body, &[]);
        let cut = track(api, framing, &body, &cuts);
        prop_assert_eq!(&whole, &cut);
        prop_assert_eq!(whole.reasoning_text, thinking.concat());
        prop_assert_eq!(whole.answer_text, answer.concat());
    }

    /// Inline reasoning split into events anywhere, even inside the tags, comes apart into the same texts.
    #[test]
    fn inline_tags_split_anywhere_give_the_same_texts(
        reasoning in "[a-z é🙂<>]{1,30}",
        answer in "[a-zA-Z é.]{1,30}",
        opened in any::<bool>(),
        splits in prop::collection::vec(0usize..80, 0..12),
    ) {
        prop_assume!(!reasoning.contains("think") && !answer.contains("think"));
        let text = format!("{}{reasoning}</think>{answer}", if opened { "<think>" } else { "" });
        let mut at: Vec<usize> = splits.into_iter().filter(|&i| i < text.len() && text.is_char_boundary(i)).collect();
        at.sort_unstable();
        at.dedup();
        let mut events = Vec::new();
        let mut prev = 0;
        for i in at.into_iter().chain([text.len()]) {
            if i > prev {
                events.push(&text[prev..i]);
                prev = i;
            }
        }
        let body = openai_sse("reasoning", &[], &events);
        let p = track(Api::OpenAiChat, Framing::Sse, &body, &[]);
        prop_assert_eq!(&p.reasoning_text, &reasoning);
        prop_assert_eq!(&p.answer_text, &answer);
        if !answer.trim().is_empty() {
            prop_assert!(p.think_span().is_some() && p.first_answer.is_some());
        }
    }
}

#[test]
fn an_answer_before_any_reasoning_does_not_end_the_think_phase() {
    let body = {
        let mut b = ollama_chat(&[], &["Sure."]);
        // Drop the final line, then reasoning, then more answer.
        let last_line = b[..b.len() - 1].iter().rposition(|&c| c == b'\n').unwrap();
        b.truncate(last_line + 1);
        b.extend_from_slice(&ollama_chat(&["hmm", "ok"], &["Done"]));
        b
    };
    let p = track(Api::OllamaChat, Framing::Ndjson, &body, &[]);
    assert_eq!(p.first_answer, Some(0));
    assert_eq!(p.reasoning, Some((1, 2)));
    assert_eq!(
        p.think_span(),
        Some((1, 3)),
        "thinking ends at the first answer after it"
    );
}

#[test]
fn the_typed_event_dialects_start_the_answer_at_text_or_a_tool_call() {
    let body = anthropic_sse(&["hm", "m"], &[]);
    let p = track(Api::AnthropicMessages, Framing::Sse, &body, &[]);
    // message_start 0, ping 1, block start 2, thinking 3 and 4, signature 5, block start 6, tool_use 7.
    assert_eq!(p.reasoning, Some((3, 4)));
    assert_eq!(p.first_answer, Some(7), "the tool call is the first answer token");
    assert_eq!((p.reasoning_chunks, p.answer_chunks), (2, 2));
    let body = responses_sse(true, &["a"], &["<think>b</think>", "c"]);
    let p = track(Api::OpenAiResponses, Framing::Sse, &body, &[]);
    assert_eq!(p.reasoning_text, "ab");
    assert_eq!(p.answer_text, "c");
    assert_eq!(p.answer_chunks, 3, "text and two tool-call events");
}
