#!/bin/sh
# Bench section: the server end to end (issue 8, scenarios a to f), wsjwt
# against the floor (bench/raw_echo, a raw TCP echo) and the tutorial's own
# server (Node `ws` + `jsonwebtoken` in verifyClient, bench/peers). Prints one
# Markdown section; scripts/bench.sh collects it into bench/RESULTS.md.
#   sh bench/run_server.sh BUILD_DIR
# Each server runs alone, pinned to core 0; bench/loadgen runs pinned to
# core 1. Every process this script starts is stopped by its PID.
# The machine is shared and noisy: each rate is the best of several rounds
# (each a fresh load generator process), and its CPU figures are that round's;
# errors are summed over all rounds.
# Environment: WSJWT_BENCH_SERVER_SECONDS (measured seconds per round, 2),
#              WSJWT_BENCH_SERVER_WARMUP (0.5), WSJWT_BENCH_SERVER_ROUNDS (3),
#              WSJWT_BENCH_IDLE_CONNS (10000),
#              WSJWT_BENCH_SERVERS (default "raw wsjwt node").
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${WSJWT_BENCH_SERVER_SECONDS:-2}
warm=${WSJWT_BENCH_SERVER_WARMUP:-0.5}
rounds=${WSJWT_BENCH_SERVER_ROUNDS:-3}
idle_n=${WSJWT_BENCH_IDLE_CONNS:-10000}
servers=${WSJWT_BENCH_SERVERS:-raw wsjwt node}
tmp=$(mktemp -d)
stop_wait=30
. bench/lib.sh

echo "## Server end to end: echo, upgrades, idle memory"
echo
if [ ! -x "$lg" ] || [ ! -x "$raw" ]; then
    echo "Not run: $lg or $raw is missing (build first)."
    exit 0
fi

# Pinning: the server on core 0, the load generator on core 1, so that they
# do not take turns on one core. With one core there is nothing to pin to.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    pin_srv="taskset -c 0"
    pin_lg="taskset -c 1"
    pinning="server pinned to core 0, load generator to core 1 (\`taskset\`)"
else
    pin_srv=""
    pin_lg=""
    pinning="not pinned (fewer than 2 cores, or no taskset): server and load generator share the CPU"
fi


# start_server NAME: starts server NAME pinned, waits for its listening line,
# sets srv_pid and srv_port. Returns 1 (with the reason in $tmp/NAME.why) when
# it cannot start.
start_server() {
    name=$1
    srv_port=$("$lg" --free-port)
    out=$tmp/$name.out
    : >"$out"
    case $name in
    raw) $pin_srv "$raw" --host 127.0.0.1 --port "$srv_port" >"$out" 2>"$tmp/$name.err" & ;;
    wsjwt)
        [ -x "$wsjwt" ] || {
            echo "$wsjwt missing" >"$tmp/$name.why"
            return 1
        }
        [ -n "$BENCH_TOKEN" ] || {
            echo "no token (node and bench/peers/node_modules mint it: scripts/deps.sh --node)" >"$tmp/$name.why"
            return 1
        }
        $pin_srv "$wsjwt" serve --host 127.0.0.1 --port "$srv_port" --mode echo $wsjwt_opts >"$out" 2>"$tmp/$name.err" &
        ;;
    node)
        [ -n "$node_ok" ] || {
            echo "node or bench/peers/node_modules missing (scripts/deps.sh --node)" >"$tmp/$name.why"
            return 1
        }
        $pin_srv node bench/peers/ws_jwt_echo.mjs "$srv_port" >"$out" 2>"$tmp/$name.err" &
        ;;
    esac
    srv_pid=$!
    i=0
    while [ $i -lt 100 ]; do
        if ! kill -0 "$srv_pid" 2>/dev/null; then
            wait "$srv_pid" 2>/dev/null || true
            srv_pid=""
            echo "exited at start: $(head -c 300 "$tmp/$name.err" | tr '\n' ' ')" >"$tmp/$name.why"
            return 1
        fi
        if grep -qi listening "$out" "$tmp/$name.err" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "no listening line within 10 s" >"$tmp/$name.why"
    stop_server
    return 1
}

figure() { # figure FILE: the rate (or bytes per connection) a loadgen JSON line reports
    for k in messages_per_s upgrades_per_s bytes_per_conn; do
        v=$(jget "$1" $k)
        [ -z "$v" ] || {
            echo "$v"
            return 0
        }
    done
}

# run NAME SCENARIO ROUNDS LOADGEN_ARGS...: the best of ROUNDS measurements,
# its JSON kept in $tmp/NAME.SCENARIO.json, the errors of all rounds in
# $tmp/NAME.SCENARIO.errors (the human summaries go to stderr).
run() {
    name=$1
    sc=$2
    n=$3
    shift 3
    r=1
    errs=0
    best=-1
    while [ $r -le "$n" ]; do
        out=$tmp/$name.$sc.r$r.json
        # shellcheck disable=SC2086
        timeout 120 $pin_lg "$lg" --port "$srv_port" --server-pid "$srv_pid" --label "$name.$sc" "$@" \
            >"$out" || true
        v=$(figure "$out")
        if [ -z "$v" ]; then
            echo "$sc round $r: the load generator reported nothing." >>"$tmp/$name.why"
            errs=$((errs + 1))
        else
            errs=$((errs + $(jget "$out" errors)))
            if awk -v a="$v" -v b="$best" 'BEGIN { exit !(a + 0 > b + 0) }'; then
                best=$v
                cp "$out" "$tmp/$name.$sc.json"
            fi
        fi
        echo "$errs" >"$tmp/$name.$sc.errors"
        if ! kill -0 "$srv_pid" 2>/dev/null; then
            echo "server died during $sc: $(tail -c 300 "$tmp/$name.err" | tr '\n' ' ')" >>"$tmp/$name.why"
            wait "$srv_pid" 2>/dev/null || true
            srv_pid=""
            start_server "$name" || return 1
        fi
        r=$((r + 1))
    done
}

echo_args="--duration $secs --warmup $warm"
for name in $servers; do
    echo "bench: server $name" >&2
    tok=""
    raw_flag=""
    case $name in
    raw) raw_flag="--raw-echo" ;;
    *) tok="--token-env BENCH_TOKEN" ;;
    esac
    if ! start_server "$name"; then
        echo "bench: $name not run: $(cat "$tmp/$name.why")" >&2
        continue
    fi
    # shellcheck disable=SC2086
    {
        run "$name" a "$rounds" $echo_args $tok $raw_flag --connections 100 --in-flight 8 --size 32 &&
            run "$name" b "$rounds" $echo_args $tok $raw_flag --connections 1000 --in-flight 1 --size 32 &&
            run "$name" c "$rounds" $echo_args $tok $raw_flag --connections 10 --in-flight 4 --size 65536 &&
            run "$name" d "$rounds" $echo_args $tok --mode upgrade --connections 50 &&
            if [ "$name" != raw ]; then
                run "$name" e "$rounds" $echo_args --token-env BENCH_BAD_TOKEN --expect 401 --mode upgrade \
                    --connections 50
            fi
    } || true
    stop_server
    # f: a fresh process, warmed by one echo connection (shared buffers
    # allocated), then idle_n upgraded connections held: RSS delta / N.
    if start_server "$name"; then
        # shellcheck disable=SC2086
        timeout 30 $pin_lg "$lg" --port "$srv_port" $tok $raw_flag --connections 1 --duration 0.2 --warmup 0 \
            >/dev/null 2>&1 || true
        # shellcheck disable=SC2086
        run "$name" f 1 --mode idle $tok $raw_flag --connections "$idle_n" --settle 1 --duration 0.5 || true
        stop_server
    fi
done

# ---- the report -------------------------------------------------------------
cell() { # cell NAME SCENARIO: "rate|server_util|loadgen_util|p50|p99|errors" or empty
    f=$tmp/$1.$2.json
    [ -s "$f" ] || {
        echo "|||||"
        return 0
    }
    echo "$(figure "$f")|$(jget "$f" server_cpu_util)|$(jget "$f" loadgen_cpu_util)|$(jget "$f" latency_p50_us)|$(jget "$f" latency_p99_us)|$(cat "$tmp/$1.$2.errors")"
}
for sc in a b c d e f; do
    echo "$sc|$(cell raw $sc)|$(cell wsjwt $sc)|$(cell node $sc)"
done >"$tmp/table"

echo "Command: \`make bench\` -> \`sh bench/run_server.sh $build\`: each server in turn ($pinning), driven by"
echo "\`$lg\` (one thread, epoll) over loopback: best of $rounds rounds of $secs s measured after $warm s of warm-up"
echo "(each round a new load generator process); every echoed byte is compared with what was sent and every error"
echo "of every round is counted. Servers: \`raw_echo\` (the floor: a raw TCP"
echo "echo, one thread, epoll; it echoes the masked frames verbatim and the load generator checks them as such),"
echo "\`wsjwt serve --mode echo $wsjwt_opts\` (HS256 secret in JWT_SECRET) and \`node bench/peers/ws_jwt_echo.mjs\` (ws +"
echo "jsonwebtoken in verifyClient, the tutorial's server). Idle memory (f): a fresh server, one warm-up echo, then"
echo "$idle_n authenticated connections held; VmRSS after minus before, divided by the connections."
echo
for name in $servers; do
    if [ -s "$tmp/$name.why" ]; then
        echo "- $name: $(tr '\n' ' ' <"$tmp/$name.why")"
        echo
    fi
done
awk -F'|' '
function num(x) { return x != "" && x != "-1" }
function rate(x, sc) {
    if (!num(x)) return "n/a"
    if (sc == "f") return sprintf("%.0f B", x)
    if (x >= 1e6) return sprintf("%.2f M/s", x / 1e6)
    if (x >= 1e3) return sprintf("%.1f k/s", x / 1e3)
    return sprintf("%.0f /s", x)
}
function ratio(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.2fx", a / b) : "n/a" }
BEGIN {
    name["a"] = "a echo, 100 conns x 8 in flight x 32 B"; tgt["a"] = ">= 0.95x raw, >= 9x Node"
    name["b"] = "b echo, 1000 conns x 1 in flight x 32 B"; tgt["b"] = ">= 0.95x raw"
    name["c"] = "c echo, 10 conns x 4 in flight x 64 KiB"; tgt["c"] = ">= 1.0x raw"
    name["d"] = "d authenticated upgrades/s (HS256), 50 concurrent"; tgt["d"] = ">= 18x Node"
    name["e"] = "e refused upgrades/s (bad signature -> 401), 50 concurrent"; tgt["e"] = ">= d"
    name["f"] = "f user-space bytes per idle authenticated connection"; tgt["f"] = "<= 400 B"
}
{
    sc = $1
    r[sc] = $2; rs[sc] = $3; rl[sc] = $4; r50[sc] = $5; r99[sc] = $6; re[sc] = $7
    w[sc] = $8; ws[sc] = $9; wl[sc] = $10; w50[sc] = $11; w99[sc] = $12; we[sc] = $13
    n[sc] = $14; ns[sc] = $15; nl[sc] = $16; n50[sc] = $17; n99[sc] = $18; ne[sc] = $19
    order[cnt++] = sc
}
function cpu(x) { return num(x) ? sprintf("%.0f%%", 100 * x) : "n/a" }
function lat(a, b) { return (num(a) && a > 0) ? sprintf("%.0f / %.0f", a, b) : "-" }
function errs(x) { return x == "" ? "n/a" : x }
END {
    print "| scenario | raw TCP echo (floor) | wsjwt | Node ws + jsonwebtoken | wsjwt / raw | wsjwt / Node | target |"
    print "|---|---|---|---|---|---|---|"
    for (i = 0; i < cnt; i++) {
        sc = order[i]
        if (sc == "f") {
            # Memory: smaller is better, so Node / wsjwt reads as "times smaller".
            vs_node = (num(w[sc]) && num(n[sc]) && w[sc] > 0) ? sprintf("%.1fx smaller", n[sc] / w[sc]) : "n/a"
            print "| " name[sc] " | " rate(r[sc], sc) " | " rate(w[sc], sc) " | " rate(n[sc], sc) " | - | " vs_node " | " tgt[sc] " |"
        } else if (sc == "e") {
            print "| " name[sc] " | - | " rate(w[sc], sc) " | " rate(n[sc], sc) " | e/d: " ratio(w[sc], w["d"]) " | " ratio(w[sc], n[sc]) " | " tgt[sc] " |"
        } else {
            print "| " name[sc] " | " rate(r[sc], sc) " | " rate(w[sc], sc) " | " rate(n[sc], sc) " | " ratio(w[sc], r[sc]) " | " ratio(w[sc], n[sc]) " | " tgt[sc] " |"
        }
    }
    print ""
    print "CPU of each process over the measured window (100% = one core), latency (a-c: message round trip;"
    print "d, e: connect to response head) and errors. A load generator near 100% is the limit of that figure,"
    print "not the server: compare the server CPU columns there."
    print ""
    print "| scenario | server | rate | server CPU | loadgen CPU | p50 / p99 latency (us) | errors |"
    print "|---|---|---|---|---|---|---|"
    for (i = 0; i < cnt; i++) {
        sc = order[i]
        if (r[sc] != "") print "| " sc " | raw | " rate(r[sc], sc) " | " cpu(rs[sc]) " | " cpu(rl[sc]) " | " lat(r50[sc], r99[sc]) " | " errs(re[sc]) " |"
        if (w[sc] != "") print "| " sc " | wsjwt | " rate(w[sc], sc) " | " cpu(ws[sc]) " | " cpu(wl[sc]) " | " lat(w50[sc], w99[sc]) " | " errs(we[sc]) " |"
        if (n[sc] != "") print "| " sc " | node | " rate(n[sc], sc) " | " cpu(ns[sc]) " | " cpu(nl[sc]) " | " lat(n50[sc], n99[sc]) " | " errs(ne[sc]) " |"
    }
}' "$tmp/table"
