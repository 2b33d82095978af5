#!/bin/sh
# Installs what wsjwt needs from Debian's packages, and the Node peers used by
# the interop tests and benchmarks from the committed lock files.
#   scripts/deps.sh          Debian packages (as root: apt-get; otherwise print the command)
#   scripts/deps.sh --node   also `npm ci` where node_modules is missing or stale
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev clang-format libssl-dev openssl
libjansson-dev libuv1-dev zlib1g-dev libcmocka-dev ca-certificates"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "deps: installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing
    else
        echo "deps: missing Debian packages. Run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi

if [ "${1:-}" = "--node" ]; then
    for dir in tests/interop bench/peers; do
        [ -f "$dir/package-lock.json" ] || continue
        # npm ci only when the lock file changed since the last install.
        stamp="$dir/node_modules/.wsjwt-lock"
        if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
            echo "deps: npm ci in $dir"
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
            cp "$dir/package-lock.json" "$stamp"
        fi
    done
fi
