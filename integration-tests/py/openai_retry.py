#!/usr/bin/env python3
"""Sends one chat completion with the official `openai` Python client and its own retries on, and prints every
HTTP answer the client got on the way (as the client's httpx transport saw them).

Usage: openai_retry.py BASE_URL MODEL MAX_RETRIES

Prints one JSON object: {"content", "answers": [{"status", "retry_after", "at"}...]}, `at` in seconds since the
first request. Any client error propagates (non-zero exit).
"""

import json
import sys
import time

import openai

try:  # the transport this `openai` release is built on
    import httpx2 as httpx
except ImportError:
    import httpx


def main() -> None:
    base_url, model, max_retries = sys.argv[1], sys.argv[2], int(sys.argv[3])
    start = time.monotonic()
    answers = []

    def seen(response: httpx.Response) -> None:
        answers.append(
            {
                "status": response.status_code,
                "retry_after": response.headers.get("retry-after"),
                "at": time.monotonic() - start,
            }
        )

    http = httpx.Client(event_hooks={"response": [seen]}, timeout=60)
    client = openai.OpenAI(
        base_url=base_url.rstrip("/") + "/v1", api_key="x", max_retries=max_retries, http_client=http
    )
    resp = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    print(json.dumps({"content": resp.choices[0].message.content, "answers": answers}))


if __name__ == "__main__":
    main()
