#!/bin/sh
# User-space instructions per operation, counted by callgrind (issue 8,
# "Cost"): stable to a fraction of a percent on a noisy machine, where rates
# are not. Run on request (it is slow):
#   sh bench/callgrind.sh BUILD_DIR
# For each server, the server runs under `valgrind --tool=callgrind` for one
# fixed workload driven by bench/loadgen --count, is stopped with SIGTERM (so
# that callgrind writes its totals), and the Ir total (instructions executed in
# user space, the kernel is not counted) is read:
#   per echo    = (Ir(C connections, M messages each) - Ir(same C connections,
#                 no message)) / (C * M)
#   per upgrade = (Ir(U1 upgrades) - Ir(U0 upgrades)) / (U1 - U0); U0 > 0
#                 so that one-time work (first-use initialisation, the first
#                 HMAC key set-up) cancels out.
# Under callgrind the server runs tens of times slower than the load
# generator, so reads find several frames waiting (up to the in-flight
# window): the per-echo figure is the cost with that batching.
# Prints one Markdown section on stdout, progress on stderr.
# Environment: WSJWT_CG_SERVERS ("raw wsjwt"), WSJWT_CG_CONNS (100),
#              WSJWT_CG_MESSAGES (200), WSJWT_CG_INFLIGHT (1),
#              WSJWT_CG_UPGRADES0 (100), WSJWT_CG_UPGRADES1 (1100),
#              WSJWT_CG_BIG_MESSAGES (50, of 64 KiB per connection, 10 connections),
#              WSJWT_CG_KEEP (a directory: keep the callgrind.out files there,
#              for `callgrind_annotate DIR/wsjwt.u1.cg` and the like),
#              WSJWT_CG_ROWS ("echo big upgrade refused": which workloads to
#              run; the others print n/a, e.g. "big" alone while working on
#              the 64 KiB path).
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
servers=${WSJWT_CG_SERVERS:-raw wsjwt}
conns=${WSJWT_CG_CONNS:-100}
msgs=${WSJWT_CG_MESSAGES:-200}
inflight=${WSJWT_CG_INFLIGHT:-1}
up0=${WSJWT_CG_UPGRADES0:-100}
up1=${WSJWT_CG_UPGRADES1:-1100}
big=${WSJWT_CG_BIG_MESSAGES:-50}
rows=" ${WSJWT_CG_ROWS:-echo big upgrade refused} "
tmp=$(mktemp -d)
stop_wait=600
# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh

echo "## Instructions per operation (callgrind)"
echo
if ! command -v valgrind >/dev/null 2>&1 || [ ! -x "$lg" ] || [ ! -x "$raw" ]; then
    echo "Not run: valgrind, $lg or $raw is missing."
    exit 0
fi


# measure NAME TAG LOADGEN_ARGS...: prints the server's Ir total for one
# workload, or nothing when a step failed (the reason in $tmp/NAME.why).
measure() {
    name=$1
    tag=$2
    shift 2
    case $tag in
    e?) row=echo ;;
    l?) row=big ;;
    u?) row=upgrade ;;
    *) row=refused ;;
    esac
    case $rows in
    *" $row "*) ;;
    *) return 0 ;;
    esac
    out=$tmp/$name.$tag.cg
    case $name in
    raw) set -- "$raw" --host 127.0.0.1 --port 0 -- "$@" ;;
    wsjwt) set -- "$wsjwt" serve --host 127.0.0.1 --port 0 --mode echo $wsjwt_opts -- "$@" ;;
    esac
    # Split the server's command from the load generator's arguments at "--".
    cmd=""
    while [ "$1" != "--" ]; do
        cmd="$cmd $1"
        shift
    done
    shift
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$out" $cmd >"$tmp/$name.$tag.out" 2>"$tmp/$name.$tag.err" &
    srv_pid=$!
    srv_pids="$srv_pids $srv_pid"
    i=0
    until port=$(listening_port "$tmp/$name.$tag.out") && [ -n "$port" ]; do
        if ! kill -0 "$srv_pid" 2>/dev/null || [ $i -ge 600 ]; then
            echo "$tag: the server did not start: $(grep -v '^==' "$tmp/$name.$tag.err" | head -c 300 | tr '\n' ' ')" \
                >>"$tmp/$name.why"
            stop_server
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    if ! timeout 900 "$lg" --port "$port" --timeout 600 --label "$name.$tag" "$@" >"$tmp/$name.$tag.json" \
        2>>"$tmp/$name.log"; then
        echo "$tag: the load generator reported errors: $(cat "$tmp/$name.$tag.json")" >>"$tmp/$name.why"
        stop_server
        return 0
    fi
    stop_server
    [ -z "${WSJWT_CG_KEEP:-}" ] || cp "$out" "$WSJWT_CG_KEEP/" 2>/dev/null || true
    sed -n 's/^\(totals\|summary\): *\([0-9]*\).*/\2/p' "$out" 2>/dev/null | head -1
}

for name in $servers; do
    echo "bench: callgrind $name" >&2
    if [ "$name" = wsjwt ] && [ ! -x "$wsjwt" ]; then
        echo "$wsjwt missing" >"$tmp/$name.why"
        continue
    fi
    tok=""
    raw_flag=""
    case $name in
    raw) raw_flag="--raw-echo" ;;
    *) tok="--token-env BENCH_TOKEN" ;;
    esac
    # shellcheck disable=SC2086
    e0=$(measure "$name" e0 $tok $raw_flag --connections "$conns" --in-flight "$inflight" --count 0)
    # shellcheck disable=SC2086
    e1=$(measure "$name" e1 $tok $raw_flag --connections "$conns" --in-flight "$inflight" --count "$msgs")
    # Large messages: 10 connections x 50 messages of 64 KiB, minus the same 10
    # connections with none (unmasking, copies and frame handling per byte).
    # shellcheck disable=SC2086
    l0=$(measure "$name" l0 $tok $raw_flag --connections 10 --size 65536 --count 0)
    # shellcheck disable=SC2086
    l1=$(measure "$name" l1 $tok $raw_flag --connections 10 --size 65536 --count "$big")
    # shellcheck disable=SC2086
    u0=$(measure "$name" u0 $tok --mode upgrade --connections 50 --count "$up0")
    # shellcheck disable=SC2086
    u1=$(measure "$name" u1 $tok --mode upgrade --connections 50 --count "$up1")
    r0=""
    r1=""
    if [ "$name" != raw ]; then # refused upgrades: the same with the bad signature, each answered 401
        r0=$(measure "$name" r0 --token-env BENCH_BAD_TOKEN --expect 401 --mode upgrade --connections 50 \
            --count "$up0")
        r1=$(measure "$name" r1 --token-env BENCH_BAD_TOKEN --expect 401 --mode upgrade --connections 50 \
            --count "$up1")
    fi
    echo "$name|$e0|$e1|$u0|$u1|$r0|$r1|$l0|$l1" >>"$tmp/table"
done

echo "Command: \`sh bench/callgrind.sh $build\`: each server under \`valgrind --tool=callgrind\` for a fixed"
echo "workload from \`$lg --count\`; Ir = user-space instructions of the whole server process. Per echo:"
echo "$conns connections x $msgs messages of 32 B ($inflight in flight) minus the same $conns connections with no"
echo "message. Per upgrade: $up1 upgrades minus $up0 (50 concurrent, each connect, upgrade, read the response, reset);"
echo "the raw echo answers every request head with a fixed 101 and checks nothing, wsjwt verifies an HS256 token."
echo "Per refused upgrade: the same with a bad signature, every answer a 401. Per 64 KiB echo: 10 connections x $big"
echo "messages of 64 KiB minus the same 10 connections with none."
echo
for name in $servers; do
    [ -s "$tmp/$name.why" ] && echo "- $name: $(tr '\n' ' ' <"$tmp/$name.why")" && echo
done
[ -s "$tmp/table" ] || exit 0
awk -F'|' -v c="$conns" -v m="$msgs" -v u0="$up0" -v u1="$up1" -v big="$big" '
function per(a, b, n) { return (a != "" && b != "" && n > 0) ? sprintf("%.0f", (b - a) / n) : "n/a" }
BEGIN {
    print "| server | Ir, connections only | Ir, with messages | instructions per echo | Ir, " u0 " upgrades | Ir, " u1 " upgrades | instructions per upgrade | instructions per refused upgrade | instructions per 64 KiB echo (per byte) |"
    print "|---|---|---|---|---|---|---|---|---|"
}
{
    refused = ($6 == "" && $7 == "") ? "-" : per($6, $7, u1 - u0)
    large = per($8, $9, 10 * big)
    if (large != "n/a") large = large " (" sprintf("%.2f", large / 65536) ")"
    print "| " $1 " | " $2 " | " $3 " | " per($2, $3, c * m) " | " $4 " | " $5 " | " per($4, $5, u1 - u0) " | " refused " | " large " |"
}
END {
    print ""
    print "Targets (issue 8): at most 640 instructions per echo and 23 000 per authenticated HS256 upgrade;"
    print "a refused upgrade should cost no more than an accepted one."
}' "$tmp/table"
