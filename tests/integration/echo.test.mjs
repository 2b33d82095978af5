// Echo through `wsjwt serve --mode echo` with the real `ws` client, used as
// the tutorial uses it: new WebSocket(url, { headers: { token } }).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, token, connect, nextMessage, closed } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(['--mode', 'echo']); });
after(async () => { const r = await srv.stop(); assert.equal(r.code, 0); });

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 200000, 1024 * 1024];

test('text and binary echo from 0 bytes to 1 MiB (token header)', async () => {
  const ws = await connect(srv.url, { headers: { token: token() } });
  for (const n of SIZES) {
    const bin = crypto.randomBytes(n);
    ws.send(bin);
    let m = await nextMessage(ws);
    assert.equal(m.isBinary, true);
    assert.ok(Buffer.compare(m.data, bin) === 0, `binary ${n} bytes`);
    const text = 'é'.repeat(Math.floor(n / 2)) + (n % 2 ? 'x' : '');
    ws.send(text);
    m = await nextMessage(ws);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), text, `text ${n} bytes`);
  }
  ws.close(1000, 'done');
  const c = await closed(ws);
  assert.equal(c.code, 1000);
});

test('fragmented messages are reassembled', async () => {
  const ws = await connect(srv.url, { headers: { token: token() } });
  const parts = ['héllo ', 'frag', 'mented ', 'wörld'];
  parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1 }));
  const m = await nextMessage(ws);
  assert.equal(m.data.toString(), parts.join(''));
  ws.close();
  await closed(ws);
});

test('many messages in flight come back in order', async () => {
  const ws = await connect(srv.url, { headers: { token: token() } });
  const N = 2000;
  const got = [];
  const done = new Promise((resolve) => ws.on('message', (d) => { got.push(d.toString()); if (got.length === N) resolve(); }));
  for (let i = 0; i < N; i++) ws.send(`m${i}`);
  await done;
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => `m${i}`));
  ws.close();
  await closed(ws);
});

test('Authorization: Bearer is accepted', async () => {
  const ws = await connect(srv.url, { headers: { Authorization: `Bearer ${token()}` } });
  ws.send('bearer');
  assert.equal((await nextMessage(ws)).data.toString(), 'bearer');
  ws.close();
  await closed(ws);
});

test('the token as a subprotocol is accepted and never echoed', async () => {
  const tok = token();
  const ws = await connect(srv.url, {}, ['access_token', tok]);
  assert.equal(ws.protocol, 'access_token');
  ws.send('browser');
  assert.equal((await nextMessage(ws)).data.toString(), 'browser');
  ws.close();
  await closed(ws);
});

test('server answers pings with identical pongs', async () => {
  const ws = await connect(srv.url, { headers: { token: token() } });
  const payload = Buffer.from('ping-payload-123');
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(payload);
  assert.ok(Buffer.compare(await pong, payload) === 0);
  ws.close();
  await closed(ws);
});
