// Raw-socket tests: each handshake error's status, each protocol violation's
// exact close code, and the control-frame rules (RFC 6455 4.2.1, 5, 7).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, token, rawConnect, rawOpen, rawResponse, rawWait, rawFrame, rawCloseFrame, upgradeRequest, frame,
} from './lib.mjs';

let srv;
before(async () => {
  srv = await startServer(['--max-message', '1000', '--max-fragments', '8', '--handshake-timeout', '700ms']);
});
after(async () => { const r = await srv.stop(); assert.equal(r.code, 0); });

async function handshakeStatus(req) {
  const raw = await rawConnect(srv.port);
  raw.sock.write(req);
  const res = await rawResponse(raw);
  raw.sock.destroy();
  return res;
}

test('handshake errors: 405, 400, 426, 431', async () => {
  const tok = token();
  let r = await handshakeStatus(upgradeRequest(srv.port, { token: tok }, { method: 'POST' }));
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET');
  r = await handshakeStatus(upgradeRequest(srv.port, { token: tok, 'Sec-WebSocket-Version': '8' }));
  assert.equal(r.status, 426);
  assert.equal(r.headers['sec-websocket-version'], '13');
  r = await handshakeStatus(upgradeRequest(srv.port, { token: tok, 'Sec-WebSocket-Key': 'short' }));
  assert.equal(r.status, 400);
  r = await handshakeStatus(upgradeRequest(srv.port, { token: tok, Upgrade: null }));
  assert.equal(r.status, 400);
  r = await handshakeStatus(upgradeRequest(srv.port, { token: tok, Host: null }));
  assert.equal(r.status, 400);
  r = await handshakeStatus(upgradeRequest(srv.port, { token: tok }, { version: 'HTTP/1.0' }));
  assert.equal(r.status, 400);
  r = await handshakeStatus(upgradeRequest(srv.port, { token: tok, 'X-Big': 'a'.repeat(9000) }));
  assert.equal(r.status, 431);
  r = await handshakeStatus('GARBAGE\r\n\r\n');
  assert.equal(r.status, 400);
});

test('"Connection: keep-alive, Upgrade" and a head split byte by byte are accepted', async () => {
  const raw = await rawConnect(srv.port);
  const req = upgradeRequest(srv.port, { token: token(), Connection: 'keep-alive, Upgrade' });
  for (const ch of req) { raw.sock.write(ch); }
  const res = await rawResponse(raw);
  assert.equal(res.status, 101);
  raw.sock.destroy();
});

test('absolute-form request targets (RFC 6455 4.2.1, RFC 9112 3.2.2) are served; other schemes are 400', async () => {
  const tok = token();
  for (const path of [`http://127.0.0.1:${srv.port}/chat`, `HTTPS://localhost`, `http://h?x=1`]) {
    const r = await handshakeStatus(upgradeRequest(srv.port, { token: tok }, { path }));
    assert.equal(r.status, 101, path);
  }
  // The query of an absolute URI is where a query token would be read: none is configured here.
  let r = await handshakeStatus(upgradeRequest(srv.port, {}, { path: `http://h/?token=${tok}` }));
  assert.equal(r.status, 401);
  for (const path of ['ws://h/', 'http:///', 'http://user@h/', 'h/']) {
    r = await handshakeStatus(upgradeRequest(srv.port, { token: tok }, { path }));
    assert.equal(r.status, 400, path);
  }
});

test('a silent connection is closed at the handshake timeout', async () => {
  const raw = await rawConnect(srv.port);
  const t0 = Date.now();
  await rawWait(raw, (r) => r.ended, 5000);
  assert.ok(raw.ended);
  const dt = Date.now() - t0;
  assert.ok(dt >= 600 && dt < 3000, `closed after ${dt} ms`);
});

// [name, bytes to send after the upgrade, expected close code]
const violations = [
  ['unmasked frame', () => frame(1, 'hi', { mask: false }), 1002],
  ['RSV1 without an extension', () => frame(1, 'hi', { rsv: 4 }), 1002],
  ['RSV2', () => frame(2, 'hi', { rsv: 2 }), 1002],
  ['reserved data opcode 3', () => frame(3, 'hi'), 1002],
  ['reserved control opcode 0xB', () => frame(0xb, ''), 1002],
  ['ping over 125 bytes', () => frame(9, Buffer.alloc(126)), 1002],
  ['fragmented ping', () => frame(9, 'x', { fin: false }), 1002],
  ['continuation with nothing to continue', () => frame(0, 'x'), 1002],
  ['new message inside a fragmented one', () => Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]), 1002],
  ['invalid UTF-8 in a text message', () => frame(1, Buffer.from([0x68, 0xc3, 0x28])), 1007],
  ['invalid UTF-8 across fragments', () => Buffer.concat([frame(1, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x41]))]), 1007],
  ['message over --max-message', () => frame(2, Buffer.alloc(1001)), 1009],
  ['fragments over --max-message', () => Buffer.concat([frame(2, Buffer.alloc(600), { fin: false }), frame(0, Buffer.alloc(600))]), 1009],
  ['more fragments than --max-fragments', () => Buffer.concat([frame(2, 'x', { fin: false }), ...Array.from({ length: 8 }, () => frame(0, 'x', { fin: false }))]), 1009],
  ['close code 999', () => frame(8, Buffer.from([0x03, 0xe7])), 1002],
  ['close code 1005 on the wire', () => frame(8, Buffer.from([0x03, 0xed])), 1002],
  ['close payload of 1 byte', () => frame(8, Buffer.from([0x03])), 1002],
  ['close reason with invalid UTF-8', () => frame(8, Buffer.from([0x03, 0xe8, 0xff])), 1007],
  ['64-bit length with the top bit set', () => Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 1002],
];

for (const [name, bytes, code] of violations) {
  test(`protocol violation: ${name} -> ${code}`, async () => {
    const raw = await rawOpen(srv.port, token());
    raw.sock.write(bytes());
    const c = await rawCloseFrame(raw);
    assert.ok(c, 'a close frame before TCP close');
    assert.equal(c.code, code);
    await rawWait(raw, (r) => r.ended, 3000);
    assert.ok(raw.ended, 'TCP closed after the close frame');
  });
}

test('ping with payload gets an identical pong; data between fragments with a ping', async () => {
  const raw = await rawOpen(srv.port, token());
  raw.sock.write(frame(9, 'abc'));
  let f = await rawFrame(raw);
  assert.equal(f.opcode, 0xa);
  assert.equal(f.payload.toString(), 'abc');
  assert.equal(f.masked, false);
  raw.sock.write(Buffer.concat([frame(1, 'frag', { fin: false }), frame(9, 'p'), frame(0, 'mented')]));
  f = await rawFrame(raw);
  assert.equal(f.opcode, 0xa);
  f = await rawFrame(raw);
  assert.equal(f.opcode, 1);
  assert.equal(f.payload.toString(), 'fragmented');
  raw.sock.destroy();
});

test('close is echoed with the same code, then TCP closes', async () => {
  const raw = await rawOpen(srv.port, token());
  raw.sock.write(frame(8, Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65]))); // 4000 "bye"
  const c = await rawCloseFrame(raw);
  assert.equal(c.code, 4000);
  await rawWait(raw, (r) => r.ended, 3000);
  assert.ok(raw.ended);
});

test('an empty close is answered with an empty close', async () => {
  const raw = await rawOpen(srv.port, token());
  raw.sock.write(frame(8));
  const c = await rawCloseFrame(raw);
  assert.equal(c.code, null);
});

test('frames split byte by byte are decoded the same', async () => {
  const raw = await rawOpen(srv.port, token());
  const bytes = Buffer.concat([frame(1, 'split-me'), frame(2, Buffer.alloc(300, 1))]);
  for (const b of bytes) raw.sock.write(Buffer.from([b]));
  let f = await rawFrame(raw);
  assert.equal(f.payload.toString(), 'split-me');
  f = await rawFrame(raw);
  assert.equal(f.opcode, 2);
  assert.equal(f.payload.length, 300);
  raw.sock.destroy();
});

test('frames pipelined right after the request head are served', async () => {
  const raw = await rawConnect(srv.port);
  raw.sock.write(Buffer.concat([Buffer.from(upgradeRequest(srv.port, { token: token() })), frame(1, 'early')]));
  const res = await rawResponse(raw);
  assert.equal(res.status, 101);
  const f = await rawFrame(raw);
  assert.equal(f.payload.toString(), 'early');
  raw.sock.destroy();
});
