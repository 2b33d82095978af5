#!/bin/sh
# Bench section: is `wsjwt bench` fast enough to be the load generator?
# (issue 5, "Benchmark"). It runs side by side with bench/loadgen, the C load
# generator it replaces, in the same scenarios against the same servers:
# bench/raw_echo (the loopback floor) and `wsjwt serve`. Prints one Markdown
# section: both generators' rates, their own CPU and the server's.
#   sh bench/run_loadgen_compare.sh BUILD_DIR
# The server runs pinned to core 0, the generator to core 1 (taskset). Each
# figure is the best of WSJWT_CMP_ROUNDS rounds (4), each round a fresh
# generator process measuring WSJWT_CMP_SECONDS (2) after WSJWT_CMP_WARMUP
# (0.5) seconds; within a round the two generators take turns, and which
# goes first alternates, so both meet the same noise. Scenarios a-h as
# bench/run_server.sh drives them (g paced at WSJWT_CMP_OFFERED_RATE, h
# broadcast to WSJWT_CMP_RECEIVERS receivers against `wsjwt serve --mode
# broadcast`). About 5 minutes.
# What the two do is not the same, and the difference is the point:
# loadgen masks every frame once at start-up with fixed keys and sends every
# upgrade with RFC 6455's example key; `wsjwt bench` gives every frame a
# fresh key from the CSPRNG (binary messages: fixed wire bytes under it, so
# each payload differs) and sends a random key per upgrade, as a real client
# must. Both compare every echoed byte with what was sent. Upgrades: both
# end each connection with a reset; loadgen closes the socket and opens a
# new one, `wsjwt bench` keeps it (connect AF_UNSPEC, then connect again).
# shellcheck disable=SC2034,SC2154 # variables shared with bench/lib.sh
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${WSJWT_CMP_SECONDS:-2}
warm=${WSJWT_CMP_WARMUP:-0.5}
rounds=${WSJWT_CMP_ROUNDS:-4}
offered=${WSJWT_CMP_OFFERED_RATE:-200000}
receivers=${WSJWT_CMP_RECEIVERS:-10000}
scenarios=${WSJWT_CMP_SCENARIOS:-a b c d e g h}
tmp=$(mktemp -d)
stop_wait=30
# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh

echo "## Load generators side by side: \`wsjwt bench\` and bench/loadgen"
echo
if [ ! -x "$lg" ] || [ ! -x "$raw" ] || [ ! -x "$wsjwt" ]; then
    echo "Not run: $lg, $raw or $wsjwt is missing (build first)."
    exit 0
fi
if [ -z "$BENCH_TOKEN" ]; then
    echo "Not run: no token (neither jsonwebtoken nor wsjwt sign could mint one)."
    exit 0
fi
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    pin_srv="taskset -c 0"
    pin_gen="taskset -c 1"
    pinning="servers pinned to core 0, load generators to core 1 (\`taskset\`)"
else
    pin_srv=""
    pin_gen=""
    pinning="not pinned (fewer than 2 cores, or no taskset)"
fi

# start NAME: the server NAME (raw, wsjwt, or bcast: wsjwt in broadcast
# mode) pinned; sets pid_NAME, port_NAME.
start() {
    out=$tmp/$1.out
    # shellcheck disable=SC2086
    case $1 in
    raw) $pin_srv "$raw" --host 127.0.0.1 --port 0 >"$out" 2>&1 & ;;
    wsjwt) $pin_srv "$wsjwt" serve --host 127.0.0.1 --port 0 --mode echo $wsjwt_opts >"$out" 2>&1 & ;;
    bcast) $pin_srv "$wsjwt" serve --host 127.0.0.1 --port 0 --mode broadcast $wsjwt_opts >"$out" 2>&1 & ;;
    esac
    p=$!
    srv_pids="$srv_pids $p"
    i=0
    port=""
    while [ -z "$port" ] && [ $i -lt 100 ] && kill -0 "$p" 2>/dev/null; do
        sleep 0.1
        port=$(listening_port "$out")
        i=$((i + 1))
    done
    [ -n "$port" ] || {
        echo "- $1 did not start: $(head -c 300 "$out" | tr '\n' ' ')"
        return 1
    }
    eval "pid_$1=\$p port_$1=\$port"
}

# shape SCENARIO: the workload, in words both generators understand alike.
shape() {
    case $1 in
    a) echo "--connections 100 --in-flight 8 --size 32" ;;
    b) echo "--connections 1000 --in-flight 1 --size 32" ;;
    c) echo "--connections 10 --in-flight 4 --size 65536" ;;
    d | e) echo "--mode upgrade --connections 50" ;;
    g) echo "--connections 100 --in-flight 8 --size 32 --rate $offered" ;;
    h) echo "--connections $((receivers + 1)) --in-flight 8 --size 32 --timeout 30" ;;
    esac
}

# servers_for SCENARIO: the servers it runs against (h only against the
# broadcasting wsjwt; the floor does no upgrades and cannot broadcast).
servers_for() {
    for name in $running; do
        case $name$1 in rawd | rawe | rawh | wsjwth | bcast[abcdeg]) ;; *) echo "$name" ;; esac
    done
}

# run GEN SERVER SCENARIO ROUND: one measured run; the JSON line goes to
# $tmp/GEN.SERVER.SCENARIO.ROUND.json.
run() {
    gen=$1 name=$2 sc=$3
    eval "pid=\$pid_$name port=\$port_$name"
    f=$tmp/$gen.$name.$sc.$4.json
    tok="--token-env BENCH_TOKEN"
    [ "$sc" != e ] || tok="--token-env BENCH_BAD_TOKEN"
    extra=""
    if [ "$gen" = bench ]; then
        [ "$name" != raw ] || tok="--raw-echo"
        case $sc in
        a | b | c) extra="--binary" ;;
        e) extra="--expect-status 401" ;;
        g) extra="--binary --tick-us 50" ;; # loadgen's tick
        h) extra="--binary --mode broadcast" ;;
        esac
        # shellcheck disable=SC2046,SC2086
        timeout 60 $pin_gen "$wsjwt" bench "ws://127.0.0.1:$port/" $(shape "$sc") $tok $extra \
            --duration "$secs" --warmup "$warm" --server-pid "$pid" --json >"$f" 2>"$f.err" || true
    else
        [ "$name" != raw ] || tok="--raw-echo"
        [ "$sc" != e ] || extra="--expect 401"
        [ "$sc" != h ] || extra="--broadcast"
        # shellcheck disable=SC2046,SC2086
        timeout 60 $pin_gen "$lg" --port "$port" $(shape "$sc") $tok $extra \
            --duration "$secs" --warmup "$warm" --server-pid "$pid" >"$f" 2>"$f.err" || true
    fi
}

rate() { # rate FILE
    v=$(jget "$1" messages_per_s)
    [ -n "$v" ] && [ "$v" != 0 ] && [ "$v" != 0.0 ] || v=$(jget "$1" upgrades_per_s)
    echo "${v:-}"
}

running=""
servers="raw wsjwt"
case " $scenarios " in *" h "*) servers="$servers bcast" ;; esac
for name in $servers; do
    if start "$name"; then running="$running $name"; fi
done
r=1
while [ "$r" -le "$rounds" ]; do
    for sc in $scenarios; do
        for name in $(servers_for "$sc"); do
            if [ $((r % 2)) -eq 1 ]; then order="bench loadgen"; else order="loadgen bench"; fi
            for gen in $order; do
                run "$gen" "$name" "$sc" "$r"
            done
        done
    done
    r=$((r + 1))
done
stop_all

# best GEN SERVER SCENARIO: the round with the highest rate; prints
# "rate|gen_cpu_fraction|server_cpu_fraction|gen_us_per_op|errors(all rounds)".
best() {
    b="" bv=-1 errs=0
    for f in "$tmp/$1.$2.$3".*.json; do
        [ -s "$f" ] || {
            errs=$((errs + 1))
            continue
        }
        e=$(jget "$f" errors)
        # loadgen counts messages it could not pace in `behind`, wsjwt bench
        # among its errors: the same count on both sides
        bh=$(jget "$f" behind)
        bh=${bh%%.*}
        [ "$1" = bench ] || e=$((${e:-1} + ${bh:-0}))
        errs=$((errs + ${e:-1}))
        v=$(rate "$f")
        if [ -n "$v" ] && awk -v a="$v" -v b="$bv" 'BEGIN { exit !(a + 0 > b + 0) }'; then
            b=$f bv=$v
        fi
    done
    [ -n "$b" ] || {
        echo "||||$errs"
        return 0
    }
    if [ "$1" = bench ]; then
        us=$(jget "$b" cpu_us_per_op)
        gc=$(jget "$b" cpu_percent)
        scpu=$(jget "$b" server_cpu_percent)
        gc=$(awk -v x="$gc" 'BEGIN { printf "%.3f", x / 100 }')
        scpu=$(awk -v x="${scpu:--100}" 'BEGIN { printf "%.3f", x / 100 }')
    else
        us=$(jget "$b" loadgen_us_per_op)
        gc=$(jget "$b" loadgen_cpu_util)
        scpu=$(jget "$b" server_cpu_util)
    fi
    echo "$bv|$gc|$scpu|$us|$errs"
}

for sc in $scenarios; do
    for name in $(servers_for "$sc"); do
        echo "$sc|$name|$(best bench "$name" "$sc")|$(best loadgen "$name" "$sc")"
    done
done >"$tmp/table"

echo "Command: \`sh bench/run_loadgen_compare.sh $build\`; $pinning. Best of $rounds rounds of $secs s measured"
echo "after $warm s of warm-up; the two generators take turns within each round (alternating which goes first)."
echo "Scenarios as in the server section: a-c echo binary messages (\`--raw-echo\` against the floor), d"
echo "authenticated upgrades/s (HS256), e refused upgrades/s (every answer must be 401), 50 concurrent; g the"
echo "100 x 32 B echo paced at $offered messages/s offered (a 50 us tick for both; messages that could not be paced"
echo "because every window was full count as errors); h deliveries/s from 1 sender (8 in flight x 32 B) to $receivers"
echo "receivers of \`wsjwt serve --mode broadcast\` (\`wsjwt bench --mode broadcast\`, \`loadgen --broadcast\`). CPU is"
echo "each process's user + system time over the measured window (100% = one core); us/op is the generator's"
echo "CPU time per message or upgrade, which a busy machine disturbs less than the rates. A figure where a"
echo "generator is near 100% of its core is that generator's limit, not the server's. \`wsjwt bench\` gives every frame a fresh CSPRNG key"
echo "(binary: the same wire bytes under it, so every payload differs) and sends a random key per upgrade (and checks the accept);"
echo "loadgen replays frames masked once with fixed keys and RFC 6455's example key."
echo "Upgrades end with a reset in both; \`wsjwt bench\` keeps its socket for the next (\`connect\` AF_UNSPEC), loadgen opens a new one."
echo
awk -F'|' '
function num(x) { return x != "" && x != "-1" && x != "-1.000" }
function rate(x) {
    if (!num(x)) return "n/a"
    if (x >= 1e6) return sprintf("%.2f M/s", x / 1e6)
    if (x >= 1e3) return sprintf("%.1f k/s", x / 1e3)
    return sprintf("%.0f /s", x)
}
function cpu(x) { return num(x) ? sprintf("%.0f%%", 100 * x) : "n/a" }
function usop(x) { return num(x) ? sprintf("%.2f", x) : "n/a" }
BEGIN {
    t["a"] = "a echo 100 x 8 x 32 B"; t["b"] = "b echo 1000 x 1 x 32 B"; t["c"] = "c echo 10 x 4 x 64 KiB"
    t["d"] = "d upgrades (101)"; t["e"] = "e refused upgrades (401)"
    t["g"] = "g paced echo 100 x 32 B"; t["h"] = "h broadcast deliveries"
    srvname["raw"] = "raw_echo"; srvname["wsjwt"] = "wsjwt serve"; srvname["bcast"] = "wsjwt serve --mode broadcast"
    print "| scenario | server | wsjwt bench | its CPU | us/op | server CPU | loadgen | its CPU | us/op | server CPU | bench / loadgen | errors (bench / loadgen) |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|"
}
{
    # Per generator 5 fields: rate, its CPU, server CPU, its us/op, errors.
    r = (num($3) && num($8) && $8 > 0) ? sprintf("%.2fx", $3 / $8) : "n/a"
    print "| " t[$1] " | " srvname[$2] " | " rate($3) " | " cpu($4) " | " usop($6) " | " cpu($5) " | " rate($8) " | " \
        cpu($9) " | " usop($11) " | " cpu($10) " | " r " | " $7 " / " $12 " |"
}' "$tmp/table"
