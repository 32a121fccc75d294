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
    let t = d.timings.unwrap();
    assert_eq!(t.decode, Some(std::time::Duration::from_nanos(4000)));
    assert_eq!((t.prefill_tokens, t.decode_tokens), (Some(12), Some(34)));
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

/// The facts of a [`Delta`] that differ from the default, in field order, for compact expectations.
pub(super) fn summary(d: &Delta) -> String {
    let mut out = Vec::new();
    let mut text = |k: &str, v: &str| {
        if !v.is_empty() {
            out.push(format!("{k}={v:?}"));
        }
    };
    text("reasoning", &d.reasoning);
    text("content", &d.content);
    let mut out2 = Vec::new();
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out2.push(format!("{k}={v}"));
        }
    };
    opt(
        "tool_calls",
        (d.tool_calls > 0).then(|| d.tool_calls.to_string()),
    );
    opt("done", d.done.then(|| "true".to_owned()));
    opt("finish", d.finish_reason.as_ref().map(|v| format!("{v:?}")));
    opt("model", d.model.as_ref().map(|v| format!("{v:?}")));
    opt("id", d.id.as_ref().map(|v| format!("{v:?}")));
    opt("input", d.usage.input.map(|v| v.to_string()));
    opt("output", d.usage.output.map(|v| v.to_string()));
    opt("reasoning_tokens", d.usage.reasoning.map(|v| v.to_string()));
    let ns = |f: fn(&crate::stream::ServerTimings) -> Option<std::time::Duration>| {
        d.timings
            .as_deref()
            .and_then(f)
            .map(|v| v.as_nanos().to_string())
    };
    opt("total", ns(|t| t.total));
    opt("load", ns(|t| t.load));
    opt("prompt_eval", ns(|t| t.prefill));
    opt("eval", ns(|t| t.decode));
    opt("error", d.error.as_ref().map(|v| format!("{v:?}")));
    opt("usage_only", d.usage_only.then(|| "true".to_owned()));
    out.extend(out2);
    out.join(" ")
}

pub(super) fn decode(api: Api, frame: &str) -> Delta {
    decode_frame(api, Framing::Ndjson, frame.as_bytes())
        .unwrap_or_else(|e| panic!("{frame}: {e}"))
        .unwrap_or_else(|| panic!("{frame}: nothing"))
}

/// Frames of both dialects as servers send them, with what each says.
const FRAMES: &[(Api, &str, &str)] = &[
    (
        Api::OllamaChat,
        r#"{"model":"qwen3:14b","created_at":"x","message":{"role":"assistant","content":"","thinking":"Let me"},"done":false}"#,
        r#"reasoning="Let me" model="qwen3:14b""#,
    ),
    (
        Api::OllamaChat,
        r#"{"model":"qwen3:14b","message":{"role":"assistant","content":"Hi \"there\" \u00e9"},"done":false}"#,
        r#"content="Hi \"there\" é" model="qwen3:14b""#,
    ),
    (
        Api::OllamaChat,
        r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":false}"#,
        r#"tool_calls=1 model="m""#,
    ),
    (
        Api::OllamaChat,
        r#"{"model":"m","created_at":"x","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":5,"load_duration":1,"prompt_eval_count":12,"prompt_eval_duration":2,"eval_count":34,"eval_duration":3}"#,
        r#"done=true finish="stop" model="m" input=12 output=34 total=5 load=1 prompt_eval=2 eval=3"#,
    ),
    (
        Api::OllamaGenerate,
        r#"{"model":"m","response":"ok","thinking":"hm","done":false}"#,
        r#"reasoning="hm" content="ok" model="m""#,
    ),
    (
        Api::OllamaChat,
        r#"{"error":"model \"x\" not found"}"#,
        r#"error="model \"x\" not found""#,
    ),
    (
        Api::OllamaChat,
        r#"{"error":{"message":"boom","type":"x"}}"#,
        r#"error="boom""#,
    ),
    (
        Api::OllamaChat,
        r#"{"error":null,"done":null,"model":"m","message":{"content":null}}"#,
        r#"model="m""#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"reasoning":"r1"},"finish_reason":null}]}"#,
        r#"reasoning="r1" model="m" id="c1""#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"r2"}}]}"#,
        r#"reasoning="r2" model="m" id="c1""#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"id":"t"}]},"finish_reason":"tool_calls"}]}"#,
        r#"content="a" tool_calls=1 finish="tool_calls" model="m" id="c1""#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":4}}}"#,
        r#"model="m" id="c1" input=3 output=9 reasoning_tokens=4 usage_only=true"#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c1","model":"m","choices":[{"message":{"role":"assistant","content":"whole","reasoning_content":"why"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
        r#"reasoning="why" content="whole" finish="stop" model="m" id="c1" input=1 output=2"#,
    ),
    (
        Api::OpenAiCompletions,
        r#"{"id":"c1","model":"m","choices":[{"text":"t","reasoning":"r","finish_reason":"length"}],"usage":null}"#,
        r#"reasoning="r" content="t" finish="length" model="m" id="c1""#,
    ),
    (
        Api::OpenAiChat,
        r#"{"error":{"message":"bad","code":400}}"#,
        r#"error="bad""#,
    ),
    (
        Api::OpenAiChat,
        r#"{"id":"c1","choices":[{"delta":{}}],"usage":{}}"#,
        r#"id="c1""#,
    ),
];

#[test]
fn each_dialect_decodes_what_its_frames_say() {
    for (api, frame, want) in FRAMES {
        assert_eq!(summary(&decode(*api, frame)), *want, "{frame}");
    }
}

/// Every member path of `v` (object members at any depth, through arrays too).
fn member_paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                out.push(at.clone());
                member_paths(child, at, out);
                at.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(i.to_string());
                member_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// The object holding the member at `path`, and the member's name.
fn parent_of<'a>(
    v: &'a mut serde_json::Value,
    path: &[String],
) -> (&'a mut serde_json::Map<String, serde_json::Value>, String) {
    let (last, up) = path.split_last().unwrap();
    let mut cur = v;
    for seg in up {
        cur = match cur {
            serde_json::Value::Object(m) => m.get_mut(seg).unwrap(),
            serde_json::Value::Array(a) => &mut a[seg.parse::<usize>().unwrap()],
            _ => unreachable!(),
        };
    }
    (cur.as_object_mut().unwrap(), last.clone())
}

fn kind(v: &serde_json::Value) -> u8 {
    match v {
        serde_json::Value::Null => 0,
        serde_json::Value::Bool(_) => 1,
        serde_json::Value::Number(_) => 2,
        serde_json::Value::String(_) => 3,
        serde_json::Value::Array(_) => 4,
        serde_json::Value::Object(_) => 5,
    }
}

/// For every member of every frame (but those `skip` names), each value in `wrong` of another JSON type than the
/// member's decodes the same as the frame without the member. Returns how many variants were checked.
pub(super) fn wrong_types_read_as_absent(
    frames: &[(Api, &str, &str)],
    wrong: &[serde_json::Value],
    skip: impl Fn(&[String]) -> bool,
) -> usize {
    let mut checked = 0;
    for (api, frame, _) in frames {
        let original: serde_json::Value = serde_json::from_str(frame).unwrap();
        let mut paths = Vec::new();
        member_paths(&original, &mut Vec::new(), &mut paths);
        for path in paths.iter().filter(|p| !skip(p)) {
            let mut removed = original.clone();
            let (obj, key) = parent_of(&mut removed, path);
            let was = obj.remove(&key).unwrap();
            if was.is_null() {
                continue;
            }
            let absent = decode(*api, &removed.to_string());
            for w in wrong.iter().filter(|w| kind(w) != kind(&was)) {
                let mut odd = original.clone();
                let (obj, key) = parent_of(&mut odd, path);
                obj.insert(key, w.clone());
                let odd = odd.to_string();
                assert_eq!(decode(*api, &odd), absent, "{odd}");
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn a_member_of_another_type_reads_as_absent_and_the_rest_of_the_frame_still_counts() {
    use serde_json::json;
    let wrong = [
        json!(null),
        json!(true),
        json!(1.5),
        json!("s"),
        json!([1, {"content": "x"}]),
        json!({"content": "x", "thinking": "y", "reasoning_tokens": 1}),
    ];
    // `error` is read whatever its type (its text is the server's message): tested below.
    let checked = wrong_types_read_as_absent(FRAMES, &wrong, |p| p[0] == "error");
    assert!(checked > 300, "{checked} variants checked");
}

#[test]
fn counts_that_are_not_unsigned_integers_and_json_that_is_not_an_object_say_nothing() {
    for count in ["1.5", "-1", "1e30", "18446744073709551616", "\"34\""] {
        let frame = format!(r#"{{"message":{{"content":"x"}},"eval_count":{count},"done":true}}"#);
        let d = decode(Api::OllamaChat, &frame);
        assert_eq!(
            (d.content.as_str(), d.done, d.usage.output),
            ("x", true, None),
            "{frame}"
        );
    }
    for api in [Api::OllamaChat, Api::OpenAiChat] {
        for doc in [
            "null",
            "5",
            "\"text\"",
            "[\"m\", 1, true]",
            "[{\"model\":\"m\"}]",
        ] {
            assert_eq!(decode(api, doc), Delta::default(), "{doc}");
        }
    }
    // An element of `choices` that is not an object is an empty choice: the chunk is not usage-only.
    let d = decode(
        Api::OpenAiChat,
        r#"{"choices":[5],"usage":{"prompt_tokens":1}}"#,
    );
    assert_eq!((d.usage.input, d.usage_only), (Some(1), false));
    // A `message` that is not an object is absent, so a generate-style frame's text still counts.
    let d = decode(
        Api::OllamaGenerate,
        r#"{"message":"x","response":"r","thinking":"t"}"#,
    );
    assert_eq!((d.reasoning.as_str(), d.content.as_str()), ("t", "r"));
    // Any element counts as a tool call.
    let d = decode(Api::OllamaChat, r#"{"message":{"tool_calls":[1,"x",{}]}}"#);
    assert_eq!(d.tool_calls, 3);
}

#[test]
fn the_error_member_is_read_whatever_its_type() {
    for (frame, want) in [
        (r#"{"error":"boom"}"#, Some("boom")),
        (r#"{"error":{"message":"bad","code":400}}"#, Some("bad")),
        (
            r#"{"error":{"type":"x","code":2}}"#,
            Some(r#"{"code":2,"type":"x"}"#),
        ),
        (r#"{"error":{"message":5}}"#, Some(r#"{"message":5}"#)),
        (r#"{"error":42}"#, Some("42")),
        (r#"{"error":[1,"a"]}"#, Some(r#"[1,"a"]"#)),
        (r#"{"error":null}"#, None),
    ] {
        for api in [Api::OllamaChat, Api::OpenAiChat] {
            assert_eq!(decode(api, frame).error.as_deref(), want, "{frame}");
        }
    }
}

#[test]
fn repeated_members_keep_the_last_value_and_escaped_names_still_match() {
    let d = decode(
        Api::OllamaChat,
        r#"{"model":"a","model":"b","done":true,"done":"yes","message":{"con\u0074ent":"x\ny"}}"#,
    );
    assert_eq!(
        (d.model.as_deref(), d.done, d.content.as_str()),
        (Some("b"), false, "x\ny")
    );
}

#[test]
fn text_that_is_not_json_fails_even_after_a_member_of_another_type() {
    for frame in [
        &b"{nope"[..],
        b"{\"model\": 5, nope}",
        b"{\"model\":\"m\"} trailing",
        b"{\"message\": {\"content\": [1,}}",
    ] {
        for api in [Api::OllamaChat, Api::OpenAiChat] {
            assert!(
                matches!(
                    decode_frame(api, Framing::Ndjson, frame),
                    Err(ParseError::Json(_))
                ),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
    }
}

#[test]
fn sse_data_lines_are_joined_and_a_single_one_is_read_in_place() {
    let one = b"event: x\ndata: {\"a\":1}\r\n\r\n";
    assert!(matches!(
        framing::sse_data(one),
        Some(std::borrow::Cow::Borrowed(b"{\"a\":1}"))
    ));
    let two = b"data: {\"choices\":\ndata:[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    assert_eq!(
        framing::sse_data(two).as_deref(),
        Some(&b"{\"choices\":\n[{\"delta\":{\"content\":\"hi\"}}]}"[..])
    );
    let d = decode_frame(Api::OpenAiChat, Framing::Sse, two)
        .unwrap()
        .unwrap();
    assert_eq!(d.content, "hi");
    // Empty data lines before the first text add nothing.
    assert_eq!(
        framing::sse_data(b"data:\ndata: x\n\n").as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(framing::sse_data(b": ping\n\n"), None);
}

#[test]
fn a_field_of_another_type_costs_only_that_field() {
    let odd = br#"{"model":"m","message":{"content":"x"},"eval_count":1.5,"done":true}"#;
    let d = decode_frame(Api::OllamaChat, Framing::Ndjson, odd)
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.content.as_str(), d.done, d.usage.output),
        ("x", true, None)
    );
}
