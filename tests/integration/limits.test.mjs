// Descriptor exhaustion (EMFILE): the server sheds the connections it cannot
// hold with a clean close, does not spin, and serves again once descriptors
// are free. Broadcast across two event loops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { startServer, token, connect, closed, nextMessage, rawConnect, waitFor, BIN } from './lib.mjs';

// User + system CPU ticks of a process (/proc/PID/stat fields 14 and 15).
function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

test('out of descriptors: connections are shed, no busy loop, recovery', { timeout: 60000 }, async () => {
  const srv = await startServer([], {}, { fdLimit: 48 });
  try {
    const raws = [];
    for (let i = 0; i < 80; i++) raws.push(await rawConnect(srv.port));
    // Some connections cannot get a descriptor: they are closed at once.
    await waitFor(() => raws.filter((r) => r.ended).length > 0, 5000);
    // The listener does not spin while descriptors stay exhausted.
    const t0 = cpuTicks(srv.proc.pid);
    await new Promise((r) => setTimeout(r, 1000));
    const used = cpuTicks(srv.proc.pid) - t0;
    assert.ok(used < 30, `server used ${used} ticks in 1 s while out of descriptors`);
    for (const r of raws) r.sock.destroy();
    // The held ones time out or close; then the server serves again.
    await new Promise((r) => setTimeout(r, 300));
    const ws = await connect(srv.url, { headers: { token: token() } });
    ws.send('after EMFILE');
    assert.equal((await nextMessage(ws)).data.toString(), 'after EMFILE');
    ws.close();
    await closed(ws);
  } finally {
    const r = await srv.stop();
    assert.equal(r.code, 0);
    assert.match(srv.stderr(), /accept_errors=[1-9]/);
  }
});

test('--mode broadcast reaches clients on every event loop (--threads 2)', async () => {
  const srv = await startServer(['--mode', 'broadcast', '--threads', '2']);
  try {
    const clients = await Promise.all(Array.from({ length: 12 }, () => connect(srv.url, { headers: { token: token() } })));
    const [sender, ...others] = clients;
    for (let round = 0; round < 3; round++) {
      const got = others.map((ws) => nextMessage(ws));
      sender.send(`round ${round}`);
      for (const m of await Promise.all(got)) assert.equal(m.data.toString(), `round ${round}`);
    }
    for (const ws of clients) ws.close();
    await Promise.all(clients.map(closed));
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('a port already in use is an error, with several threads too (no silent SO_REUSEPORT sharing)', async () => {
  const srv = await startServer(['--threads', '2']);
  try {
    for (const threads of ['1', '2']) {
      const r = spawnSync(BIN, ['serve', '--host', '127.0.0.1', '--port', String(srv.port), '--threads', threads],
        { env: { ...process.env, JWT_SECRET: 'x'.repeat(32) }, timeout: 10000, encoding: 'utf8' });
      assert.equal(r.status, 1, `threads ${threads}: ${r.stderr}`);
      assert.match(r.stderr, /cannot listen/);
    }
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});
