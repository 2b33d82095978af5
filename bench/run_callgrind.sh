#!/bin/sh
# Bench section: instructions per echo and per upgrade under callgrind (the
# figures that stay stable on a shared, noisy machine). See bench/callgrind.sh.
#   sh bench/run_callgrind.sh BUILD_DIR
exec sh "$(dirname "$0")/callgrind.sh" "${1:-build}"
