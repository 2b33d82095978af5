# shellcheck shell=sh disable=SC2034,SC2154
# Shared by bench/run_server.sh and bench/callgrind.sh (sourced, POSIX sh).
# Expects the working directory to be the repository root and $build, $tmp set.
lg=$build/bench/loadgen
raw=$build/bench/raw_echo
wsjwt=$build/wsjwt
srv_pid=""
stop_wait=${stop_wait:-30} # tenths of a second a server gets to exit on SIGTERM

# Every server this script started, by PID: stopped on exit whatever happens.
srv_pids=""

# stop_pid PID: SIGTERM, up to $stop_wait tenths of a second, then SIGKILL.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt "$stop_wait" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    srv_pids=$(echo " $srv_pids " | sed "s/ $1 / /; s/^ *//; s/ *$//")
}

# Stops the current server ($srv_pid).
stop_server() {
    [ -n "$srv_pid" ] || return 0
    stop_pid "$srv_pid"
    srv_pid=""
}

stop_all() {
    for p in $srv_pids; do
        stop_pid "$p"
    done
    srv_pid=""
}
trap 'stop_all; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# listening_port FILE...: the port of the first "listening ... HOST:PORT" line
# (every server here is started on port 0 and says which port it got).
listening_port() {
    grep -hi listening "$@" 2>/dev/null | head -1 | sed -n 's/.*:\([0-9][0-9]*\)[^0-9]*$/\1/p'
}

# jget FILE KEY: a numeric field of loadgen's flat JSON line (empty if none).
jget() {
    [ -s "$1" ] || return 0
    sed -n "s/.*\"$2\":\\([^,}]*\\).*/\\1/p" "$1" | head -1
}

# One HS256 secret per run, and tokens minted the tutorial's way:
# jwt.sign({name: 'firecamp'}, SECRET, {expiresIn: '15d'}). The refused token
# is the same one with the first signature character changed (not the last:
# its low bits may be padding that a lax decoder ignores).
JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export JWT_SECRET
node_ok=""
if command -v node >/dev/null 2>&1 && [ -d bench/peers/node_modules/ws ] &&
    [ -d bench/peers/node_modules/jsonwebtoken ]; then
    node_ok=1
fi
BENCH_TOKEN=""
if [ -n "$node_ok" ]; then
    BENCH_TOKEN=$(cd bench/peers && node -e "import('jsonwebtoken').then((m) =>
        console.log(m.default.sign({ name: 'firecamp' }, process.env.JWT_SECRET, { expiresIn: '15d' })))")
elif [ -x "$wsjwt" ]; then
    # Without Node, the same token from our own CLI.
    BENCH_TOKEN=$("$wsjwt" sign --claim name=firecamp --expires 15d 2>/dev/null || true)
fi
sig=${BENCH_TOKEN##*.}
if [ "$(printf %s "$sig" | cut -c1)" = A ]; then other=B; else other=A; fi
BENCH_BAD_TOKEN=${BENCH_TOKEN%.*}.$other${sig#?}
export BENCH_TOKEN BENCH_BAD_TOKEN

# wsjwt serve runs one event loop (the runs pin it to one core; --threads is
# measured on its own) and logs warnings only: the Node peer logs nothing, and
# a log line per refused upgrade would measure stderr, not the server.
wsjwt_opts="--threads 1 --log-level warn"
