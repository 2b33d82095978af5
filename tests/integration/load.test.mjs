// 1000 concurrent authenticated connections, all echoing at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, token, connect, closed } from './lib.mjs';

test('1000 concurrent authenticated connections all echo', { timeout: 60000 }, async () => {
  const srv = await startServer(['--threads', '2', '--log-level', 'warn']);
  try {
    const N = 1000;
    const clients = [];
    for (let i = 0; i < N; i += 100) {
      clients.push(...await Promise.all(Array.from({ length: 100 }, (_, j) =>
        connect(srv.url, { headers: { token: token({ sub: `user${i + j}` }) } }))));
    }
    assert.equal(clients.length, N);
    const echoes = clients.map((ws, i) => new Promise((resolve) => {
      ws.once('message', (d) => resolve(d.toString() === `hello from ${i}`));
      ws.send(`hello from ${i}`);
    }));
    const ok = await Promise.all(echoes);
    assert.equal(ok.filter(Boolean).length, N);
    const gone = clients.map(closed);
    for (const ws of clients) ws.close(1000);
    for (const c of await Promise.all(gone)) assert.equal(c.code, 1000);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});
