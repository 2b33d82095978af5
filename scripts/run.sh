#!/bin/sh
# make run: until the server lands, sign and verify a token with a
# development secret.
set -eu
bin=${1:-build/wsjwt}
if [ -z "${JWT_SECRET:-}" ]; then
    JWT_SECRET=$("$bin" keygen --alg HS256)
    echo "run: JWT_SECRET was unset; using a fresh development secret for this run (wsjwt keygen --alg HS256)"
fi
export JWT_SECRET
echo "run: wsjwt sign --claim name=firecamp --expires 15d"
token=$("$bin" sign --claim name=firecamp --expires 15d)
echo "token: $token"
echo "run: wsjwt verify TOKEN"
"$bin" verify "$token"
