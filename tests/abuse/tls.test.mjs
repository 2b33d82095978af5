// Abuse over TLS (wss://): the same attacks arrive encrypted, where the
// server's send path goes through the TLS engine. Refused upgrades with a
// full handshake each, corrupt records after the handshake, peers that
// never read their echoes. A self-signed certificate is made at run time
// with the `openssl` command. docs/security.md names these cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  startServer, token, upgradeRequest, frame, takeFrame, summary, rssKiB, goodClients, stoppedCounters, sleep,
  SECRET, SERVER_ASAN,
} from './abuse.mjs';

let dir;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsjwt-abuse-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const tlsArgs = () => ['--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem')];
const ca = () => fs.readFileSync(path.join(dir, 'cert.pem'));

// A raw TLS connection that collects what the server sends (decrypted).
async function tlsRaw(port) {
  const tcp = net.connect(port, '127.0.0.1');
  await once(tcp, 'connect');
  const sock = tls.connect({ socket: tcp, servername: 'localhost', ca: ca() });
  const raw = { sock, tcp, buf: Buffer.alloc(0), ended: false };
  sock.on('data', (d) => { raw.buf = Buffer.concat([raw.buf, d]); });
  sock.on('close', () => { raw.ended = true; });
  sock.on('error', () => { raw.ended = true; });
  tcp.on('close', () => { raw.ended = true; });
  await once(sock, 'secureConnect');
  return raw;
}

async function until(pred, ms) {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await sleep(10);
  return pred();
}

function goodTls(url, n) {
  return goodClients(url, n, token(), { paceMs: 5, ca: ca() });
}

test('tls-refused-flood: refused upgrades, each after a full TLS handshake, while wss clients echo', { timeout: 60000 }, async () => {
  const srv = await startServer([...tlsArgs(), '--log-level', 'warn']);
  const good = await goodTls(`wss://localhost:${srv.port}/`, 4);
  const N = 1000;
  const bad = token({ sub: 'mallory' }, { expiresIn: '1h' }, 'not-the-secret-0123456789abcdef0123456789');
  let refused = 0, next = 0;
  const t0 = Date.now();
  try {
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < N) {
        next++;
        const raw = await tlsRaw(srv.port);
        raw.sock.write(upgradeRequest(srv.port, { token: bad }));
        await until(() => raw.ended || raw.buf.includes('\r\n\r\n'), 5000);
        if (raw.buf.toString('latin1').startsWith('HTTP/1.1 401 ')) refused++;
        raw.sock.destroy();
      }
    }));
    const secs = (Date.now() - t0) / 1000;
    await good.stop();
    summary('tls-refused-flood', `${refused}/${N} refusals over TLS (a handshake each) in ${secs.toFixed(1)} s, wss clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(refused, N);
    assert.deepEqual(good.errors, []);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('tls-corrupt-records: garbage after the handshake closes that connection only', { timeout: 60000 }, async () => {
  const srv = await startServer(tlsArgs());
  const good = await goodTls(`wss://localhost:${srv.port}/`, 4);
  const PEERS = 50;
  try {
    const ended = await Promise.all(Array.from({ length: PEERS }, async (_, k) => {
      const raw = await tlsRaw(srv.port);
      if (k % 2) {
        // Upgraded first: the corruption hits an open WebSocket.
        raw.sock.write(upgradeRequest(srv.port, { token: token() }));
        await until(() => raw.buf.includes('\r\n\r\n'), 5000);
      }
      // An application-data record header with a random body: the MAC
      // cannot verify.
      const body = crypto.randomBytes(200);
      raw.tcp.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, body.length]), body]));
      const ok = await until(() => raw.ended, 5000);
      raw.tcp.destroy();
      return ok;
    }));
    await good.stop();
    const n = ended.filter(Boolean).length;
    summary('tls-corrupt-records', `${n}/${PEERS} connections sending a corrupt TLS record closed (half of them open WebSockets), wss clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(n, PEERS);
    assert.deepEqual(good.errors, []);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('tls-never-read: wss peers that never read are closed with 1013 at the send-queue cap', { timeout: 60000 }, async () => {
  const srv = await startServer([...tlsArgs(), '--max-backpressure', '256k', '--max-message', '64k', '--close-timeout', '4s']);
  const good = await goodTls(`wss://localhost:${srv.port}/`, 4);
  const PEERS = 10;
  try {
    const rss0 = rssKiB(srv.proc.pid);
    let peak = rss0;
    const sampler = setInterval(() => { peak = Math.max(peak, rssKiB(srv.proc.pid)); }, 50);
    const chunk = frame(2, Buffer.alloc(60000, 7));
    const codes = await Promise.all(Array.from({ length: PEERS }, async () => {
      const raw = await tlsRaw(srv.port);
      raw.sock.write(upgradeRequest(srv.port, { token: token() }));
      await until(() => raw.buf.includes('\r\n\r\n'), 5000);
      raw.buf = raw.buf.subarray(raw.buf.indexOf('\r\n\r\n') + 4);
      raw.sock.pause(); // the kernel buffers fill, then the server's queues
      const t0 = Date.now();
      while (Date.now() - t0 < 1500 && !raw.ended) {
        if (!raw.sock.write(chunk)) await sleep(5);
      }
      raw.sock.resume();
      await until(() => raw.ended, 10000);
      let last = null;
      for (let f; (f = takeFrame(raw));) last = f;
      raw.tcp.destroy();
      return last && last.opcode === 8 ? last.payload.readUInt16BE(0) : null;
    }));
    clearInterval(sampler);
    await good.stop();
    const n1013 = codes.filter((c) => c === 1013).length;
    summary('tls-never-read', `${n1013}/${PEERS} non-reading wss peers closed with 1013 (cap 256 KiB), server RSS ${rss0} KiB -> peak ${peak} KiB, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(n1013, PEERS, `close codes: ${codes.join(', ')}`);
    if (!SERVER_ASAN) assert.ok(peak - rss0 < 16 * 1024, `RSS grew ${peak - rss0} KiB`);
    assert.deepEqual(good.errors, []);
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0);
  }
});
