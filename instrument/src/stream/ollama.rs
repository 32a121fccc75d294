//! The Ollama dialect (`/api/chat`, `/api/generate`, `/api/embed`): one frame's JSON (an NDJSON line or a whole
//! body, from [`super::framing`]) into a [`Delta`] for the phase tracker and the request span.
//!
//! Read leniently ([`super::lenient`]): a member of another type than below is absent. Chat frames carry text in
//! `message.{thinking,content}` and tool calls in `message.tool_calls` (each call whole in one frame, its
//! arguments a JSON object); generate frames in top-level `thinking` and `response`. The last frame
//! (`done: true`) has the counts and Ollama's own timings in nanoseconds.

use serde::de::MapAccess;

use super::delta::{Delta, Usage, error_member, object_text, push};
use super::lenient::{self, Object, Text, read, skip};
use super::quick::Quick;
use super::timings;
use super::tools::{ToolFragment, ToolKey};

/// One Ollama frame: the members llmtel reads.
#[derive(Default)]
struct Frame<'de> {
    model: Text<'de>,
    error: Option<String>,
    message: Option<Message<'de>>,
    thinking: Text<'de>,
    response: Text<'de>,
    done: Option<bool>,
    done_reason: Text<'de>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    load_duration: Option<u64>,
    prompt_eval_duration: Option<u64>,
    eval_duration: Option<u64>,
}

/// `message` of a chat frame.
#[derive(Default)]
struct Message<'de> {
    content: Text<'de>,
    thinking: Text<'de>,
    tool_calls: Option<Vec<Call<'de>>>,
}

/// An element of `message.tool_calls`: one whole call.
#[derive(Default)]
struct Call<'de> {
    id: Text<'de>,
    function: Option<Function<'de>>,
}

/// `function` of a tool call: its `arguments` are a JSON object.
#[derive(Default)]
struct Function<'de> {
    name: Text<'de>,
    arguments: Option<String>,
}

impl<'de> Object<'de> for Frame<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "model" => self.model = read(map)?,
            "error" => self.error = error_member(map)?,
            "message" => self.message = read(map)?,
            "thinking" => self.thinking = read(map)?,
            "response" => self.response = read(map)?,
            "done" => self.done = read(map)?,
            "done_reason" => self.done_reason = read(map)?,
            "prompt_eval_count" => self.prompt_eval_count = read(map)?,
            "eval_count" => self.eval_count = read(map)?,
            "total_duration" => self.total_duration = read(map)?,
            "load_duration" => self.load_duration = read(map)?,
            "prompt_eval_duration" => self.prompt_eval_duration = read(map)?,
            "eval_duration" => self.eval_duration = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Message<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "content" => self.content = read(map)?,
            "thinking" => self.thinking = read(map)?,
            "tool_calls" => self.tool_calls = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Call<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = read(map)?,
            "function" => self.function = read(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl<'de> Object<'de> for Function<'de> {
    fn member<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "name" => self.name = read(map)?,
            "arguments" => self.arguments = object_text(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// Decodes one frame; `Err` only when it is not JSON. JSON that is not an object says nothing.
pub(super) fn decode(json: &[u8]) -> Result<Delta, serde_json::Error> {
    match quick(json) {
        Some(frame) => Ok(frame.into_delta()),
        None => general(json),
    }
}

/// The general lenient decoder's reading of `json`.
fn general(json: &[u8]) -> Result<Delta, serde_json::Error> {
    Ok(lenient::frame::<Frame<'_>>(json)?.map_or_else(Delta::default, Frame::into_delta))
}

/// Panics when the quick reader reads `json` otherwise than the general decoder (tests and the `stream` fuzz target).
pub(super) fn check_quick(json: &[u8]) {
    if let Some(f) = quick(json) {
        assert_eq!(
            Ok(f.into_delta()),
            general(json).map_err(|e| e.to_string()),
            "the quick reader differs on {:?}",
            String::from_utf8_lossy(json)
        );
    }
}

/// The frame read by the quick reader ([`super::quick`]), or `None` where it gives up (a tool call's array, an
/// error member, a `\u` escape, a fractional count…) and the general decoder reads it.
fn quick(json: &[u8]) -> Option<Frame<'_>> {
    let mut f = Frame::default();
    Quick::new(json).frame(|q, key| {
        match key {
            b"model" => f.model = q.text()?,
            b"message" => {
                let mut m = Message::default();
                let object = q.object(|q, key| {
                    match key {
                        b"content" => m.content = q.text()?,
                        b"thinking" => m.thinking = q.text()?,
                        b"tool_calls" => return None,
                        _ => q.skip()?,
                    }
                    Some(())
                })?;
                f.message = object.then_some(m);
            }
            b"thinking" => f.thinking = q.text()?,
            b"response" => f.response = q.text()?,
            b"done" => f.done = q.boolean()?,
            b"done_reason" => f.done_reason = q.text()?,
            b"prompt_eval_count" => f.prompt_eval_count = q.count()?,
            b"eval_count" => f.eval_count = q.count()?,
            b"total_duration" => f.total_duration = q.count()?,
            b"load_duration" => f.load_duration = q.count()?,
            b"prompt_eval_duration" => f.prompt_eval_duration = q.count()?,
            b"eval_duration" => f.eval_duration = q.count()?,
            b"error" => return None,
            _ => q.skip()?,
        }
        Some(())
    })?;
    Some(f)
}

impl Frame<'_> {
    fn into_delta(self) -> Delta {
        let mut d = Delta {
            done: self.done.unwrap_or(false),
            finish_reason: self.done_reason.map(String::from),
            model: self.model.map(String::from),
            usage: Usage {
                input: self.prompt_eval_count,
                output: self.eval_count,
                reasoning: None,
            },
            timings: timings::ollama(
                self.total_duration,
                self.load_duration,
                self.prompt_eval_duration,
                self.eval_duration,
                self.prompt_eval_count,
                self.eval_count,
            )
            .map(Box::new),
            error: self.error,
            ..Delta::default()
        };
        // A chat frame has `message`; only a generate frame's text is at the top level.
        match &self.message {
            Some(m) => {
                push(&mut d.reasoning, &m.thinking);
                push(&mut d.content, &m.content);
                // Each element is a whole call (any element counts, as a call without a name).
                for c in m.tool_calls.iter().flatten() {
                    let f = c.function.as_ref();
                    d.tools.push(ToolFragment {
                        id: c.id.as_deref().map(str::to_owned),
                        name: f.and_then(|f| f.name.as_deref()).map(str::to_owned),
                        arguments: f.and_then(|f| f.arguments.clone()).unwrap_or_default(),
                        whole: true,
                        ..ToolFragment::new(ToolKey::New)
                    });
                }
                d.tool_calls = d.tools.len();
            }
            None => {
                push(&mut d.reasoning, &self.thinking);
                push(&mut d.content, &self.response);
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(json: &[u8]) {
        check_quick(json);
    }

    #[test]
    fn the_quick_reader_reads_what_ollama_sends_and_gives_the_same_delta() {
        let frames: &[&str] = &[
            r#"{"model":"qwen3:14b","created_at":"2026-12-01T09:00:00.1Z","message":{"role":"assistant","content":"","thinking":"Okay"},"done":false}"#,
            r#"{"model":"qwen3:14b","created_at":"2026-12-01T09:00:00.1Z","message":{"role":"assistant","content":"Hi\n\"there\"\\ \/\t"},"done":false}"#,
            r#"{"model":"m","created_at":"x","response":"","thinking":"t","done":false}"#,
            r#"{"model":"m","created_at":"x","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":2500000000,"load_duration":1800000000,"prompt_eval_count":26,"prompt_eval_duration":130000000,"eval_count":290,"eval_duration":520000000}"#,
            " { \"done\" : false , \"message\" : { } } \n",
            r#"{"model":"m","model":"n","message":"not an object","done":"yes","eval_count":null}"#,
            r#"{"message":{"content":"a"},"message":{"thinking":"b"},"x":{"y":{"z":[]}}}"#,
        ];
        for f in frames {
            check(f.as_bytes());
        }
        // The common shapes are all the quick reader's own.
        for f in &frames[..5] {
            assert!(quick(f.as_bytes()).is_some(), "{f}");
        }
        // Outside its subset it gives up, and the general decoder reads the frame.
        for f in [
            r#"{"message":{"content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]}}"#,
            r#"{"message":{"content":"\u003cthink\u003e"}}"#,
            r#"{"mod\u0065l":"m"}"#,
            r#"{"eval_count":1.5}"#,
            r#"{"eval_count":-1}"#,
            r#"{"error":"model not found"}"#,
            "[1]",
            "{\"a\":1}x",
            "{\"a\":01}",
            "{\"a\":\"\u{1}\"}",
        ] {
            assert!(quick(f.as_bytes()).is_none(), "{f}");
        }
    }

    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-z \\\\\"/<>é\\n\\t\\u{1}]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just("-3".to_owned()),
            Just("1.5e3".to_owned()),
            Just("01".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("null".to_owned()),
            Just("tru".to_owned()),
            Just("\"\\u00e9\"".to_owned()),
            Just("\"\\x\"".to_owned()),
            Just("[]".to_owned()),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop::collection::vec((key(), inner), 0..4).prop_map(|members| {
                let m: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", m.join(","))
            })
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("model".to_owned()),
            Just("message".to_owned()),
            Just("content".to_owned()),
            Just("thinking".to_owned()),
            Just("response".to_owned()),
            Just("done".to_owned()),
            Just("done_reason".to_owned()),
            Just("eval_count".to_owned()),
            Just("total_duration".to_owned()),
            Just("created_at".to_owned()),
            Just("é".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn wherever_the_quick_reader_answers_it_answers_as_the_general_decoder(
            members in prop::collection::vec((key(), value()), 0..8),
            pad in prop_oneof![Just(""), Just(" "), Just("\n"), Just("x")],
        ) {
            let m: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
            let json = format!("{pad}{{{}}}{pad}", m.join(" ,"));
            check(json.as_bytes());
        }
    }
}
