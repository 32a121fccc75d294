#!/usr/bin/env python3
"""Talks to a server's OpenAI Responses API with the official `openai` Python client and prints what it got.

Usage: responses_client.py BASE_URL MODEL MODE
  MODE stream | whole

BASE_URL is the server root; the client uses BASE_URL + "/v1". Prints one JSON object:
{"text", "reasoning", "tool_calls": [{"call_id", "name", "arguments"}], "usage" (dict or null), "status",
 "events": [event types, in order] (stream only), "output_text" (the client's own join of the final output)}.
A stream's pieces are checked against the final `response.completed` object. Any client error propagates.
"""

import json
import sys

import openai

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def from_output(output):
    """(reasoning, tool calls) of a response's output items."""
    reasoning, calls = [], []
    for item in output:
        if item.type == "reasoning":
            for part in (item.content or []) + (item.summary or []):
                reasoning.append(part.text)
        elif item.type == "function_call":
            calls.append({"call_id": item.call_id, "name": item.name, "arguments": item.arguments})
    return "".join(reasoning), calls


def main() -> None:
    base_url, model, mode = sys.argv[1:4]
    client = openai.OpenAI(base_url=base_url.rstrip("/") + "/v1", api_key="x", max_retries=0, timeout=60)
    kwargs = {"model": model, "input": "What is the weather in Paris?", "tools": TOOLS}
    if mode == "whole":
        resp = client.responses.create(**kwargs)
        reasoning, calls = from_output(resp.output)
        out = {"text": resp.output_text, "reasoning": reasoning, "tool_calls": calls, "events": []}
    elif mode == "stream":
        text, reasoning, events, calls, resp = [], [], [], {}, None
        for ev in client.responses.create(stream=True, **kwargs):
            events.append(ev.type)
            if ev.type == "response.output_text.delta":
                text.append(ev.delta)
            elif ev.type in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
                reasoning.append(ev.delta)
            elif ev.type == "response.output_item.added" and ev.item.type == "function_call":
                calls[ev.item.id] = {"call_id": ev.item.call_id, "name": ev.item.name, "arguments": ""}
            elif ev.type == "response.function_call_arguments.delta":
                calls[ev.item_id]["arguments"] += ev.delta
            elif ev.type == "response.completed":
                resp = ev.response
        if resp is None:
            raise SystemExit("no response.completed event")
        final_reasoning, final_calls = from_output(resp.output)
        out = {"text": "".join(text), "reasoning": "".join(reasoning), "tool_calls": list(calls.values()), "events": events}
        if (out["text"], out["reasoning"], out["tool_calls"]) != (resp.output_text, final_reasoning, final_calls):
            raise SystemExit(f"the stream's pieces differ from response.completed: {out} vs {resp.output}")
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    out["output_text"] = resp.output_text
    out["status"] = resp.status
    out["usage"] = None if resp.usage is None else resp.usage.model_dump(exclude_none=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
