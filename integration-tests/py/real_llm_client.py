#!/usr/bin/env python3
"""Asks a real model server (llama.cpp's llama-server) through the official `openai` and `anthropic` clients, at
temperature 0 with a fixed seed so that a run straight to the server and a run through llmtel give the same answer.

Usage: real_llm_client.py BASE_URL MODE [COUNT]
  MODE chat-stream | chat | responses-stream | responses | messages-stream | messages
  COUNT (streaming modes): ask that many times in a row and print one JSON object per line

On /v1/chat/completions and /v1/responses a grammar forces `<think>…</think>` before the answer (llama.cpp honours
`grammar` there; it ignores it on /v1/messages). Prints {"content", "reasoning", "usage", "events"} per request, with
`usage` exactly as the client parsed it.
"""

import json
import sys

import anthropic
import openai

PROMPT = "Why is the sky blue?"
GRAMMAR = 'root ::= "<think>" [^<]{10,200} "</think>" [^<]{1,120}'


def dump(obj):
    return None if obj is None else obj.model_dump(exclude_none=True)


def chat(base, stream):
    client = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=120)
    args = dict(
        model="smollm2",
        temperature=0,
        seed=1,
        max_tokens=200,
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"grammar": GRAMMAR},
    )
    if not stream:
        resp = client.chat.completions.create(**args)
        return {"content": resp.choices[0].message.content or "", "usage": dump(resp.usage), "events": 1}
    text, usage, events = "", None, 0
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **args):
        events += 1
        if chunk.usage is not None:
            usage = dump(chunk.usage)
        for c in chunk.choices:
            text += c.delta.content or ""
    return {"content": text, "usage": usage, "events": events}


def responses(base, stream):
    client = openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=120)
    args = dict(
        model="smollm2",
        input=PROMPT,
        temperature=0,
        max_output_tokens=200,
        extra_body={"grammar": GRAMMAR, "seed": 1},
    )
    if not stream:
        resp = client.responses.create(**args)
        return {"content": resp.output_text, "usage": dump(resp.usage), "events": 1}
    text, reasoning, usage, events = "", "", None, 0
    for ev in client.responses.create(stream=True, **args):
        events += 1
        if ev.type == "response.output_text.delta":
            text += ev.delta
        elif ev.type in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            reasoning += ev.delta
        elif ev.type == "response.completed":
            usage = dump(ev.response.usage)
    return {"content": text, "reasoning": reasoning, "usage": usage, "events": events}


def messages(base, stream):
    client = anthropic.Anthropic(base_url=base, api_key="x", max_retries=0, timeout=120)
    args = dict(
        model="smollm2",
        max_tokens=200,
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"temperature": 0, "seed": 1},
    )
    if not stream:
        resp = client.messages.create(**args)
        text = "".join(b.text for b in resp.content if b.type == "text")
        return {"content": text, "usage": dump(resp.usage), "events": 1}
    text, reasoning, usage, events = "", "", {}, 0
    for ev in client.messages.create(stream=True, **args):
        events += 1
        if ev.type == "message_start":
            usage.update(dump(ev.message.usage) or {})
        elif ev.type == "content_block_delta":
            if ev.delta.type == "text_delta":
                text += ev.delta.text
            elif ev.delta.type == "thinking_delta":
                reasoning += ev.delta.thinking
        elif ev.type == "message_delta":
            usage.update({k: v for k, v in (dump(ev.usage) or {}).items() if v is not None})
    return {"content": text, "reasoning": reasoning, "usage": usage, "events": events}


def main():
    base, mode = sys.argv[1].rstrip("/"), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    stream = mode.endswith("-stream")
    api = {"chat": chat, "responses": responses, "messages": messages}[mode.removesuffix("-stream")]
    results = [api(base, stream) for _ in range(count)]
    print(json.dumps(results[0] if count == 1 else results))


if __name__ == "__main__":
    main()
