#!/usr/bin/env python3
"""Talks to an OpenAI-compatible server with the official `openai` Python client and prints what it got.

Usage: openai_client.py BASE_URL MODEL MODE
  MODE chat-stream | chat-stream-usage | chat | completions-stream | embed

BASE_URL is the server root; the client uses BASE_URL + "/v1". Prints one JSON object:
{"content", "reasoning", "chunks", "usage" (dict or null), "usage_chunks"} (for embed: {"embeddings": N}).
The client has no typed reasoning field: `reasoning` / `reasoning_content` arrive as pydantic extras
(`model_extra`), which this script reads. Any client error propagates (non-zero exit).
"""

import json
import sys

import openai


def extra(obj, *names):
    """The first present, non-empty extra field among `names` of a pydantic model (or None)."""
    if obj is None:
        return None
    extras = getattr(obj, "model_extra", None) or {}
    for name in names:
        value = extras.get(name)
        if value is None:
            value = getattr(obj, name, None)
        if value:
            return value
    return None


def dump_usage(usage):
    return None if usage is None else usage.model_dump(exclude_none=True)


def main() -> None:
    base_url, model, mode = sys.argv[1:4]
    client = openai.OpenAI(base_url=base_url.rstrip("/") + "/v1", api_key="x", max_retries=0, timeout=60)
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    content, reasoning, chunks, usage, usage_chunks = [], [], 0, None, 0

    if mode == "embed":
        resp = client.embeddings.create(model=model, input="Why is the sky blue?")
        print(json.dumps({"embeddings": len(resp.data)}))
        return

    if mode in ("chat-stream", "chat-stream-usage"):
        kwargs = {"stream_options": {"include_usage": True}} if mode == "chat-stream-usage" else {}
        for chunk in client.chat.completions.create(model=model, messages=messages, stream=True, **kwargs):
            chunks += 1
            if chunk.usage is not None:
                usage_chunks += 1
                usage = dump_usage(chunk.usage)
            for choice in chunk.choices:
                delta = choice.delta
                content.append(delta.content or "")
                reasoning.append(extra(delta, "reasoning", "reasoning_content") or "")
    elif mode == "chat":
        resp = client.chat.completions.create(model=model, messages=messages)
        chunks = 1
        msg = resp.choices[0].message
        content.append(msg.content or "")
        reasoning.append(extra(msg, "reasoning", "reasoning_content") or "")
        if resp.usage is not None:
            usage_chunks = 1
            usage = dump_usage(resp.usage)
    elif mode == "completions-stream":
        for chunk in client.completions.create(model=model, prompt="Why is the sky blue?", stream=True):
            chunks += 1
            if chunk.usage is not None:
                usage_chunks += 1
                usage = dump_usage(chunk.usage)
            for choice in chunk.choices:
                content.append(choice.text or "")
                reasoning.append(extra(choice, "reasoning", "reasoning_content") or "")
    else:
        raise SystemExit(f"unknown mode {mode!r}")

    print(
        json.dumps(
            {
                "content": "".join(content),
                "reasoning": "".join(reasoning),
                "chunks": chunks,
                "usage": usage,
                "usage_chunks": usage_chunks,
            }
        )
    )


if __name__ == "__main__":
    main()
