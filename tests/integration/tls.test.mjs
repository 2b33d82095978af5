// TLS (wss://): `wsjwt serve --tls-cert/--tls-key` against the real Node `ws`
// client and against our own client (`wsjwt connect`). The certificates are
// made at run time with the `openssl` command in a temporary directory: a
// private CA, a server certificate for localhost and 127.0.0.1, an expired
// one, one for another name, one for b.test (SNI) and a second localhost one
// (reload). Checked: echo with the token header over wss://; verification
// failures reported as such (expired, wrong name, unknown CA) with exit 1 and
// the reason; --insecure; SNI; SIGHUP swapping the certificate while an old
// connection keeps echoing; plaintext to the TLS port and TLS to a plain
// port failing cleanly while other clients are served; client certificates
// required by --tls-client-ca (from that CA: accepted; none, another CA's,
// a server-only one: refused); a chain file; the handshake timeout; a burst
// of handshakes beyond the per-turn budget. After a TLS 1.3 handshake the
// records are ours (src/net/tls13.c): KeyUpdates both ways, with Node's and
// the openssl command's OpenSSL as the peer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  WebSocket, BIN, SECRET, startServer, token, connect, nextMessage, closed, waitFor, rawConnect, rawWait, upgradeRequest,
} from './lib.mjs';

let dir;
const f = (name) => path.join(dir, name);

function ossl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

// A leaf signed by the CA, valid from `start` to `end` (openssl ca dates,
// YYYYMMDDHHMMSSZ) or for a day, with the given subjectAltName.
function leaf(name, cn, san, { start, end, usage = 'serverAuth' } = {}) {
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  fs.writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
  const dates = start ? ['-startdate', start, '-enddate', end] : ['-days', '1'];
  ossl('ca', '-batch', '-config', 'ca.cnf', '-notext', '-in', `${name}.csr`, '-out', `${name}.pem`,
    '-extfile', `${name}.ext`, ...dates);
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsjwt-tls-'));
  fs.mkdirSync(f('newcerts'));
  fs.writeFileSync(f('index.txt'), '');
  fs.writeFileSync(f('serial'), '1000\n');
  fs.writeFileSync(f('ca.cnf'), [
    '[ca]', 'default_ca = CA_default', '[CA_default]', `dir = ${dir}`, 'database = $dir/index.txt',
    'new_certs_dir = $dir/newcerts', 'serial = $dir/serial', 'certificate = $dir/ca.pem',
    'private_key = $dir/ca.key', 'default_md = sha256', 'policy = policy_any', 'unique_subject = no',
    '[policy_any]', 'commonName = supplied', '',
  ].join('\n'));
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '2', '-subj', '/CN=wsjwt test CA');
  leaf('good', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  leaf('good2', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  leaf('wrong', 'elsewhere.example', 'DNS:elsewhere.example');
  leaf('expired', 'localhost', 'DNS:localhost,IP:127.0.0.1', { start: '20200101000000Z', end: '20200102000000Z' });
  leaf('b', 'b.test', 'DNS:b.test');
  leaf('client', 'alice-device', 'DNS:alice-device', { usage: 'clientAuth' });
  // Another CA, unknown to the server, with a client certificate of its own.
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other-ca.key',
    '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=another CA');
  signed('stranger', 'stranger', 'other-ca', 'subjectAltName=DNS:stranger\nextendedKeyUsage=clientAuth\n');
  // An intermediate CA under ours, and a localhost leaf it signed: served as
  // a chain file (leaf then intermediate), as Let's Encrypt's fullchain.pem.
  signed('inter', 'wsjwt test intermediate', 'ca',
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  signed('chained', 'localhost', 'inter', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  fs.writeFileSync(f('fullchain.pem'), Buffer.concat([fs.readFileSync(f('chained.pem')), fs.readFileSync(f('inter.pem'))]));
});

// A certificate for `cn` signed by the CA `issuer` (its .pem and .key) with
// the given X.509v3 extensions, valid for a day.
function signed(name, cn, issuer, ext) {
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  fs.writeFileSync(f(`${name}.ext`), ext);
  ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}

after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

const ca = () => fs.readFileSync(f('ca.pem'));
const tlsArgs = (...names) => names.flatMap((n) => ['--tls-cert', f(`${n}.pem`), '--tls-key', f(`${n}.key`)]);

// `wsjwt connect` with a token signed from SECRET; resolves { code, out, err }.
function runConnect(url, args = [], ms = 10000, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['connect', url, '--sign', '--sub', 'alice', ...args], {
      env: { ...process.env, JWT_SECRET: SECRET, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('connect hung: ' + err)); }, ms);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });
}

// The certificate the server presents for `servername` (raw TLS, no upgrade).
function peerCert(port, servername, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca: ca(), ...opts }, () => {
      const cert = s.getPeerCertificate();
      const r = { cn: cert.subject.CN, fp: cert.fingerprint256, authorized: s.authorized, alpn: s.alpnProtocol };
      s.end();
      resolve(r);
    });
    s.on('error', reject);
  });
}

const fingerprint = (name) => new crypto.X509Certificate(fs.readFileSync(f(`${name}.pem`))).fingerprint256;
import crypto from 'node:crypto';

test('Node ws over wss:// with the token header: text and a large binary message echo', async () => {
  const srv = await startServer(tlsArgs('good'));
  try {
    const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    ws.send('hello over tls');
    let m = await nextMessage(ws);
    assert.equal(m.data.toString(), 'hello over tls');
    const big = crypto.randomBytes(300 * 1024);
    ws.send(big);
    m = await nextMessage(ws);
    assert.equal(m.isBinary, true);
    assert.ok(Buffer.compare(m.data, big) === 0, 'the 300 KiB echo is byte-identical');
    ws.close(1000, 'done');
    assert.equal((await closed(ws)).code, 1000);
    // No token: refused with 401 over TLS too.
    await assert.rejects(connect(`wss://localhost:${srv.port}/`, { ca: ca() }), (e) => e.status === 401);
  } finally {
    await srv.stop();
  }
});

test('wsjwt connect verifies the certificate and echoes (by name and by IP address)', async () => {
  const srv = await startServer(tlsArgs('good'));
  try {
    let r = await runConnect(`wss://localhost:${srv.port}/`, ['--ca', f('ca.pem'), '-x', 'one', '-x', 'two']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'one\ntwo\n');
    r = await runConnect(`wss://127.0.0.1:${srv.port}/`, ['--ca', f('ca.pem'), '-x', 'by-ip']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'by-ip\n');
  } finally {
    await srv.stop();
  }
});

test('verification failures are reported as such: expired, wrong name, unknown CA; --insecure connects', async () => {
  const cases = [
    ['expired', ['--ca'], /TLS certificate verification failed: certificate has expired/],
    ['wrong', ['--ca'], /TLS certificate verification failed: hostname mismatch/],
    // No --ca: the system store does not know our private CA.
    ['good', [], /TLS certificate verification failed: unable to get local issuer certificate/],
  ];
  for (const [name, caArg, why] of cases) {
    const srv = await startServer(tlsArgs(name));
    try {
      const args = caArg.length ? ['--ca', f('ca.pem')] : [];
      const r = await runConnect(`wss://localhost:${srv.port}/`, [...args, '-x', 'nope']);
      assert.equal(r.code, 1, `${name}: ${r.err}`);
      assert.match(r.err, why);
      assert.equal(r.out, '');
      // Node's ws refuses it too (the same certificate, the same CA).
      await assert.rejects(connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ...(caArg.length ? { ca: ca() } : {}) }));
      if (name === 'expired') {
        const ok = await runConnect(`wss://localhost:${srv.port}/`, ['--insecure', '-x', 'anyway']);
        assert.equal(ok.code, 0, ok.err);
        assert.equal(ok.out, 'anyway\n');
        assert.match(ok.err, /warning: --insecure/);
      }
    } finally {
      await srv.stop();
    }
  }
});

test('SNI picks the certificate that names the requested host; the first is the default; ALPN http/1.1', async () => {
  const srv = await startServer(tlsArgs('good', 'b'));
  try {
    let c = await peerCert(srv.port, 'b.test');
    assert.equal(c.cn, 'b.test');
    assert.equal(c.authorized, true);
    c = await peerCert(srv.port, 'localhost');
    assert.equal(c.cn, 'localhost');
    assert.equal(c.fp, fingerprint('good'));
    c = await peerCert(srv.port, 'unknown.example', { rejectUnauthorized: false });
    assert.equal(c.fp, fingerprint('good'));
    c = await peerCert(srv.port, 'localhost', { ALPNProtocols: ['http/1.1'] });
    assert.equal(c.alpn, 'http/1.1');
    // A client that can only speak h2 is refused (no_application_protocol).
    await assert.rejects(peerCert(srv.port, 'localhost', { ALPNProtocols: ['h2'] }));
    // And the b.test certificate serves WebSockets as well.
    const ws = await connect(`wss://127.0.0.1:${srv.port}/`, { headers: { token: token() }, ca: ca(), servername: 'b.test' });
    ws.send('via b.test');
    assert.equal((await nextMessage(ws)).data.toString(), 'via b.test');
    ws.terminate();
  } finally {
    await srv.stop();
  }
});

test('SIGHUP reloads the certificate: new connections get the new one, an old connection keeps echoing', async () => {
  fs.copyFileSync(f('good.pem'), f('live.pem'));
  fs.copyFileSync(f('good.key'), f('live.key'));
  const srv = await startServer(tlsArgs('live'));
  try {
    assert.equal((await peerCert(srv.port, 'localhost')).fp, fingerprint('good'));
    const old = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    old.send('before');
    assert.equal((await nextMessage(old)).data.toString(), 'before');

    fs.copyFileSync(f('good2.pem'), f('live.pem'));
    fs.copyFileSync(f('good2.key'), f('live.key'));
    srv.proc.kill('SIGHUP');
    await waitFor(() => /event=tls_reloaded/.test(srv.stderr()));
    assert.equal((await peerCert(srv.port, 'localhost')).fp, fingerprint('good2'));

    old.send('after');
    assert.equal((await nextMessage(old)).data.toString(), 'after');
    const fresh = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    fresh.send('new');
    assert.equal((await nextMessage(fresh)).data.toString(), 'new');

    // A broken file keeps the current certificate, and says so.
    fs.writeFileSync(f('live.key'), 'not a key\n');
    srv.proc.kill('SIGHUP');
    await waitFor(() => /event=tls_reload_failed/.test(srv.stderr()));
    assert.equal((await peerCert(srv.port, 'localhost')).fp, fingerprint('good2'));
    old.send('still');
    assert.equal((await nextMessage(old)).data.toString(), 'still');
    old.terminate();
    fresh.terminate();
  } finally {
    await srv.stop();
  }
});

test('plaintext to the TLS port and TLS to a plain port fail cleanly; other clients keep being served', async () => {
  const srv = await startServer(tlsArgs('good'));
  const plain = await startServer([]);
  try {
    const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    const pws = await connect(`ws://127.0.0.1:${plain.port}/`, { headers: { token: token() } });

    // A plain WebSocket upgrade to the TLS port: the connection is closed.
    const raw = await rawConnect(srv.port);
    raw.sock.write(`GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
    await rawWait(raw, (r) => r.ended);
    assert.equal(raw.ended, true);
    assert.equal(raw.buf.includes('HTTP/1.1 101'), false);
    await assert.rejects(connect(`ws://127.0.0.1:${srv.port}/`, { headers: { token: token() } }));
    // The same with garbage bytes.
    const junk = await rawConnect(srv.port);
    junk.sock.write(crypto.randomBytes(3000));
    await rawWait(junk, (r) => r.ended);

    // TLS to the plain port: the server answers 400 to the ClientHello and
    // closes; the TLS client fails.
    await assert.rejects(connect(`wss://127.0.0.1:${plain.port}/`, { headers: { token: token() }, ca: ca() }));
    const r = await runConnect(`wss://127.0.0.1:${plain.port}/`, ['--ca', f('ca.pem'), '-x', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.err, /TLS error/);

    for (const [c, label] of [[ws, 'tls'], [pws, 'plain']]) {
      c.send(`still ${label}`);
      assert.equal((await nextMessage(c)).data.toString(), `still ${label}`);
      c.terminate();
    }
    assert.match(srv.stderr(), /event=tls_error .*reason="http request"/);
  } finally {
    await srv.stop();
    await plain.stop();
  }
});

test('client certificates: wsjwt connect --tls-cert/--tls-key presents one to a server that requires it', async () => {
  // A Node https + ws server that requires a client certificate from our CA.
  const https = await import('node:https');
  const server = https.createServer({
    cert: fs.readFileSync(f('good.pem')), key: fs.readFileSync(f('good.key')),
    ca: ca(), requestCert: true, rejectUnauthorized: true,
  });
  const wss = new WebSocket.Server({ server });
  wss.on('connection', (ws, req) => {
    ws.on('message', (d) => ws.send(`${req.socket.getPeerCertificate().subject.CN}:${d}`));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  try {
    const r = await runConnect(`wss://localhost:${port}/`,
      ['--ca', f('ca.pem'), '--tls-cert', f('client.pem'), '--tls-key', f('client.key'), '-x', 'hi']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'alice-device:hi\n');
    // Without one, the server refuses the handshake.
    const no = await runConnect(`wss://localhost:${port}/`, ['--ca', f('ca.pem'), '-x', 'hi']);
    assert.equal(no.code, 1);
    assert.equal(no.out, '');
    // A key that is not the certificate's: refused before connecting, exit 2.
    const bad = await runConnect(`wss://localhost:${port}/`, ['--ca', f('ca.pem'), '--tls-cert', f('client.pem'), '--tls-key', f('b.key')]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /client\.pem|b\.key/);
  } finally {
    wss.close();
    server.close();
  }
});

test('serve --tls-client-ca: a client certificate from that CA is required (Node ws and wsjwt connect)', async () => {
  const srv = await startServer([...tlsArgs('good'), '--tls-client-ca', f('ca.pem'), '--log-level', 'debug']);
  const url = `wss://localhost:${srv.port}/`;
  const key = (n) => ({ cert: fs.readFileSync(f(`${n}.pem`)), key: fs.readFileSync(f(`${n}.key`)) });
  try {
    // Node ws with a client certificate from the CA: the token header is
    // still checked, and the connection echoes.
    const ws = await connect(url, { headers: { token: token() }, ca: ca(), ...key('client') });
    ws.send('mutual');
    assert.equal((await nextMessage(ws)).data.toString(), 'mutual');
    ws.close(1000);
    await closed(ws);
    await assert.rejects(connect(url, { ca: ca(), ...key('client') }), (e) => e.status === 401);
    // Refused in the handshake: no certificate; one from another CA; one from
    // our CA that is not for client authentication (serverAuth only).
    await assert.rejects(connect(url, { headers: { token: token() }, ca: ca() }), /certificate required/);
    await assert.rejects(connect(url, { headers: { token: token() }, ca: ca(), ...key('stranger') }), /unknown ca/);
    await assert.rejects(connect(url, { headers: { token: token() }, ca: ca(), ...key('good') }), /unsupported certificate/);

    // Our client: the same three answers.
    let r = await runConnect(url, ['--ca', f('ca.pem'), '--tls-cert', f('client.pem'), '--tls-key', f('client.key'), '-x', 'one']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'one\n');
    r = await runConnect(url, ['--ca', f('ca.pem'), '-x', 'none']);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, '');
    assert.match(r.err, /certificate required/);
    r = await runConnect(url, ['--ca', f('ca.pem'), '--tls-cert', f('stranger.pem'), '--tls-key', f('stranger.key'), '-x', 'x']);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, '');
    assert.match(r.err, /unknown ca/);

    // The server says why, as a verification failure; the refused clients
    // never reached the upgrade (2 Node + 1 wsjwt accepted, 1 refused 401).
    const log = srv.stderr();
    assert.match(log, /event=tls_error .*error=ETLS_VERIFY reason="peer did not return a certificate"/);
    assert.match(log, /event=tls_error .*error=ETLS_VERIFY reason="unable to get local issuer certificate"/);
    assert.match(log, /event=tls_error .*error=ETLS_VERIFY reason="unsuitable certificate purpose"/);
    await srv.stop();
    assert.match(srv.stderr(), /event=stopped .*upgraded=2 refused=1 /);
  } finally {
    await srv.stop();
  }
  // Without --tls-client-ca no certificate is asked for: one offered is ignored.
  const plain = await startServer(tlsArgs('good'));
  try {
    const ws = await connect(`wss://localhost:${plain.port}/`, { headers: { token: token() }, ca: ca(), ...key('stranger') });
    ws.send('not asked');
    assert.equal((await nextMessage(ws)).data.toString(), 'not asked');
    ws.terminate();
  } finally {
    await plain.stop();
  }
  await assert.rejects(startServer(['--tls-client-ca', f('ca.pem')]), /needs --tls-cert/);
  await assert.rejects(startServer([...tlsArgs('good'), '--tls-client-ca', f('nope.pem')]), /nope\.pem/);
});

test('a chain file (leaf, then intermediate) verifies against the root alone; the log says tls=1', async () => {
  const srv = await startServer(['--tls-cert', f('fullchain.pem'), '--tls-key', f('chained.key'), '--log-level', 'debug']);
  try {
    const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    ws.send('chained');
    assert.equal((await nextMessage(ws)).data.toString(), 'chained');
    ws.terminate();
    const r = await runConnect(`wss://localhost:${srv.port}/`, ['--ca', f('ca.pem'), '-x', 'ours']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'ours\n');
    // The connection's log lines know it is secure, with what was agreed.
    await waitFor(() => /event=open .*tls=1/.test(srv.stderr()));
    assert.match(srv.stderr(), /event=tls_handshake .*version=TLSv1\.3 cipher=TLS_AES_128_GCM_SHA256/);
  } finally {
    await srv.stop();
  }
});

// A raw TLS connection that upgrades with a token; resolves with the
// session tickets it received before the 101 and whether it resumed.
function tlsUpgrade(port, session) {
  return new Promise((resolve, reject) => {
    const tickets = [];
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca(), session });
    s.on('session', (t) => tickets.push(t));
    s.on('secureConnect', () => s.write(upgradeRequest(port, { token: token() })));
    let head = '';
    s.on('data', (d) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        resolve({ status: head.split(' ')[1], tickets, reused: s.isSessionReused() });
        s.destroy();
      }
    });
    s.on('error', reject);
  });
}

test('TLS 1.3 resumption: one session ticket per connection, and it resumes the next one', async () => {
  const srv = await startServer(tlsArgs('good'));
  try {
    const first = await tlsUpgrade(srv.port);
    assert.equal(first.status, '101');
    assert.equal(first.reused, false);
    assert.equal(first.tickets.length, 1);
    const again = await tlsUpgrade(srv.port, first.tickets[0]);
    assert.equal(again.status, '101');
    assert.equal(again.reused, true);
    assert.equal(again.tickets.length, 1, 'a resumed connection gets a fresh ticket');
  } finally {
    await srv.stop();
  }
});

test('a burst of 100 TLS clients at once: every handshake completes (beyond 16 per loop turn they wait a turn)', async () => {
  const srv = await startServer(tlsArgs('good'));
  try {
    const one = async (i) => {
      const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
      ws.send(`m${i}`);
      const m = await nextMessage(ws);
      ws.terminate();
      return m.data.toString();
    };
    const got = await Promise.all(Array.from({ length: 100 }, (_, i) => one(i)));
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `m${i}`));
  } finally {
    await srv.stop();
  }
});

test('a client that never finishes the TLS handshake is closed at the handshake timeout', async () => {
  const srv = await startServer([...tlsArgs('good'), '--handshake-timeout', '300ms']);
  try {
    const raw = await rawConnect(srv.port);
    const t0 = Date.now();
    await rawWait(raw, (r) => r.ended, 5000);
    assert.equal(raw.ended, true);
    assert.ok(Date.now() - t0 >= 250, 'not before the timeout');
    await waitFor(() => /event=tls_handshake_timeout/.test(srv.stderr()));
    // Half a ClientHello: the same.
    const half = await rawConnect(srv.port);
    half.sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await rawWait(half, (r) => r.ended, 5000);
    assert.equal(half.ended, true);
  } finally {
    await srv.stop();
  }
});

test('serve refuses to start with a certificate it cannot load, naming the file', async () => {
  await assert.rejects(startServer(['--tls-cert', f('nope.pem'), '--tls-key', f('good.key')]), /nope\.pem/);
  await assert.rejects(startServer(['--tls-cert', f('good.pem'), '--tls-key', f('b.key')]), /tls_error/);
  await assert.rejects(startServer(['--tls-cert', f('good.pem')]), /come in pairs/);
});

// Our record layer moves to the next key every N records when
// WSJWT_TLS_REKEY_RECORDS=N (the default is 2^24, RFC 8446 5.5): a real
// peer must follow every KeyUpdate we send, on both of our sides.
test('TLS 1.3 key updates from us every 5 records: Node ws and wsjwt connect follow them', { timeout: 30000 }, async () => {
  const srv = await startServer(tlsArgs('good'), { WSJWT_TLS_REKEY_RECORDS: '5' });
  try {
    const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    const got = [];
    ws.on('message', (d) => got.push(d.toString()));
    for (let i = 0; i < 200; i++) ws.send(`message ${i}`);
    await waitFor(() => got.length === 200, 10000);
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `message ${i}`));
    const big = crypto.randomBytes(200 * 1024); // 13 records, two KeyUpdates inside it
    ws.send(big);
    const m = await nextMessage(ws);
    assert.ok(Buffer.compare(m.data, big) === 0);
    ws.close(1000, 'done');
    assert.equal((await closed(ws)).code, 1000);
    // Both ends ours, each updating its keys every 3 records of its own.
    const xs = Array.from({ length: 12 }, (_, i) => ['-x', `line ${i}`]).flat();
    const r = await runConnect(`wss://localhost:${srv.port}/`, ['--ca', f('ca.pem'), ...xs], 10000,
      { WSJWT_TLS_REKEY_RECORDS: '3' });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.trim().split('\n'), Array.from({ length: 12 }, (_, i) => `line ${i}`));
  } finally {
    await srv.stop();
  }
});

// The openssl command's interactive letters: `k` sends a KeyUpdate, `K` one
// that requests ours (RFC 8446 4.6.3). Our server must move to the client's
// new key, answer `K` with its own KeyUpdate before its next record, and
// keep echoing.
test('TLS 1.3 key updates from the peer (openssl s_client k and K): the server follows and answers', { timeout: 30000 }, async () => {
  const srv = await startServer(tlsArgs('good'));
  const sc = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${srv.port}`, '-servername', 'localhost',
    '-CAfile', f('ca.pem'), '-tls1_3', '-msg'], { stdio: ['pipe', 'pipe', 'pipe'] }); // not -quiet: it turns the letters off
  let out = Buffer.alloc(0), err = '';
  sc.stdout.on('data', (d) => { out = Buffer.concat([out, d]); });
  sc.stderr.on('data', (d) => { err += d; });
  const has = (b) => out.indexOf(b) >= 0;
  const frame = (text) => { // a masked text frame (RFC 6455 5.3)
    const p = Buffer.from(text), mask = crypto.randomBytes(4);
    const h = Buffer.from([0x81, 0x80 | p.length]);
    return Buffer.concat([h, mask, Buffer.from(p.map((b, i) => b ^ mask[i % 4]))]);
  };
  const echo = (text) => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)]);
  try {
    sc.stdin.write(upgradeRequest(srv.port, { token: token() }));
    await waitFor(() => has('HTTP/1.1 101'), 5000);
    const rounds = [['K', 'after K'], ['k', 'after k'], ['K', 'again K']];
    for (const [i, [letter, text]] of rounds.entries()) {
      sc.stdin.write(`${letter}\n`);
      await waitFor(() => (err.match(/KEYUPDATE/g) || []).length === i + 1, 5000);
      sc.stdin.write(frame(text));
      await waitFor(() => has(echo(text)), 5000);
    }
    // Other clients are unaffected: a Node ws client echoes meanwhile.
    const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    ws.send('still here');
    assert.equal((await nextMessage(ws)).data.toString(), 'still here');
    ws.close();
  } finally {
    sc.kill();
    await srv.stop();
  }
  assert.equal((err.match(/KEYUPDATE/g) || []).length, 3, err);
  // -msg traces each handshake message: three KeyUpdates sent, and the
  // server's own answer to each of the two `K` (none to `k`).
  const trace = out.toString('latin1');
  assert.equal((trace.match(/>>> TLS 1.3, Handshake \[length 0005\], KeyUpdate/g) || []).length, 3);
  assert.equal((trace.match(/<<< TLS 1.3, Handshake \[length 0005\], KeyUpdate/g) || []).length, 2);
});

// A connection with no record for a sweep period gives back its cipher
// contexts (wsjwt__tls_rest) and makes them again at its next record: after
// 2.5 s of quiet, both directions carry on, and so does a KeyUpdate.
test('an idle wss:// connection echoes again after its cipher contexts were released', { timeout: 30000 }, async () => {
  const srv = await startServer(tlsArgs('good'), { WSJWT_TLS_REKEY_RECORDS: '4' });
  try {
    const ws = await connect(`wss://localhost:${srv.port}/`, { headers: { token: token() }, ca: ca() });
    ws.send('before');
    assert.equal((await nextMessage(ws)).data.toString(), 'before');
    await new Promise((r) => setTimeout(r, 2500));
    for (let i = 0; i < 6; i++) {
      ws.send(`after ${i}`);
      assert.equal((await nextMessage(ws)).data.toString(), `after ${i}`);
    }
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  } finally {
    await srv.stop();
  }
});
