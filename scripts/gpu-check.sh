#!/usr/bin/env bash
# Checks llmtel's real NVML path on a machine with an NVIDIA GPU and driver: builds llmtel, runs it with the `gpu`
# receiver for ~20 s while a small GPU load runs (if PyTorch or nvidia-smi's own load is at hand), scrapes its
# Prometheus endpoint and prints the hw_gpu_* series. Exits non-zero when no hw_gpu_ series appears.
#   scripts/gpu-check.sh            # builds target/release/llmtel (a no-op when up to date)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/release/llmtel
cargo build --release --bin llmtel   # a no-op when up to date
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv || echo "nvidia-smi not found (NVML may still load)"

DIR=$(mktemp -d)
trap 'kill "${LLMTEL:-0}" "${LOAD:-0}" 2>/dev/null || true; rm -rf "$DIR"' EXIT
cat > "$DIR/gpu.yaml" <<'YAML'
receivers:
  gpu: {interval: 1s}
exporters:
  prometheus: {endpoint: "127.0.0.1:19464"}
service:
  pipelines: {metrics: {receivers: [gpu], exporters: [prometheus]}}
  telemetry: {admin: {enabled: false}}
YAML
"$BIN" --config "$DIR/gpu.yaml" > "$DIR/llmtel.log" 2>&1 &
LLMTEL=$!

# A small load so utilisation, power and clocks move: PyTorch matmuls when available.
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  python3 - <<'PY' &
import time, torch
a = torch.randn(8192, 8192, device="cuda")
end = time.time() + 15
while time.time() < end:
    (a @ a).sum().item()
PY
  LOAD=$!
  echo "GPU load: PyTorch matmul for 15 s"
else
  echo "no PyTorch with CUDA: sampling an idle GPU"
fi

sleep 20
echo "--- llmtel log"
cat "$DIR/llmtel.log"
echo "--- hw_gpu_* series"
curl -s 127.0.0.1:19464/metrics | grep -E '^hw_gpu_' | tee "$DIR/series.txt"
[ -s "$DIR/series.txt" ] || { echo "no hw_gpu_ series: NVML path failed" >&2; exit 1; }
echo "--- $(wc -l < "$DIR/series.txt") series"
