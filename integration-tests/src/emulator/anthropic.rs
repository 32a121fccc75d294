//! The Anthropic Messages API, `/v1/messages`, as Ollama (v0.14.0+), vLLM and llama.cpp serve it: a whole
//! `message`, or server-sent events with `event: <type>` lines: `message_start` (usage with the cache counts),
//! `ping`, per content block `content_block_start` / `content_block_delta` / `content_block_stop` (a `thinking`
//! block for the field reasoning styles, ended by a `signature_delta`; a `text` block with the content, inline
//! `<think>` tags included; one `tool_use` block per tool call with `input_json_delta`s), `message_delta` with
//! `stop_reason` and `usage.output_tokens`, `message_stop`.

use super::script::Script;
use super::wire::{Event, Kind, Reply, arr, json_or_string, obj, parts, s, sse};

/// The signature of every thinking block.
const SIGNATURE: &str = "c2lnLWVtdWxhdGVk";

/// The answer to a `/v1/messages` request.
pub(crate) fn reply(script: &Script, stream: bool) -> Reply {
    if stream {
        Reply::stream(events(script))
    } else {
        Reply::whole(200, "application/json", message(script, true))
    }
}

/// `stop_reason`: `tool_use` when the model called a tool, else `end_turn`.
fn stop_reason(script: &Script) -> &'static str {
    if script.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

/// `usage` with `output_tokens`: `input_tokens` excludes the cache counts, which come only when the script has them.
fn usage(script: &Script, output_tokens: u64) -> String {
    let cached = script.cached_tokens.unwrap_or(0);
    let created = script.cache_creation_tokens.unwrap_or(0);
    let input = script
        .prompt_tokens
        .saturating_sub(cached)
        .saturating_sub(created);
    let mut fields = vec![("input_tokens", input.to_string())];
    if let Some(n) = script.cache_creation_tokens {
        fields.push(("cache_creation_input_tokens", n.to_string()));
    }
    if let Some(n) = script.cached_tokens {
        fields.push(("cache_read_input_tokens", n.to_string()));
    }
    fields.push(("output_tokens", output_tokens.to_string()));
    obj(&fields)
}

/// The whole message (`done`), or the empty one `message_start` carries.
fn message(script: &Script, done: bool) -> String {
    let content = if done {
        arr(&blocks(script))
    } else {
        "[]".into()
    };
    obj(&[
        ("id", s("msg_1")),
        ("type", s("message")),
        ("role", s("assistant")),
        ("model", s(&script.model)),
        ("content", content),
        (
            "stop_reason",
            if done {
                s(stop_reason(script))
            } else {
                "null".into()
            },
        ),
        ("stop_sequence", "null".into()),
        (
            "usage",
            usage(script, if done { script.completion_tokens } else { 0 }),
        ),
    ])
}

/// Every content block, complete.
fn blocks(script: &Script) -> Vec<String> {
    let parts = parts(script);
    let mut out = Vec::new();
    if parts.iter().any(|p| p.thinking.is_some()) {
        let thinking: String = parts.iter().filter_map(|p| p.thinking.as_deref()).collect();
        out.push(obj(&[
            ("type", s("thinking")),
            ("thinking", s(&thinking)),
            ("signature", s(SIGNATURE)),
        ]));
    }
    if parts.iter().any(|p| p.thinking.is_none()) {
        let text: String = parts
            .iter()
            .filter(|p| p.thinking.is_none())
            .map(|p| p.content.as_str())
            .collect();
        out.push(obj(&[("type", s("text")), ("text", s(&text))]));
    }
    out.extend(script.tool_calls.iter().map(|c| {
        obj(&[
            ("type", s("tool_use")),
            ("id", s(&c.id)),
            ("name", s(&c.name)),
            ("input", json_or_string(&c.arguments_json())),
        ])
    }));
    out
}

/// The stream's events.
fn events(script: &Script) -> Vec<Event> {
    let ev = |ty: &str, fields: Vec<(&str, String)>, kind: Kind| {
        let mut all = vec![("type", s(ty))];
        all.extend(fields);
        sse(ty, &obj(&all), kind)
    };
    let start = |index: usize, block: String, kind: Kind| {
        ev(
            "content_block_start",
            vec![("index", index.to_string()), ("content_block", block)],
            kind,
        )
    };
    let delta = |index: usize, fields: &[(&str, String)], kind: Kind| {
        ev(
            "content_block_delta",
            vec![("index", index.to_string()), ("delta", obj(fields))],
            kind,
        )
    };
    let stop = |index: usize| {
        ev(
            "content_block_stop",
            vec![("index", index.to_string())],
            Kind::Tail,
        )
    };
    let mut out = vec![
        ev(
            "message_start",
            vec![("message", message(script, false))],
            Kind::Tail,
        ),
        ev("ping", vec![], Kind::Tail),
    ];
    let parts = parts(script);
    let mut index = 0;
    let thoughts: Vec<_> = parts.iter().filter(|p| p.thinking.is_some()).collect();
    if !thoughts.is_empty() {
        let block = obj(&[
            ("type", s("thinking")),
            ("thinking", s("")),
            ("signature", s("")),
        ]);
        out.push(start(index, block, Kind::Tail));
        for p in &thoughts {
            let t = p.thinking.as_deref().unwrap_or_default();
            let fields = [("type", s("thinking_delta")), ("thinking", s(t))];
            out.push(delta(index, &fields, p.kind));
        }
        let fields = [("type", s("signature_delta")), ("signature", s(SIGNATURE))];
        out.push(delta(index, &fields, Kind::Tail));
        out.push(stop(index));
        index += 1;
    }
    let pieces: Vec<_> = parts.iter().filter(|p| p.thinking.is_none()).collect();
    if !pieces.is_empty() {
        let block = obj(&[("type", s("text")), ("text", s(""))]);
        out.push(start(index, block, Kind::Tail));
        for p in &pieces {
            let fields = [("type", s("text_delta")), ("text", s(&p.content))];
            out.push(delta(index, &fields, p.kind));
        }
        out.push(stop(index));
        index += 1;
    }
    for c in &script.tool_calls {
        // The block naming the tool is the call's first token.
        let block = obj(&[
            ("type", s("tool_use")),
            ("id", s(&c.id)),
            ("name", s(&c.name)),
            ("input", "{}".into()),
        ]);
        out.push(start(index, block, Kind::Answer));
        for a in &c.arguments {
            let fields = [("type", s("input_json_delta")), ("partial_json", s(a))];
            out.push(delta(index, &fields, Kind::Answer));
        }
        out.push(stop(index));
        index += 1;
    }
    let end = obj(&[
        ("stop_reason", s(stop_reason(script))),
        ("stop_sequence", "null".into()),
    ]);
    let usage = obj(&[("output_tokens", script.completion_tokens.to_string())]);
    out.push(ev(
        "message_delta",
        vec![("delta", end), ("usage", usage)],
        Kind::Tail,
    ));
    out.push(ev("message_stop", vec![], Kind::Tail));
    out
}
