#!/usr/bin/env bash
# llmtel against its peers, side by side, in one invocation (docs/benchmarks.md explains every number):
#   1. proxy overhead: direct vs nginx (proxy_buffering off) vs llmtel's sidecar with full telemetry
#   2. pipeline throughput: OTLP/gRPC into rotel and into llmtel, forwarded to the same counting sink
#   3. exposition: 10k and 100k series, llmtel's store vs the prometheus crate
#   4. idle resident memory of llmtel with its default config
# Installs what it needs when missing (nginx from Debian, rotel from PyPI into target/bench-venv), builds release
# binaries, runs, and saves the output to target/bench/latest.txt. Pass `--only proxy,pipeline,expo,idle` to pick.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx (Debian package)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

VENV=target/bench-venv
ROTEL_VERSION=0.0.1a15
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
if ! "$VENV/bin/python" -c "import rotel" 2>/dev/null; then
  echo "installing rotel==$ROTEL_VERSION (PyPI) into $VENV"
  "$VENV/bin/pip" install -q "rotel==$ROTEL_VERSION"
fi
ROTEL="$("$VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"

echo "building release binaries"
cargo build --release --quiet --bin llmtel --bin llmtel-bench

mkdir -p target/bench
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
  echo "llmtel: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); nginx: $("$NGINX" -v 2>&1 | sed 's/.*\///'); rotel: $ROTEL_VERSION"
  target/release/llmtel-bench --llmtel target/release/llmtel --nginx "$NGINX" --rotel "$ROTEL" "$@"
} 2>&1 | tee target/bench/latest.txt
