// The tutorial's own server, the peer wsjwt is measured against: Node's `ws`
// with an upgrade hook (verifyClient) that reads the `token` header and
// verifies it with jsonwebtoken, answering 401 when it is missing or invalid,
// and otherwise keeping the decoded claims on the request. Messages are echoed
// to their sender (text stays text, binary stays binary), or with --broadcast
// sent to every other open client, as the ws README's broadcast example does.
//
// Usage: JWT_SECRET=... node bench/peers/ws_jwt_echo.mjs [PORT] [--broadcast]
// Listens on 127.0.0.1 (port 0 by default: the kernel picks one) and prints
// "node-ws listening 127.0.0.1:PORT" once it accepts.
import { WebSocket, WebSocketServer } from 'ws';
import jwt from 'jsonwebtoken';

const secret = process.env.JWT_SECRET;
if (!secret) {
  console.error('ws_jwt_echo: JWT_SECRET is not set');
  process.exit(2);
}
const args = process.argv.slice(2);
const broadcast = args.includes('--broadcast');
const port = Number(args.find((a) => !a.startsWith('--')) ?? 0);

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
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
  if (broadcast) {
    ws.on('message', (data, isBinary) => {
      wss.clients.forEach((client) => {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});

wss.on('listening', () => {
  const a = wss.address();
  console.log(`node-ws listening ${a.address}:${a.port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
