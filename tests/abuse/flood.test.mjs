// Floods: refused upgrades, connections up to the descriptor limit,
// tiny-fragment messages, pings. Authenticated clients keep echoing through
// each one and must see no error. docs/security.md names these cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  startServer, token, connect, closed, nextMessage, rawConnect, rawOpen, rawResponse, rawWait, rawCloseFrame,
  rawFrame, takeFrame, upgradeRequest, frame, jwt, SECRET, summary, cpuTicks, goodClients, stoppedCounters, sleep,
} from './abuse.mjs';

const REFUSALS = Number(process.env.WSJWT_ABUSE_REFUSALS || 10000);

// The refused requests, in rotation: what each must earn.
function refusedKinds(port) {
  const now = Math.floor(Date.now() / 1000);
  const badSig = token({ sub: 'mallory' }, { expiresIn: '1h' }, 'not-the-secret-0123456789abcdef0123456789');
  const expired = jwt.sign({ sub: 'alice', exp: now - 60 }, SECRET);
  const none = jwt.sign({ sub: 'alice' }, '', { algorithm: 'none' });
  const headTok = (t) => upgradeRequest(port, { token: t });
  return [
    ['bad signature', headTok(badSig), 401],
    ['expired', headTok(expired), 401],
    ['alg none', headTok(none), 401],
    ['garbage token', headTok('garbage.garbage.garbage'), 401],
    ['no token', upgradeRequest(port), 401],
    ['garbage head', 'GET / HTTP/1.1\r\nHo(st: x\r\n\r\n', 400],
    ['binary garbage', null, 400],
  ];
}

test('refused-flood: 10 000 refused upgrades while authenticated clients echo', { timeout: 120000 }, async () => {
  const srv = await startServer(['--log-level', 'warn']);
  const good = await goodClients(srv.url, 8, token());
  const kinds = refusedKinds(srv.port);
  const wrong = [];
  let served = 0, next = 0;
  const t0 = Date.now();
  try {
    async function worker() {
      for (;;) {
        const i = next++;
        if (i >= REFUSALS) return;
        const [name, head, want] = kinds[i % kinds.length];
        const raw = await rawConnect(srv.port);
        // Garbage that is not a request line: random bytes ending a "line".
        raw.sock.write(head ?? Buffer.concat([crypto.randomBytes(64).map((b) => (b === 13 || b === 10 ? 65 : b)), Buffer.from('\r\n\r\n')]));
        const res = await rawResponse(raw);
        await rawWait(raw, (r) => r.ended, 5000);
        raw.sock.destroy();
        if (!res || res.status !== want) wrong.push(`${name}: ${res && res.status}`);
        else served++;
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker));
    const secs = (Date.now() - t0) / 1000;
    await good.stop();
    summary('refused-flood', `${served} refusals served in ${secs.toFixed(1)} s, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.deepEqual(wrong.slice(0, 5), []);
    assert.equal(served, REFUSALS);
    assert.deepEqual(good.errors, []);
    assert.ok(good.echoed > 0);
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0);
    const c = stoppedCounters(srv.stderr());
    assert.equal(c.refused, REFUSALS);
  }
});

test('emfile-flood: connections past the descriptor limit are shed cleanly, no spin, recovery', { timeout: 60000 }, async () => {
  // 128 descriptors: a few for the process, the rest for connections; the
  // flood opens 600.
  const srv = await startServer(['--handshake-timeout', '3s'], {}, { fdLimit: 128 });
  // Paced, so that the CPU figure measures the server's accept path and not
  // the echoes (an unpaced echo loop keeps a core busy by itself).
  const good = await goodClients(srv.url, 4, token(), { paceMs: 10 });
  const raws = [];
  try {
    for (let i = 0; i < 600; i++) raws.push(await rawConnect(srv.port));
    await sleep(300);
    const shedEarly = raws.filter((r) => r.ended).length;
    // Saturated: the server holds what it can and must not spin.
    const t0 = cpuTicks(srv.proc.pid);
    await sleep(1000);
    const ticks = cpuTicks(srv.proc.pid) - t0;
    const held = raws.filter((r) => !r.ended).length;
    // Held connections that never send a head are cut at the handshake
    // timeout; then the server serves new clients again.
    for (const r of raws) r.sock.destroy();
    await sleep(300);
    const ws = await connect(srv.url, { headers: { token: token() } });
    ws.send('after the flood');
    const echo = (await nextMessage(ws)).data.toString();
    ws.close();
    await closed(ws);
    await good.stop();
    summary('emfile-flood', `600 connections at fd limit 128: ${held} held, ${shedEarly} shed with a close, server CPU ${ticks * 10} ms in 1 s saturated, recovered: ${echo === 'after the flood'}, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.ok(shedEarly > 0, 'some connections were shed');
    assert.ok(ticks < 30, `server used ${ticks} ticks in 1 s while saturated`);
    assert.equal(echo, 'after the flood');
    assert.deepEqual(good.errors, []);
  } finally {
    for (const r of raws) r.sock.destroy();
    const r = await srv.stop();
    assert.equal(r.code, 0);
    assert.ok(stoppedCounters(srv.stderr()).accept_errors > 0);
  }
});

test('emfile-flood-threads: with two loops sharing the descriptor table, shedding keeps working flood after flood', { timeout: 60000 }, async () => {
  // Each loop keeps a reserve descriptor to shed with. With two loops, the
  // descriptor one releases can be taken by the other's accept first: the
  // reserve was then lost for good and later floods waited in the backlog
  // instead of being shed (166 of 400 shed per flood instead of 289). The
  // race is timing-dependent: acceptor.c checks the fix deterministically;
  // this case reports the figure under real load.
  const srv = await startServer(['--threads', '2', '--handshake-timeout', '1s'], {}, { fdLimit: 128 });
  const shed = [];
  try {
    for (let round = 0; round < 4; round++) {
      const raws = [];
      for (let i = 0; i < 400; i++) raws.push(await rawConnect(srv.port));
      await sleep(500);
      shed.push(raws.filter((r) => r.ended).length);
      for (const r of raws) r.sock.destroy();
      await sleep(1500); // the held ones are closed; descriptors free again
    }
    // A fresh client is served after the floods.
    const ws = await connect(srv.url, { headers: { token: token() } });
    ws.send('after the floods');
    const echo = (await nextMessage(ws)).data.toString();
    ws.close();
    await closed(ws);
    summary('emfile-flood-threads', `4 floods of 400 connections at fd limit 128 on 2 loops: shed ${shed.join(', ')} (a flood leaves at most 128 held; fewer shed means a loop lost the race for its reserve during that flood), recovered: ${echo === 'after the floods'}`);
    // Every flood is shed from, and the server recovers. How many are shed
    // depends on the race (once lost, a reserve comes back only when a
    // descriptor frees): acceptor.c asserts the recovery itself.
    assert.ok(shed.every((n) => n > 0), `shed per flood: ${shed.join(', ')}`);
    assert.equal(echo, 'after the floods');
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('fragment-flood: a cap on fragments per message as well as bytes', { timeout: 60000 }, async () => {
  const srv = await startServer(['--max-fragments', '1024']);
  const good = await goodClients(srv.url, 4, token());
  try {
    // N: 1024 one-byte fragments make a message, echoed whole.
    const ok = await rawOpen(srv.port, token());
    const frags = [frame(1, 'a', { fin: false })];
    for (let i = 1; i < 1023; i++) frags.push(frame(0, 'a', { fin: false }));
    frags.push(frame(0, 'a'));
    ok.sock.write(Buffer.concat(frags));
    const f = await rawFrame(ok, 10000);
    assert.equal(f.opcode, 1);
    assert.equal(f.payload.toString(), 'a'.repeat(1024));
    ok.sock.destroy();
    // N+1, from 16 peers at once, each sending 5000 one-byte fragments: all
    // closed with 1009 at fragment 1025.
    const peers = await Promise.all(Array.from({ length: 16 }, () => rawOpen(srv.port, token())));
    const flood = Buffer.concat([frame(2, 'x', { fin: false }), ...Array.from({ length: 4999 }, () => frame(0, 'x', { fin: false }))]);
    for (const p of peers) p.sock.write(flood);
    const codes = await Promise.all(peers.map((p) => rawCloseFrame(p, 10000)));
    for (const p of peers) p.sock.destroy();
    await good.stop();
    const n1009 = codes.filter((c) => c && c.code === 1009).length;
    summary('fragment-flood', `1024 fragments echoed as one message; ${peers.length} peers x 5000 one-byte fragments: ${n1009} closed with 1009, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(n1009, peers.length);
    assert.deepEqual(good.errors, []);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('ping-flood: every ping from a reading peer gets its identical pong', { timeout: 60000 }, async () => {
  const srv = await startServer([]);
  const good = await goodClients(srv.url, 4, token());
  try {
    const PEERS = 8, PINGS = 5000;
    const peers = await Promise.all(Array.from({ length: PEERS }, () => rawOpen(srv.port, token())));
    const results = await Promise.all(peers.map(async (p, k) => {
      const pings = [];
      for (let i = 0; i < PINGS; i++) pings.push(frame(9, Buffer.from(`${k}:${i}`.padEnd(125, '.'))));
      p.sock.write(Buffer.concat(pings));
      let got = 0, bad = 0;
      while (got + bad < PINGS) {
        const f = await rawFrame(p, 10000);
        if (!f) break;
        if (f.opcode === 10 && f.payload.toString() === `${k}:${got}`.padEnd(125, '.')) got++;
        else bad++;
      }
      p.sock.destroy();
      return { got, bad };
    }));
    await good.stop();
    const got = results.reduce((a, r) => a + r.got, 0), bad = results.reduce((a, r) => a + r.bad, 0);
    summary('ping-flood', `${PEERS * PINGS} pings, ${got} identical pongs, ${bad} wrong, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(got, PEERS * PINGS);
    assert.deepEqual(good.errors, []);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});
