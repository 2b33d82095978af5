#!/bin/sh
# make run: the tutorial's system in one command. Creates a development
# secret when JWT_SECRET is unset, prints a token and ready-to-paste client
# commands, then serves on :8080 (PORT to change) in the foreground.
set -eu
bin=${1:-build/wsjwt}
port=${PORT:-8080}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${JWT_SECRET:-}" ]; then
    JWT_SECRET=$("$bin" keygen --alg HS256)
    echo "run: JWT_SECRET was unset; using a fresh development secret for this run (wsjwt keygen --alg HS256)"
    echo "run: export JWT_SECRET='$JWT_SECRET' to sign your own tokens against this server"
fi
export JWT_SECRET
token=$("$bin" sign --claim name=firecamp --claim sub=firecamp --expires 15d)
cat <<MSG

token (15 days, name=firecamp): $token

connect with Node's ws (the tutorial's client):
  NODE_PATH=$root/tests/interop/node_modules node -e "const WebSocket=require('ws');const ws=new WebSocket('ws://localhost:$port',{headers:{token:'$token'}});ws.on('open',()=>ws.send('hello'));ws.on('message',m=>{console.log('echo:',m.toString());ws.close()});ws.on('unexpected-response',(q,r)=>console.log('refused:',r.statusCode))"

or with wsjwt's own client (type lines; Ctrl-D closes):
  $bin connect ws://localhost:$port/ --token '$token'

without a token the upgrade is refused with 401:
  NODE_PATH=$root/tests/interop/node_modules node -e "const WebSocket=require('ws');new WebSocket('ws://localhost:$port').on('unexpected-response',(q,r)=>console.log('refused:',r.statusCode))"

MSG
echo "run: $bin serve --port $port --mode echo   (Ctrl-C stops: every client gets 1001)"
exec "$bin" serve --port "$port" --mode echo
