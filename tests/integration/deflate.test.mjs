// permessage-deflate (RFC 7692) against real peers: our client (`wsjwt
// connect --deflate`) -> the Node `ws` server with perMessageDeflate, with and
// without context takeover, and declined cleanly when the server does not
// offer it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { jwt, WebSocket, BIN, SECRET } from './lib.mjs';

const token = (claims = { sub: 'alice' }) => jwt.sign(claims, SECRET, { expiresIn: '15d' });

// A Node ws echo server. `pmd` is its perMessageDeflate option. It records,
// per connection, the offer, its Sec-WebSocket-Extensions answer and the first byte of every
// chunk the socket delivers (for a frame starting a chunk: FIN, RSV1, opcode).
function startNodeServer(pmd) {
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: pmd });
  const seen = [];
  // 'headers': the 101's header lines, before they are sent.
  const answers = new Map();
  wss.on('headers', (headers, req) => {
    const h = headers.find((l) => /^sec-websocket-extensions:/i.test(l));
    answers.set(req, h ? h.slice(h.indexOf(':') + 1).trim() : '');
  });
  wss.on('connection', (ws, req) => {
    const rec = { offer: req.headers['sec-websocket-extensions'] ?? null, extensions: answers.get(req), firstBytes: [] };
    seen.push(rec);
    ws._socket.on('data', (d) => rec.firstBytes.push(d[0]));
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return new Promise((resolve) => wss.on('listening', () => resolve({ wss, seen, url: `ws://127.0.0.1:${wss.address().port}/` })));
}

function connect(args, { timeout = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['connect', ...args], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('connect timed out: ' + err)); }, timeout);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
    p.stdin.end();
  });
}

const long = JSON.stringify({ channel: 'news', items: Array.from({ length: 40 }, (_, i) => ({ id: i, text: 'the same words again' })) });

const servers = [];
after(() => { for (const s of servers) { for (const c of s.wss.clients) c.terminate(); s.wss.close(); } });

async function nodeServer(pmd) {
  const s = await startNodeServer(pmd);
  servers.push(s);
  return s;
}

test('our client -> Node ws with perMessageDeflate (context takeover): echoes, frames compressed', async () => {
  const s = await nodeServer({ threshold: 0 });
  const r = await connect([s.url, '--token', token(), '--deflate', '-x', long, '-x', long, '-x', 'short']);
  assert.equal(r.code, 0, r.err);
  assert.ok(JSON.stringify(r.out.trim().split('\n')) === JSON.stringify([long, long, 'short']), 'echo differs: ' + r.out.slice(0, 200));
  const rec = s.seen.at(-1);
  assert.equal(rec.offer, 'permessage-deflate; client_max_window_bits');
  assert.match(rec.extensions, /^permessage-deflate/);
  // Our text frames carry RSV1 (0xc1): the first data chunk after the upgrade.
  assert.ok(rec.firstBytes.includes(0xc1), 'no compressed frame from our client: ' + rec.firstBytes);
});

test('our client -> Node ws without context takeover, and a server window limit', async () => {
  const s = await nodeServer({ threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 });
  const r = await connect([s.url, '--token', token(), '--deflate-no-context-takeover', '-x', long, '-x', long]);
  assert.equal(r.code, 0, r.err);
  assert.ok(JSON.stringify(r.out.trim().split('\n')) === JSON.stringify([long, long]), 'echo differs: ' + r.out.slice(0, 200));
  const rec = s.seen.at(-1);
  assert.match(rec.offer, /server_no_context_takeover/);
  assert.match(rec.extensions, /server_no_context_takeover/);
  assert.match(rec.extensions, /client_max_window_bits=9/);
  assert.ok(rec.firstBytes.includes(0xc1));
});

test('our client -> Node ws with perMessageDeflate off: no extension, plain frames', async () => {
  const s = await nodeServer(false);
  const r = await connect([s.url, '--token', token(), '--deflate', '-x', long]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.trim() === long, 'echo differs');
  const rec = s.seen.at(-1);
  assert.equal(rec.offer, 'permessage-deflate; client_max_window_bits');
  assert.equal(rec.extensions, '');
  assert.ok(!rec.firstBytes.includes(0xc1) && rec.firstBytes.includes(0x81));
});
