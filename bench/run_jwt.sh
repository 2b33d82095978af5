#!/bin/sh
# Bench section: JWT verifications per second, wsjwt against bare OpenSSL (C,
# same process) and against jsonwebtoken and jose (Node), all on the very same
# token. Prints one Markdown section; scripts/bench.sh collects it into
# bench/RESULTS.md.
#   sh bench/run_jwt.sh BUILD_DIR
# Environment: WSJWT_BENCH_SECONDS (per figure, default 1.5),
#              WSJWT_BENCH_JWT_ALGS (default "HS256 RS256 PS256 ES256 EdDSA").
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
secs=${WSJWT_BENCH_SECONDS:-1.5}
algs=${WSJWT_BENCH_JWT_ALGS:-HS256 RS256 PS256 ES256 EdDSA}
bin=$build/bench/bench_jwt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "## JWT verification"
echo
if [ ! -x "$bin" ]; then
    echo "Not run: $bin is missing (build first)."
    exit 0
fi

# One algorithm at a time, so that one the library cannot do yet is reported
# and the others still run.
ok=""
for a in $algs; do
    if "$bin" --seconds "$secs" --emit "$tmp" "$a" >>"$tmp/results" 2>"$tmp/err.$a"; then
        ok="$ok $a"
    else
        echo "$a failed $(tr '\n' ' ' <"$tmp/err.$a")" >>"$tmp/failed"
    fi
done
node_note=""
if [ -z "$ok" ]; then
    :
elif ! command -v node >/dev/null 2>&1; then
    node_note="node not found: no jsonwebtoken/jose figures."
elif [ ! -d bench/peers/node_modules ]; then
    node_note="bench/peers/node_modules missing (scripts/deps.sh --node): no jsonwebtoken/jose figures."
else
    # shellcheck disable=SC2086
    node bench/peers/jwt_verify.mjs "$tmp" "$secs" $ok >>"$tmp/results" 2>"$tmp/node.err" ||
        node_note="the Node peers failed: $(tr '\n' ' ' <"$tmp/node.err")"
fi

echo "Command: \`make bench\` -> \`sh bench/run_jwt.sh $build\`, which runs"
echo "\`$bin --seconds $secs --emit DIR ALG\` (C, one process: wsjwt_jwt_verify and bare OpenSSL on the same"
echo "signing input) and \`node bench/peers/jwt_verify.mjs DIR $secs ALG...\` (jsonwebtoken.verify and"
echo "jose.jwtVerify on the very same token and key). Verifications per second, one thread, best of five"
echo "rounds of $secs/5 s each (the C figures in interleaved rounds, so they share the machine's load);"
echo "keys are loaded once, outside the timing, everywhere."
echo
if [ -f "$tmp/results" ]; then
    awk '
    { r[$1 " " $2] = $3; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } }
    function f(x) { return (x == "" || x == "-") ? "n/a" : sprintf("%d", x) }
    function ratio(a, b) { return (a == "" || b == "" || a == "-" || b == "-" || b == 0) ? "n/a" : sprintf("%.2fx", a / b) }
    END {
        print "| alg | token bytes | wsjwt | bare OpenSSL | jsonwebtoken | jose | wsjwt vs jsonwebtoken | wsjwt vs jose | wsjwt cost / bare cost |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 0; i < n; i++) {
            a = order[i]
            w = r[a " wsjwt"]; o = r[a " openssl"]; j = r[a " jsonwebtoken"]; s = r[a " jose"]
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", a, r[a " token-bytes"], f(w), f(o), f(j), f(s),
                ratio(w, j), ratio(w, s), ratio(o, w)
        }
        print ""
        for (i = 0; i < n; i++) {
            a = order[i]
            if ((a " jsonwebtoken-string") in r)
                printf "%s jsonwebtoken with the secret as a string, as the tutorial passes it (it retries createPublicKey on every call): %s/s; wsjwt vs that: %s. The table uses its faster KeyObject figure.\n\n", a, f(r[a " jsonwebtoken-string"]), ratio(r[a " wsjwt"], r[a " jsonwebtoken-string"])
            if ((a " openssl-keyed") in r)
                printf "%s with a pre-keyed OpenSSL HMAC context duplicated per verification (EVP_MAC_CTX_dup, the cheapest HMAC OpenSSL 3 offers): %s/s; wsjwt cost / that cost: %s.\n\n", a, f(r[a " openssl-keyed"]), ratio(r[a " openssl-keyed"], r[a " wsjwt"])
        }
    }' "$tmp/results"
    echo
fi
echo "Targets: HS256 at least 10x jsonwebtoken and at most 2x the cost of the bare one-shot HMAC"
echo "(\`HMAC()\` + \`CRYPTO_memcmp\`); RS256/PS256/ES256/EdDSA faster than jose and within 1.3x the cost"
echo "of bare \`EVP_DigestVerify\` with the key preloaded (ECDSA signatures converted to DER outside the loop)."
echo "\"wsjwt vs X\" is wsjwt's rate over X's (higher is better); \"cost / bare cost\" is bare rate over"
echo "wsjwt's (1.00x = no overhead)."
if [ -n "$node_note" ]; then
    echo
    echo "Note: $node_note"
fi
if [ -f "$tmp/failed" ]; then
    echo
    echo "Not measured:"
    sed 's/^/- /' "$tmp/failed"
fi
