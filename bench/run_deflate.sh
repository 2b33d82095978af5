#!/bin/sh
# shellcheck disable=SC2034,SC2154,SC2086,SC2046,SC2016,SC2015
# (SC2034/SC2154: variables shared with bench/lib.sh; SC2086/SC2046: $pin_*,
# flags and result lines are word lists on purpose; SC2016: the Node programs
# are single-quoted JavaScript; SC2015: `|| true` after a command substitution.)
# Bench section: permessage-deflate (issue 6). Prints one Markdown section;
# scripts/bench.sh collects it into bench/RESULTS.md.
#   sh bench/run_deflate.sh BUILD_DIR
# 1. Echo messages/s of 1 KiB text messages (wsjwt bench's pattern: letters
#    and a sequence number, very compressible) with compression, each as a
#    ratio to plain ws:// on the same server in the same run: wsjwt serve in
#    --deflate shared and dedicated, and the Node ws peer with
#    perMessageDeflate (its defaults: context takeover). The load generator
#    is `wsjwt bench --deflate` (it compresses every message it sends).
# 2. Server memory per connection for each --deflate mode: RSS delta / N with
#    N Node ws clients (perMessageDeflate on), once they are open and idle,
#    after each has echoed one 2 KiB message (dedicated streams are created
#    at the first message; shared ones are per loop), and after one 64 KiB
#    message of varied words (which touches the whole zlib window and hash:
#    RSS counts only touched pages).
# Bounded: about a minute. Every process it starts is stopped by its PID.
# Environment: WSJWT_BENCH_DEFLATE_SECONDS (2), WSJWT_BENCH_DEFLATE_CONNS (2000).
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${WSJWT_BENCH_DEFLATE_SECONDS:-2}
mem_n=${WSJWT_BENCH_DEFLATE_CONNS:-2000}
tmp=$(mktemp -d)
stop_wait=30
# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh

echo "## permessage-deflate: throughput ratios and memory per connection"
echo
if [ ! -x "$wsjwt" ] || [ -z "$node_ok" ] || [ -z "$BENCH_TOKEN" ]; then
    echo "Not run: needs $wsjwt, node and bench/peers/node_modules (scripts/deps.sh --node)."
    exit 0
fi
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    pin_srv="taskset -c 0"
    pin_lg="taskset -c 1"
    pinning="server on core 0, load generator on core 1"
else
    pin_srv=""
    pin_lg=""
    pinning="not pinned"
fi

# The Node ws peer: verifyClient with jsonwebtoken as bench/peers/ws_jwt_echo.mjs,
# perMessageDeflate from $PMD (on: ws's defaults; off: none). Run from
# bench/peers so that `ws` and `jsonwebtoken` resolve.
node_peer='
const { WebSocketServer } = await import("ws");
const jwt = (await import("jsonwebtoken")).default;
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0,
  perMessageDeflate: process.env.PMD === "on",
  verifyClient: (info, cb) => jwt.verify(info.req.headers.token ?? "", process.env.JWT_SECRET,
    (err) => cb(!err, 401, "Unauthorized")) });
wss.on("connection", (ws) => { ws.on("error", () => {}); ws.on("message", (d, b) => ws.send(d, { binary: b })); });
wss.on("listening", () => console.log("node-ws listening 127.0.0.1:" + wss.address().port));
'

# start NAME CMD...: starts a server, waits for its listening line; sets srv_pid, srv_port.
start() {
    name=$1
    shift
    srv_port=""
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    srv_pid=$!
    srv_pids="$srv_pids $srv_pid"
    i=0
    while [ $i -lt 100 ] && [ -z "$srv_port" ]; do
        kill -0 "$srv_pid" 2>/dev/null || return 1
        srv_port=$(listening_port "$tmp/$name.out" "$tmp/$name.err")
        [ -n "$srv_port" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$srv_port" ]
}

serve() { # serve NAME --deflate MODE
    start "$1" $pin_srv "$wsjwt" serve --host 127.0.0.1 --port 0 --threads 1 --log-level warn "$2" "$3"
}
node_srv() { # node_srv NAME on|off
    start "$1" env PMD="$2" sh -c "cd bench/peers && exec $pin_srv node --input-type=module -e '$node_peer'"
}

# echo_rate NAME [--deflate]: messages/s, load-generator and server CPU (us per message).
echo_rate() {
    name=$1
    shift
    # shellcheck disable=SC2086
    timeout 60 $pin_lg "$wsjwt" bench "ws://127.0.0.1:$srv_port/" --token-env BENCH_TOKEN --connections 50 \
        --in-flight 4 --size 1024 --duration "$secs" --warmup 0.5 --server-pid "$srv_pid" --json "$@" \
        >"$tmp/$name.json" 2>"$tmp/$name.lgerr" || true
    printf '%s %s %s\n' "$(jget "$tmp/$name.json" messages_per_s)" \
        "$(jget "$tmp/$name.json" cpu_us_per_op)" "$(jget "$tmp/$name.json" server_us_per_op)"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'; }
kfmt() { awk -v a="$1" 'BEGIN { if (a == "") print "-"; else printf "%.1f k", a / 1000 }'; }

echo "Command: \`sh bench/run_deflate.sh $build\` ($pinning). Echo: \`wsjwt bench --connections 50 --in-flight 4"
echo "--size 1024 --duration $secs\`, text of letters and a sequence number (compresses about 20:1), with"
echo "\`--deflate\` for the compressed rows (the load generator compresses every message it sends)."
echo
echo "| server | mode | echo msg/s | vs plain ws:// on the same server | server us/msg | load generator us/msg |"
echo "|---|---|---|---|---|---|"
for row in "wsjwt off" "wsjwt shared" "wsjwt dedicated" "node off" "node on"; do
    set -- $row
    name="$1-$2"
    if [ "$1" = wsjwt ]; then
        serve "$name" --deflate "$2" || {
            echo "| $1 | $2 | not run: $(head -c 200 "$tmp/$name.err" | tr '\n' ' ') | | | |"
            continue
        }
    else
        node_srv "$name" "$2" || {
            echo "| node ws | perMessageDeflate $2 | not run: $(head -c 200 "$tmp/$name.err" | tr '\n' ' ') | | | |"
            continue
        }
    fi
    flag=""
    [ "$2" = off ] || flag=--deflate
    # shellcheck disable=SC2086
    set -- $(echo_rate "$name" $flag) "" "" ""
    eval "rate_$(echo "$name" | tr - _)=\$1"
    case $name in wsjwt-*) base=${rate_wsjwt_off:-} ;; *) base=${rate_node_off:-} ;; esac
    label=$row
    case $row in node*) label="node ws perMessageDeflate ${row#node }" ;; esac
    echo "| ${label%% *} | ${label#* } | $(kfmt "$1") | $(ratio "$1" "$base") | ${2:--} | ${3:--} |"
    stop_server
done
echo

# ---- memory per connection ----------------------------------------------------------

# Opens N Node ws clients (perMessageDeflate: threshold 0, so every message is
# compressed) against port $1, server pid $2; prints "idle_bytes used_bytes"
# per connection (RSS deltas / N) and exits.
mem_client='
const { WebSocket } = await import("ws");
const [port, pid, n] = process.argv.slice(-3).map(Number);
const fs = await import("node:fs");
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;
const settle = () => new Promise((r) => setTimeout(r, 300));
await settle();
const r0 = rss();
const socks = [];
for (let i = 0; i < n; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(n, i + 100); j++) {
    batch.push(new Promise((res, rej) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { token: process.env.BENCH_TOKEN },
        perMessageDeflate: process.env.OFFER === "1" ? { threshold: 0 } : false });
      ws.once("open", () => res(ws)); ws.once("error", rej);
    }));
  }
  socks.push(...(await Promise.all(batch)));
}
await settle();
const r1 = rss();
const msg = JSON.stringify({ text: "x".repeat(100), n: Array.from({ length: 150 }, (_, i) => i) }).slice(0, 2048);
for (let i = 0; i < n; i += 200) {
  await Promise.all(socks.slice(i, i + 200).map((ws) => new Promise((res) => { ws.once("message", res); ws.send(msg); })));
}
await settle();
const r2 = rss();
const words = ["token", "claims", "socket", "frame", "deflate", "window", "server", "client", "message", "expiry"];
let seed = 7;
const big = Array.from({ length: 16000 }, () => { seed = (seed * 1103515245 + 12345) % 2147483648; return words[seed % 10] + (seed % 1000); }).join(" ").slice(0, 65536);
for (let i = 0; i < n; i += 100) {
  await Promise.all(socks.slice(i, i + 100).map((ws) => new Promise((res) => { ws.once("message", res); ws.send(big); })));
}
await settle();
const r3 = rss();
console.log(Math.round((r1 - r0) / n), Math.round((r2 - r0) / n), Math.round((r3 - r0) / n));
for (const ws of socks) ws.terminate();
process.exit(0);
'

echo "Memory: RSS delta / N of \`wsjwt serve --threads 1\` with N = $mem_n Node ws clients, measured once all are"
echo "open and idle, after each echoed one 2 KiB message, and after one 64 KiB message of varied words"
echo "(compressed both ways when negotiated; RSS counts only the pages zlib touched)."
echo "The plain row's clients do not offer the extension."
echo
echo "| --deflate | bytes per idle connection | after a 2 KiB message | after a 64 KiB message |"
echo "|---|---|---|---|"
for mode in off shared dedicated dedicated:10; do
    offer=1
    label=$mode
    [ "$mode" = off ] && offer=0 && label="off (no offer)"
    if ! serve "mem-$mode" --deflate "$mode"; then
        echo "| $label | not run | | |"
        continue
    fi
    res=$(cd bench/peers && OFFER=$offer timeout 60 node --input-type=module -e "$mem_client" -- \
        "$srv_port" "$srv_pid" "$mem_n" 2>"$tmp/mem.err" || true)
    set -- $res "" "" ""
    echo "| $label | ${1:--} | ${2:--} | ${3:--} |"
    stop_server
done
