#!/bin/sh
# Bench section: the server end to end (issue 8, scenarios a to f), wsjwt
# against the floor (bench/raw_echo, a raw TCP echo) and the tutorial's own
# server (Node `ws` + `jsonwebtoken` in verifyClient, bench/peers). Prints one
# Markdown section; scripts/bench.sh collects it into bench/RESULTS.md.
#   sh bench/run_server.sh BUILD_DIR
# Each server runs alone, pinned to core 0; the load generator runs pinned to
# core 1. Every process this script starts is stopped by its PID.
# The load generator is `wsjwt bench` (fresh CSPRNG mask key per frame, random
# key per upgrade, every echo checked; bench/run_loadgen_compare.sh shows it
# keeps up with bench/loadgen) for every scenario: g paced with a 50 us tick
# (as loadgen paces), h with --mode broadcast.
# The machine is shared and noisy. So that every server meets the same noise,
# the three run side by side (idle ones cost nothing) and rounds interleave
# them: scenario a round 1 for raw, wsjwt, node, then round 2, and so on. Each
# rate is the best of its rounds (each a fresh load generator process), its
# CPU figures are that round's, errors are summed over all rounds. The user
# time of other processes during each best round is reported as well.
# Environment: WSJWT_BENCH_SERVER_SECONDS (measured seconds per round, 2),
#              WSJWT_BENCH_SERVER_WARMUP (0.5), WSJWT_BENCH_SERVER_ROUNDS (5),
#              WSJWT_BENCH_IDLE_CONNS (10000), WSJWT_BENCH_OFFERED_RATE (200000),
#              WSJWT_BENCH_BROADCAST_RECEIVERS (10000),
#              WSJWT_BENCH_SERVERS (default "raw wsjwt node"),
#              WSJWT_BENCH_GENERATOR (wsjwt: `wsjwt bench`; loadgen: bench/loadgen
#              for every scenario).
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${WSJWT_BENCH_SERVER_SECONDS:-2}
warm=${WSJWT_BENCH_SERVER_WARMUP:-0.5}
rounds=${WSJWT_BENCH_SERVER_ROUNDS:-5}
idle_n=${WSJWT_BENCH_IDLE_CONNS:-10000}
offered=${WSJWT_BENCH_OFFERED_RATE:-200000}
receivers=${WSJWT_BENCH_BROADCAST_RECEIVERS:-10000}
srv_mode="echo"
servers=${WSJWT_BENCH_SERVERS:-raw wsjwt node}
generator=${WSJWT_BENCH_GENERATOR:-wsjwt}
tmp=$(mktemp -d)
stop_wait=30
# shellcheck source=bench/lib.sh disable=SC1091
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
    pinning="servers pinned to core 0, load generator to core 1 (\`taskset\`)"
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
    srv_port=""
    out=$tmp/$name.out
    : >"$out"
    case $name in
    raw) $pin_srv "$raw" --host 127.0.0.1 --port 0 >"$out" 2>"$tmp/$name.err" & ;;
    wsjwt)
        [ -x "$wsjwt" ] || {
            echo "$wsjwt missing" >"$tmp/$name.why"
            return 1
        }
        [ -n "$BENCH_TOKEN" ] || {
            echo "no token: neither jsonwebtoken (scripts/deps.sh --node) nor wsjwt sign could mint one" \
                >"$tmp/$name.why"
            return 1
        }
        $pin_srv "$wsjwt" serve --host 127.0.0.1 --port 0 --mode "$srv_mode" $wsjwt_opts \
            >"$out" 2>"$tmp/$name.err" &
        ;;
    t1 | t2) # the scaling runs: not pinned, one or two event loops
        "$wsjwt" serve --host 127.0.0.1 --port 0 --mode echo --threads "${name#t}" --log-level warn \
            >"$out" 2>"$tmp/$name.err" &
        ;;
    node)
        [ -n "$node_ok" ] || {
            echo "node or bench/peers/node_modules missing (scripts/deps.sh --node)" >"$tmp/$name.why"
            return 1
        }
        bc=""
        [ "$srv_mode" = echo ] || bc=--broadcast
        $pin_srv node bench/peers/ws_jwt_echo.mjs 0 $bc >"$out" 2>"$tmp/$name.err" &
        ;;
    esac
    srv_pid=$!
    srv_pids="$srv_pids $srv_pid"
    i=0
    while [ $i -lt 100 ]; do
        if ! kill -0 "$srv_pid" 2>/dev/null; then
            wait "$srv_pid" 2>/dev/null || true
            srv_pid=""
            echo "exited at start: $(head -c 300 "$tmp/$name.err" | tr '\n' ' ')" >"$tmp/$name.why"
            return 1
        fi
        srv_port=$(listening_port "$out" "$tmp/$name.err")
        if [ -n "$srv_port" ]; then
            eval "pid_$name=\$srv_pid port_$name=\$srv_port"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "no listening line within 10 s" >"$tmp/$name.why"
    stop_server
    return 1
}

figure() { # figure FILE: the rate (or bytes per connection) a generator's JSON line reports
    # (wsjwt bench reports every rate, 0 where the mode has none: the first non-zero one counts)
    first=""
    for k in messages_per_s upgrades_per_s bytes_per_conn; do
        v=$(jget "$1" $k)
        [ -n "$first" ] || first=$v
        case $v in "" | 0 | 0.0) ;; *)
            echo "$v"
            return 0
            ;;
        esac
    done
    [ -z "$first" ] || echo "$first"
}

# uses_bench: whether `wsjwt bench` drives the figures (all of them).
uses_bench() {
    [ "$generator" = wsjwt ] && [ -x "$wsjwt" ]
}

# bargs NAME SCENARIO: `wsjwt bench`'s arguments for one figure (binary
# messages, as loadgen sends by default).
bargs() {
    tok="--token-env BENCH_TOKEN"
    [ "$1" != raw ] || tok="--raw-echo"
    timing="--duration $secs --warmup $warm"
    case $2 in
    a) echo "$timing $tok --binary --connections 100 --in-flight 8 --size 32" ;;
    b) echo "$timing $tok --binary --connections 1000 --in-flight 1 --size 32" ;;
    c) echo "$timing $tok --binary --connections 10 --in-flight 4 --size 65536" ;;
    d) echo "$timing $tok --mode upgrade --connections 50" ;;
    e) echo "$timing --token-env BENCH_BAD_TOKEN --expect-status 401 --mode upgrade --connections 50" ;;
    g) echo "$timing $tok --binary --connections 100 --in-flight 8 --size 32 --rate $offered --tick-us 50" ;;
    h) echo "$timing $tok --binary --mode broadcast --connections $((receivers + 1)) --in-flight 8 --size 32 --timeout 30" ;;
    # idle: the RSS is sampled after holding --duration (loadgen: --settle 1, then 0.5 s held)
    f) echo "$tok --binary --mode idle --connections $idle_n --duration 1.5" ;;
    w) echo "$tok --binary --connections 1 --duration 0.2 --warmup 0" ;;
    esac
}

# args NAME SCENARIO: bench/loadgen's arguments for one figure.
args() {
    tok="--token-env BENCH_TOKEN"
    raw_flag=""
    if [ "$1" = raw ]; then
        tok=""
        raw_flag="--raw-echo"
    fi
    timing="--duration $secs --warmup $warm"
    case $1 in t1 | t2) tok="--token-env BENCH_TOKEN" ;; esac
    case $2 in
    a) echo "$timing $tok $raw_flag --connections 100 --in-flight 8 --size 32" ;;
    b) echo "$timing $tok $raw_flag --connections 1000 --in-flight 1 --size 32" ;;
    c) echo "$timing $tok $raw_flag --connections 10 --in-flight 4 --size 65536" ;;
    d) echo "$timing $tok --mode upgrade --connections 50" ;;
    e) echo "$timing --token-env BENCH_BAD_TOKEN --expect 401 --mode upgrade --connections 50" ;;
    g) echo "$timing $tok $raw_flag --connections 100 --in-flight 8 --size 32 --rate $offered" ;;
    f) echo "$tok $raw_flag --mode idle --connections $idle_n --settle 1 --duration 0.5" ;;
    h) echo "$timing $tok --broadcast --connections $((receivers + 1)) --in-flight 8 --size 32 --timeout 30" ;;
    w) echo "$tok $raw_flag --connections 1 --duration 0.2 --warmup 0" ;;
    esac
}

# measure NAME SCENARIO ROUND: one round against the running server NAME.
# Keeps the best round's JSON in $tmp/NAME.SCENARIO.json and the errors of
# all rounds in $tmp/NAME.SCENARIO.errors (human summaries go to stderr).
measure() {
    name=$1
    sc=$2
    out=$tmp/$name.$sc.r$3.json
    eval "srv_pid=\$pid_$name srv_port=\$port_$name"
    pin=$pin_lg
    case $name in t1 | t2) pin="" ;; esac
    if uses_bench "$sc"; then
        # shellcheck disable=SC2046,SC2086
        timeout 120 $pin "$wsjwt" bench "ws://127.0.0.1:$srv_port/" --server-pid "$srv_pid" --label "$name.$sc" \
            --json $(bargs "$name" "$sc") >"$out" || true
    else
        # shellcheck disable=SC2046
        timeout 120 $pin "$lg" --port "$srv_port" --server-pid "$srv_pid" --label "$name.$sc" \
            $(args "$name" "$sc") >"$out" || true
    fi
    errs=$(cat "$tmp/$name.$sc.errors" 2>/dev/null || echo 0)
    v=$(figure "$out")
    if [ -z "$v" ]; then
        echo "$sc round $3: the load generator reported nothing." >>"$tmp/$name.why"
        errs=$((errs + 1))
    else
        errs=$((errs + $(jget "$out" errors)))
        best=$(figure "$tmp/$name.$sc.json")
        if awk -v a="$v" -v b="${best:--1}" 'BEGIN { exit !(a + 0 > b + 0) }'; then
            cp "$out" "$tmp/$name.$sc.json"
        fi
    fi
    echo "$errs" >"$tmp/$name.$sc.errors"
    if ! kill -0 "$srv_pid" 2>/dev/null; then
        echo "server died during $sc: $(tail -c 300 "$tmp/$name.err" | tr '\n' ' ')" >>"$tmp/$name.why"
        stop_pid "$srv_pid"
        start_server "$name" || eval "pid_$name="
    fi
}

running=""
for name in $servers; do
    if start_server "$name"; then
        running="$running $name"
    else
        echo "bench: $name not run: $(cat "$tmp/$name.why")" >&2
    fi
done
for sc in a b c d e g; do
    r=1
    while [ $r -le "$rounds" ]; do
        for name in $running; do
            [ "$name$sc" != rawe ] || continue # the floor refuses nothing
            eval "p=\$pid_$name"
            [ -z "$p" ] || measure "$name" "$sc" $r
        done
        r=$((r + 1))
    done
done
stop_all

# h: broadcast, one sender to many receivers on one loop (the raw echo cannot).
srv_mode=broadcast
bc_running=""
for name in $running; do
    [ "$name" != raw ] || continue
    if start_server "$name"; then
        bc_running="$bc_running $name"
    fi
done
bc_rounds=$((rounds < 2 ? rounds : 2))
r=1
while [ $r -le $bc_rounds ]; do
    for name in $bc_running; do
        measure "$name" h $r
    done
    r=$((r + 1))
done
stop_all
srv_mode="echo"

# Scaling: wsjwt with one and with two event loops, nothing pinned (on two
# cores the load generator competes with the server's threads).
scaling=""
case " $running " in *" wsjwt "*) scaling="t1 t2" ;; esac
sc_running=""
for name in $scaling; do
    if start_server "$name"; then
        sc_running="$sc_running $name"
    fi
done
for sc in a d; do
    r=1
    while [ $r -le $bc_rounds ]; do
        for name in $sc_running; do
            measure "$name" "$sc" $r
        done
        r=$((r + 1))
    done
done
stop_all

# f: each server fresh (memory freed by earlier scenarios must not be reused
# and hide the cost), warmed by one echo connection (shared buffers
# allocated), then idle_n upgraded connections held: RSS delta / N.
for name in $running; do
    if start_server "$name"; then
        if uses_bench f; then
            # shellcheck disable=SC2046,SC2086
            timeout 30 $pin_lg "$wsjwt" bench "ws://127.0.0.1:$srv_port/" $(bargs "$name" w) >/dev/null 2>&1 || true
        else
            # shellcheck disable=SC2046
            timeout 30 $pin_lg "$lg" --port "$srv_port" $(args "$name" w) >/dev/null 2>&1 || true
        fi
        measure "$name" f 1
        stop_all
    fi
done

# ---- the report -------------------------------------------------------------
cell() { # cell NAME SCENARIO: "rate|server_util|loadgen_util|p50|p99|errors|others_util|server_us_per_op"
    f=$tmp/$1.$2.json
    [ -s "$f" ] || {
        echo "|||||$(cat "$tmp/$1.$2.errors" 2>/dev/null)||"
        return 0
    }
    echo "$(figure "$f")|$(jget "$f" server_cpu_util)|$(jget "$f" generator_cpu_util)$(jget "$f" loadgen_cpu_util)|$(jget "$f" latency_p50_us)|$(jget "$f" latency_p99_us)|$(cat "$tmp/$1.$2.errors")|$(jget "$f" others_user_util)|$(jget "$f" server_us_per_op)"
}
for sc in a b c d e g h f; do
    echo "$sc|$(cell raw $sc)|$(cell wsjwt $sc)|$(cell node $sc)"
done >"$tmp/table"

echo "Command: \`make bench\` -> \`sh bench/run_server.sh $build\`; $pinning. The servers run side by side"
echo "(one measured at a time, the others idle) and rounds interleave them so that all meet the same noise. Driven by"
if [ "$generator" = wsjwt ] && [ -x "$wsjwt" ]; then
    echo "\`$wsjwt bench\` (one libuv thread; a fresh CSPRNG mask key per frame, as a real client, binary messages as fixed wire bytes under it; g paced with a 50 us"
    echo "tick, h with \`--mode broadcast\`) over loopback: best of $rounds rounds of $secs s measured after $warm s of warm-up"
else
    echo "\`$lg\` (one thread, epoll) over loopback: best of $rounds rounds of $secs s measured after $warm s of warm-up"
fi
echo "(each round a new load generator process); every echoed byte is compared with what was sent and every error"
echo "of every round is counted. Servers: \`raw_echo\` (the floor: a raw TCP"
echo "echo, one thread, epoll; it echoes the masked frames verbatim and the load generator checks them as such),"
echo "\`wsjwt serve --mode echo $wsjwt_opts\` (HS256 secret in JWT_SECRET) and \`node bench/peers/ws_jwt_echo.mjs\` (ws +"
echo "jsonwebtoken in verifyClient, the tutorial's server). g paces messages (\`--rate $offered\`) and reports server CPU"
echo "per message. h: the servers restarted in broadcast mode (\`--mode broadcast\`; the Node peer with \`--broadcast\`,"
echo "the ws README's loop over wss.clients); best of $bc_rounds rounds. Idle memory (f): a fresh server, one warm-up"
echo "echo, then $idle_n authenticated connections held; VmRSS after minus before, divided by the connections."
echo
for name in $servers; do
    if [ -s "$tmp/$name.why" ]; then
        echo "- $name: $(tr '\n' ' ' <"$tmp/$name.why")"
        echo
    fi
done
awk -F'|' -v offered="$offered" -v receivers="$receivers" '
function num(x) { return x != "" && x != "-1" }
function rate(x, sc) {
    if (!num(x)) return "n/a"
    if (sc == "f") return sprintf("%.0f B", x)
    if (x >= 1e6) return sprintf("%.2f M/s", x / 1e6)
    if (x >= 1e3) return sprintf("%.1f k/s", x / 1e3)
    return sprintf("%.0f /s", x)
}
function ratio(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.2fx", a / b) : "n/a" }
function cpu(x) { return num(x) ? sprintf("%.0f%%", 100 * x) : "n/a" }
function per_msg(s, sc) {
    return num(us[s, sc]) ? sprintf("%.2f us (at %s)", us[s, sc], rate(v[s, sc], sc)) : "n/a"
}
function usop(x) { return num(x) ? sprintf("%.2f", x) : "-" }
function lat(a, b) { return (num(a) && a > 0) ? sprintf("%.0f / %.0f", a, b) : "-" }
BEGIN {
    title["a"] = "a echo, 100 conns x 8 in flight x 32 B"; tgt["a"] = ">= 0.95x raw, >= 9x Node"
    title["b"] = "b echo, 1000 conns x 1 in flight x 32 B"; tgt["b"] = ">= 0.95x raw"
    title["c"] = "c echo, 10 conns x 4 in flight x 64 KiB"; tgt["c"] = ">= 1.0x raw"
    title["d"] = "d authenticated upgrades/s (HS256), 50 concurrent"; tgt["d"] = ">= 18x Node"
    title["e"] = "e refused upgrades/s (bad signature -> 401), 50 concurrent"; tgt["e"] = ">= d"
    title["f"] = "f user-space bytes per idle authenticated connection"; tgt["f"] = "<= 400 B"
    title["g"] = sprintf("g server CPU per message at %.0f k msg/s offered (100 conns x 32 B)", offered / 1000)
    tgt["g"] = "<= 1.10x raw"
    title["h"] = "h broadcast deliveries/s: 1 sender x 8 in flight x 32 B to " receivers " receivers"
    tgt["h"] = "serialised once"
    split("raw wsjwt node", srv, " ")
}
{
    sc = $1
    order[cnt++] = sc
    # Per server, 8 fields: rate, server CPU, loadgen CPU, p50, p99, errors,
    # others, server microseconds per operation.
    for (k = 1; k <= 3; k++) {
        o = 1 + (k - 1) * 8
        v[srv[k], sc] = $(o + 1); sc_[srv[k], sc] = $(o + 2); lc[srv[k], sc] = $(o + 3)
        p50[srv[k], sc] = $(o + 4); p99[srv[k], sc] = $(o + 5); er[srv[k], sc] = $(o + 6)
        ot[srv[k], sc] = $(o + 7); us[srv[k], sc] = $(o + 8)
    }
}
END {
    print "| scenario | raw TCP echo (floor) | wsjwt | Node ws + jsonwebtoken | wsjwt / raw | wsjwt / Node | target |"
    print "|---|---|---|---|---|---|---|"
    for (i = 0; i < cnt; i++) {
        sc = order[i]
        R = v["raw", sc]; W = v["wsjwt", sc]; N = v["node", sc]
        if (sc == "f") {
            # Memory: smaller is better, so Node / wsjwt reads as "times smaller".
            vs_node = (num(W) && num(N) && W > 0) ? sprintf("%.1fx smaller", N / W) : "n/a"
            print "| " title[sc] " | " rate(R, sc) " | " rate(W, sc) " | " rate(N, sc) " | - | " vs_node " | " tgt[sc] " |"
        } else if (sc == "g") {
            # Cost at a fixed load: lower is better; the achieved rate shows whether the server kept up.
            print "| " title[sc] " | " per_msg("raw", sc) " | " per_msg("wsjwt", sc) " | " per_msg("node", sc) " | " \
                ratio(us["wsjwt", sc], us["raw", sc]) " | " ratio(us["wsjwt", sc], us["node", sc]) " | " tgt[sc] " |"
        } else if (sc == "h") {
            print "| " title[sc] " | - | " rate(W, sc) " | " rate(N, sc) " | - | " ratio(W, N) " | " tgt[sc] " |"
        } else if (sc == "e") {
            print "| " title[sc] " | - | " rate(W, sc) " | " rate(N, sc) " | e/d: " ratio(W, v["wsjwt", "d"]) " | " ratio(W, N) " | " tgt[sc] " |"
        } else {
            print "| " title[sc] " | " rate(R, sc) " | " rate(W, sc) " | " rate(N, sc) " | " ratio(W, R) " | " ratio(W, N) " | " tgt[sc] " |"
        }
    }
    print ""
    print "Server CPU time per operation (microseconds per echoed message, per upgrade, per delivery), from the"
    print "same rounds: CPU time counts only while a process runs, so these ratios hold better than the rates when"
    print "other work shares the cores or when the load generator is the limit (lower is better)."
    print ""
    print "| scenario | raw TCP echo | wsjwt | Node ws + jsonwebtoken | wsjwt / raw | Node / wsjwt |"
    print "|---|---|---|---|---|---|"
    for (i = 0; i < cnt; i++) {
        sc = order[i]
        if (sc == "f") continue
        R = us["raw", sc]; W = us["wsjwt", sc]; N = us["node", sc]
        print "| " sc " | " usop(R) " | " usop(W) " | " usop(N) " | " ratio(W, R) " | " ratio(N, W) " |"
    }
    print ""
    print "Per figure (the best round): CPU of each process over the measured window (100% = one core), the"
    print "server CPU time per message or upgrade, the user time of all other processes on the machine in the same"
    print "window (the noise), latency (a-c: message round trip; d, e: connect to response head) and errors (all"
    print "rounds). A load generator near 100% is the limit of that figure, not the server: compare the server CPU"
    print "per operation there. Large \"others\" means a disturbed figure. On loopback most of the kernel work of a"
    print "TCP handshake runs on the connecting side, so d and e are bounded by the load generator first."
    print ""
    print "| scenario | server | rate | server CPU | server us/op | generator CPU | others | p50 / p99 latency (us) | errors |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (i = 0; i < cnt; i++) {
        sc = order[i]
        for (k = 1; k <= 3; k++) {
            s = srv[k]
            if (v[s, sc] == "" && er[s, sc] == "") continue
            print "| " sc " | " s " | " rate(v[s, sc], sc) " | " cpu(sc_[s, sc]) " | " \
                (num(us[s, sc]) && sc != "f" ? sprintf("%.2f", us[s, sc]) : "-") " | " cpu(lc[s, sc]) " | " \
                cpu(ot[s, sc]) " | " lat(p50[s, sc], p99[s, sc]) " | " (er[s, sc] == "" ? "n/a" : er[s, sc]) " |"
        }
    }
}' "$tmp/table"

# ---- scaling with event loops --------------------------------------------------
[ -n "$sc_running" ] || exit 0
for sc in a d; do
    echo "$sc|$(cell t1 $sc)|$(cell t2 $sc)"
done >"$tmp/scaling"
echo
echo "### wsjwt with one and two event loops"
echo
echo "\`wsjwt serve --threads 1\` and \`--threads 2\` (one libuv loop per thread, SO_REUSEPORT listeners), nothing"
echo "pinned: on this $(nproc)-core machine the server's loops and the load generator compete for the same cores (and"
echo "with anything else running), so two loops can only show what is left after the load generator's share."
echo "Best of $bc_rounds rounds."
echo
awk -F'|' '
function num(x) { return x != "" && x != "-1" }
function rate(x) {
    if (!num(x)) return "n/a"
    if (x >= 1e6) return sprintf("%.2f M/s", x / 1e6)
    if (x >= 1e3) return sprintf("%.1f k/s", x / 1e3)
    return sprintf("%.0f /s", x)
}
function cpu(x) { return num(x) ? sprintf("%.0f%%", 100 * x) : "n/a" }
BEGIN {
    title["a"] = "a echo, 100 conns x 8 in flight x 32 B"
    title["d"] = "d authenticated upgrades/s (HS256), 50 concurrent"
    print "| scenario | 1 loop | 2 loops | 2 / 1 | server CPU (1 / 2) | generator CPU (1 / 2) | others (1 / 2) | errors (1 / 2) |"
    print "|---|---|---|---|---|---|---|---|"
}
{
    # Fields per configuration: rate, server CPU, loadgen CPU, p50, p99, errors, others, us/op.
    r = (num($2) && num($10) && $2 > 0) ? sprintf("%.2fx", $10 / $2) : "n/a"
    print "| " title[$1] " | " rate($2) " | " rate($10) " | " r " | " cpu($3) " / " cpu($11) " | " cpu($4) " / " \
        cpu($12) " | " cpu($8) " / " cpu($16) " | " ($7 == "" ? "n/a" : $7) " / " ($15 == "" ? "n/a" : $15) " |"
}' "$tmp/scaling"
