// Hostile input at a live server, interleaved with good traffic: every
// malformed request head and frame the unit tests know, oversized
// everything, invalid UTF-8 at every position of a fragmented message,
// compression bombs when the server speaks permessage-deflate.
// docs/security.md names these cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  startServer, token, rawConnect, rawOpen, rawResponse, rawWait, rawFrame, rawCloseFrame, upgradeRequest, frame,
  summary, goodClients, stoppedCounters, BIN, jwt, SECRET,
} from './abuse.mjs';

const HOST = 'Host: x\r\n';
const UPG = 'Upgrade: websocket\r\nConnection: Upgrade\r\n';
const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const VER = 'Sec-WebSocket-Version: 13\r\n';

// Request heads and the status each earns (tests/unit/test_http_request.c
// has the same heads against the parser alone).
const HEADS = [
  ['bare LF', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 400],
  ['lone LF', '\n', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 400],
  ['space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
  ['empty name', 'GET / HTTP/1.1\r\n: x\r\n\r\n', 400],
  ['not a tchar', 'GET / HTTP/1.1\r\nHo(st: x\r\n\r\n', 400],
  ['no colon', 'GET / HTTP/1.1\r\nHost x\r\n\r\n', 400],
  ['control byte', 'GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n', 400],
  ['DEL', 'GET / HTTP/1.1\r\nHost: a\x7fz\r\n\r\n', 400],
  ['NUL', 'GET / HTTP/1.1\r\nHost: a\x00z\r\n\r\n', 400],
  ['bare CR', 'GET / HTTP/1.1\r\nHost: a\rz\r\n\r\n', 400],
  ['absolute-form, not http(s)', 'GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['asterisk', 'GET * HTTP/1.1\r\n\r\n', 400],
  ['space in target', 'GET /a b HTTP/1.1\r\n\r\n', 400],
  ['double space', 'GET  / HTTP/1.1\r\n\r\n', 400],
  ['raw non-ASCII target', 'GET /\xc3\xa9 HTTP/1.1\r\n\r\n', 400],
  ['lower-case version', 'GET / http/1.1\r\n\r\n', 400],
  ['HTTP/0.9', 'GET /\r\n\r\n', 400],
  ['empty', '\r\n\r\n', 400],
  ['leading space', ' GET / HTTP/1.1\r\n\r\n', 400],
  ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: x\r\n\r\n', 400],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 400],
  ['POST', `POST / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}\r\n`, 405],
  ['lower-case get', `get / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}\r\n`, 405],
  ['no Host', `GET / HTTP/1.1\r\n${UPG}${KEY}${VER}\r\n`, 400],
  ['two Hosts', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n${UPG}${KEY}${VER}\r\n`, 400],
  ['no Upgrade', `GET / HTTP/1.1\r\n${HOST}Connection: Upgrade\r\n${KEY}${VER}\r\n`, 400],
  ['Upgrade: h2c', `GET / HTTP/1.1\r\n${HOST}Upgrade: h2c\r\nConnection: Upgrade\r\n${KEY}${VER}\r\n`, 400],
  ['Connection: keep-alive', `GET / HTTP/1.1\r\n${HOST}Upgrade: websocket\r\nConnection: keep-alive\r\n${KEY}${VER}\r\n`, 400],
  ['no version', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}\r\n`, 426],
  ['version 8', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}Sec-WebSocket-Version: 8\r\n\r\n`, 426],
  ['two versions', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}${VER}\r\n`, 426],
  ['no key', `GET / HTTP/1.1\r\n${HOST}${UPG}${VER}\r\n`, 400],
  ['two keys', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${KEY}${VER}\r\n`, 400],
  ['short key', `GET / HTTP/1.1\r\n${HOST}${UPG}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n${VER}\r\n`, 400],
  ['url-safe key', `GET / HTTP/1.1\r\n${HOST}${UPG}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_\r\n${VER}\r\n`, 400],
  ['long key', `GET / HTTP/1.1\r\n${HOST}${UPG}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSBub25jZQ==\r\n${VER}\r\n`, 400],
  ['two Origins', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}Origin: a\r\nOrigin: b\r\n\r\n`, 400],
  ['no token', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}\r\n`, 401],
  ['two different tokens', null, 400],
  ['head over 8 KiB', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}X-Pad: ${'a'.repeat(8200)}\r\n\r\n`, 431],
  ['65 header lines', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}${'X-A: b\r\n'.repeat(61)}\r\n`, 431],
  ['token of 7000 bytes', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}token: ${'A'.repeat(3500)}.${'B'.repeat(3499)}\r\n\r\n`, 401],
  ['token of 20000 bytes', `GET / HTTP/1.1\r\n${HOST}${UPG}${KEY}${VER}token: ${'A'.repeat(20000)}\r\n\r\n`, 431],
  // The server answers 431 after 8 KiB and closes with the rest unread: the
  // kernel then resets the connection, which may destroy the 431 before the
  // client reads it (null). Either way the connection ends.
  ['a megabyte of head', `GET / HTTP/1.1\r\nX: ${'a'.repeat(1 << 20)}`, [431, null]],
];

// Frames on an open connection and the close code each earns
// (tests/unit/test_ws_frame.c has the same frames against the decoder).
const len64 = (b0, n, mask = true) => {
  const h = Buffer.alloc(14);
  h[0] = b0; h[1] = (mask ? 0x80 : 0) | 127; h.writeBigUInt64BE(n, 2);
  return h;
};
const closeFrame = (code, reason = Buffer.alloc(0)) => {
  const p = Buffer.alloc(2 + reason.length); p.writeUInt16BE(code, 0); reason.copy(p, 2);
  return frame(8, p);
};
const FRAMES = [
  ['unmasked text', frame(1, 'hi', { mask: false }), 1002],
  ['RSV1 without an extension', frame(1, 'hi', { rsv: 4 }), 1002],
  ['RSV2', frame(1, 'hi', { rsv: 2 }), 1002],
  ['RSV3', frame(1, 'hi', { rsv: 1 }), 1002],
  ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op) => [`reserved opcode ${op}`, frame(op, 'x'), 1002]),
  ['ping of 126 bytes', frame(9, Buffer.alloc(126)), 1002],
  ['fragmented ping', frame(9, 'x', { fin: false }), 1002],
  ['fragmented close', frame(8, Buffer.from([3, 232]), { fin: false }), 1002],
  ['continuation with nothing to continue', frame(0, 'x'), 1002],
  ['new text inside a fragmented message', Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]), 1002],
  ['close with a 1-byte payload', frame(8, Buffer.from([3])), 1002],
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((c) => [`close code ${c}`, closeFrame(c), 1002]),
  ['close reason not UTF-8', closeFrame(1000, Buffer.from([0xc3, 0x28])), 1007],
  ['text not UTF-8', frame(1, Buffer.from([0x61, 0xff])), 1007],
  ['length field 2^63 (top bit set)', len64(0x82, 1n << 63n), 1002],
  ['length field 2^64-1', len64(0x82, (1n << 64n) - 1n), 1002],
  ['length field 2^63-1', len64(0x82, (1n << 63n) - 1n), 1009],
  ['length field 2^32', len64(0x82, 1n << 32n), 1009],
  ['length field 1 MiB + 1', len64(0x82, (1n << 20n) + 1n), 1009],
  ['message 1 MiB + 1 in fragments', Buffer.concat([frame(2, Buffer.alloc(1 << 19), { fin: false }), frame(0, Buffer.alloc(1 << 19), { fin: false }), frame(0, Buffer.alloc(1))]), 1009],
];

async function refusalStatus(port, head) {
  const raw = await rawConnect(port);
  raw.sock.write(head, 'latin1');
  const res = await rawResponse(raw);
  await rawWait(raw, (r) => r.ended, 5000);
  raw.sock.destroy();
  return res ? res.status : null;
}

async function frameClose(port, bytes) {
  const raw = await rawOpen(port, token());
  raw.sock.write(bytes);
  const c = await rawCloseFrame(raw, 5000);
  await rawWait(raw, (r) => r.ended, 5000).catch(() => {});
  raw.sock.destroy();
  return c ? c.code : null;
}

test('hostile-heads and hostile-frames: every malformed head and frame, interleaved with good traffic', { timeout: 60000 }, async () => {
  const srv = await startServer(['--log-level', 'warn']);
  const good = await goodClients(srv.url, 4, token(), { paceMs: 2 });
  const wrong = [];
  try {
    for (const [name, head0, want] of HEADS) {
      const head = head0 ?? upgradeRequest(srv.port, { token: token(), Authorization: `Bearer ${token({ sub: 'bob' })}` });
      const got = await refusalStatus(srv.port, head);
      if (Array.isArray(want) ? !want.includes(got) : got !== want) wrong.push(`head ${name}: ${got}, want ${want}`);
    }
    for (const [name, bytes, want] of FRAMES) {
      const got = await frameClose(srv.port, bytes);
      if (got !== want) wrong.push(`frame ${name}: ${got}, want ${want}`);
    }
    await good.stop();
    summary('hostile-input', `${HEADS.length} malformed or oversized heads and ${FRAMES.length} malformed or oversized frames answered with the expected status or close code: ${HEADS.length + FRAMES.length - wrong.length}, wrong: ${wrong.length}, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.deepEqual(wrong, []);
    assert.deepEqual(good.errors, []);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('utf8-every-position: invalid UTF-8 at every position of a fragmented text message is 1007', { timeout: 60000 }, async () => {
  const srv = await startServer(['--log-level', 'warn']);
  try {
    const text = Buffer.from('aé€😀z'.repeat(3));
    const bad = [Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80])];
    let cases = 0, ok = 0, echoed = 0;
    const wrong = [];
    for (let pos = 0; pos <= text.length; pos++) {
      // Only at character boundaries: inside a character every insertion
      // is invalid too, and is covered by the truncations below.
      for (const b of bad) {
        const msg = Buffer.concat([text.subarray(0, pos), b, text.subarray(pos)]);
        const parts = [];
        for (let i = 0; i < msg.length; i += 3) {
          const last = i + 3 >= msg.length;
          parts.push(frame(i === 0 ? 1 : 0, msg.subarray(i, i + 3), { fin: last }));
        }
        cases++;
        const code = await frameClose(srv.port, Buffer.concat(parts));
        if (code === 1007) ok++;
        else wrong.push(`pos ${pos} ${b.toString('hex')}: ${code}`);
      }
    }
    // A message cut inside a character at its end: 1007 at the last frame.
    for (let cut = 1; cut <= 3; cut++) {
      const msg = Buffer.concat([Buffer.from('ok'), Buffer.from('😀').subarray(0, cut)]);
      cases++;
      const code = await frameClose(srv.port, Buffer.concat([frame(1, msg.subarray(0, 2), { fin: false }), frame(0, msg.subarray(2))]));
      if (code === 1007) ok++;
      else wrong.push(`truncated ${cut}: ${code}`);
    }
    // The valid text split at every byte position still echoes.
    const raw = await rawOpen(srv.port, token());
    for (let cut = 1; cut < text.length; cut++) {
      raw.sock.write(Buffer.concat([frame(1, text.subarray(0, cut), { fin: false }), frame(0, text.subarray(cut))]));
      const f = await rawFrame(raw, 5000);
      if (f && f.opcode === 1 && Buffer.compare(f.payload, text) === 0) echoed++;
    }
    raw.sock.destroy();
    summary('utf8-every-position', `${ok}/${cases} invalid fragmented texts closed with 1007, ${echoed}/${text.length - 1} valid splits echoed, wrong: ${wrong.length}`);
    assert.deepEqual(wrong, []);
    assert.equal(echoed, text.length - 1);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('deflate-bomb: a compressed message inflating past --max-message is 1009', { timeout: 30000 }, async (t) => {
  const help = spawnSync(BIN, ['serve', '--help'], { encoding: 'utf8' });
  if (!/--deflate/.test(help.stdout + help.stderr)) {
    summary('deflate-bomb', 'not run: `wsjwt serve` has no --deflate yet');
    t.skip('serve has no --deflate');
    return;
  }
  const zlib = await import('node:zlib');
  const srv = await startServer(['--deflate', 'shared', '--max-message', '1m']);
  try {
    // 64 MiB of zeros deflate to about 64 KiB: a 1000:1 bomb.
    const z = zlib.deflateRawSync(Buffer.alloc(64 << 20), { level: 9 });
    const body = z.subarray(0, z.length - 4); // RFC 7692 7.2.1: the tail is stripped
    const raw = await rawConnect(srv.port);
    raw.sock.write(upgradeRequest(srv.port, { token: token(), 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    const res = await rawResponse(raw);
    assert.equal(res.status, 101);
    assert.match(res.headers['sec-websocket-extensions'] || '', /permessage-deflate/);
    raw.sock.write(frame(2, body, { rsv: 4 }));
    const c = await rawCloseFrame(raw, 10000);
    raw.sock.destroy();
    summary('deflate-bomb', `${body.length} compressed bytes announcing 64 MiB: close ${c && c.code}`);
    assert.equal(c && c.code, 1009);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('refusals-identical: every refused token earns the same bytes; the reason only goes to an unforgeable log line', { timeout: 30000 }, async () => {
  const srv = await startServer(['--alg', 'HS256']);
  try {
    const now = Math.floor(Date.now() / 1000);
    const other = 'not-the-secret-0123456789abcdef0123456789';
    const forged = 'mallory"\nts=2026-01-01T00:00:00Z level=error event=forged';
    const cases = [
      ['no token', null],
      ['bad signature', token({ sub: forged }, { expiresIn: '1h' }, other)],
      ['expired', jwt.sign({ sub: 'alice', exp: now - 60 }, SECRET)],
      ['not yet valid', jwt.sign({ sub: 'alice', nbf: now + 3600 }, SECRET)],
      ['alg none', jwt.sign({ sub: 'alice' }, '', { algorithm: 'none' })],
      ['HS512 when only HS256 is allowed', jwt.sign({ sub: 'alice' }, SECRET, { algorithm: 'HS512' })],
      ['garbage', 'garbage'],
      ['three dots', 'a.b.c'],
      ['a kid with a newline', jwt.sign({ sub: 'x' }, other, { keyid: 'k"\nlevel=error event=forged' })],
    ];
    const answers = new Map();
    for (const [name, t] of cases) {
      const raw = await rawConnect(srv.port);
      raw.sock.write(upgradeRequest(srv.port, t ? { token: t } : {}));
      await rawWait(raw, (r) => r.ended, 3000).catch(() => {});
      raw.sock.destroy();
      answers.set(name, raw.buf.toString('latin1'));
    }
    const distinct = new Set(answers.values());
    await srv.stop();
    const log = srv.stderr().split('\n');
    const refusedLines = log.filter((l) => l.includes('event=refused')).length;
    const forgedLines = log.filter((l) => /^ts=2026-01-01|^level=error event=forged|event=forged/.test(l) && !l.includes('event=refused')).length;
    summary('refusals-identical', `${cases.length} kinds of refused token, ${distinct.size} distinct answer(s) (401, ${[...distinct][0].length} bytes), ${refusedLines} refusal log lines with the reason, forged log lines: ${forgedLines}`);
    assert.equal(distinct.size, 1);
    assert.match([...distinct][0], /^HTTP\/1\.1 401 /);
    assert.equal(refusedLines, cases.length);
    assert.equal(forgedLines, 0);
  } finally {
    await srv.stop();
  }
});

test('origin-refused: an Origin outside the allow-list is 403 before the token is looked at', { timeout: 30000 }, async () => {
  const srv = await startServer(['--origin', 'https://good.example']);
  try {
    const statuses = {};
    for (const [name, origin, tok] of [
      ['foreign origin, valid token', 'https://evil.example', token()],
      ['foreign origin, no token', 'https://evil.example', null],
      ['allowed origin, valid token', 'https://good.example', token()],
      ['no origin (not a browser), valid token', null, token()],
    ]) {
      const raw = await rawConnect(srv.port);
      const h = {};
      if (origin) h.Origin = origin;
      if (tok) h.token = tok;
      raw.sock.write(upgradeRequest(srv.port, h));
      const res = await rawResponse(raw);
      raw.sock.destroy();
      statuses[name] = res && res.status;
    }
    summary('origin-refused', Object.entries(statuses).map(([k, v]) => `${k}: ${v}`).join(', '));
    assert.deepEqual(Object.values(statuses), [403, 403, 101, 101]);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});
