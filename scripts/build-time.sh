#!/usr/bin/env bash
# How long a new user waits for the README's first command: clones this checkout's HEAD into a fresh directory and
# times `cargo build --bin llmtel` there with an empty target directory, once per profile given (default: release).
# Crates already downloaded (~/.cargo/registry) are reused; a machine that has never built Rust adds the download.
#   scripts/build-time.sh                 # the release profile (what `cargo run --release` builds)
#   scripts/build-time.sh release dist    # both profiles, one after the other
# Run it on a quiet machine: another build beside it changes the figure. docs/benchmarks.md has the results.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- release
rev="$(git rev-parse --short HEAD)"
for profile in "$@"; do
  dir="$(mktemp -d)"
  git clone -q . "$dir/llmtel"
  start=$(date +%s.%N)
  (cd "$dir/llmtel" && CARGO_TARGET_DIR="$dir/target" cargo build --quiet --profile "$profile" --bin llmtel)
  end=$(date +%s.%N)
  size=$(stat -c %s "$dir/target/$profile/llmtel")
  printf '%s: profile %s: fresh build %.0f s, binary %.1f MiB (%s cores)\n' "$rev" "$profile" \
    "$(echo "$end - $start" | bc)" "$(echo "$size / 1048576" | bc -l)" "$(nproc)"
  rm -rf "$dir"
done
