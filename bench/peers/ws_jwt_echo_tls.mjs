// The tutorial's server over TLS: the same Node `ws` + jsonwebtoken echo as
// ws_jwt_echo.mjs (verifyClient reads the `token` header, 401 otherwise),
// served by an https server, as a Node deployment terminates wss:// itself.
//
// Usage: JWT_SECRET=... node bench/peers/ws_jwt_echo_tls.mjs CERT.pem KEY.pem [PORT]
// Listens on 127.0.0.1 (port 0 by default) and prints
// "node-ws-tls listening 127.0.0.1:PORT" once it accepts.
import fs from 'node:fs';
import https from 'node:https';
import { WebSocketServer } from 'ws';
import jwt from 'jsonwebtoken';

const secret = process.env.JWT_SECRET;
const [certFile, keyFile, portArg] = process.argv.slice(2);
if (!secret || !certFile || !keyFile) {
  console.error('usage: JWT_SECRET=... node ws_jwt_echo_tls.mjs CERT.pem KEY.pem [PORT]');
  process.exit(2);
}

const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) });
const wss = new WebSocketServer({
  server,
  verifyClient: (info, cb) => {
    const token = info.req.headers.token;
    if (!token) return cb(false, 401, 'Unauthorized');
    jwt.verify(token, secret, (err, decoded) => {
      if (err) return cb(false, 401, 'Unauthorized');
      info.req.user = decoded;
      cb(true);
    });
  },
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  const a = server.address();
  console.log(`node-ws-tls listening ${a.address}:${a.port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
