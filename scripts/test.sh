#!/usr/bin/env bash
# Runs llmtel's whole test suite. Installs the third-party programs the end-to-end tests run against when they are
# missing (from Debian's packages: Prometheus and promtool, Chromium, Node Exporter, VictoriaMetrics, Node.js; from
# PyPI: the ollama, openai and anthropic Python clients, the OpenTelemetry Python SDK and kubernetes-validate; from
# npm: TypeScript and Grafana's schema types, into a cache outside the clone), then runs cargo test over the
# workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
APT_UPDATED=""
# apt_install COMMAND PACKAGE WHY: installs the Debian PACKAGE (no recommends) when COMMAND is missing.
apt_install() {
  if command -v "$1" >/dev/null; then return; fi
  echo "installing $2 (Debian package) for $3" >&2
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

apt_install prometheus prometheus "the end-to-end tests"
apt_install curl curl "the TLS and auth tests (HTTPS, mTLS and raw gRPC requests)"
apt_install promtool prometheus "the alert-rule tests"
apt_install curl curl "the reload test (a client reading a sidecar stream across a SIGHUP)"
# Headless Chromium: the request explorer's page test (integration-tests/tests/explorer_browser.rs) and the load
# chart's rendering (integration-tests/tests/load.rs).
apt_install chromium chromium "the page and chart tests"
# The real Node Exporter: scraped by the prometheus receiver's test, compared with the host receiver's figures.
apt_install prometheus-node-exporter prometheus-node-exporter "the scrape and host receiver tests"
# A real VictoriaMetrics beside the real Prometheus: the remote write tests (integration-tests/tests/remote_write.rs).
apt_install victoria-metrics victoria-metrics "the remote write tests"
# h2load: the OTLP/gRPC overload of the memory test (integration-tests/tests/overload.rs).
apt_install h2load nghttp2-client "the overload test"

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
  apt_install node nodejs "the dashboard schema check"
  apt_install npm npm "the dashboard schema check"
  echo "installing $NPM_PINS into $NPM_CACHE for the dashboard schema check" >&2
  mkdir -p "$NPM_CACHE"
  # shellcheck disable=SC2086 # the pins are separate words
  npm install --prefix "$NPM_CACHE" --no-audit --no-fund --ignore-scripts --silent $NPM_PINS
  echo "$NPM_PINS" > "$NPM_CACHE/.llmtel-pins"
fi

# The Kubernetes manifests' offline check (integration-tests/tests/fleet.rs): kubernetes-validate, pinned.
if ! command -v kubernetes-validate >/dev/null || ! python3 -c "import yaml" 2>/dev/null; then
  echo "installing kubernetes-validate (PyPI) for the Kubernetes manifest check" >&2
  python3 -m pip install -q kubernetes-validate==1.37.0
fi

cargo test --workspace "$@"
