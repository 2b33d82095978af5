// The client (`wsjwt connect`, on the client library) against the tutorial's
// Node `ws` + jsonwebtoken server and against `wsjwt serve`: echo, refused
// tokens reported as HTTP 401, token placements (header, Bearer, subprotocol,
// query), close codes shown, pipes, and the interactive mode through a real
// pseudo-terminal (python3's pty module).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { jwt, WebSocket, BIN, SECRET, startServer } from './lib.mjs';

// The tutorial's server: verifyClient reads the `token` header (and, for the
// other placements, Bearer, the access_token subprotocol and ?access_token=),
// verifies it with jsonwebtoken and answers 401 when it is missing or bad.
function startNodeServer() {
  const wss = new WebSocket.Server({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, cb) => {
      const h = info.req.headers;
      let tok = h.token;
      if (!tok && h.authorization?.startsWith('Bearer ')) tok = h.authorization.slice(7);
      if (!tok && h['sec-websocket-protocol']) {
        const p = h['sec-websocket-protocol'].split(',').map((s) => s.trim());
        if (p[0] === 'access_token') tok = p[1];
      }
      if (!tok) tok = new URL(info.req.url, 'http://x').searchParams.get('access_token');
      if (!tok) return cb(false, 401, 'Unauthorized');
      jwt.verify(tok, SECRET, (err, decoded) => {
        if (err) return cb(false, 401, 'Unauthorized');
        info.req.user = decoded;
        cb(true);
      });
    },
    handleProtocols: (protos) => (protos.has('access_token') ? 'access_token' : false),
  });
  wss.on('connection', (ws, req) => {
    ws.on('message', (data, isBinary) => {
      const s = isBinary ? null : data.toString();
      if (s === 'close-me') return ws.close(4001, 'asked');
      if (s === 'whoami') return ws.send(req.user.sub ?? '');
      if (s === 'binary') return ws.send(Buffer.from([0, 1, 0xfe, 0xff]), { binary: true });
      ws.send(data, { binary: isBinary });
    });
  });
  return new Promise((resolve) => wss.on('listening', () => resolve(wss)));
}

function connect(args, { input, env = {}, timeout = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['connect', ...args], {
      env: { PATH: process.env.PATH, JWT_SECRET: SECRET, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('connect timed out: ' + err)); }, timeout);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

const token = (claims = { sub: 'alice' }, opts = { expiresIn: '15d' }) => jwt.sign(claims, SECRET, opts);

let node;
let ours;
before(async () => {
  node = await startNodeServer();
  ours = await startServer();
});
after(async () => {
  node?.close();
  for (const c of node?.clients ?? []) c.terminate();
  await ours?.stop();
});

const peers = () => [
  ['node ws', `ws://127.0.0.1:${node.address().port}/`],
  ['wsjwt serve', ours.url],
];

test('echo with the token in a `token` header, -x twice: replies in order, exit 0', async () => {
  for (const [name, url] of peers()) {
    const r = await connect([url, '--token', token(), '-x', 'hello', '-x', 'wörld']);
    assert.equal(r.out, 'hello\nwörld\n', name + ': ' + r.err);
    assert.match(r.err, /closed: 1000/, name);
    assert.equal(r.code, 0, name);
  }
});

test('a refused token is reported as HTTP 401, exit 1', async () => {
  for (const [name, url] of peers()) {
    const bad = jwt.sign({ sub: 'x' }, 'another-secret-of-sufficient-length-000000000');
    const r = await connect([url, '--token', bad, '-x', 'hello']);
    assert.equal(r.code, 1, name);
    assert.match(r.err, /upgrade refused: HTTP 401/, name);
    assert.equal(r.out, '', name);
  }
  // ours says why in WWW-Authenticate
  const r = await connect([ours.url, '-x', 'hello']);
  assert.match(r.err, /HTTP 401/);
  assert.match(r.err, /WWW-Authenticate: Bearer/);
});

test('expired token: 401', async () => {
  for (const [name, url] of peers()) {
    const t = jwt.sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) - 60 }, SECRET);
    const r = await connect([url, '--token', t, '-x', 'x']);
    assert.equal(r.code, 1, name);
    assert.match(r.err, /HTTP 401/, name);
  }
});

test('subprotocol, Bearer and query placements; --sign mints a token the server accepts', async () => {
  const url = `ws://127.0.0.1:${node.address().port}/`;
  let r = await connect([url, '--token', token({ sub: 'sp' }), '--subprotocol', '-x', 'whoami']);
  assert.equal(r.out, 'sp\n', r.err);
  r = await connect([url, '--token', token({ sub: 'br' }), '--bearer', '-x', 'whoami']);
  assert.equal(r.out, 'br\n', r.err);
  r = await connect([`ws://127.0.0.1:${node.address().port}/path?x=1`, '--token', token({ sub: 'q' }),
    '--query', 'access_token', '-x', 'whoami']);
  assert.equal(r.out, 'q\n', r.err);
  r = await connect([url, '--sign', '--sub', 'minted', '--subprotocol', '-x', 'whoami']);
  assert.equal(r.out, 'minted\n', r.err);
  // our server, subprotocol and Bearer
  for (const extra of [['--subprotocol'], ['--bearer']]) {
    r = await connect([ours.url, '--token', token(), ...extra, '-x', 'ok']);
    assert.equal(r.out, 'ok\n', extra + r.err);
    assert.equal(r.code, 0);
  }
});

test('token from --token-env and --token-file', async () => {
  const url = `ws://127.0.0.1:${node.address().port}/`;
  let r = await connect([url, '--token-env', 'MY_TOKEN', '-x', 'whoami'], { env: { MY_TOKEN: token({ sub: 'env' }) } });
  assert.equal(r.out, 'env\n', r.err);
  const fs = await import('node:fs');
  const os = await import('node:os');
  const dir = fs.mkdtempSync(os.tmpdir() + '/wsjwt-client-');
  fs.writeFileSync(dir + '/t', token({ sub: 'file' }) + '\n');
  r = await connect([url, '--token-file', dir + '/t', '-x', 'whoami']);
  fs.rmSync(dir, { recursive: true });
  assert.equal(r.out, 'file\n', r.err);
});

test('the server\'s close code and reason are shown, exit 1 for a code other than 1000', async () => {
  const url = `ws://127.0.0.1:${node.address().port}/`;
  const r = await connect([url, '--token', token(), '-x', 'close-me', '--wait', '5']);
  assert.match(r.err, /closed: 4001 asked/);
  assert.equal(r.code, 1);
});

test('binary messages print as hex or base64', async () => {
  const url = `ws://127.0.0.1:${node.address().port}/`;
  let r = await connect([url, '--token', token(), '-x', 'binary']);
  assert.equal(r.out, '0001feff\n', r.err);
  r = await connect([url, '--token', token(), '-x', 'binary', '--binary-format', 'base64']);
  assert.equal(r.out, 'AAH+/w==\n', r.err);
});

test('pipes: lines from stdin are sent, replies come out one per line', async () => {
  for (const [name, url] of peers()) {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    const r = await connect([url, '--token', token()], { input: lines.join('\n') + '\n' });
    assert.equal(r.out, lines.join('\n') + '\n', name + ': ' + r.err);
    assert.equal(r.code, 0, name);
  }
});

test('network failure and usage errors have their exit codes', async () => {
  let r = await connect(['ws://127.0.0.1:1/', '-x', 'a']);
  assert.equal(r.code, 1);
  assert.match(r.err, /connection failed/);
  r = await connect(['http://127.0.0.1/', '-x', 'a']);
  assert.equal(r.code, 2);
  r = await connect([]);
  assert.equal(r.code, 2);
  r = await connect(['ws://127.0.0.1:1/', '--token', 'a', '--token-env', 'B']);
  assert.equal(r.code, 2);
});

// Drives `wsjwt connect` on a real pseudo-terminal: types a line, waits for
// the echo, pings, closes with a code and reason, and reports the transcript.
const PTY_DRIVER = String.raw`
import os, pty, sys, time, select, json
args = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
buf = b''
def wait_for(s, t=8.0):
    global buf
    end = time.time() + t
    while s.encode() not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r:
            raise SystemExit('timeout waiting for %r in %r' % (s, buf))
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        buf += d
wait_for('connected')
os.write(fd, b'hello pty\n')
wait_for('< hello pty')
os.write(fd, b'/ping abc\n')
wait_for('pong abc')
os.write(fd, b'/close 4000 bye now\n')
wait_for('closed: 4000')
_, status = os.waitpid(pid, 0)
sys.stdout.write(json.dumps({'out': buf.decode('utf8', 'replace'), 'code': os.waitstatus_to_exitcode(status)}))
`;

// Asynchronous: the Node server runs in this process and must keep answering.
function runPty(args) {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', PTY_DRIVER, JSON.stringify(args)], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('pty driver timed out')); }, 20000);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, out, err }); });
  });
}

test('interactive on a terminal: typed lines sent, echoes shown, /ping, /close CODE REASON', async () => {
  for (const [name, url] of peers()) {
    const r = await runPty([BIN, 'connect', url, '--token', token()]);
    assert.equal(r.status, 0, name + ': ' + r.err + r.out);
    const res = JSON.parse(r.out);
    assert.match(res.out, /< hello pty/, name);
    assert.match(res.out, /pong abc/, name);
    assert.match(res.out, /closed: 4000/, name);
    assert.equal(res.code, 1, name); // a close code other than 1000
  }
});

test('a token that expires on an open connection: the server closes with 1008, shown, exit 1', async () => {
  const t = jwt.sign({ sub: 'short' }, SECRET, { expiresIn: 2 });
  const r = await new Promise((resolve, reject) => {
    // stdin stays open: the connection lives until the server ends it
    const p = spawn(BIN, ['connect', ours.url, '--token', t], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('no expiry close: ' + err)); }, 10000);
    p.on('close', (code) => { clearTimeout(timer); p.stdin.destroy(); resolve({ code, err }); });
  });
  assert.match(r.err, /closed: 1008 \(policy violation\)/);
  assert.equal(r.code, 1);
});

test('IPv6 literal URLs: connects to [::1], Host header in brackets', async (t) => {
  const wss = new WebSocket.Server({ host: '::1', port: 0 });
  wss.on('connection', (ws, req) => ws.on('message', (d) => ws.send(`${req.headers.host} ${req.url} ${d}`)));
  const up = await new Promise((resolve) => {
    wss.on('listening', () => resolve(true));
    wss.on('error', () => resolve(false));
  });
  if (!up) return t.skip('no IPv6 loopback on this machine');
  try {
    const port = wss.address().port;
    const r = await connect([`ws://[::1]:${port}/v6?x=1`, '-x', 'hi']);
    assert.equal(r.out, `[::1]:${port} /v6?x=1 hi\n`, r.err);
    assert.equal(r.code, 0);
  } finally {
    wss.close();
  }
});

test('stdin redirected from a regular file: every line sent (CRLF and a last line without newline too)', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const dir = fs.mkdtempSync(os.tmpdir() + '/wsjwt-client-');
  const file = dir + '/in.txt';
  fs.writeFileSync(file, 'one\ntwo\r\nthree');
  const fd = fs.openSync(file, 'r');
  try {
    const r = await new Promise((resolve, reject) => {
      const p = spawn(BIN, ['connect', `ws://127.0.0.1:${node.address().port}/`, '--token', token()], {
        stdio: [fd, 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { err += d; });
      const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('timed out: ' + err)); }, 15000);
      p.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
    });
    assert.equal(r.out, 'one\ntwo\nthree\n', r.err);
    assert.equal(r.code, 0);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true });
  }
});

test('--sign --key PEM --alg RS256: the key option signs the JWT (TLS keys are --tls-key)', async () => {
  const crypto = await import('node:crypto');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = fs.mkdtempSync(os.tmpdir() + '/wsjwt-client-');
  const keyFile = dir + '/rs.pem';
  fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const wss = new WebSocket.Server({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, cb) => {
      jwt.verify(info.req.headers.token ?? '', publicKey, { algorithms: ['RS256'] }, (err, claims) => {
        if (err) return cb(false, 401, 'Unauthorized');
        info.req.sub = claims.sub;
        cb(true);
      });
    },
  });
  wss.on('connection', (ws, req) => ws.on('message', () => ws.send(req.sub)));
  await new Promise((resolve) => wss.on('listening', resolve));
  try {
    const url = `ws://127.0.0.1:${wss.address().port}/`;
    const r = await connect([url, '--sign', '--key', keyFile, '--alg', 'RS256', '--sub', 'rsa-user', '-x', 'who']);
    assert.equal(r.out, 'rsa-user\n', r.err);
    assert.equal(r.code, 0);
  } finally {
    wss.close();
    fs.rmSync(dir, { recursive: true });
  }
});
