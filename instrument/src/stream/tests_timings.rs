//! The server's own timings, read from real frames: llama.cpp's (captured from `llama-server` b0 with
//! SmolLM2-135M, in `fixtures/`) on each API it adds them to, and Ollama's final chunk.

use std::time::Duration;

use super::*;

const CHAT_FINAL: &str = include_str!("fixtures/llama_cpp_chat_final.sse");
const CHAT_WHOLE: &str = include_str!("fixtures/llama_cpp_chat_whole.json");
const COMPLETIONS_FINAL: &str = include_str!("fixtures/llama_cpp_completions_final.sse");
const COMPLETIONS_WHOLE: &str = include_str!("fixtures/llama_cpp_completions_whole.json");
const RESPONSES_COMPLETED: &str = include_str!("fixtures/llama_cpp_responses_completed.sse");

fn timings(api: Api, framing: Framing, raw: &str) -> Option<ServerTimings> {
    decode_frame(api, framing, raw.as_bytes())
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .and_then(|d| d.timings.map(|t| *t))
}

fn ms(v: f64) -> Option<Duration> {
    Some(Duration::from_secs_f64(v / 1e3))
}

#[test]
fn llama_cpp_timings_are_read_from_every_api_that_carries_them() {
    let cases = [
        (
            Api::OpenAiChat,
            Framing::Sse,
            CHAT_FINAL,
            (1, 17.742, 5, 68.366, 30),
        ),
        (
            Api::OpenAiChat,
            Framing::Whole,
            CHAT_WHOLE,
            (31, 167.959, 5, 68.468, 0),
        ),
        (
            Api::OpenAiCompletions,
            Framing::Sse,
            COMPLETIONS_FINAL,
            (1, 16.404, 5, 65.744, 0),
        ),
        (
            Api::OpenAiCompletions,
            Framing::Whole,
            COMPLETIONS_WHOLE,
            (1, 16.856, 5, 67.267, 0),
        ),
        (
            Api::OpenAiResponses,
            Framing::Sse,
            RESPONSES_COMPLETED,
            (1, 16.87, 5, 66.568, 30),
        ),
    ];
    for (api, framing, raw, (prompt_n, prompt_ms, predicted_n, predicted_ms, cache_n)) in cases {
        let t =
            timings(api, framing, raw).unwrap_or_else(|| panic!("{api:?} {framing:?}: no timings"));
        assert_eq!(t.server, TimingsSource::LlamaCpp);
        assert_eq!(t.server.name(), "llama.cpp");
        assert_eq!(t.prefill_tokens, Some(prompt_n), "{api:?}");
        assert_eq!(t.prefill, ms(prompt_ms), "{api:?}");
        assert_eq!(t.decode_tokens, Some(predicted_n), "{api:?}");
        assert_eq!(t.decode, ms(predicted_ms), "{api:?}");
        assert_eq!(t.cached_tokens, Some(cache_n), "{api:?}");
        // llama.cpp loads before it serves and reports no total.
        assert_eq!((t.load, t.total), (None, None), "{api:?}");
    }
    // The same final chunk still says everything else it said before.
    let d = decode_frame(Api::OpenAiChat, Framing::Sse, CHAT_FINAL.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(d.finish_reason.as_deref(), Some("length"));
    let d = decode_frame(
        Api::OpenAiResponses,
        Framing::Sse,
        RESPONSES_COMPLETED.as_bytes(),
    )
    .unwrap()
    .unwrap();
    assert!(d.done);
    assert_eq!((d.usage.input, d.usage.output), (Some(31), Some(5)));
}

#[test]
fn frames_without_timings_or_with_odd_ones_have_none() {
    for raw in [
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        r#"{"choices":[],"timings":{}}"#,
        r#"{"choices":[],"timings":"fast"}"#,
        r#"{"choices":[],"timings":{"prompt_n":3,"predicted_n":2}}"#,
        r#"{"choices":[],"timings":{"prompt_ms":-1,"predicted_ms":"12"}}"#,
        r#"{"choices":[],"timings":{"prompt_ms":1e300,"predicted_ms":1e299}}"#,
    ] {
        assert_eq!(timings(Api::OpenAiChat, Framing::Whole, raw), None, "{raw}");
    }
    // A fractional count is no count; the durations stay.
    let t = timings(
        Api::OpenAiChat,
        Framing::Whole,
        r#"{"timings":{"prompt_n":1.5,"prompt_ms":2,"predicted_n":4,"predicted_ms":8.5}}"#,
    )
    .unwrap();
    assert_eq!((t.prefill_tokens, t.prefill), (None, ms(2.0)));
    assert_eq!((t.decode_tokens, t.decode), (Some(4), ms(8.5)));
}

#[test]
fn ollamas_final_chunk_gives_the_same_shape() {
    let fin = br#"{"model":"m","created_at":"2026-12-01T09:00:00Z","response":"","done":true,"done_reason":"stop","total_duration":2500000000,"load_duration":1800000000,"prompt_eval_count":26,"prompt_eval_duration":130000000,"eval_count":290,"eval_duration":520000000}"#;
    let t = decode_frame(Api::OllamaGenerate, Framing::Ndjson, fin)
        .unwrap()
        .unwrap()
        .timings
        .unwrap();
    assert_eq!(
        *t,
        ServerTimings {
            total: Some(Duration::from_millis(2500)),
            load: Some(Duration::from_millis(1800)),
            prefill: Some(Duration::from_millis(130)),
            prefill_tokens: Some(26),
            decode: Some(Duration::from_millis(520)),
            decode_tokens: Some(290),
            ..ServerTimings::new(TimingsSource::Ollama)
        }
    );
    assert_eq!(t.server.name(), "ollama");
    // Counts alone (a chunk with no durations) are no timings; `/api/embed` gives total and load only.
    let counts = br#"{"done":true,"prompt_eval_count":3,"eval_count":4}"#;
    let d = decode_frame(Api::OllamaChat, Framing::Ndjson, counts)
        .unwrap()
        .unwrap();
    assert_eq!(d.timings, None);
    let embed = br#"{"model":"m","embeddings":[[0.1]],"total_duration":14000000,"load_duration":1000000,"prompt_eval_count":8}"#;
    let t = decode_frame(Api::OllamaEmbed, Framing::Whole, embed)
        .unwrap()
        .unwrap()
        .timings
        .unwrap();
    assert_eq!(
        (t.total, t.prefill),
        (Some(Duration::from_millis(14)), None)
    );
}
