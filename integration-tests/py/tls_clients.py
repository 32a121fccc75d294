"""Real clients over TLS for integration-tests/tests/tls_auth.rs; prints one JSON object.

  tls_clients.py otlp-grpc HOST:PORT CA_FILE TOKEN|- [CERT KEY]
      one span through the OpenTelemetry Python SDK's OTLP/gRPC exporter, trusting CA_FILE, with a bearer TOKEN
      ('-': none) and a client certificate when given: {"result": "SUCCESS" | "FAILURE"}
  tls_clients.py openai BASE_URL CA_FILE API_KEY
      one chat completion with the openai client on an httpx client trusting CA_FILE:
      {"ok": true, "content": ...} or {"ok": false, "status": 401, "error": "AuthenticationError"}
  tls_clients.py anthropic BASE_URL CA_FILE API_KEY
      one message with the anthropic client (its key goes in x-api-key), the same output
"""

import json
import sys


def otlp_grpc(endpoint, ca, token, cert=None, key=None):
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    with open(ca, "rb") as f:
        root = f.read()
    chain = private = None
    if cert:
        with open(cert, "rb") as f:
            chain = f.read()
        with open(key, "rb") as f:
            private = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=root, private_key=private, certificate_chain=chain)
    headers = None if token == "-" else (("authorization", "Bearer " + token),)
    exporter = OTLPSpanExporter(endpoint=endpoint, credentials=creds, headers=headers, timeout=3)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tls-test").start_as_current_span("over tls"):
        pass
    spans = memory.get_finished_spans()
    result = exporter.export(spans)
    print(json.dumps({"result": "SUCCESS" if result == SpanExportResult.SUCCESS else "FAILURE"}))


def openai_chat(base_url, ca, api_key):
    import httpx
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                           http_client=httpx.Client(verify=ca, trust_env=False))
    try:
        r = client.chat.completions.create(model="qwen3:14b", messages=[{"role": "user", "content": "hi"}])
        print(json.dumps({"ok": True, "content": r.choices[0].message.content}))
    except openai.APIStatusError as e:
        print(json.dumps({"ok": False, "status": e.status_code, "error": type(e).__name__}))


def anthropic_message(base_url, ca, api_key):
    import anthropic

    try:  # this client's newer releases ship their own fork of httpx
        import httpx2 as httpx
    except ImportError:
        import httpx
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0,
                                 http_client=httpx.Client(verify=ca, trust_env=False))
    try:
        r = client.messages.create(model="qwen3:14b", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        text = "".join(b.text for b in r.content if b.type == "text")
        print(json.dumps({"ok": True, "content": text}))
    except anthropic.APIStatusError as e:
        print(json.dumps({"ok": False, "status": e.status_code, "error": type(e).__name__}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "otlp-grpc":
        otlp_grpc(*args)
    elif mode == "openai":
        openai_chat(*args)
    elif mode == "anthropic":
        anthropic_message(*args)
    else:
        sys.exit("unknown mode " + mode)
