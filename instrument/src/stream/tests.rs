use super::*;

fn frames(framing: Framing, chunks: &[&[u8]], max: usize) -> Vec<String> {
    let mut s = Splitter::new(framing, max);
    let mut out = Vec::new();
    for c in chunks {
        s.push(c, &mut |f| match f {
            Split::Frame(b) => out.push(String::from_utf8_lossy(b).into_owned()),
            Split::TooLong => out.push("<too long>".to_owned()),
        });
    }
    if let Some(t) = s.finish() {
        out.push(format!("<tail>{}", String::from_utf8_lossy(t)));
    }
    out
}

#[test]
fn ndjson_lines_survive_any_cut_and_keep_their_bytes() {
    let body = b"{\"a\":1}\n{\"b\":\"\xc3\xa9\"}\n{\"c\":3}";
    for cut in 0..body.len() {
        let got = frames(Framing::Ndjson, &[&body[..cut], &body[cut..]], 1 << 20);
        assert_eq!(
            got,
            vec!["{\"a\":1}\n", "{\"b\":\"é\"}\n", "<tail>{\"c\":3}"],
            "cut at {cut}"
        );
    }
}

#[test]
fn sse_events_end_at_blank_lines_with_lf_or_crlf() {
    let body = b"data: {\"x\":1}\n\n: keep-alive\n\ndata: {\"y\":2}\r\n\r\ndata: [DONE]\n\n";
    for cut in 0..body.len() {
        let got = frames(Framing::Sse, &[&body[..cut], &body[cut..]], 1 << 20);
        assert_eq!(
            got,
            vec![
                "data: {\"x\":1}\n\n",
                ": keep-alive\n\n",
                "data: {\"y\":2}\r\n\r\n",
                "data: [DONE]\n\n"
            ],
            "cut at {cut}"
        );
    }
}

#[test]
fn an_over_long_frame_is_skipped_and_the_next_one_still_parses() {
    let long = format!("{{\"x\":\"{}\"}}\n{{\"ok\":1}}\n", "z".repeat(100));
    let got = frames(Framing::Ndjson, &[long.as_bytes()], 32);
    assert_eq!(got, vec!["<too long>", "{\"ok\":1}\n"]);
    // The same when the long line arrives byte by byte.
    let bytes: Vec<&[u8]> = long.as_bytes().chunks(1).collect();
    assert_eq!(
        frames(Framing::Ndjson, &bytes, 32),
        vec!["<too long>", "{\"ok\":1}\n"]
    );
}

#[test]
fn ollama_chat_and_generate_frames_decode() {
    let chat = br#"{"model":"qwen3:14b","message":{"role":"assistant","content":"","thinking":"Hmm"},"done":false}"#;
    let d = decode_frame(Api::OllamaChat, Framing::Ndjson, chat)
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.reasoning.as_str(), d.content.as_str(), d.done),
        ("Hmm", "", false)
    );
    let fin = br#"{"model":"qwen3:14b","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":5000,"load_duration":100,"prompt_eval_count":12,"prompt_eval_duration":200,"eval_count":34,"eval_duration":4000}"#;
    let d = decode_frame(Api::OllamaChat, Framing::Ndjson, fin)
        .unwrap()
        .unwrap();
    assert!(d.done);
    assert_eq!(d.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        d.usage,
        Usage {
            input: Some(12),
            output: Some(34),
            reasoning: None
        }
    );
    assert_eq!(d.ollama.eval, Some(4000));
    let generate = br#"{"model":"m","response":"Hi","thinking":"","done":false}"#;
    let d = decode_frame(Api::OllamaGenerate, Framing::Ndjson, generate)
        .unwrap()
        .unwrap();
    assert_eq!(d.content, "Hi");
    let err = br#"{"error":"model 'nope' not found"}"#;
    let d = decode_frame(Api::OllamaChat, Framing::Whole, err)
        .unwrap()
        .unwrap();
    assert_eq!(d.error.as_deref(), Some("model 'nope' not found"));
}

#[test]
fn openai_frames_decode_reasoning_in_either_field_and_usage_chunks() {
    let r = b"data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"a\"},\"finish_reason\":null}]}\n\n";
    let d = decode_frame(Api::OpenAiChat, Framing::Sse, r)
        .unwrap()
        .unwrap();
    assert_eq!((d.reasoning.as_str(), d.id.as_deref()), ("a", Some("c1")));
    let rc = b"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"b\"}}]}\n\n";
    assert_eq!(
        decode_frame(Api::OpenAiChat, Framing::Sse, rc)
            .unwrap()
            .unwrap()
            .reasoning,
        "b"
    );
    let usage = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12,\"completion_tokens_details\":{\"reasoning_tokens\":5}}}\n\n";
    let d = decode_frame(Api::OpenAiChat, Framing::Sse, usage)
        .unwrap()
        .unwrap();
    assert!(d.usage_only);
    assert_eq!(
        d.usage,
        Usage {
            input: Some(3),
            output: Some(9),
            reasoning: Some(5)
        }
    );
    let done = decode_frame(Api::OpenAiChat, Framing::Sse, b"data: [DONE]\n\n")
        .unwrap()
        .unwrap();
    assert!(done.done);
    let text = br#"{"choices":[{"text":"hello","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
    let d = decode_frame(Api::OpenAiCompletions, Framing::Whole, text)
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.content.as_str(), d.finish_reason.as_deref(), d.done),
        ("hello", Some("length"), true)
    );
    assert!(!d.usage_only);
    assert!(matches!(
        decode_frame(Api::OpenAiChat, Framing::Sse, b"data: {nope\n\n"),
        Err(ParseError::Json(_))
    ));
    assert_eq!(
        decode_frame(Api::OpenAiChat, Framing::Sse, b": ping\n\n"),
        Ok(None)
    );
}

#[test]
fn paths_map_to_apis_and_operations() {
    assert_eq!(
        Api::from_path("/api/chat").map(Api::operation),
        Some("chat")
    );
    assert_eq!(
        Api::from_path("/v1/completions").map(Api::operation),
        Some("text_completion")
    );
    assert_eq!(
        Api::from_path("/api/embeddings").map(Api::operation),
        Some("embeddings")
    );
    assert_eq!(Api::from_path("/api/tags"), None);
    assert_eq!(
        Framing::from_content_type("text/event-stream; charset=utf-8"),
        Framing::Sse
    );
    assert_eq!(
        Framing::from_content_type("application/x-ndjson"),
        Framing::Ndjson
    );
    assert_eq!(
        Framing::from_content_type("application/json"),
        Framing::Whole
    );
}

#[test]
fn a_whole_body_is_one_frame_even_pretty_printed() {
    let body = b"{\n  \"model\": \"m\",\n  \"usage\": {\"prompt_tokens\": 3}\n}\n";
    let got = frames(Framing::Whole, &[&body[..10], &body[10..]], 1 << 20);
    assert_eq!(
        got,
        vec![format!("<tail>{}", String::from_utf8_lossy(body))]
    );
    let d = decode_frame(Api::OpenAiChat, Framing::Whole, body)
        .unwrap()
        .unwrap();
    assert_eq!(d.usage.input, Some(3));
    assert_eq!(frames(Framing::Whole, &[body], 8), vec!["<too long>"]);
}

#[test]
fn the_fast_decoder_agrees_with_the_general_one() {
    let frames: &[(bool, &str)] = &[
        (
            false,
            r#"{"model":"qwen3:14b","created_at":"x","message":{"role":"assistant","content":"","thinking":"Let me"},"done":false}"#,
        ),
        (
            false,
            r#"{"model":"qwen3:14b","message":{"role":"assistant","content":"Hi \"there\" \u00e9"},"done":false}"#,
        ),
        (
            false,
            r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":false}"#,
        ),
        (
            false,
            r#"{"model":"m","created_at":"x","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":5,"load_duration":1,"prompt_eval_count":12,"prompt_eval_duration":2,"eval_count":34,"eval_duration":3}"#,
        ),
        (
            false,
            r#"{"model":"m","response":"ok","thinking":"hm","done":false}"#,
        ),
        (false, r#"{"error":"model \"x\" not found"}"#),
        (false, r#"{"error":{"message":"boom","type":"x"}}"#),
        (
            false,
            r#"{"error":null,"done":null,"model":"m","message":{"content":null}}"#,
        ),
        (
            true,
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"reasoning":"r1"},"finish_reason":null}]}"#,
        ),
        (
            true,
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"r2"}}]}"#,
        ),
        (
            true,
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"id":"t"}]},"finish_reason":"tool_calls"}]}"#,
        ),
        (
            true,
            r#"{"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":4}}}"#,
        ),
        (
            true,
            r#"{"id":"c1","model":"m","choices":[{"message":{"role":"assistant","content":"whole","reasoning_content":"why"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
        ),
        (
            true,
            r#"{"id":"c1","model":"m","choices":[{"text":"t","reasoning":"r","finish_reason":"length"}],"usage":null}"#,
        ),
        (true, r#"{"error":{"message":"bad","code":400}}"#),
        (true, r#"{"id":"c1","choices":[{"delta":{}}],"usage":{}}"#),
    ];
    for (openai, frame) in frames {
        let typed: Typed<'_> =
            serde_json::from_str(frame).unwrap_or_else(|e| panic!("{frame}: {e}"));
        let v: Value = serde_json::from_str(frame).unwrap();
        let (fast, general) = if *openai {
            (typed.openai(), decode_openai(&v))
        } else {
            (typed.ollama(), decode_ollama(&v))
        };
        assert_eq!(fast, general, "{frame}");
    }
    // A field of another type: the fast path refuses, and decode_frame still reads the rest.
    let odd = br#"{"model":"m","message":{"content":"x"},"eval_count":1.5,"done":true}"#;
    assert!(serde_json::from_slice::<Typed<'_>>(odd).is_err());
    let d = decode_frame(Api::OllamaChat, Framing::Ndjson, odd)
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.content.as_str(), d.done, d.usage.output),
        ("x", true, None)
    );
}
