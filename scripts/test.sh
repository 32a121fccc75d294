#!/usr/bin/env bash
# Runs llmtel's whole test suite. Installs the third-party programs the end-to-end tests run against when they are
# missing (Prometheus and promtool, from Debian's packages; the ollama, openai and anthropic Python clients and the
# OpenTelemetry Python SDK, from PyPI), then runs cargo test over the workspace.
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

cargo test --workspace "$@"
