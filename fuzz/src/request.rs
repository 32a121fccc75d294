//! Target `request`: a client's request body as the sidecar reads it (`proxy::request::parse`: model, options,
//! think mode, the input messages when capture is on) and as it rewrites it to ask an OpenAI-style upstream for
//! usage (`with_usage_requested`).
//!
//! Input: one selector byte (bits 0–2: the API; bit 3: capture content), then the body.
//!
//! Invariants: without capture no input text is kept; a body that is not UTF-8 is never rewritten; a rewritten
//! body is JSON exactly when the original is, asks for usage, is otherwise the same document, and reads as the
//! same request.

use llmtel_instrument::proxy::request::{parse, with_usage_requested};
use serde_json::Value;

use crate::Input;
use crate::stream::APIS;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(sel) = input.byte() else {
        return;
    };
    let body = input.payload();
    let api = APIS[usize::from(sel & 7)];
    let capture = sel & 8 != 0;
    let facts = parse(api, body, capture);
    if !capture {
        assert_eq!(
            facts.input_messages, None,
            "input kept without capture_content"
        );
    }
    let Some(rewritten) = with_usage_requested(body) else {
        return;
    };
    assert!(
        std::str::from_utf8(body).is_ok(),
        "a body that is not UTF-8 was rewritten"
    );
    match (
        serde_json::from_slice::<Value>(body),
        serde_json::from_slice::<Value>(&rewritten),
    ) {
        (Ok(original), Ok(mut doc)) => {
            assert_eq!(
                doc.pointer("/stream_options/include_usage"),
                Some(&Value::Bool(true)),
                "the rewritten body does not ask for usage"
            );
            if let Some(map) = doc.as_object_mut() {
                map.remove("stream_options");
            }
            assert_eq!(
                doc, original,
                "the rewrite changed more than stream_options"
            );
        }
        // A lone surrogate escape (`"\ud800"`): JSON's grammar allows it, serde_json's `Value` does not. The rewrite
        // kept the body's own oddity and added nothing to it.
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("the rewrite broke a JSON body: {e}"),
        (Err(e), Ok(_)) => panic!("the rewrite turned a body that is not JSON into JSON: {e}"),
    }
    let again = parse(api, &rewritten, capture);
    assert_eq!(
        (&again.model, again.stream, again.max_tokens, &again.think),
        (&facts.model, facts.stream, facts.max_tokens, &facts.think),
        "the rewritten body reads as another request"
    );
}
