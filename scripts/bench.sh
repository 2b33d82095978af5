#!/bin/sh
# make bench: runs every bench/run_*.sh section in turn and writes
# bench/RESULTS.md from their output, unedited. Each section script takes the
# build directory as $1 and prints one Markdown section (a heading, the
# command that produced it, a table of figures and ratios).
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
out=bench/RESULTS.md
tmp=$(mktemp)
{
    echo "# wsjwt benchmark results"
    echo
    echo "Produced by \`make bench\` (scripts/bench.sh) on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo),"
    echo "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)."
    echo "These machines are shared and noisy: read ratios measured in the same run, not absolute rates."
    echo
} >"$tmp"
for s in bench/run_*.sh; do
    [ -f "$s" ] || continue
    echo "bench: $s" >&2
    sh "$s" "$build" >>"$tmp"
    echo >>"$tmp"
done
mv "$tmp" "$out"
cat "$out"
