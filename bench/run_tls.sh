#!/bin/sh
# Bench section: TLS (issue 6). Echo messages/s over wss:// with 1 KiB
# messages as a ratio to plain ws:// on the same server in the same run, for
# wsjwt and for the tutorial's Node `ws` + jsonwebtoken server
# (bench/peers/ws_jwt_echo.mjs and its https twin ws_jwt_echo_tls.mjs); TLS
# handshakes (with the authenticated upgrade) per second; memory per idle TLS
# connection. Prints one Markdown section for scripts/bench.sh.
#   sh bench/run_tls.sh BUILD_DIR
# The load generator is `wsjwt bench` (it verifies the certificate against a
# CA made here with `openssl`), pinned to core 1; servers pinned to core 0.
# Rounds interleave the servers (plain and TLS side by side meet the same
# noise); each rate is the best of its rounds. About a minute and a half in all.
# Environment: WSJWT_BENCH_TLS_SECONDS (2), WSJWT_BENCH_TLS_WARMUP (0.5),
#              WSJWT_BENCH_TLS_ROUNDS (5), WSJWT_BENCH_TLS_CONNS (50),
#              WSJWT_BENCH_TLS_IDLE (1000).
# shellcheck disable=SC2034,SC2154 # variables shared with bench/lib.sh
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${WSJWT_BENCH_TLS_SECONDS:-2}
warm=${WSJWT_BENCH_TLS_WARMUP:-0.5}
rounds=${WSJWT_BENCH_TLS_ROUNDS:-5}
conns=${WSJWT_BENCH_TLS_CONNS:-50}
idle_n=${WSJWT_BENCH_TLS_IDLE:-1000}
inflight=4
size=1024
tmp=$(mktemp -d)
stop_wait=30
# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh

echo "## TLS (wss://): echo throughput, handshakes, idle memory"
echo
if [ ! -x "$wsjwt" ] || ! command -v openssl >/dev/null 2>&1; then
    echo "Not run: $wsjwt or the openssl command is missing."
    exit 0
fi
if [ -z "$BENCH_TOKEN" ]; then
    echo "Not run: no token (neither jsonwebtoken nor wsjwt sign could mint one)."
    exit 0
fi
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    pin_srv="taskset -c 0"
    pin_lg="taskset -c 1"
    pinning="servers pinned to core 0, load generator to core 1"
else
    pin_srv=""
    pin_lg=""
    pinning="not pinned (fewer than 2 cores, or no taskset)"
fi

# A private CA and a P-256 certificate for localhost, made for this run.
(
    cd "$tmp"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 1 -subj "/CN=wsjwt bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 \
        -extfile ext.cnf 2>/dev/null
)
tls_args="--tls-cert $tmp/srv.pem --tls-key $tmp/srv.key"

# start NAME: wsjwt, wsjwt_tls, node, node_tls. Sets NAME_pid and NAME_url;
# returns 1 when it cannot start.
start() {
    name=$1
    out=$tmp/$name.out
    : >"$out"
    case $name in
    wsjwt)
        # shellcheck disable=SC2086
        $pin_srv "$wsjwt" serve --host 127.0.0.1 --port 0 $wsjwt_opts >"$out" 2>"$tmp/$name.err" &
        ;;
    wsjwt_tls)
        # shellcheck disable=SC2086
        $pin_srv "$wsjwt" serve --host 127.0.0.1 --port 0 $wsjwt_opts $tls_args >"$out" 2>"$tmp/$name.err" &
        ;;
    node)
        [ -n "$node_ok" ] || return 1
        $pin_srv node bench/peers/ws_jwt_echo.mjs 0 >"$out" 2>"$tmp/$name.err" &
        ;;
    node_tls)
        [ -n "$node_ok" ] || return 1
        $pin_srv node bench/peers/ws_jwt_echo_tls.mjs "$tmp/srv.pem" "$tmp/srv.key" 0 >"$out" \
            2>"$tmp/$name.err" &
        ;;
    esac
    pid=$!
    srv_pids="$srv_pids $pid"
    i=0
    port=""
    while [ -z "$port" ] && [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
        port=$(listening_port "$out" "$tmp/$name.err")
    done
    [ -n "$port" ] || return 1
    case $name in
    *_tls) url=wss://localhost:$port/ ;;
    *) url=ws://127.0.0.1:$port/ ;;
    esac
    eval "${name}_pid=$pid ${name}_url=$url"
}

servers=""
for s in wsjwt wsjwt_tls node node_tls; do
    if start "$s"; then servers="$servers $s"; fi
done

# run NAME LABEL ARGS...: one `wsjwt bench` round against server NAME,
# its JSON in $tmp/NAME.LABEL.R.json (R: the round).
run() {
    name=$1
    label=$2
    shift 2
    eval "u=\$${name}_url p=\$${name}_pid"
    # shellcheck disable=SC2154
    $pin_lg "$wsjwt" bench "$u" --token-env BENCH_TOKEN --ca "$tmp/ca.pem" --server-pid "$p" --json \
        --duration "$secs" --warmup "$warm" "$@" >"$tmp/$name.$label.$r.json" 2>/dev/null || true
}

# best NAME LABEL KEY: the highest KEY over the rounds, and that round's file.
best() {
    bv=""
    bf=""
    for f in "$tmp/$1.$2".*.json; do
        [ -s "$f" ] || continue
        [ "$(jget "$f" errors)" = 0 ] || continue
        v=$(jget "$f" "$3")
        [ -n "$v" ] || continue
        if [ -z "$bv" ] || awk -v a="$v" -v b="$bv" 'BEGIN { exit !(a + 0 > b + 0) }'; then
            bv=$v
            bf=$f
        fi
    done
    echo "$bv $bf"
}

r=1
while [ $r -le "$rounds" ]; do
    for s in $servers; do
        run "$s" echo --connections "$conns" --in-flight "$inflight" --size "$size"
    done
    for s in $servers; do
        case $s in
        wsjwt | *_tls) run "$s" upgrade --mode upgrade --connections 20 ;;
        esac
    done
    r=$((r + 1))
done
r=1
for s in wsjwt wsjwt_tls; do
    case " $servers " in *" $s "*) run "$s" idle --mode idle --connections "$idle_n" --duration 1 --warmup 0 ;; esac
done

fmt() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.0f", v }' || printf -- "-"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || printf -- "-"; }
cell() { # VALUE FILE: value with server and load generator CPU
    if [ -z "$1" ]; then
        printf -- "-"
        return
    fi
    printf "%s (server %s%%, %s us/op; loadgen %s%%)" "$(fmt "$1")" "$(jget "$2" server_cpu_percent)" \
        "$(jget "$2" server_us_per_op)" "$(jget "$2" cpu_percent)"
}

echo "Command: \`sh bench/run_tls.sh $build\` ($rounds rounds of ${secs} s after ${warm} s warm-up, best round;"
echo "$pinning). Echo: $conns connections x $inflight in flight x $size B text, token in the"
echo "\`token\` header, certificate (P-256, TLS 1.3) verified by the load generator, \`wsjwt bench\`."
echo
echo "| | wsjwt | Node \`ws\` + jsonwebtoken |"
echo "|---|---|---|"
# shellcheck disable=SC2046
set -- $(best wsjwt echo messages_per_s) $(best wsjwt_tls echo messages_per_s)
wp=${1:-}
wpf=${2:-}
wt=${3:-}
wtf=${4:-}
# shellcheck disable=SC2046
set -- $(best node echo messages_per_s) $(best node_tls echo messages_per_s)
np=${1:-}
npf=${2:-}
nt=${3:-}
ntf=${4:-}
echo "| echo ws:// msg/s | $(cell "$wp" "$wpf") | $(cell "$np" "$npf") |"
echo "| echo wss:// msg/s | $(cell "$wt" "$wtf") | $(cell "$nt" "$ntf") |"
echo "| **wss:// / ws://** (target >= 0.70) | **$(ratio "$wt" "$wp")** | **$(ratio "$nt" "$np")** |"
echo "| wss:// wsjwt / Node | $(ratio "$wt" "$nt") | 1 |"
# The server's own side of it: CPU per echo over TLS as a multiple of plain
# (the rate ratio is set by whichever side saturates first, usually the load
# generator, which does the same TLS work).
cpu_x() { [ -n "$1" ] && [ -n "$2" ] && printf "%s us / %s us = x%s" "$(jget "$2" server_us_per_op)" \
    "$(jget "$1" server_us_per_op)" "$(ratio "$(jget "$2" server_us_per_op)" "$(jget "$1" server_us_per_op)")" ||
    printf -- "-"; }
echo "| server CPU per echo, wss:// / ws:// | $(cpu_x "$wpf" "$wtf") | $(cpu_x "$npf" "$ntf") |"
# shellcheck disable=SC2046
set -- $(best wsjwt upgrade upgrades_per_s) $(best wsjwt_tls upgrade upgrades_per_s) \
    $(best node_tls upgrade upgrades_per_s)
echo "| authenticated upgrades/s, ws:// (20 concurrent) | $(cell "${1:-}" "${2:-}") | |"
echo "| TLS handshake + authenticated upgrade /s, wss:// | $(cell "${3:-}" "${4:-}") | $(cell "${5:-}" "${6:-}") |"
for s in wsjwt wsjwt_tls; do
    f=$tmp/$s.idle.1.json
    eval "${s}_idle=\$(jget \"\$f\" bytes_per_conn)"
done
# shellcheck disable=SC2154
echo "| RSS per idle connection ($idle_n), ws:// / wss:// | ${wsjwt_idle:--} B / ${wsjwt_tls_idle:--} B | |"
echo
echo "In the echo rows the load generator encrypts and decrypts as much as the server does: when it runs"
echo "near 100% of its core it is the limit, and the server's us/op column is the figure to compare."
