#!/usr/bin/env python3
"""Talks to a server's Anthropic Messages API with the official `anthropic` Python client and prints what it got.

Usage: anthropic_client.py BASE_URL MODEL MODE
  MODE stream (messages.create(stream=True), raw events) | helper (messages.stream(), the client's own
  accumulation) | whole

BASE_URL is the server root (the client adds /v1/messages). The request asks for thinking and offers one tool.
Prints one JSON object: {"thinking", "text", "signature", "tool_calls": [{"id", "name", "input"}], "stop_reason",
"usage" (message_start's usage updated by message_delta's, or the message's), "events": [event types] (stream and
helper)}. Any client error propagates.
"""

import json
import sys

import anthropic

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def from_message(msg):
    """The printed fields of a whole message."""
    out = {"thinking": "", "text": "", "signature": "", "tool_calls": []}
    for block in msg.content:
        if block.type == "thinking":
            out["thinking"] += block.thinking
            out["signature"] += block.signature
        elif block.type == "text":
            out["text"] += block.text
        elif block.type == "tool_use":
            out["tool_calls"].append({"id": block.id, "name": block.name, "input": block.input})
    out["stop_reason"] = msg.stop_reason
    out["usage"] = msg.usage.model_dump(exclude_none=True)
    return out


def main() -> None:
    base_url, model, mode = sys.argv[1:4]
    client = anthropic.Anthropic(base_url=base_url.rstrip("/"), api_key="x", max_retries=0, timeout=60)
    kwargs = {
        "model": model,
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    }
    if mode == "whole":
        out = from_message(client.messages.create(**kwargs))
        out["events"] = []
    elif mode == "helper":
        with client.messages.stream(**kwargs) as stream:
            events = [ev.type for ev in stream]
            out = from_message(stream.get_final_message())
        out["events"] = events
    elif mode == "stream":
        out = {"thinking": "", "text": "", "signature": "", "stop_reason": None}
        events, usage, calls = [], {}, {}
        for ev in client.messages.create(stream=True, **kwargs):
            events.append(ev.type)
            if ev.type == "message_start":
                usage = ev.message.usage.model_dump(exclude_none=True)
            elif ev.type == "content_block_start" and ev.content_block.type == "tool_use":
                calls[ev.index] = {"id": ev.content_block.id, "name": ev.content_block.name, "json": ""}
            elif ev.type == "content_block_delta":
                d = ev.delta
                if d.type == "thinking_delta":
                    out["thinking"] += d.thinking
                elif d.type == "signature_delta":
                    out["signature"] += d.signature
                elif d.type == "text_delta":
                    out["text"] += d.text
                elif d.type == "input_json_delta":
                    calls[ev.index]["json"] += d.partial_json
            elif ev.type == "message_delta":
                out["stop_reason"] = ev.delta.stop_reason
                usage.update(ev.usage.model_dump(exclude_none=True))
        out["tool_calls"] = [{"id": c["id"], "name": c["name"], "input": json.loads(c["json"])} for c in calls.values()]
        out["usage"] = usage
        out["events"] = events
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
