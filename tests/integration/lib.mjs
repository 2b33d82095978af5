// Shared helpers for the integration tests: start `wsjwt serve` on an
// ephemeral port, sign tokens with jsonwebtoken, talk raw WebSocket over
// net.Socket. Not a test file itself (no .test.mjs suffix).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import crypto from 'node:crypto';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// ES modules ignore NODE_PATH: resolve the Node peers from it (or from
// tests/interop/node_modules) explicitly.
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.NODE_PATH || path.join(here, '..', 'interop', 'node_modules');
const require = createRequire(path.join(modules, 'noop.js'));
const jwt = require('jsonwebtoken');
const WebSocket = require('ws');

export { jwt, WebSocket };

export const BIN = process.env.WSJWT_BIN;
export const SECRET = 'integration-secret-0123456789abcdef0123456789';

// Starts the server with `args` (after `serve --port 0`), resolves once it
// prints its listening line. Returns { proc, port, url, stderr(), stop() }.
// With { fdLimit: N } the server runs under `ulimit -n N` (sh execs it, so
// the PID is the server's).
export async function startServer(args = [], env = {}, { fdLimit } = {}) {
  if (!BIN) throw new Error('WSJWT_BIN is not set');
  const argv = ['serve', '--host', '127.0.0.1', '--port', '0', '--threads', '1', ...args];
  const [cmd, cmdArgs] = fdLimit
    ? ['/bin/sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, BIN, ...argv]]
    : [BIN, argv];
  const proc = spawn(cmd, cmdArgs, {
    env: { ...process.env, JWT_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start: ' + err)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on .*:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${err}`)); });
  });
  const exited = once(proc, 'exit');
  return {
    proc, port, url: `ws://127.0.0.1:${port}/`,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const [code, signal] = await exited;
      return { code, signal };
    },
  };
}

// Polls fn() until it returns truthy (or throws after ms).
export async function waitFor(fn, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function token(payload = { name: 'firecamp', sub: 'alice' }, opts = { expiresIn: '15d' }, secret = SECRET) {
  return jwt.sign(payload, secret, opts);
}

// Opens a `ws` client; resolves with it once open, rejects with
// { status, headers } on an unexpected response.
export function connect(url, opts = {}, protocols = undefined) {
  return new Promise((resolve, reject) => {
    const ws = protocols ? new WebSocket(url, protocols, opts) : new WebSocket(url, opts);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject({ status: res.statusCode, headers: res.headers, body }));
      req.destroy();
    });
    ws.once('error', (e) => reject(e));
  });
}

export function nextMessage(ws) {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
}

export function closed(ws) {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

// ---- raw WebSocket over net.Socket -------------------------------------------

export function upgradeRequest(port, headers = {}, { method = 'GET', path = '/', version = 'HTTP/1.1' } = {}) {
  const h = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let s = `${method} ${path} ${version}\r\n`;
  for (const [k, v] of Object.entries(h)) if (v !== null) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}

// A raw connection that collects everything the server sends.
export async function rawConnect(port) {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  return rawAttach(sock);
}

// The same over a socket already open (a TLS socket, say).
export function rawAttach(sock) {
  const raw = { sock, buf: Buffer.alloc(0), ended: false, waiters: [] };
  const wake = () => { for (const w of raw.waiters.splice(0)) w(); };
  sock.on('data', (d) => { raw.buf = Buffer.concat([raw.buf, d]); wake(); });
  sock.on('close', () => { raw.ended = true; wake(); });
  sock.on('error', () => {});
  return raw;
}

// Waits until pred(raw) is truthy or the socket ends; resolves to pred's value.
export async function rawWait(raw, pred, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = pred(raw);
    if (v || raw.ended) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for the server');
    await new Promise((r) => { raw.waiters.push(r); setTimeout(r, 50); });
  }
}

// The HTTP response head (status and headers) once complete; the head is
// removed from raw.buf.
export async function rawResponse(raw) {
  const end = await rawWait(raw, (r) => { const i = r.buf.indexOf('\r\n\r\n'); return i >= 0 ? i + 4 : 0; });
  if (!end) return null;
  const head = raw.buf.subarray(0, end).toString('latin1');
  raw.buf = raw.buf.subarray(end);
  const [line, ...rest] = head.trim().split('\r\n');
  const headers = {};
  for (const l of rest) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
  return { status: Number(line.split(' ')[1]), headers };
}

// Opens a raw authenticated WebSocket; resolves once the 101 is read.
export async function rawOpen(port, tok) {
  const raw = await rawConnect(port);
  raw.sock.write(upgradeRequest(port, { token: tok }));
  const res = await rawResponse(raw);
  if (!res || res.status !== 101) throw new Error('upgrade failed: ' + (res && res.status));
  return raw;
}

// A client frame: masked unless mask === false.
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, len } = {}) {
  payload = Buffer.from(payload);
  const n = len ?? payload.length;
  const parts = [];
  const b0 = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  let hdr;
  if (n < 126) hdr = Buffer.from([b0, (mask ? 0x80 : 0) | n]);
  else if (n < 65536) { hdr = Buffer.alloc(4); hdr[0] = b0; hdr[1] = (mask ? 0x80 : 0) | 126; hdr.writeUInt16BE(n, 2); }
  else { hdr = Buffer.alloc(10); hdr[0] = b0; hdr[1] = (mask ? 0x80 : 0) | 127; hdr.writeBigUInt64BE(BigInt(n), 2); }
  parts.push(hdr);
  if (mask) {
    const key = crypto.randomBytes(4);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
    parts.push(key, body);
  } else parts.push(payload);
  return Buffer.concat(parts);
}

// Parses one server frame from raw.buf (unmasked); removes it. null if none.
export function takeFrame(raw) {
  const b = raw.buf;
  if (b.length < 2) return null;
  let n = b[1] & 0x7f, off = 2;
  if (n === 126) { if (b.length < 4) return null; n = b.readUInt16BE(2); off = 4; }
  else if (n === 127) { if (b.length < 10) return null; n = Number(b.readBigUInt64BE(2)); off = 10; }
  if (b.length < off + n) return null;
  const f = { fin: !!(b[0] & 0x80), opcode: b[0] & 0x0f, masked: !!(b[1] & 0x80), payload: b.subarray(off, off + n) };
  raw.buf = b.subarray(off + n);
  return f;
}

export async function rawFrame(raw, ms = 5000) {
  let f = null;
  await rawWait(raw, (r) => (f = takeFrame(r)), ms);
  return f;
}

// Reads frames until a close frame; returns { code, reason } or null when the
// socket ended first.
export async function rawCloseFrame(raw, ms = 5000) {
  for (;;) {
    const f = await rawFrame(raw, ms);
    if (!f) return null;
    if (f.opcode === 8) {
      return {
        code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null,
        reason: f.payload.subarray(2).toString(),
      };
    }
  }
}
