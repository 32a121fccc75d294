//! The sidecar with the real `ollama` and `openai` Python clients: each client run goes once straight to the
//! emulator and once through llmtel, and must print the same thing both times (what the client received is what
//! it would have received without the sidecar). The traces of the proxied runs are then checked.

use integration_tests::emulator::{Emulator, ReasoningStyle, Script, Split};
use integration_tests::py::{OLLAMA_PY, OPENAI_PY, pythons, require_python_clients};
use integration_tests::traces::{Sidecar, attr_b, attr_i, attr_s, spans_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_get_the_same_answers_through_the_sidecar_and_every_request_is_traced() {
    require_python_clients();
    let script = Script {
        split: Split::Every(7),
        usage_reasoning_tokens: Some(4),
        ..Script::default()
    };
    let field = Emulator::start(script.clone()).await;
    let inline = Emulator::start(Script {
        reasoning: ReasoningStyle::InlineClosingOnly,
        ..script.clone()
    })
    .await;
    let via_field = Sidecar::start(&field.url(), "").await;
    let via_inline = Sidecar::start(&inline.url(), "").await;

    // (script, args after the host, host index: 0 = field emulator, 1 = inline emulator)
    let cases: Vec<(&'static str, &[&str], usize)> = vec![
        (OLLAMA_PY, &["qwen3:14b", "chat-stream", "true"], 0),
        (OLLAMA_PY, &["qwen3:14b", "chat", "high"], 0),
        (OLLAMA_PY, &["qwen3:14b", "generate-stream", "none"], 0),
        (OLLAMA_PY, &["qwen3:14b", "embed", "none"], 0),
        (OLLAMA_PY, &["qwen3:14b", "chat-stream", "false"], 1),
        (OPENAI_PY, &["qwen3:14b", "chat-stream"], 0),
        (OPENAI_PY, &["qwen3:14b", "chat-stream-usage"], 0),
        (OPENAI_PY, &["qwen3:14b", "chat"], 0),
        (OPENAI_PY, &["qwen3:14b", "completions-stream"], 0),
        (OPENAI_PY, &["qwen3:14b", "embed"], 0),
        (OPENAI_PY, &["qwen3:14b", "chat-stream"], 1),
    ];
    let direct = [field.url(), inline.url()];
    let proxied = [via_field.url.clone(), via_inline.url.clone()];
    let runs = |hosts: &[String; 2]| -> Vec<(&'static str, Vec<String>)> {
        cases
            .iter()
            .map(|(script, args, h)| {
                let mut a = vec![hosts[*h].clone()];
                a.extend(args.iter().map(|s| (*s).to_owned()));
                (*script, a)
            })
            .collect()
    };
    let straight = pythons(runs(&direct)).await;
    let through = pythons(runs(&proxied)).await;
    for (i, (s, t)) in straight.iter().zip(&through).enumerate() {
        assert_eq!(
            s, t,
            "client run {i} {:?}: different answer through the sidecar",
            cases[i]
        );
    }
    // The OpenAI client that did not ask for usage saw no usage chunk, although the sidecar asked for it.
    assert_eq!(through[5]["usage_chunks"], 0, "{}", through[5]);
    assert_eq!(through[6]["usage_chunks"], 1, "{}", through[6]);

    // Every proxied request made one request span; streams have think and answer children.
    let expect_field = [
        ("chat qwen3:14b", 5), // ollama chat ×2, openai chat-stream ×2 + chat
        ("text_completion qwen3:14b", 2), // ollama generate-stream, openai completions-stream
        ("embeddings qwen3:14b", 2),
    ];
    for (name, n) in expect_field {
        let ok = via_field
            .capture
            .wait_for(std::time::Duration::from_secs(10), |c| {
                spans_in(c).iter().filter(|s| s.name == name).count() == n
            })
            .await;
        assert!(
            ok,
            "{name}: expected {n} spans, got {:?}",
            via_field
                .spans()
                .iter()
                .map(|s| &s.name)
                .collect::<Vec<_>>()
        );
    }
    let spans = via_field.spans();
    let streamed: Vec<_> = spans
        .iter()
        .filter(|s| attr_b(s, "gen_ai.request.stream") == Some(true))
        .collect();
    assert_eq!(
        streamed.len(),
        5,
        "ollama chat and generate, openai chat ×2 and completions"
    );
    for s in &streamed {
        let kids: Vec<_> = spans
            .iter()
            .filter(|c| c.parent_span_id == s.span_id)
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            kids.contains(&"think") && kids.contains(&"answer"),
            "{}: children {kids:?}",
            s.name
        );
        assert_chunks(s, &script);
        assert_eq!(
            attr_i(s, "gen_ai.usage.output_tokens"),
            Some(34),
            "{}",
            s.name
        );
    }
    let modes: Vec<_> = spans
        .iter()
        .filter_map(|s| attr_s(s, "llmtel.think.mode"))
        .collect();
    assert!(
        modes.contains(&"on") && modes.contains(&"high"),
        "think modes {modes:?}"
    );

    // Inline reasoning closed by a bare </think>: still split into phases.
    let ok = via_inline
        .capture
        .wait_for(std::time::Duration::from_secs(10), |c| {
            spans_in(c).iter().filter(|s| s.name == "think").count() == 2
        })
        .await;
    assert!(
        ok,
        "inline: {:?}",
        via_inline
            .spans()
            .iter()
            .map(|s| &s.name)
            .collect::<Vec<_>>()
    );
    for s in via_inline
        .spans()
        .iter()
        .filter(|s| s.name.starts_with("chat"))
    {
        assert_chunks(s, &script);
    }
}

/// The request span counted one chunk per reasoning piece and one per answer piece of `script`.
fn assert_chunks(s: &opentelemetry_proto::tonic::trace::v1::Span, script: &Script) {
    let counts = (
        attr_i(s, "llmtel.reasoning.chunks"),
        attr_i(s, "llmtel.answer.chunks"),
    );
    let expected = (
        Some(script.thinking.len() as i64),
        Some(script.answer.len() as i64),
    );
    assert_eq!(counts, expected, "{}: (reasoning, answer) chunks", s.name);
}
