// permessage-deflate (RFC 7692) against real peers, both ways:
//  - the Node `ws` client (perMessageDeflate on) -> `wsjwt serve` in each
//    --deflate mode, with and without context takeover, a window limit, the
//    threshold, broadcast, and `--deflate off` (declined, Node falls back);
//  - raw sockets for what no polite peer sends: the decompression bomb
//    (1009), fragmented compressed messages, RSV1 on a control frame (1002),
//    invalid compressed data (1007);
//  - our client (`wsjwt connect --deflate`) -> the Node `ws` server with
//    perMessageDeflate, with and without context takeover, and declined.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import zlib from 'node:zlib';
import {
  jwt, WebSocket, BIN, SECRET, startServer, rawConnect, rawResponse, rawCloseFrame, rawWait, upgradeRequest, frame,
} from './lib.mjs';

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

// ---- Node ws client -> wsjwt serve ---------------------------------------------

// Opens a Node ws client with perMessageDeflate `pmd`; resolves with the
// socket, the server's Sec-WebSocket-Extensions answer and a record of the
// first byte of every chunk received after the upgrade.
function nodeClient(url, pmd, tok = token()) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { token: tok }, perMessageDeflate: pmd });
    const rec = { ws, answer: null, firstBytes: [] };
    ws.once('upgrade', (res) => {
      rec.answer = res.headers['sec-websocket-extensions'] ?? '';
    });
    ws.once('open', () => {
      ws._socket.on('data', (d) => rec.firstBytes.push(d[0]));
      resolve(rec);
    });
    ws.once('error', reject);
  });
}

function echo(ws, data) {
  return new Promise((resolve) => {
    ws.once('message', (d, isBinary) => resolve({ d, isBinary }));
    ws.send(data);
  });
}

const serversOurs = [];
after(async () => { for (const s of serversOurs) await s.stop(); });
async function serve(args) {
  const s = await startServer(args);
  serversOurs.push(s);
  return s;
}

const SHARED_ANSWER = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

test('Node ws -> serve (default: shared): answered without context takeover, echoes compressed both ways', async () => {
  const s = await serve([]);
  const c = await nodeClient(s.url, { threshold: 0 });
  assert.equal(c.answer, SHARED_ANSWER);
  for (let i = 0; i < 3; i++) {
    const r = await echo(c.ws, long);
    assert.equal(r.d.toString(), long);
  }
  // A binary message, and text with multi-byte characters.
  const bin = Buffer.alloc(5000, 7);
  const rb = await echo(c.ws, bin);
  assert.ok(rb.isBinary && Buffer.compare(rb.d, bin) === 0);
  const text = 'Grüße, ' + 'κόσμε '.repeat(400);
  assert.equal((await echo(c.ws, text)).d.toString(), text);
  assert.ok(c.firstBytes.includes(0xc1), 'no compressed frame from the server');
  c.ws.close();
});

test('Node ws -> serve --deflate dedicated: context takeover, repeated messages get smaller', async () => {
  const s = await serve(['--deflate', 'dedicated']);
  const c = await nodeClient(s.url, { threshold: 0 });
  assert.equal(c.answer, 'permessage-deflate');
  let bytes = 0;
  c.ws._socket.on('data', (d) => { bytes += d.length; });
  await echo(c.ws, long);
  const first = bytes;
  for (let i = 0; i < 5; i++) assert.equal((await echo(c.ws, long)).d.toString(), long);
  // With the window carried over, a repeat is a few back-references.
  assert.ok(bytes - first < first * 5 / 2, `repeats not smaller: first ${first}, then ${bytes - first} for 5`);
  c.ws.close();
});

test('Node ws -> serve --deflate dedicated:10, and a client asking for no context takeover', async () => {
  const s = await serve(['--deflate', 'dedicated:10']);
  let c = await nodeClient(s.url, { threshold: 0 });
  assert.equal(c.answer, 'permessage-deflate; client_max_window_bits=10');
  for (let i = 0; i < 3; i++) assert.equal((await echo(c.ws, long)).d.toString(), long);
  c.ws.close();
  c = await nodeClient(s.url, { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12 });
  assert.equal(c.answer,
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10');
  for (let i = 0; i < 3; i++) assert.equal((await echo(c.ws, long)).d.toString(), long);
  c.ws.close();
});

test('serve --deflate off: the offer is declined, Node falls back to plain frames', async () => {
  const s = await serve(['--deflate', 'off']);
  const c = await nodeClient(s.url, { threshold: 0 });
  assert.equal(c.answer, '');
  assert.equal((await echo(c.ws, long)).d.toString(), long);
  assert.ok(!c.firstBytes.includes(0xc1) && c.firstBytes.includes(0x81));
  c.ws.close();
});

test('--deflate-threshold: shorter messages go uncompressed, longer ones compressed', async () => {
  const s = await serve(['--deflate-threshold', '100']);
  const c = await nodeClient(s.url, { threshold: 0 });
  await echo(c.ws, 'x'.repeat(99));
  assert.deepEqual(c.firstBytes, [0x81]);
  await echo(c.ws, 'x'.repeat(100));
  assert.deepEqual(c.firstBytes, [0x81, 0xc1]);
  c.ws.close();
});

test('broadcast: compressed once for deflate receivers, plain for the others', async () => {
  const s = await serve(['--mode', 'broadcast', '--deflate-threshold', '1']);
  const a = await nodeClient(s.url, { threshold: 0 });
  const b = await nodeClient(s.url, { threshold: 0 });
  const p = await nodeClient(s.url, false);
  assert.equal(p.answer, '');
  const got = [b, p].map((c) => new Promise((resolve) => c.ws.once('message', (d) => resolve(d.toString()))));
  a.ws.send(long);
  assert.deepEqual(await Promise.all(got), [long, long]);
  assert.ok(b.firstBytes.includes(0xc1));
  assert.ok(!p.firstBytes.includes(0xc1));
  for (const c of [a, b, p]) c.ws.close();
});

test('our client -> serve: wsjwt connect --deflate echoes through every mode', async () => {
  for (const mode of ['shared', 'dedicated', 'dedicated:9']) {
    const s = await serve(['--deflate', mode, '--deflate-threshold', '1']);
    const r = await connect([s.url, '--token', token(), '--deflate', '-x', long, '-x', long, '-x', 'ok']);
    assert.equal(r.code, 0, r.err);
    assert.ok(JSON.stringify(r.out.trim().split('\n')) === JSON.stringify([long, long, 'ok']), mode + ': echo differs');
  }
});

// ---- raw sockets -----------------------------------------------------------------

// Compressed payload per RFC 7692 7.2.1: raw deflate, sync flush, tail removed.
function compress(buf) {
  const z = zlib.deflateRawSync(buf, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual([...z.subarray(-4)], [0, 0, 0xff, 0xff]);
  return z.subarray(0, -4);
}

async function rawDeflate(port, ext = 'permessage-deflate; client_max_window_bits') {
  const raw = await rawConnect(port);
  raw.sock.write(upgradeRequest(port, { token: token(), 'Sec-WebSocket-Extensions': ext }));
  const res = await rawResponse(raw);
  assert.equal(res.status, 101);
  return { raw, answer: res.headers['sec-websocket-extensions'] };
}

test('the bomb: a small frame inflating past --max-message closes with 1009', async () => {
  const s = await serve(['--max-message', '64k']);
  const { raw, answer } = await rawDeflate(s.port);
  assert.equal(answer, SHARED_ANSWER);
  const bomb = compress(Buffer.alloc(16 << 20)); // 16 MiB of zeros
  assert.ok(bomb.length < 64 * 1024, 'the frame itself is under the cap: ' + bomb.length);
  raw.sock.write(frame(0x2, bomb, { rsv: 4 }));
  const close = await rawCloseFrame(raw);
  assert.equal(close?.code, 1009);
  raw.sock.destroy();
});

// One short server frame (payload under 126 bytes) from raw.buf: its first
// byte (FIN, RSV1, opcode) and payload as text; null when incomplete.
function takeShort(raw) {
  const b = raw.buf;
  if (b.length < 2 || b.length < 2 + (b[1] & 0x7f)) return null;
  raw.buf = b.subarray(2 + (b[1] & 0x7f));
  return { b0: b[0], payload: b.subarray(2, 2 + (b[1] & 0x7f)).toString() };
}

test('fragmented compressed message (RSV1 on the first frame only) is reassembled and inflated', async () => {
  const s = await serve([]);
  const { raw } = await rawDeflate(s.port);
  // RFC 7692 7.2.3.1: "Hello" in two fragments.
  raw.sock.write(Buffer.concat([
    frame(0x1, Buffer.from([0xf2, 0x48, 0xcd]), { fin: false, rsv: 4 }),
    frame(0x9, Buffer.from('between')), // a ping between fragments
    frame(0x0, Buffer.from([0xc9, 0xc9, 0x07, 0x00])),
  ]));
  const frames = [];
  await rawWait(raw, (r) => {
    let f;
    while ((f = takeShort(r))) frames.push(f);
    return frames.length >= 2;
  });
  // The pong, then "Hello" echoed (short: below the threshold, uncompressed).
  assert.deepEqual(frames, [{ b0: 0x8a, payload: 'between' }, { b0: 0x81, payload: 'Hello' }]);
  raw.sock.destroy();
});

test('RSV1 on a control frame is 1002 even with deflate negotiated; RSV1 without it is 1002', async () => {
  const s = await serve([]);
  const { raw } = await rawDeflate(s.port);
  raw.sock.write(frame(0x9, Buffer.from('x'), { rsv: 4 }));
  assert.equal((await rawCloseFrame(raw))?.code, 1002);
  raw.sock.destroy();
  const off = await serve(['--deflate', 'off']);
  const r2 = await rawDeflate(off.port);
  assert.equal(r2.answer, undefined);
  r2.raw.sock.write(frame(0x1, compress(Buffer.from('Hello')), { rsv: 4 }));
  assert.equal((await rawCloseFrame(r2.raw))?.code, 1002);
  r2.raw.sock.destroy();
});

test('invalid compressed data closes with 1007; so does compressed invalid UTF-8 text', async () => {
  const s = await serve([]);
  let { raw } = await rawDeflate(s.port);
  raw.sock.write(frame(0x1, Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv: 4 }));
  assert.equal((await rawCloseFrame(raw))?.code, 1007);
  raw.sock.destroy();
  ({ raw } = await rawDeflate(s.port));
  raw.sock.write(frame(0x1, compress(Buffer.from([0x48, 0xc3, 0x28])), { rsv: 4 }));
  assert.equal((await rawCloseFrame(raw))?.code, 1007);
  raw.sock.destroy();
});

test('offers the server must decline: malformed parameters (the upgrade still succeeds, plain)', async () => {
  const s = await serve([]);
  for (const ext of ['permessage-deflate; foo', 'permessage-deflate; server_max_window_bits=8',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover']) {
    const { raw, answer } = await rawDeflate(s.port, ext);
    assert.equal(answer, undefined, ext);
    raw.sock.destroy();
  }
  const { raw, answer } = await rawDeflate(s.port, 'permessage-deflate; foo, permessage-deflate; server_max_window_bits=10');
  assert.equal(answer, SHARED_ANSWER + '; server_max_window_bits=10');
  raw.sock.destroy();
});
