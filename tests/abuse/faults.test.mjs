// Faults: accept() errors injected (WSJWT_FAULT_ACCEPT, a test seam in
// src/net/sock.c), SIGHUP key reloads under load, SIGTERM under load,
// expiry under load, a log reader that stalls.
// Callbacks that close their connection are in callbacks.c (a C program on
// the library). docs/security.md names these cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  startServer, token, connect, closed, nextMessage, summary, cpuTicks, goodClients, stoppedCounters, sleep, SECRET,
  BIN, rawConnect, rawResponse, upgradeRequest, waitFor, nonLogfmtLines,
} from './abuse.mjs';

// One client: connect, echo, close. Resolves 'ok' or the failure.
async function oneEcho(url, tok, text) {
  try {
    const ws = await connect(url, { headers: { token: tok } });
    ws.send(text);
    const m = (await nextMessage(ws)).data.toString();
    ws.close(1000);
    await closed(ws);
    return m === text ? 'ok' : 'mismatch';
  } catch (e) {
    return e.status ? `status ${e.status}` : (e.code || e.message);
  }
}

test('accept-faults: injected accept() errors are retried, paused or shed, never a spin or a crash', { timeout: 60000 }, async () => {
  const lines = [];
  for (const e of ['ECONNABORTED', 'ENOMEM', 'ENOBUFS', 'EPERM', 'EMFILE']) {
    // Every 3rd accept() fails. A short handshake timeout makes the sweep
    // (which resumes a paused listener) run every 100 ms.
    const srv = await startServer(['--handshake-timeout', '400ms'], { WSJWT_FAULT_ACCEPT: `${e}:3` });
    try {
      const CLIENTS = 30;
      let ok = 0, failed = 0, attempts = 0;
      const t0 = cpuTicks(srv.proc.pid);
      for (let i = 0; i < CLIENTS; i++) {
        // A shed connection is closed by the server: the client retries, as
        // a client of an overloaded server does.
        for (let tries = 0; tries < 3; tries++) {
          attempts++;
          const r = await oneEcho(srv.url, token(), `fault ${e} ${i}`);
          if (r === 'ok') { ok++; break; }
          failed++;
        }
      }
      const ticks = cpuTicks(srv.proc.pid) - t0;
      const r = await srv.stop();
      const c = stoppedCounters(srv.stderr());
      lines.push(`${e}: ${ok}/${CLIENTS} served, ${failed} shed, accept_errors=${c.accept_errors}, CPU ${ticks * 10} ms`);
      assert.equal(r.code, 0);
      assert.equal(ok, CLIENTS, `${e}: all clients served`);
      if (e === 'ECONNABORTED') assert.equal(c.accept_errors, 0, 'ECONNABORTED is retried, not an error');
      else assert.ok(c.accept_errors >= 9, `${e}: accept_errors ${c.accept_errors}`);
      // Only EMFILE sheds (the reserve descriptor takes the pending
      // connection and closes it); the others leave it queued.
      if (e !== 'EMFILE') assert.equal(failed, 0, `${e}: no client saw an error`);
      else assert.ok(failed > 0, 'EMFILE sheds');
      assert.ok(ticks < 200, `${e}: ${ticks} ticks`);
    } finally {
      await srv.stop();
    }
  }
  summary('accept-faults', `every 3rd accept() failing: ${lines.join('; ')}`);
});

test('sighup-under-load: 20 key reloads while clients echo and new clients connect', { timeout: 60000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsjwt-abuse-'));
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, SECRET, { mode: 0o600 });
  const srv = await startServer(['--secret-file', file]);
  const good = await goodClients(srv.url, 8, token());
  let upgrades = 0, upgradeErrors = 0, running = true;
  const churn = (async () => {
    while (running) {
      if ((await oneEcho(srv.url, token(), 'churn')) === 'ok') upgrades++;
      else upgradeErrors++;
    }
  })();
  try {
    // Each signal waits for the previous reload's line: two SIGHUPs pending
    // at once are one signal (POSIX does not queue them), so on a loaded
    // machine signals 50 ms apart merged (19 reloads of 20 once).
    const reloaded = () => (srv.stderr().match(/event=keys_reloaded/g) || []).length;
    for (let i = 0; i < 20; i++) {
      srv.proc.kill('SIGHUP');
      await waitFor(() => reloaded() === i + 1, 10000);
      await sleep(20);
    }
    await sleep(300);
    running = false;
    await churn;
    const reloads = reloaded();
    // A rotated secret: new tokens verify at once, old connections stay.
    const NEW = 'rotated-secret-0123456789abcdef0123456789abcd';
    fs.writeFileSync(file, NEW);
    srv.proc.kill('SIGHUP');
    await waitFor(() => reloaded() === 21, 10000);
    const rotated = await oneEcho(srv.url, token(undefined, undefined, NEW), 'rotated');
    const old = await oneEcho(srv.url, token(), 'old');
    await good.stop();
    summary('sighup-under-load', `${reloads} reloads during load, ${upgrades} upgrades and ${upgradeErrors} upgrade errors meanwhile, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}; after rotation new token: ${rotated}, old token: ${old}`);
    assert.equal(reloads, 20);
    assert.equal(upgradeErrors, 0);
    assert.deepEqual(good.errors, []);
    assert.equal(rotated, 'ok');
    assert.equal(old, 'status 401');
  } finally {
    running = false;
    assert.equal((await srv.stop()).code, 0);
    fs.rmSync(dir, { recursive: true, force: true });
    // keys_reloaded, stopping, stopped (serve's own lines) are logfmt with
    // ts, level and event like the library's.
    assert.deepEqual(nonLogfmtLines(srv.stderr()), []);
  }
});

test('sigterm-under-load: every client gets 1001, exit 0 within the shutdown timeout', { timeout: 60000 }, async () => {
  const srv = await startServer(['--shutdown-timeout', '3s']);
  const CLIENTS = 200;
  const good = await goodClients(srv.url, CLIENTS, token());
  const codes = good.clients.map((ws) => closed(ws));
  await sleep(300);
  const echoed = good.echoed;
  const t0 = Date.now();
  const stop = srv.stop();
  const got = await Promise.all(codes);
  const r = await stop;
  const ms = Date.now() - t0;
  good.running = false;
  const n1001 = got.filter((c) => c.code === 1001).length;
  summary('sigterm-under-load', `${CLIENTS} clients echoing (${echoed} messages), SIGTERM: ${n1001} closed with 1001, exit ${r.code} after ${ms} ms`);
  assert.equal(n1001, CLIENTS);
  assert.equal(r.code, 0);
  assert.ok(ms < 3000, `exit after ${ms} ms`);
});

test('expiry-under-load: tokens that expire on open connections close them with 1008; others keep echoing', { timeout: 30000 }, async () => {
  const srv = await startServer([]);
  const good = await goodClients(srv.url, 4, token(), { paceMs: 5 });
  const PEERS = 50;
  try {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const short = token({ sub: 'short', exp }, {});
    const peers = await Promise.all(Array.from({ length: PEERS }, () => connect(srv.url, { headers: { token: short } })));
    const got = await Promise.all(peers.map((ws) => closed(ws)));
    const lateMs = Date.now() - exp * 1000;
    await good.stop();
    const n1008 = got.filter((c) => c.code === 1008 && c.reason === 'token expired').length;
    summary('expiry-under-load', `${n1008}/${PEERS} connections closed with 1008 "token expired" at most ${lateMs} ms after exp, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(n1008, PEERS);
    assert.ok(lateMs < 2500, `closed ${lateMs} ms after exp`);
    assert.deepEqual(good.errors, []);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('log-stall: a log reader that stalls never stalls the server; dropped lines are counted', { timeout: 60000 }, async () => {
  // Spawned by hand: startServer reads stderr. Here nobody reads it for a
  // while, as a stalled log collector: the pipe fills after ~400 lines.
  const proc = spawn(BIN, ['serve', '--host', '127.0.0.1', '--port', '0', '--threads', '1'],
    { env: { ...process.env, JWT_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.pause();
  let out = '';
  const port = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { out += d; const m = /listening on .*:(\d+)/.exec(out); if (m) resolve(Number(m[1])); });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const exited = once(proc, 'exit');
  const url = `ws://127.0.0.1:${port}/`;
  const good = await goodClients(url, 4, token(), { paceMs: 5 });
  try {
    const N = 3000;
    let answered = 0;
    for (let i = 0; i < N; i++) {
      const raw = await rawConnect(port);
      raw.sock.write(upgradeRequest(port, { token: 'bad.bad.bad' }));
      const res = await rawResponse(raw);
      raw.sock.destroy();
      if (res && res.status === 401) answered++;
    }
    // The reader catches up; the next line reports what was dropped.
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    proc.stderr.resume();
    await sleep(300);
    const raw = await rawConnect(port);
    raw.sock.write(upgradeRequest(port, { token: 'bad.bad.bad' }));
    await rawResponse(raw);
    raw.sock.destroy();
    await sleep(300);
    await good.stop();
    const m = /event=log_dropped lines=(\d+)/.exec(err);
    const dropped = m ? Number(m[1]) : 0;
    summary('log-stall', `stderr unread during ${N} refusals: ${answered} answered, ${dropped} log lines dropped and reported, good clients echoed ${good.echoed} messages, errors seen by good clients: ${good.errors.length}`);
    assert.equal(answered, N);
    assert.ok(dropped > 0, 'the drops are reported');
    assert.deepEqual(good.errors, []);
    proc.kill('SIGTERM');
    assert.equal((await exited)[0], 0);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
});
