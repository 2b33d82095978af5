#!/bin/sh
# make run: until the server lands, sign and verify a token with a
# development secret.
set -eu
bin=${1:-build/wsjwt}
if [ -z "${JWT_SECRET:-}" ]; then
    JWT_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '=\n' | tr '+/' '-_')
    echo "run: JWT_SECRET was unset; using a development secret for this run"
fi
export JWT_SECRET
token=$("$bin" sign --claim name=firecamp --expires 15d)
echo "token: $token"
"$bin" verify "$token"
