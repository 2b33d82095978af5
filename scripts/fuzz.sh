#!/bin/sh
# Runs every fuzz target for N seconds over its seed corpus; new inputs go to
# BUILD/fuzz/work/<target> (copy interesting ones to fuzz/corpus/<target>).
set -eu
build=${1:-build-asan}; secs=${2:-60}
cd "$(dirname "$0")/.."
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); corpus=${name#fuzz_}
    mkdir -p "$build/fuzz/work/$corpus" "fuzz/corpus/$corpus"
    echo "== $name ($secs s)"
    "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        "$build/fuzz/work/$corpus" "fuzz/corpus/$corpus"
done
