#!/usr/bin/env bash
# Builds llmtel's fuzz targets (fuzz/, docs/fuzzing.md) with AFL++ and runs each for SECONDS, one after the
# other, from its seed corpus (fuzz/corpus/TARGET) and its past crashes (fuzz/regressions/TARGET). Prints each run's numbers from AFL's fuzzer_stats; fails
# when a target crashed (printing the crash files) or when an input AFL saved as a hang still takes longer than
# 10 s on its own.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 30 s each, every target
#
# Installs cargo-afl (which builds AFL++) into ~/.cargo when it is missing, so a warm machine skips it. Findings
# go to $FUZZ_OUT (default /tmp/llmtel-fuzz/TARGET); a crash there becomes a regression input in
# fuzz/regressions/TARGET/ and a #[test] in the crate that owns the parser.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(stream request otlp config prometheus)
CARGO_AFL_VERSION=0.18.2
SECS="${1:-30}"
if [ $# -gt 0 ]; then shift; fi
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
OUT="${FUZZ_OUT:-/tmp/llmtel-fuzz}"
case "$SECS" in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$SECS'" >&2; exit 64 ;; esac
for t in "${TARGETS[@]}"; do
  if [ ! -d "fuzz/corpus/$t" ]; then
    echo "fuzz.sh: no target '$t' (targets: ${ALL_TARGETS[*]})" >&2
    exit 64
  fi
done

# cargo-afl builds AFL++ for this rustc when it is installed; `config --build` covers a rustc changed since.
if ! cargo afl --version >/dev/null 2>&1; then
  echo "installing cargo-afl $CARGO_AFL_VERSION (crates.io) and AFL++ for the fuzz targets" >&2
  cargo install --locked cargo-afl --version "$CARGO_AFL_VERSION"
fi
# (afl-fuzz -h exits 1 even when it is there.)
afl_help="$(cargo afl fuzz -h 2>&1 || true)"
case "$afl_help" in
  *"Required parameters"*) ;;
  *) cargo afl config --build ;;
esac

# Machines we cannot configure (CI, containers): no core_pattern or CPU governor changes, no pinning to a core
# another build is using, no curses screen.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1
export CARGO_INCREMENTAL=0
# The instrumented build lives outside the clone, so a fresh clone on a warm machine rebuilds only llmtel's own
# crates, not every dependency (LLMTEL_FUZZ_TARGET overrides where).
FUZZ_TARGET="${LLMTEL_FUZZ_TARGET:-$HOME/.cache/llmtel-fuzz/target}"
(cd fuzz && cargo afl build --release --features afl --bins --target-dir "$FUZZ_TARGET")

stat() { sed -n "s/^$2 *: *//p" "$1" | head -n 1; }
failed=0
for t in "${TARGETS[@]}"; do
  dir="$OUT/$t"
  rm -rf "$dir"
  mkdir -p "$dir"
  # The seeds and every crash found before: AFL runs each once before fuzzing and stops if one crashes.
  mkdir -p "$dir/in"
  cp fuzz/corpus/"$t"/* "$dir/in/"
  if [ -d "fuzz/regressions/$t" ]; then cp fuzz/regressions/"$t"/* "$dir/in/"; fi
  echo "== fuzzing $t for ${SECS}s (findings in $dir)"
  # -V: stop after SECS seconds; -t: a generous per-input time limit for a loaded machine.
  # No backtraces while fuzzing: symbolising one takes long enough to make a crash look like a hang.
  if ! RUST_BACKTRACE=0 cargo afl fuzz -i "$dir/in" -o "$dir" -V "$SECS" -t 2000 -- "$FUZZ_TARGET/release/$t" \
    >"$dir/afl.log" 2>&1; then
    echo "fuzz.sh: afl-fuzz failed for $t:" >&2
    tail -n 30 "$dir/afl.log" >&2
    failed=1
    continue
  fi
  # AFL skips a seed that crashes (a past crash that is back) with a warning rather than stopping.
  if grep -q "results in a crash" "$dir/afl.log"; then
    failed=1
    echo "CRASH in $t on a seed or past crash:" >&2
    grep "results in a crash" "$dir/afl.log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  fi
  stats="$dir/default/fuzzer_stats"
  printf '%s: %s execs, %s execs/s, corpus %s, crashes %s, hangs %s, edges %s\n' "$t" \
    "$(stat "$stats" execs_done)" "$(stat "$stats" execs_per_sec)" "$(stat "$stats" corpus_count)" \
    "$(stat "$stats" saved_crashes)" "$(stat "$stats" saved_hangs)" "$(stat "$stats" edges_found)/$(stat "$stats" total_edges)"
  shown=0
  for crash in "$dir"/default/crashes/id:*; do
    [ -e "$crash" ] || continue
    failed=1
    shown=$((shown + 1))
    if [ "$shown" -gt 5 ]; then
      echo "CRASH in $t: $crash (details of the first 5 only)" >&2
      continue
    fi
    echo "CRASH in $t: $crash" >&2
    od -A d -c "$crash" | head -n 20 >&2
    ("$FUZZ_TARGET/release/$t" <"$crash" 2>&1 || true) | grep -m 3 -E "panicked|overflow|assert" >&2 || true
  done
  for hang in "$dir"/default/hangs/id:*; do
    [ -e "$hang" ] || continue
    rc=0
    RUST_BACKTRACE=0 timeout 10 "$FUZZ_TARGET/release/$t" <"$hang" >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 124 ]; then
      failed=1
      echo "HANG in $t (over 10 s alone): $hang" >&2
    elif [ "$rc" -ne 0 ]; then
      failed=1
      echo "CRASH in $t (saved as a hang): $hang" >&2
      "$FUZZ_TARGET/release/$t" <"$hang" 2>&1 | grep -m 3 -E "panicked|overflow|assert" >&2 || true
    else
      echo "$t: $hang was slow under AFL only (under 10 s alone): not counted" >&2
    fi
  done
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: failures above; copy each crash file to fuzz/regressions/TARGET/ with its fix" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${TARGETS[*]}"
