#!/usr/bin/env python3
"""Talks to an Ollama-compatible server with the official `ollama` Python client and prints what it got.

Usage: ollama_client.py HOST MODEL MODE THINK
  MODE  chat-stream | chat | generate-stream | generate | embed
  THINK true | false | none (not sent) | low | medium | high

Prints one JSON object: {"content", "thinking", "chunks", "prompt_eval_count", "eval_count", "done_reason"}
(for embed: {"embeddings": N}). Any client error propagates (non-zero exit, traceback on stderr).
"""

import json
import sys

import ollama


def main() -> None:
    host, model, mode, think_arg = sys.argv[1:5]
    think = {"true": True, "false": False, "none": None}.get(think_arg, think_arg)
    client = ollama.Client(host=host, timeout=60)
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    prompt = "Why is the sky blue?"

    if mode == "embed":
        resp = client.embed(model=model, input="Why is the sky blue?")
        print(json.dumps({"embeddings": len(resp.embeddings)}))
        return

    chat = mode.startswith("chat")
    stream = mode.endswith("-stream")
    if chat:
        result = client.chat(model=model, messages=messages, stream=stream, think=think)
    elif mode.startswith("generate"):
        result = client.generate(model=model, prompt=prompt, stream=stream, think=think)
    else:
        raise SystemExit(f"unknown mode {mode!r}")

    parts = result if stream else [result]
    content, thinking, chunks, last = [], [], 0, None
    for part in parts:
        chunks += 1
        last = part
        if chat:
            content.append(part.message.content or "")
            thinking.append(part.message.thinking or "")
        else:
            content.append(part.response or "")
            thinking.append(part.thinking or "")
    print(
        json.dumps(
            {
                "content": "".join(content),
                "thinking": "".join(thinking),
                "chunks": chunks,
                "prompt_eval_count": getattr(last, "prompt_eval_count", None),
                "eval_count": getattr(last, "eval_count", None),
                "done_reason": getattr(last, "done_reason", None),
            }
        )
    )


if __name__ == "__main__":
    main()
