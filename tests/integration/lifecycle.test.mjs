// Connection lifecycle: token expiry on open connections, SIGTERM's 1001,
// SIGHUP key reload, broadcast, slow consumers, idle peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, token, connect, nextMessage, closed, rawOpen, rawWait, rawFrame, rawCloseFrame, takeFrame, frame, waitFor,
  SECRET,
} from './lib.mjs';

test('a token that expires on an open connection closes it with 1008', async () => {
  const srv = await startServer();
  try {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const ws = await connect(srv.url, { headers: { token: token({ sub: 'short', exp }, {}) } });
    ws.send('still valid');
    assert.equal((await nextMessage(ws)).data.toString(), 'still valid');
    const c = await closed(ws);
    assert.equal(c.code, 1008);
    assert.equal(c.reason, 'token expired');
    assert.ok(Date.now() / 1000 >= exp, 'not closed before exp');
    assert.ok(Date.now() / 1000 < exp + 3, 'closed within 3 s of exp');
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('SIGTERM closes every client with 1001 and exits 0', async () => {
  const srv = await startServer();
  const clients = await Promise.all(Array.from({ length: 20 }, () => connect(srv.url, { headers: { token: token() } })));
  const codes = Promise.all(clients.map(closed));
  const t0 = Date.now();
  const r = await srv.stop();
  assert.equal(r.code, 0);
  assert.ok(Date.now() - t0 < 5000);
  for (const c of await codes) assert.equal(c.code, 1001);
});

test('SIGTERM with a client that never answers the close exits within --shutdown-timeout', async () => {
  const srv = await startServer(['--shutdown-timeout', '1s']);
  const raw = await rawOpen(srv.port, token()); // never answers the close frame
  const t0 = Date.now();
  const r = await srv.stop();
  assert.equal(r.code, 0);
  const dt = Date.now() - t0;
  assert.ok(dt >= 900 && dt < 4000, `stopped after ${dt} ms`);
  raw.sock.destroy();
});

test('a second SIGTERM during the graceful stop exits at once (status 1)', async () => {
  const srv = await startServer(['--shutdown-timeout', '20s']);
  const raw = await rawOpen(srv.port, token()); // never answers the close frame
  srv.proc.kill('SIGTERM');
  await waitFor(() => /event=stopping/.test(srv.stderr()));
  const t0 = Date.now();
  srv.proc.kill('SIGTERM');
  const r = await srv.stop();
  assert.equal(r.code, 1);
  assert.ok(Date.now() - t0 < 3000);
  assert.match(srv.stderr(), /event=forced_exit/);
  raw.sock.destroy();
});

test('SIGHUP reloads the keys without dropping connections', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsjwt-'));
  const file = path.join(dir, 'secret');
  const NEW = 'rotated-secret-0123456789abcdef0123456789ab';
  fs.writeFileSync(file, SECRET);
  const srv = await startServer(['--secret-file', file]);
  try {
    const old = await connect(srv.url, { headers: { token: token() } });
    fs.writeFileSync(file, NEW);
    srv.proc.kill('SIGHUP');
    await waitFor(() => /event=keys_reloaded/.test(srv.stderr()));
    await assert.rejects(connect(srv.url, { headers: { token: token() } }), (e) => e.status === 401);
    const fresh = await connect(srv.url, { headers: { token: token({ sub: 'new' }, {}, NEW) } });
    old.send('still here');
    assert.equal((await nextMessage(old)).data.toString(), 'still here');
    fresh.close();
    old.close();
    await Promise.all([closed(fresh), closed(old)]);
  } finally {
    assert.equal((await srv.stop()).code, 0);
    fs.rmSync(dir, { recursive: true });
  }
});

test('--mode broadcast sends each message to every other client', async () => {
  const srv = await startServer(['--mode', 'broadcast']);
  try {
    const clients = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      connect(srv.url, { headers: { token: token({ sub: `u${i}` }) } })));
    const [sender, ...others] = clients;
    let senderGot = 0;
    sender.on('message', () => { senderGot++; });
    const got = others.map((ws) => nextMessage(ws));
    sender.send('to everyone');
    for (const m of await Promise.all(got)) assert.equal(m.data.toString(), 'to everyone');
    const bin = Buffer.alloc(70000, 3);
    const got2 = others.map((ws) => nextMessage(ws));
    sender.send(bin);
    for (const m of await Promise.all(got2)) assert.ok(m.isBinary && Buffer.compare(m.data, bin) === 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(senderGot, 0);
    for (const ws of clients) ws.close();
    await Promise.all(clients.map(closed));
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('a client that never reads is closed with 1013 when its queue passes --max-backpressure', async () => {
  const srv = await startServer(['--max-backpressure', '256k', '--max-message', '64k', '--close-timeout', '3s']);
  try {
    const raw = await rawOpen(srv.port, token());
    raw.sock.pause(); // stop reading: the kernel buffers fill, then the server's queue
    const chunk = frame(2, Buffer.alloc(60000, 7));
    // Send echoes we never read for 1.5 s: far more than the socket
    // buffers plus the 256 KiB cap.
    const t0 = Date.now();
    while (Date.now() - t0 < 1500 && !raw.ended) {
      if (!raw.sock.write(chunk)) await new Promise((r) => setTimeout(r, 5));
    }
    raw.sock.resume();
    // Drain everything the server sent: the last frame must be close 1013.
    let last = null;
    await rawWait(raw, (r) => r.ended, 10000);
    for (let f; (f = takeFrame(raw));) last = f;
    assert.ok(last, 'frames received');
    assert.equal(last.opcode, 8);
    assert.equal(last.payload.readUInt16BE(0), 1013);
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0);
    assert.match(srv.stderr(), /slow_consumers=[1-9]/);
  }
});

test('a ping flood from a peer that never reads its pongs is closed with 1013', async () => {
  const srv = await startServer(['--max-backpressure', '64k', '--close-timeout', '3s']);
  try {
    const raw = await rawOpen(srv.port, token());
    raw.sock.pause();
    const pings = Buffer.concat(Array.from({ length: 1000 }, () => frame(9, Buffer.alloc(125, 1))));
    const t0 = Date.now();
    while (Date.now() - t0 < 1500 && !raw.ended) {
      if (!raw.sock.write(pings)) await new Promise((r) => setTimeout(r, 5));
    }
    raw.sock.resume();
    await rawWait(raw, (r) => r.ended, 10000);
    let last = null;
    for (let f; (f = takeFrame(raw));) last = f;
    assert.ok(last, 'frames received');
    assert.equal(last.opcode, 8);
    assert.equal(last.payload.readUInt16BE(0), 1013);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('a peer that stops answering is pinged, then closed at the idle timeout', async () => {
  const srv = await startServer(['--ping-interval', '300ms', '--idle-timeout', '900ms']);
  try {
    const raw = await rawOpen(srv.port, token());
    const ping = await rawFrame(raw, 3000);
    assert.equal(ping.opcode, 9);
    const c = await rawCloseFrame(raw, 5000);
    assert.equal(c.code, 1001);
    raw.sock.write(frame(8, Buffer.from([0x03, 0xe9])));
    await rawWait(raw, (r) => r.ended, 3000);
    // A peer that answers pings stays open.
    const ws = await connect(srv.url, { headers: { token: token() } });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(ws.readyState, ws.OPEN);
    ws.close();
    await closed(ws);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});
