#!/bin/sh
# Prints the abuse suite's summary lines ("abuse: CASE: figures") from the
# last ctest run in a build directory: make test-release calls it so that
# the figures show even though ctest prints test output only on failure.
# Usage: scripts/abuse-summary.sh BUILD_DIR
log="${1:-build}/Testing/Temporary/LastTest.log"
[ -f "$log" ] || exit 0
lines=$(grep -E '^abuse: [a-z0-9-]+: ' "$log" | sort -u)
[ -n "$lines" ] || exit 0
echo "abuse suite figures (tests/abuse, docs/security.md):"
echo "$lines" | sed 's/^/  /'
