// permessage-deflate over TLS (wss://): compressed frames pass through the
// TLS engine both ways, and large messages span many TLS records (16 KiB of
// plaintext at most each), so inflating and decrypting interleave.
//  - the Node `ws` client (perMessageDeflate on) -> `wsjwt serve --tls-cert`
//    in the shared (default) and dedicated modes;
//  - our client (`wsjwt connect --deflate`) -> `wsjwt serve` over wss://, and
//    -> a Node `ws` https server with perMessageDeflate;
//  - the decompression bomb sent inside TLS records: closed with 1009.
// A self-signed certificate for localhost is made at run time with `openssl`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import zlib from 'node:zlib';
import {
  WebSocket, BIN, startServer, token, nextMessage, rawAttach, rawResponse, rawCloseFrame, upgradeRequest, frame,
} from './lib.mjs';

let dir;
const f = (name) => path.join(dir, name);
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsjwt-tls-deflate-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

const ca = () => fs.readFileSync(f('cert.pem'));
const tlsArgs = () => ['--tls-cert', f('cert.pem'), '--tls-key', f('key.pem')];
const SHARED_ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

// Compressible text of at least n bytes (JSON-like, repetitive as real feeds
// are). `long` is over serve's default --deflate-threshold (1 KiB).
const feed = (n) => JSON.stringify(Array.from({ length: Math.ceil(n / 28) }, (_, i) => ({ id: i, t: 'price update' })));
const long = feed(2000);

// Node ws over wss:// with perMessageDeflate; resolves with the socket, the
// server's extension answer and the first byte of every decrypted chunk
// received after the upgrade (0xc1: a compressed text frame starts it).
function nodeClient(url, pmd) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { token: token() }, ca: ca(), perMessageDeflate: pmd });
    const rec = { ws, answer: null, firstBytes: [], bytes: 0 };
    ws.once('upgrade', (res) => { rec.answer = res.headers['sec-websocket-extensions'] ?? ''; });
    ws.once('open', () => {
      ws._socket.on('data', (d) => { rec.firstBytes.push(d[0]); rec.bytes += d.length; });
      resolve(rec);
    });
    ws.once('error', reject);
  });
}

// Sends data, resolves with the next message ({ data, isBinary }).
function echo(ws, data) {
  const next = nextMessage(ws);
  ws.send(data);
  return next;
}

// `wsjwt connect`; resolves { code, out, err }.
function runConnect(args, ms = 15000) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['connect', ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('connect hung: ' + err)); }, ms);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });
}

test('Node ws (perMessageDeflate) -> serve over wss://, shared mode: compressed both ways, multi-record messages', async () => {
  const srv = await startServer(tlsArgs());
  try {
    const c = await nodeClient(`wss://localhost:${srv.port}/`, { threshold: 0 });
    assert.equal(c.answer, SHARED_ANSWER);
    for (let i = 0; i < 3; i++) assert.equal((await echo(c.ws, long)).data.toString(), long);
    assert.ok(c.firstBytes.includes(0xc1), 'no compressed frame from the server');
    // 512 KiB of text (its compressed frame still spans records), and 200 KiB
    // of random bytes that deflate cannot shrink (13 records or more each way).
    const big = feed(512 * 1024);
    c.bytes = 0;
    assert.equal((await echo(c.ws, big)).data.toString(), big);
    assert.ok(c.bytes < big.length / 4, `the echo was not compressed: ${c.bytes} bytes for ${big.length}`);
    const noise = crypto.randomBytes(200 * 1024);
    const r = await echo(c.ws, noise);
    assert.ok(r.isBinary && Buffer.compare(r.data, noise) === 0, 'the random echo differs');
    c.ws.close(1000);
    assert.equal((await once(c.ws, 'close'))[0], 1000);
  } finally {
    await srv.stop();
  }
});

test('Node ws -> serve over wss:// --deflate dedicated: context takeover makes repeats smaller', async () => {
  const srv = await startServer([...tlsArgs(), '--deflate', 'dedicated']);
  try {
    const c = await nodeClient(`wss://localhost:${srv.port}/`, { threshold: 0 });
    assert.equal(c.answer, 'permessage-deflate');
    await echo(c.ws, long);
    const first = c.bytes;
    for (let i = 0; i < 5; i++) assert.equal((await echo(c.ws, long)).data.toString(), long);
    assert.ok(c.bytes - first < first * 5 / 2, `repeats not smaller: first ${first}, then ${c.bytes - first} for 5`);
    c.ws.terminate();
  } finally {
    await srv.stop();
  }
});

test('our client -> serve over wss:// with --deflate, in each mode', async () => {
  const mid = feed(60 * 1024); // under the argument size limit, over several records
  for (const mode of ['shared', 'dedicated', 'dedicated:9']) {
    const srv = await startServer([...tlsArgs(), '--deflate', mode, '--deflate-threshold', '1']);
    try {
      const r = await runConnect([`wss://localhost:${srv.port}/`, '--ca', f('cert.pem'), '--token', token(), '--deflate',
        '-x', long, '-x', mid, '-x', 'ok']);
      assert.equal(r.code, 0, r.err);
      assert.ok(JSON.stringify(r.out.trim().split('\n')) === JSON.stringify([long, mid, 'ok']), `${mode}: echo differs`);
    } finally {
      await srv.stop();
    }
  }
});

test('our client (--deflate) -> a Node ws https server with perMessageDeflate: negotiated, compressed, echoed', async () => {
  const server = https.createServer({ cert: ca(), key: fs.readFileSync(f('key.pem')) });
  const wss = new WebSocket.Server({ server, perMessageDeflate: { threshold: 0 } });
  const seen = [];
  wss.on('connection', (ws, req) => {
    const rec = { offer: req.headers['sec-websocket-extensions'] ?? null, extensions: ws.extensions, firstBytes: [] };
    seen.push(rec);
    ws._socket.on('data', (d) => rec.firstBytes.push(d[0]));
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const r = await runConnect([`wss://localhost:${server.address().port}/`, '--ca', f('cert.pem'), '--token', token(),
      '--deflate', '-x', long, '-x', long, '-x', 'short']);
    assert.equal(r.code, 0, r.err);
    assert.ok(JSON.stringify(r.out.trim().split('\n')) === JSON.stringify([long, long, 'short']), 'echo differs');
    assert.equal(seen.length, 1);
    assert.equal(seen[0].offer, 'permessage-deflate; client_max_window_bits');
    assert.match(seen[0].extensions, /^permessage-deflate/);
    assert.ok(seen[0].firstBytes.includes(0xc1), 'no compressed frame from our client: ' + seen[0].firstBytes);
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.close();
  }
});

test('the bomb inside TLS records: a small compressed frame inflating past --max-message closes with 1009', async () => {
  const srv = await startServer([...tlsArgs(), '--max-message', '64k']);
  try {
    const sock = tls.connect({ host: '127.0.0.1', port: srv.port, servername: 'localhost', ca: ca() });
    await once(sock, 'secureConnect');
    const raw = rawAttach(sock);
    sock.write(upgradeRequest(srv.port, { token: token(), 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    const res = await rawResponse(raw);
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-extensions'], SHARED_ANSWER);
    // RFC 7692 7.2.1: raw deflate, sync flush, the 4-byte tail removed.
    const z = zlib.deflateRawSync(Buffer.alloc(16 << 20), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const bomb = z.subarray(0, -4);
    assert.ok(bomb.length < 64 * 1024, 'the frame itself is under the cap');
    sock.write(frame(0x2, bomb, { rsv: 4 }));
    assert.equal((await rawCloseFrame(raw))?.code, 1009);
    sock.destroy();
  } finally {
    await srv.stop();
  }
});
