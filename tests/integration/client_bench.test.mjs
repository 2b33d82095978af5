// `wsjwt bench` against the tutorial's Node `ws` + jsonwebtoken server and
// against `wsjwt serve`, with its checks on: echo (every reply compared),
// upgrade (101 with --sign, 401 with --expect-status), idle, broadcast (against
// `wsjwt serve --mode broadcast` and the Node peer with --broadcast); and proof that
// the checks bite: a server that corrupts replies or drops connections makes
// the run fail with the errors counted by kind. Runs are short (about a
// second each) and small.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { jwt, WebSocket, BIN, SECRET, startServer } from './lib.mjs';

// The tutorial's server, with misbehaviours for the negative tests: path
// /corrupt changes one byte of every 5th reply, /drop closes every
// connection with 1011 after 20 messages, /swap answers every 7th and 8th
// message in the wrong order, /replay answers every 6th message with the
// one before it again.
function startNodeServer() {
  const wss = new WebSocket.Server({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, cb) => {
      const tok = info.req.headers.token;
      if (!tok) return cb(false, 401, 'Unauthorized');
      jwt.verify(tok, SECRET, (err) => (err ? cb(false, 401, 'Unauthorized') : cb(true)));
    },
  });
  wss.on('connection', (ws, req) => {
    let n = 0;
    let held = null;
    let prev = null;
    ws.on('message', (data, isBinary) => {
      n++;
      if (req.url === '/drop' && n === 20) return ws.close(1011, 'dropping');
      if (req.url === '/corrupt' && n % 5 === 0) {
        data = Buffer.from(data);
        data[data.length - 1] ^= 1;
      }
      if (req.url === '/swap' && n % 8 === 7) {
        held = data;
        return;
      }
      const again = req.url === '/replay' && n % 6 === 0 ? prev : null;
      prev = data;
      ws.send(again ?? data, { binary: isBinary });
      if (held) {
        ws.send(held, { binary: isBinary });
        held = null;
      }
    });
  });
  return new Promise((resolve) => wss.on('listening', () => resolve(wss)));
}

function bench(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['bench', ...args, '--json'], {
      env: { PATH: process.env.PATH, JWT_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('bench timed out: ' + err)); }, 60000);
    p.on('close', (code) => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(out); } catch { /* asserted by the caller */ }
      resolve({ code, json, out, err });
    });
  });
}

const SHORT = ['--duration', '1', '--warmup', '0.2'];
let node;
let ours;
let token;
before(async () => {
  node = await startNodeServer();
  ours = await startServer();
  token = jwt.sign({ sub: 'bench' }, SECRET, { expiresIn: '1h' });
});
after(async () => {
  for (const c of node?.clients ?? []) c.terminate();
  node?.close();
  await ours?.stop();
});
const peers = () => [
  ['node ws', `ws://127.0.0.1:${node.address().port}/`],
  ['wsjwt serve', ours.url],
];

test('echo: replies checked, percentiles reported, no errors, against both servers', async () => {
  for (const [name, url] of peers()) {
    for (const extra of [[], ['--binary', '--size', '3000', '--threads', '2']]) {
      const r = await bench([url, '--token', token, '--connections', '8', '--in-flight', '4', ...extra, ...SHORT]);
      assert.equal(r.code, 0, `${name} ${extra}: ${r.err}`);
      const j = r.json;
      assert.ok(j, r.out);
      assert.equal(j.mode, 'echo');
      assert.equal(j.errors, 0, JSON.stringify(j.errors_by_kind));
      assert.equal(j.opened, 8);
      assert.ok(j.messages > 100, `${name}: ${j.messages} messages`);
      assert.ok(j.messages_per_s > 0);
      const l = j.latency_us;
      assert.ok(l.p50 > 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p99_9 && l.p99_9 <= l.max, JSON.stringify(l));
      assert.match(r.err, /messages\s+\d+/); // the human summary goes to stderr with --json
    }
  }
});

test('upgrade: authenticated upgrades/s with --sign, refused ones with --expect-status 401', async () => {
  for (const [name, url] of peers()) {
    let r = await bench([url, '--mode', 'upgrade', '--sign', '--connections', '4', ...SHORT]);
    assert.equal(r.code, 0, name + ': ' + r.err);
    assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
    assert.ok(r.json.upgrades > 10, `${name}: ${r.json.upgrades}`);
    assert.ok(r.json.upgrades_per_s > 0);
    r = await bench([url, '--mode', 'upgrade', '--token', 'not.a.token', '--expect-status', '401',
      '--connections', '4', ...SHORT]);
    assert.equal(r.code, 0, name + ': ' + r.err);
    assert.ok(r.json.upgrades > 10);
    // the same refusals when a 101 is expected: every one is an error, shown
    r = await bench([url, '--mode', 'upgrade', '--token', 'not.a.token', '--connections', '2', ...SHORT]);
    assert.equal(r.code, 1);
    assert.ok(r.json.errors_by_kind.refused > 0, JSON.stringify(r.json));
    assert.match(r.err, /refused \d+/);
  }
});

// With one token for every connection, upgrade mode restarts each client
// (wsjwt_client_restart) instead of allocating a new one: the checks must
// stay those of a fresh client. The server records every request's key.
test('upgrade with one token: each client restarted, a fresh Sec-WebSocket-Key per upgrade, exact counts', async () => {
  const keys = [];
  const wss = new WebSocket.Server({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info) => {
      keys.push(info.req.headers['sec-websocket-key']);
      return info.req.headers.token === token;
    },
  });
  await new Promise((resolve) => wss.on('listening', resolve));
  try {
    const url = `ws://127.0.0.1:${wss.address().port}/`;
    let r = await bench([url, '--mode', 'upgrade', '--token', token, '--connections', '3', '--count', '60']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.upgrades, 60);
    assert.equal(r.json.errors, 0);
    assert.equal(keys.length, 60);
    assert.equal(new Set(keys).size, 60, 'a key was sent twice');
    for (const k of keys) assert.equal(Buffer.from(k, 'base64').length, 16); // RFC 6455 4.1: 16 random bytes
    keys.length = 0;
    r = await bench([url, '--mode', 'upgrade', '--token', 'not.a.token', '--expect-status', '401',
      '--connections', '2', '--count', '40']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.upgrades, 40);
    assert.equal(new Set(keys).size, 40);
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
  }
});

// A server that answers every other upgrade with the accept of RFC 6455's
// sample key (what a client replaying that key would take) and the others
// correctly: the requests that follow a successful upgrade come from
// restarted clients, and each wrong accept must still be caught.
test('upgrade: the accept is checked on restarted connections too', async () => {
  let n = 0;
  const srv = net.createServer((sock) => {
    let head = '';
    sock.on('data', (d) => {
      head += d;
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *([^\r]*)/i.exec(head)[1];
      head = '';
      const accept = n++ % 2 ? 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
        : crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    });
    sock.on('error', () => {});
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const r = await bench([`ws://127.0.0.1:${srv.address().port}/`, '--mode', 'upgrade', '--token', token,
      '--connections', '1', '--count', '30']);
    assert.equal(r.code, 1);
    assert.equal(n, 30);
    assert.equal(r.json.upgrades, 15);
    assert.equal(r.json.errors_by_kind.handshake, 15, JSON.stringify(r.json.errors_by_kind));
  } finally {
    srv.close();
  }
});

// A restart keeps the client's socket (connect(AF_UNSPEC), then connect
// again) but not the connection: the server must see each upgrade on a TCP
// connection of its own, each ended by a reset as close() with SO_LINGER 0
// would end it (no FIN, no TIME_WAIT), never a half-closed or reused one.
test('upgrade: every restart is a new TCP connection, each ended with a reset', async () => {
  const ends = [];
  let conns = 0;
  const srv = net.createServer((sock) => {
    conns++;
    let head = '';
    let reset = false;
    sock.on('data', (d) => {
      head += d;
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *([^\r]*)/i.exec(head)[1];
      head = '';
      const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    });
    sock.on('error', (e) => { reset = e.code === 'ECONNRESET'; });
    sock.on('end', () => ends.push('fin'));
    sock.on('close', () => ends.push(reset ? 'reset' : 'other'));
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const r = await bench([`ws://127.0.0.1:${srv.address().port}/`, '--mode', 'upgrade', '--token', token,
      '--connections', '2', '--count', '20']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.upgrades, 20);
    for (let i = 0; i < 100 && ends.length < conns; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(conns, 20);
    assert.deepEqual(ends, new Array(20).fill('reset'));
  } finally {
    srv.close();
  }
});

// wss://: a restart is a new TLS session on the same context (the
// certificate verified again each time), then the upgrade.
test('over wss:// with one token: each restart a new TLS handshake, verified, counted; binary echo checked', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsjwt-bench-tls-'));
  const ossl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
      '-out', 'ca.pem', '-days', '1', '-subj', '/CN=bench test CA');
    ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key',
      '-out', 'srv.csr', '-subj', '/CN=localhost');
    fs.writeFileSync(path.join(dir, 'srv.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ossl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'srv.pem', '-days', '1', '-extfile', 'srv.ext');
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    return t.skip('no openssl command: ' + e.message);
  }
  const srv = await startServer(['--tls-cert', path.join(dir, 'srv.pem'), '--tls-key', path.join(dir, 'srv.key')]);
  try {
    const url = `wss://localhost:${srv.port}/`;
    const ca = ['--ca', path.join(dir, 'ca.pem')];
    let r = await bench([url, '--mode', 'upgrade', '--token', token, ...ca, '--connections', '3', '--count', '30']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.upgrades, 30);
    assert.equal(r.json.errors, 0);
    r = await bench([url, '--mode', 'upgrade', '--token', 'not.a.token', '--expect-status', '401', ...ca,
      '--connections', '2', '--count', '20']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.upgrades, 20);
    // binary echo over TLS: the wire sends go through the TLS engine (no cork,
    // no segments), short and long messages, every reply checked
    for (const size of ['32', '20000']) {
      r = await bench([url, '--token', token, ...ca, '--binary', '--size', size, '--connections', '2',
        '--in-flight', '4', ...SHORT]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
      assert.ok(r.json.messages > 50, `${size}: ${r.json.messages}`);
    }
    // without the CA every handshake fails verification, each one counted
    r = await bench([url, '--mode', 'upgrade', '--token', token, '--connections', '2', '--count', '6']);
    assert.equal(r.code, 1);
    assert.equal(r.json.upgrades, 0);
    assert.ok(r.json.errors >= 6, JSON.stringify(r.json.errors_by_kind));
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('idle: N authenticated connections held, then each checked with one echo', async () => {
  for (const [name, url] of peers()) {
    const r = await bench([url, '--mode', 'idle', '--token', token, '--connections', '100', '--duration', '1']);
    assert.equal(r.code, 0, name + ': ' + r.err);
    assert.equal(r.json.opened, 100);
    assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
  }
});

test('the checks bite: corrupted replies are mismatches, dropped connections are counted', async () => {
  const base = `ws://127.0.0.1:${node.address().port}`;
  let r = await bench([`${base}/corrupt`, '--token', token, '--connections', '2', ...SHORT]);
  assert.equal(r.code, 1);
  assert.ok(r.json.errors_by_kind.mismatch > 0, JSON.stringify(r.json));
  r = await bench([`${base}/drop`, '--token', token, '--connections', '2', ...SHORT]);
  assert.equal(r.code, 1);
  assert.ok(r.json.errors_by_kind.closed >= 2, JSON.stringify(r.json));
  // no token at all: every connection refused, the run fails
  r = await bench([`${base}/`, '--connections', '3', ...SHORT]);
  assert.equal(r.code, 1);
  assert.equal(r.json.errors_by_kind.refused, 3);
  assert.equal(r.json.opened, 0);
});

test('every echo is checked against its own message: corrupted, reordered and repeated replies are mismatches', async () => {
  // Binary echo sends fixed wire bytes under a fresh key per message (the
  // key tells the payloads apart); text echo writes a sequence number into
  // each message. Both must catch each misbehaviour, short messages (the
  // in-line check) and long ones (the vector check, and from 16 KiB the
  // payload sent from the generator's own memory).
  const base = `ws://127.0.0.1:${node.address().port}`;
  for (const p of ['/corrupt', '/swap', '/replay']) {
    for (const kind of [['--binary'], []]) {
      for (const size of ['32', '20000']) {
        const r = await bench([`${base}${p}`, '--token', token, ...kind, '--size', size, '--connections', '2',
          '--in-flight', '4', '--duration', '0.5', '--warmup', '0']);
        const what = `${p} ${kind} ${size}: ${JSON.stringify(r.json?.errors_by_kind)}`;
        assert.equal(r.code, 1, what);
        assert.ok(r.json.errors_by_kind.mismatch > 0, what);
        assert.equal(r.json.errors_by_kind.protocol, 0, what);
        assert.ok(r.json.messages > 0, what); // the others pass
      }
    }
  }
});

test('64 KiB messages, deep windows: what the socket does not take waits, in order, every byte checked', async () => {
  // 24 messages of 64 KiB in flight per connection: more than a send
  // buffer holds, and more large messages than one write gathers.
  for (const [name, url] of peers()) {
    const r = await bench([url, '--token', token, '--binary', '--size', '65536', '--connections', '2',
      '--in-flight', '24', ...SHORT]);
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
    assert.ok(r.json.messages > 100, `${name}: ${r.json.messages}`);
  }
});

test('usage errors exit 2', async () => {
  for (const args of [[], ['http://x/'], ['ws://127.0.0.1:1/', '--mode', 'nope'], ['ws://127.0.0.1:1/', '--connections', '0']]) {
    const r = await bench(args);
    assert.equal(r.code, 2, args.join(' '));
  }
});

test('--raw-echo drives bench/raw_echo (the loopback floor); without it the strict client refuses it', async (t) => {
  const path = await import('node:path');
  const fs = await import('node:fs');
  const raw = path.join(process.env.WSJWT_BUILD_DIR ?? '', 'bench', 'raw_echo');
  if (!process.env.WSJWT_BUILD_DIR || !fs.existsSync(raw)) return t.skip('bench/raw_echo not built');
  const p = spawn(raw, ['--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
        const m = /listening .*:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      p.on('exit', () => reject(new Error('raw_echo exited')));
    });
    const url = `ws://127.0.0.1:${port}/`;
    let r = await bench([url, '--raw-echo', '--binary', '--connections', '4', '--in-flight', '4', ...SHORT]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.errors, 0);
    assert.ok(r.json.messages > 100);
    // 64 KiB messages, 24 in flight: our frames come back whole and in order
    r = await bench([url, '--raw-echo', '--binary', '--size', '65536', '--connections', '2', '--in-flight', '24',
      ...SHORT]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
    assert.ok(r.json.messages > 100);
    // a real client refuses the echo's fixed Accept (and would refuse its masked frames)
    r = await bench([url, '--connections', '2', ...SHORT]);
    assert.equal(r.code, 1);
    assert.equal(r.json.errors_by_kind.handshake, 2, JSON.stringify(r.json));
  } finally {
    p.kill('SIGTERM');
  }
});

// A byte echo like bench/raw_echo (a fixed 101 for RFC 6455's sample key,
// then every byte back) that flips the last payload byte of every 5th frame:
// --raw-echo's one-pass check of still-masked replies must catch it, for
// short messages and for 64 KiB ones (the vector path), text and binary.
function startCorruptingEcho(frameLen) {
  return new Promise((resolve) => {
    const srv = net.createServer((sock) => {
      let head = '';
      let pos = -1; // stream offset after the request head
      sock.on('data', (d) => {
        if (pos < 0) {
          head += d.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
          d = Buffer.from(head.slice(end + 4), 'latin1');
          pos = 0;
        }
        const out = Buffer.from(d);
        for (let i = 0; i < out.length; i++) {
          const at = pos + i;
          if (at % frameLen === frameLen - 1 && Math.floor(at / frameLen) % 5 === 4) out[i] ^= 1;
        }
        pos += out.length;
        sock.write(out);
      });
      sock.on('error', () => {});
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

test('--raw-echo: the one-pass check of masked replies catches a flipped byte', async () => {
  for (const [size, hdr] of [[32, 6], [65536, 14]]) {
    const srv = await startCorruptingEcho(size + hdr);
    try {
      for (const kind of [['--binary'], []]) {
        const r = await bench([`ws://127.0.0.1:${srv.address().port}/`, '--raw-echo', ...kind, '--size', String(size),
          '--connections', '2', '--in-flight', '1', '--duration', '0.5', '--warmup', '0']);
        assert.equal(r.code, 1, r.err);
        assert.ok(r.json.errors_by_kind.mismatch > 0, JSON.stringify(r.json));
        assert.equal(r.json.errors_by_kind.protocol, 0, JSON.stringify(r.json));
        assert.ok(r.json.messages > 0, JSON.stringify(r.json)); // the other 4 of 5 pass
      }
    } finally {
      srv.close();
    }
  }
});

test('--server-pid samples the server: CPU per message, and RSS per held connection in idle mode', async () => {
  let r = await bench([ours.url, '--token', token, '--connections', '8', '--in-flight', '4', '--server-pid',
    String(ours.proc.pid), '--label', 'x"y', ...SHORT]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.json.label, 'x"y');
  assert.ok(r.json.server_cpu_percent > 0, JSON.stringify(r.json));
  assert.ok(r.json.server_us_per_op > 0);
  assert.ok(r.json.cpu_us_per_op > 0);
  r = await bench([ours.url, '--mode', 'idle', '--token', token, '--connections', '50', '--duration', '0.5',
    '--server-pid', String(ours.proc.pid)]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.json.rss_before_kb > 0 && r.json.rss_after_kb > 0, JSON.stringify(r.json));
  assert.ok('bytes_per_conn' in r.json);
});

test('--count runs a fixed workload exactly: M messages per connection, M upgrades in all', async () => {
  for (const [name, url] of peers()) {
    let r = await bench([url, '--token', token, '--connections', '5', '--in-flight', '3', '--count', '200']);
    assert.equal(r.code, 0, name + ': ' + r.err);
    assert.equal(r.json.messages, 1000, name);
    r = await bench([url, '--mode', 'upgrade', '--sign', '--connections', '4', '--threads', '2', '--count', '101']);
    assert.equal(r.code, 0, name + ': ' + r.err);
    assert.equal(r.json.upgrades, 101, name);
  }
});

test('--rate: open loop offers the rate (not more), every reply checked', async () => {
  const r = await bench([ours.url, '--token', token, '--rate', '1000', '--connections', '8', '--in-flight', '64',
    '--duration', '1.5', '--warmup', '0.3']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
  assert.ok(r.json.messages_per_s > 850 && r.json.messages_per_s < 1100, String(r.json.messages_per_s));
  // a finer tick (a timerfd every 100 us): the same rate, no more
  const f = await bench([ours.url, '--token', token, '--rate', '1000', '--tick-us', '100', '--connections', '8',
    '--in-flight', '64', '--duration', '1.5', '--warmup', '0.3']);
  assert.equal(f.code, 0, f.err);
  assert.equal(f.json.errors, 0, JSON.stringify(f.json.errors_by_kind));
  assert.ok(f.json.messages_per_s > 850 && f.json.messages_per_s < 1100, String(f.json.messages_per_s));
});

// ---- --mode broadcast -------------------------------------------------------
// Against the two broadcasting servers that bench/run_server.sh measures in
// scenario h: `wsjwt serve --mode broadcast` and the tutorial's Node peer
// (bench/peers/ws_jwt_echo.mjs --broadcast, the ws README's loop over
// wss.clients). Then proof that the checks bite: a broadcasting server that
// skips, repeats, reorders or also returns messages to their sender makes the
// run fail with the errors counted by kind.
const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'peers', 'ws_jwt_echo.mjs');

// The tutorial's peer in broadcast mode, as bench/run_server.sh starts it.
function startPeer() {
  const p = spawn(process.execPath, [PEER, '0', '--broadcast'], {
    env: { PATH: process.env.PATH, JWT_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('peer did not start: ' + err)), 10000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening .*:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc: p, url: `ws://127.0.0.1:${m[1]}/` }); }
    });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`peer exited ${code}: ${err}`)); });
  });
}

// A broadcasting server (the first connection is the sender, as bench makes
// it) with one misbehaviour chosen by the path, towards the first receiver:
//   /skip    drops every 7th message
//   /dup     sends every 5th message twice
//   /swap    sends messages 3 and 4 in the other order
//   /self    also sends every message back to its sender
//   /stall   drops message 10 (with one in flight nothing follows it)
function startBadServer() {
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    let n = 0;
    let held = null;
    ws.on('message', (data, isBinary) => {
      n++;
      const rest = [...wss.clients].filter((c) => c !== ws && c.readyState === WebSocket.OPEN);
      rest.forEach((c, i) => {
        const send = (d) => c.send(d, { binary: isBinary });
        if (i > 0) return send(data);
        switch (req.url) {
          case '/skip': if (n % 7 !== 0) send(data); break;
          case '/dup': send(data); if (n % 5 === 0) send(data); break;
          case '/swap':
            if (n === 4) held = data;
            else { send(data); if (n === 5) send(held); }
            break;
          case '/stall': if (n !== 10) send(data); break;
          default: send(data);
        }
      });
      if (req.url === '/self') ws.send(data, { binary: isBinary });
    });
  });
  return new Promise((resolve) => wss.on('listening', () => resolve(wss)));
}

let bcOurs;
let peer;
let bad;
before(async () => {
  bcOurs = await startServer(['--mode', 'broadcast']);
  peer = await startPeer();
  bad = await startBadServer();
});
after(async () => {
  await bcOurs?.stop();
  peer?.proc.kill('SIGTERM');
  for (const c of bad?.clients ?? []) c.terminate();
  bad?.close();
});

test('broadcast: every receiver gets every message, against wsjwt serve and the Node peer', async () => {
  for (const [name, url] of [['wsjwt serve --mode broadcast', bcOurs.url], ['node ws --broadcast', peer.url]]) {
    for (const extra of [['--in-flight', '8'], ['--in-flight', '1', '--binary', '--size', '3000']]) {
      const r = await bench([url, '--mode', 'broadcast', '--token', token, '--connections', '21', ...extra, ...SHORT]);
      assert.equal(r.code, 0, `${name} ${extra}: ${r.err}`);
      const j = r.json;
      assert.ok(j, r.out);
      assert.equal(j.mode, 'broadcast');
      assert.equal(j.errors, 0, JSON.stringify(j.errors_by_kind));
      assert.equal(j.opened, 21);
      assert.equal(j.receivers, 20);
      assert.ok(j.broadcasts > 20, `${name}: ${j.broadcasts} broadcasts`);
      // Each message done counts one delivery per receiver; deliveries of the
      // messages still under way at the window's edges make up the rest.
      assert.ok(Math.abs(j.deliveries - 20 * j.broadcasts) <= 2 * 20 * Number(extra[1]),
        `${j.deliveries} deliveries for ${j.broadcasts} broadcasts`);
      assert.equal(j.messages_per_s, j.deliveries_per_s);
      assert.ok(j.deliveries_per_s > 0 && j.broadcasts_per_s > 0);
      const l = j.latency_us;
      assert.ok(l.p50 > 0 && l.p50 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
      assert.match(r.err, /delivered\s+\d+/);
    }
  }
});

test('broadcast: --server-pid gives the server CPU per delivery', async () => {
  const r = await bench([bcOurs.url, '--mode', 'broadcast', '--token', token, '--connections', '11', '--in-flight', '4',
    '--server-pid', String(bcOurs.proc.pid), ...SHORT]);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.json.server_us_per_op > 0, JSON.stringify(r.json));
  assert.ok(r.json.cpu_us_per_op > 0);
});

test('broadcast: skipped, repeated, reordered, stalled and returned messages are counted, never hidden', async () => {
  const base = `ws://127.0.0.1:${bad.address().port}`;
  const run = (p, extra = []) => bench([`${base}${p}`, '--mode', 'broadcast', '--connections', '4', '--in-flight', '4',
    '--timeout', '1', ...extra, ...SHORT]);
  let r = await run('/');
  assert.equal(r.code, 0, r.err); // the misbehaving server's normal path is a valid broadcast
  assert.equal(r.json.errors, 0, JSON.stringify(r.json.errors_by_kind));
  r = await run('/skip');
  assert.equal(r.code, 1);
  assert.ok(r.json.errors_by_kind.order > 0, JSON.stringify(r.json.errors_by_kind));
  assert.ok(r.json.broadcasts > 20, 'the run goes on past a skipped message');
  r = await run('/dup');
  assert.equal(r.code, 1);
  assert.ok(r.json.errors_by_kind.order > 0, JSON.stringify(r.json.errors_by_kind));
  r = await run('/swap');
  assert.equal(r.code, 1);
  assert.equal(r.json.errors_by_kind.order, 2, JSON.stringify(r.json.errors_by_kind)); // 5 before 4, then 4 late
  assert.equal(r.json.errors, 2);
  r = await run('/self');
  assert.equal(r.code, 1);
  assert.ok(r.json.errors_by_kind.mismatch > 0, JSON.stringify(r.json.errors_by_kind));
  r = await run('/stall', ['--in-flight', '1']);
  assert.equal(r.code, 1);
  assert.equal(r.json.errors_by_kind.missing, 1, JSON.stringify(r.json.errors_by_kind)); // one receiver lacks one
  assert.equal(r.json.broadcasts, 0); // nothing completes after it: 9 in the warm-up, then none
});

test('broadcast: usage errors exit 2', async () => {
  for (const extra of [['--connections', '1'], ['--threads', '2'], ['--rate', '100'], ['--raw-echo'], ['--count', '5']]) {
    const r = await bench([bcOurs.url, '--mode', 'broadcast', '--token', token, '--connections', '4', ...extra]);
    assert.equal(r.code, 2, extra.join(' '));
  }
});
