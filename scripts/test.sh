#!/usr/bin/env bash
# Runs llmtel's whole test suite. Installs the third-party programs the end-to-end tests run against when they are
# missing (Prometheus and promtool, from Debian's packages; the ollama, openai and anthropic Python clients and the
# OpenTelemetry Python SDK, from PyPI; TypeScript and Grafana's schema types, from npm, into a cache outside the
# clone), then runs cargo test over the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "installing Prometheus (Debian package) for the end-to-end tests" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# The real Python programs the end-to-end tests drive: the ollama, openai and anthropic clients, and an app
# instrumented with the OpenTelemetry SDK.
if ! python3 -c "import ollama, openai, anthropic, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc" 2>/dev/null; then
  echo "installing the ollama, openai and anthropic clients and the OpenTelemetry SDK (Python) for the end-to-end tests" >&2
  python3 -m pip install -q ollama==0.6.3 openai==3.57.0 anthropic==2.14.0 opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc
fi

# The dashboard's schema check (integration-tests/tests/deploy/schema.rs): tsc against @grafana/schema, pinned, once
# per machine, in ~/.cache/llmtel-npm (or $LLMTEL_NPM_CACHE).
NPM_CACHE="${LLMTEL_NPM_CACHE:-$HOME/.cache/llmtel-npm}"
NPM_PINS="typescript@5.9.3 @grafana/schema@13.2.3"
if [ "$(cat "$NPM_CACHE/.llmtel-pins" 2>/dev/null)" != "$NPM_PINS" ]; then
  if ! command -v npm >/dev/null; then
    echo "installing Node.js and npm (Debian packages) for the dashboard schema check" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  echo "installing $NPM_PINS into $NPM_CACHE for the dashboard schema check" >&2
  mkdir -p "$NPM_CACHE"
  # shellcheck disable=SC2086 # the pins are separate words
  npm install --prefix "$NPM_CACHE" --no-audit --no-fund --ignore-scripts --silent $NPM_PINS
  echo "$NPM_PINS" > "$NPM_CACHE/.llmtel-pins"
fi

# Remote write (integration-tests/tests/remote_write.rs): a real VictoriaMetrics (Debian package) beside the real
# Prometheus above.
if ! command -v victoria-metrics >/dev/null; then
  echo "installing VictoriaMetrics (Debian package) for the remote write tests" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
fi

# The Kubernetes manifests' offline check (integration-tests/tests/fleet.rs): kubernetes-validate, pinned.
if ! command -v kubernetes-validate >/dev/null || ! python3 -c "import yaml" 2>/dev/null; then
  echo "installing kubernetes-validate (PyPI) for the Kubernetes manifest check" >&2
  python3 -m pip install -q kubernetes-validate==1.37.0
fi

cargo test --workspace "$@"
