// HS256/384/512 interop between `wsjwt sign`/`wsjwt verify` and the real
// jsonwebtoken and jose packages, both directions, with the same verdicts on
// both sides for iss, aud (string and array), sub, nbf, exp and leeway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import * as jose from 'jose';

const BIN = process.env.WSJWT_BIN;
assert.ok(BIN, 'WSJWT_BIN must point at the wsjwt CLI');

const SECRET = 'interop-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL'; // 64 bytes
assert.equal(Buffer.byteLength(SECRET), 64);
const ALGS = ['HS256', 'HS384', 'HS512'];
const T0 = 1700000000; // a fixed "now" for every clock-dependent case

// Runs the CLI with JWT_SECRET set (unless env overrides it).
function wsjwt(args, { env = {}, input } = {}) {
  const r = spawnSync(BIN, args, {
    env: { PATH: process.env.PATH, JWT_SECRET: SECRET, ...env },
    input,
    encoding: 'utf8',
    timeout: 10000,
  });
  // EPIPE: the CLI exited (a usage error) before reading the input we offered.
  if (r.error && r.error.code !== 'EPIPE') throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function wsjwtSign(args, opts) {
  const r = wsjwt(['sign', ...args], opts);
  assert.equal(r.code, 0, `wsjwt sign ${args.join(' ')} failed: ${r.err}`);
  return r.out.trim();
}

function wsjwtVerify(token, args = [], opts) {
  const r = wsjwt(['verify', ...args, token], opts);
  if (r.code === 0) {
    const v = JSON.parse(r.out);
    return { ok: true, header: v.header, payload: v.payload, err: r.err };
  }
  assert.equal(r.code, 1, `wsjwt verify exited ${r.code}: ${r.err}`);
  return { ok: false, err: r.err, out: r.out };
}

function nodeVerify(token, opts) {
  try {
    return { ok: true, payload: jwt.verify(token, SECRET, opts) };
  } catch (e) {
    return { ok: false, err: e.message };
  }
}

async function joseVerify(token, opts) {
  try {
    const r = await jose.jwtVerify(token, new TextEncoder().encode(SECRET), opts);
    return { ok: true, payload: r.payload };
  } catch (e) {
    return { ok: false, err: e.code };
  }
}

test('the tutorial token: jwt.sign({name:"firecamp"}, secret, {expiresIn: "15d"}) verifies', () => {
  const token = jwt.sign({ name: 'firecamp' }, SECRET, { expiresIn: '15d' });
  const v = wsjwtVerify(token);
  assert.ok(v.ok, v.err);
  assert.deepEqual(v.header, { alg: 'HS256', typ: 'JWT' });
  assert.equal(v.payload.name, 'firecamp');
  assert.equal(v.payload.exp - v.payload.iat, 15 * 24 * 3600);
  // The same token through stdin, and with a wrong secret.
  const viaStdin = wsjwt(['verify', '-'], { input: token + '\n' });
  assert.equal(viaStdin.code, 0, viaStdin.err);
  const wrong = wsjwt(['verify', token], { env: { JWT_SECRET: SECRET + 'x' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /invalid signature/);
});

for (const alg of ALGS) {
  test(`${alg}: jsonwebtoken and jose tokens verify in wsjwt`, async () => {
    const t1 = jwt.sign({ name: 'firecamp', admin: true, n: 7 }, SECRET, {
      algorithm: alg,
      expiresIn: 60,
      issuer: 'https://issuer.example',
      audience: ['api', 'ws'],
      subject: 'user-1',
      keyid: 'k1',
    });
    const v1 = wsjwtVerify(t1, ['--alg', alg, '--iss', 'https://issuer.example', '--aud', 'ws', '--sub', 'user-1']);
    assert.ok(v1.ok, v1.err);
    assert.deepEqual(v1.header, { alg, typ: 'JWT', kid: 'k1' });
    assert.deepEqual(v1.payload.aud, ['api', 'ws']);
    assert.equal(v1.payload.admin, true);

    const t2 = await new jose.SignJWT({ name: 'firecamp' })
      .setProtectedHeader({ alg })
      .setIssuedAt()
      .setExpirationTime('2h')
      .setIssuer('jose-iss')
      .setAudience('ws')
      .sign(new TextEncoder().encode(SECRET));
    const v2 = wsjwtVerify(t2, ['--alg', alg, '--iss', 'jose-iss', '--aud', 'ws']);
    assert.ok(v2.ok, v2.err);
    assert.deepEqual(v2.header, { alg });
    assert.equal(v2.payload.exp - v2.payload.iat, 7200);

    // An alg outside the policy is refused even with the right secret.
    const other = ALGS.find((a) => a !== alg);
    const v3 = wsjwtVerify(t1, ['--alg', other]);
    assert.equal(v3.ok, false);
    assert.match(v3.err, /EJWT_ALG/);
  });

  test(`${alg}: wsjwt tokens verify in jsonwebtoken and jose`, async () => {
    const token = wsjwtSign([
      '--alg', alg, '--claim', 'name=firecamp', '--claim', 'admin=true', '--claim', 'n=42',
      '--claim', 'tags=["a","b"]', '--claim', 'id=007', '--sub', 'user-1', '--iss', 'wsjwt',
      '--aud', 'ws', '--aud', 'api', '--expires', '15m', '--kid', 'key-1',
    ]);
    const header = jwt.decode(token, { complete: true }).header;
    assert.deepEqual(header, { alg, typ: 'JWT', kid: 'key-1' });
    const n = nodeVerify(token, { algorithms: [alg], issuer: 'wsjwt', audience: 'api', subject: 'user-1' });
    assert.ok(n.ok, n.err);
    assert.equal(n.payload.name, 'firecamp');
    assert.equal(n.payload.admin, true);
    assert.equal(n.payload.n, 42);
    assert.deepEqual(n.payload.tags, ['a', 'b']);
    assert.equal(n.payload.id, '007'); // not JSON: kept as a string
    assert.deepEqual(n.payload.aud, ['ws', 'api']);
    assert.equal(n.payload.exp - n.payload.iat, 900);
    assert.ok(Math.abs(n.payload.iat - Date.now() / 1000) < 60);
    const j = await joseVerify(token, { algorithms: [alg], issuer: 'wsjwt', audience: 'ws' });
    assert.ok(j.ok, j.err);
    assert.equal(j.payload.sub, 'user-1');
  });
}

// Each case: how the token is made (claims relative to T0) and the policy;
// all three verifiers must agree with `expect`.
const CASES = [
  { name: 'valid', claims: { iat: T0, exp: T0 + 60 }, now: T0, expect: true },
  { name: 'expired', claims: { iat: T0 - 120, exp: T0 - 60 }, now: T0, expect: false, why: /jwt expired/ },
  { name: 'exp == now is expired', claims: { iat: T0 - 60, exp: T0 }, now: T0, expect: false, why: /jwt expired/ },
  { name: 'exp one second ahead', claims: { iat: T0 - 60, exp: T0 + 1 }, now: T0, expect: true },
  { name: 'expired within leeway', claims: { exp: T0 - 5 }, now: T0, leeway: 10, expect: true },
  { name: 'expired beyond leeway', claims: { exp: T0 - 15 }, now: T0, leeway: 10, expect: false, why: /jwt expired/ },
  { name: 'not yet valid', claims: { iat: T0, nbf: T0 + 60 }, now: T0, expect: false, why: /jwt not active/ },
  { name: 'nbf == now is valid', claims: { iat: T0, nbf: T0 }, now: T0, expect: true },
  { name: 'nbf within leeway', claims: { nbf: T0 + 5 }, now: T0, leeway: 10, expect: true },
  { name: 'iss matches', claims: { iss: 'a' }, now: T0, iss: ['a'], expect: true },
  { name: 'iss one of several', claims: { iss: 'b' }, now: T0, iss: ['a', 'b'], expect: true },
  { name: 'iss mismatch', claims: { iss: 'evil' }, now: T0, iss: ['a'], expect: false, why: /issuer invalid/ },
  { name: 'iss missing', claims: {}, now: T0, iss: ['a'], expect: false, why: /iss/ },
  { name: 'aud string matches', claims: { aud: 'ws' }, now: T0, aud: ['ws'], expect: true },
  { name: 'aud array overlaps', claims: { aud: ['api', 'ws'] }, now: T0, aud: ['ws'], expect: true },
  { name: 'aud array, policy of several', claims: { aud: ['x', 'y'] }, now: T0, aud: ['ws', 'y'], expect: true },
  { name: 'aud string mismatch', claims: { aud: 'other' }, now: T0, aud: ['ws'], expect: false, why: /audience invalid/ },
  { name: 'aud array no overlap', claims: { aud: ['a', 'b'] }, now: T0, aud: ['ws'], expect: false, why: /audience invalid/ },
  { name: 'aud missing', claims: {}, now: T0, aud: ['ws'], expect: false, why: /aud/ },
  { name: 'sub matches', claims: { sub: 'u1' }, now: T0, sub: 'u1', expect: true },
  { name: 'sub mismatch', claims: { sub: 'u2' }, now: T0, sub: 'u1', expect: false, why: /subject invalid/ },
  { name: 'max-age: young enough', claims: { iat: T0 - 100 }, now: T0, maxAge: 300, expect: true },
  { name: 'max-age: too old', claims: { iat: T0 - 400 }, now: T0, maxAge: 300, expect: false, why: /maxAge/ },
  { name: 'max-age: old but within leeway', claims: { iat: T0 - 310 }, now: T0, maxAge: 300, leeway: 20, expect: true },
  { name: 'max-age: no iat', claims: { exp: T0 + 60 }, now: T0, maxAge: 300, expect: false, why: /iat/ },
  // jsonwebtoken has no typ or required-claims options, and accepts an iat
  // in the future under maxAge: those cases compare wsjwt with jose only.
  { name: 'max-age: iat in the future', claims: { iat: T0 + 100 }, now: T0, maxAge: 300, expect: false, why: /iat|future/, peers: ['jose'] },
  { name: 'typ matches case-insensitively', claims: {}, now: T0, typ: 'jwt', expect: true, peers: ['jose'] },
  { name: 'typ mismatch', claims: {}, now: T0, typ: 'at+jwt', expect: false, why: /typ/, peers: ['jose'] },
  { name: 'required claim present', claims: { jti: 'x' }, now: T0, require: ['jti'], expect: true, peers: ['jose'] },
  { name: 'required claim missing', claims: { a: 1 }, now: T0, require: ['jti'], expect: false, why: /jti/, peers: ['jose'] },
];

function wsjwtPolicyArgs(c, alg) {
  const a = ['--alg', alg, '--now', String(c.now)];
  if (c.leeway !== undefined) a.push('--leeway', String(c.leeway));
  for (const i of c.iss || []) a.push('--iss', i);
  for (const u of c.aud || []) a.push('--aud', u);
  if (c.sub) a.push('--sub', c.sub);
  if (c.maxAge !== undefined) a.push('--max-age', String(c.maxAge));
  if (c.typ) a.push('--typ', c.typ);
  for (const r of c.require || []) a.push('--require', r);
  return a;
}

// The policy for jsonwebtoken (clock: clockTimestamp) or jose (currentDate).
function peerOpts(c, alg, peer) {
  const o = { algorithms: [alg] };
  if (peer === 'jose') o.currentDate = new Date(c.now * 1000);
  else o.clockTimestamp = c.now;
  if (c.leeway !== undefined) o.clockTolerance = c.leeway;
  if (c.iss) o.issuer = c.iss;
  if (c.aud) o.audience = c.aud;
  if (c.sub) o.subject = c.sub;
  if (c.maxAge !== undefined) o[peer === 'jose' ? 'maxTokenAge' : 'maxAge'] = c.maxAge;
  if (c.typ) o.typ = c.typ;
  if (c.require) o.requiredClaims = c.require;
  return o;
}

// The same claims made by wsjwt sign (through --payload/--now/--no-iat).
function wsjwtMake(c, alg) {
  return wsjwtSign(['--alg', alg, '--no-iat', '--payload', JSON.stringify(c.claims)]);
}

for (const alg of ALGS) {
  test(`${alg}: same verdicts in wsjwt, jsonwebtoken and jose`, async () => {
    for (const c of CASES) {
      const tokens = {
        jsonwebtoken: jwt.sign({ ...c.claims }, SECRET, { algorithm: alg, noTimestamp: !('iat' in c.claims) }),
        wsjwt: wsjwtMake(c, alg),
      };
      for (const [maker, token] of Object.entries(tokens)) {
        const peers = c.peers || ['jsonwebtoken', 'jose'];
        const w = wsjwtVerify(token, wsjwtPolicyArgs(c, alg));
        const where = `${alg} ${c.name} (token by ${maker})`;
        assert.equal(w.ok, c.expect, `${where}: wsjwt said ${w.ok}: ${w.err}`);
        if (peers.includes('jsonwebtoken')) {
          const n = nodeVerify(token, peerOpts(c, alg, 'jsonwebtoken'));
          assert.equal(n.ok, c.expect, `${where}: jsonwebtoken said ${n.ok}: ${n.err}`);
        }
        const j = await joseVerify(token, peerOpts(c, alg, 'jose'));
        assert.equal(j.ok, c.expect, `${where}: jose said ${j.ok}: ${j.err}`);
        if (!c.expect) assert.match(w.err, c.why, `${where}: wsjwt reason`);
      }
    }
  });
}

test('sign: expiry and not-before durations, --now, --no-iat', () => {
  const token = wsjwtSign(['--now', String(T0), '--expires', '2h', '--not-before', '90']);
  const p = jwt.decode(token);
  assert.deepEqual(p, { iat: T0, exp: T0 + 7200, nbf: T0 + 90 });
  const n = nodeVerify(token, { clockTimestamp: T0 + 100 });
  assert.ok(n.ok, n.err);
  assert.equal(nodeVerify(token, { clockTimestamp: T0 + 10 }).err, 'jwt not active');
  assert.equal(nodeVerify(token, { clockTimestamp: T0 + 7200 }).err, 'jwt expired');
  const noiat = jwt.decode(wsjwtSign(['--no-iat', '--claim', 'a=1']));
  assert.deepEqual(noiat, { a: 1 });
  for (const [dur, secs] of [['90s', 90], ['15m', 900], ['12h', 43200], ['15d', 1296000], ['2w', 1209600], ['1y', 31557600]]) {
    const q = jwt.decode(wsjwtSign(['--now', String(T0), '--expires', dur]));
    assert.equal(q.exp - q.iat, secs, dur);
    // jsonwebtoken reads the same duration text the same way.
    const r = jwt.decode(jwt.sign({ iat: T0 }, SECRET, { expiresIn: dur }));
    assert.equal(r.exp - r.iat, secs, `jsonwebtoken ${dur}`);
  }
});

test('sign: a lifetime over a year signs but warns about milliseconds', () => {
  // The tutorial's 15*24*60*60*1000, meant as 15 days, is 41 years in seconds.
  const r = wsjwt(['sign', '--expires', String(15 * 24 * 60 * 60 * 1000), '--now', String(T0)]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning/);
  assert.match(r.err, /milliseconds/);
  assert.match(r.err, /41\.\d years/);
  assert.match(r.err, /1296000/); // the seconds that were meant: 15 days
  const p = jwt.decode(r.out.trim());
  assert.equal(p.exp - p.iat, 1296000000);
  // Within a year: no warning.
  const ok = wsjwt(['sign', '--expires', '15d']);
  assert.equal(ok.code, 0);
  assert.equal(ok.err, '');
});

test('short secrets: sign refuses unless --allow-weak-key; verify accepts with a note', () => {
  const env = { JWT_SECRET: 'secret' };
  const r = wsjwt(['sign', '--claim', 'a=1'], { env });
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /6 bytes/);
  assert.match(r.err, /--allow-weak-key/);
  const w = wsjwt(['sign', '--allow-weak-key', '--claim', 'a=1'], { env });
  assert.equal(w.code, 0, w.err);
  assert.equal(jwt.verify(w.out.trim(), 'secret').a, 1);
  // A Node user's short secret: verify accepts and says so.
  const v = wsjwt(['verify', jwt.sign({ name: 'firecamp' }, 'secret', { expiresIn: '15d' })], { env });
  assert.equal(v.code, 0, v.err);
  assert.match(v.err, /note: .*shorter than HS256's 32-byte hash/);
  // HS512 needs 64 bytes: a 40-byte secret is weak there but not for HS256.
  const mid = { JWT_SECRET: 'x'.repeat(40) };
  assert.equal(wsjwt(['sign', '--alg', 'HS256'], { env: mid }).code, 0);
  const h5 = wsjwt(['sign', '--alg', 'HS512'], { env: mid });
  assert.equal(h5.code, 1);
  assert.match(h5.err, /needs at least 64/);
});

test('secret sources: env name, file, --secret, base64', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsjwt-interop-'));
  try {
    const token = jwt.sign({ a: 1 }, SECRET);
    // --secret-env NAME
    let r = wsjwt(['verify', '--secret-env', 'MY_KEY', token], { env: { JWT_SECRET: '', MY_KEY: SECRET } });
    assert.equal(r.code, 0, r.err);
    r = wsjwt(['verify', '--secret-env', 'UNSET_VAR', token]);
    assert.equal(r.code, 2);
    assert.match(r.err, /UNSET_VAR/);
    // --secret-file, with the trailing newline `echo` leaves
    const file = join(dir, 'secret');
    writeFileSync(file, SECRET + '\n');
    r = wsjwt(['verify', '--secret-file', file, token], { env: { JWT_SECRET: 'wrong' } });
    assert.equal(r.code, 0, r.err);
    r = wsjwt(['verify', '--secret-file', '-', token], { env: { JWT_SECRET: 'wrong' }, input: SECRET });
    assert.equal(r.code, 0, r.err);
    r = wsjwt(['verify', '--secret-file', '-'], { input: SECRET });
    assert.equal(r.code, 2);
    assert.match(r.err, /stdin/);
    r = wsjwt(['verify', '--secret-file', join(dir, 'missing'), token]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--secret-file/);
    // --secret works but warns
    r = wsjwt(['verify', '--secret', SECRET, token], { env: { JWT_SECRET: 'wrong' } });
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /ps/);
    // --secret-base64: the bytes, as identity providers hand them out, in both alphabets
    const bytes = Buffer.from('fb'.repeat(16) + 'ff'.repeat(16) + '3e3f', 'hex');
    const btok = jwt.sign({ a: 2 }, bytes);
    for (const enc of [bytes.toString('base64'), bytes.toString('base64url')]) {
      r = wsjwt(['verify', '--secret-base64', btok], { env: { JWT_SECRET: enc } });
      assert.equal(r.code, 0, `${enc}: ${r.err}`);
    }
    const stok = wsjwtSign(['--secret-base64', '--claim', 'a=3'], { env: { JWT_SECRET: bytes.toString('base64') } });
    assert.equal(jwt.verify(stok, bytes).a, 3);
    r = wsjwt(['verify', '--secret-base64', btok], { env: { JWT_SECRET: 'not base64!' } });
    assert.equal(r.code, 2);
    assert.match(r.err, /--secret-base64/);
    // no key at all
    r = spawnSync(BIN, ['verify', token], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /JWT_SECRET/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('verify refuses tampering, none, and explains with --json', () => {
  const token = jwt.sign({ name: 'firecamp' }, SECRET, { expiresIn: '15d' });
  const [h, p, s] = token.split('.');
  const forged = [h, Buffer.from('{"name":"admin"}').toString('base64url'), s].join('.');
  let r = wsjwt(['verify', '--json', forged]);
  assert.equal(r.code, 1);
  const e = JSON.parse(r.out);
  assert.equal(e.error, 'EJWT_SIGNATURE');
  assert.equal(e.message, 'invalid signature');
  assert.equal(typeof e.code, 'number');
  assert.throws(() => jwt.verify(forged, SECRET), /invalid signature/);

  const none = jwt.sign({ name: 'admin' }, null, { algorithm: 'none' });
  r = wsjwt(['verify', none]);
  assert.equal(r.code, 1);
  r = wsjwt(['verify', '--alg', 'none', none]);
  assert.equal(r.code, 2);
  assert.match(r.err, /none/);

  r = wsjwt(['verify', '--json', '--now', String(T0), jwt.sign({ exp: T0 - 1 }, SECRET)]);
  assert.equal(r.code, 1);
  assert.deepEqual(
    (({ error, message, member }) => ({ error, message, member }))(JSON.parse(r.out)),
    { error: 'EJWT_EXPIRED', message: 'jwt expired', member: 'exp' },
  );
  r = wsjwt(['verify', 'not-a-token']);
  assert.equal(r.code, 1);
  assert.match(r.err, /jwt malformed/);
});

test('usage errors name the option and exit 2', () => {
  const cases = [
    [['sign', '--bogus'], /--bogus/],
    [['sign', '--expires'], /--expires/],
    [['sign', '--expires', '15 parsecs'], /--expires/],
    [['sign', '--payload', '[1]'], /--payload/],
    [['sign', '--payload', '{"a":1,"a":2}'], /--payload/],
    [['sign', '--claim', 'noequals'], /--claim/],
    [['sign', '--alg', 'hs256'], /--alg/],
    [['verify', '--leeway', 'x', 't'], /--leeway/],
    [['verify', '--now', 'yesterday', 't'], /--now/],
    [['verify', '--alg', 'HS256,XX999', 't'], /XX999/],
    [['verify', '--frobnicate', 't'], /--frobnicate/],
    [['verify', 'a', 'b'], /one token/],
    [['keygen'], /--alg/],
    [['keygen', '--alg', 'HS1'], /--alg/],
  ];
  for (const [args, re] of cases) {
    const r = wsjwt(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code} ${r.err}`);
    assert.match(r.err, re, args.join(' '));
  }
  for (const cmd of ['sign', 'verify', 'keygen']) {
    const r = wsjwt([cmd, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`usage: wsjwt ${cmd}`));
  }
});

test('keygen HS*: a random secret of the hash size, usable by wsjwt and Node', () => {
  for (const [alg, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]]) {
    const a = wsjwt(['keygen', '--alg', alg]);
    const b = wsjwt(['keygen', '--alg', alg]);
    assert.equal(a.code, 0, a.err);
    const sa = a.out.trim();
    assert.match(sa, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(sa, 'base64url').length, bytes);
    assert.notEqual(sa, b.out.trim());
    // The printed text as a secret (as JWT_SECRET), and its bytes (--secret-base64).
    const t = wsjwtSign(['--alg', alg, '--claim', 'k=1'], { env: { JWT_SECRET: sa } });
    assert.equal(jwt.verify(t, sa).k, 1);
    const t2 = wsjwtSign(['--alg', alg, '--secret-base64'], { env: { JWT_SECRET: sa } });
    jwt.verify(t2, Buffer.from(sa, 'base64url'));
  }
  // --out: the secret goes to PREFIX.secret (0600), never over an existing file.
  const dir = mkdtempSync(join(tmpdir(), 'wsjwt-keygen-'));
  try {
    const prefix = join(dir, 'dev');
    const r = wsjwt(['keygen', '--alg', 'HS256', '--out', prefix]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, '');
    assert.equal(statSync(`${prefix}.secret`).mode & 0o777, 0o600);
    const text = readFileSync(`${prefix}.secret`, 'utf8');
    assert.match(text, /^[A-Za-z0-9_-]{43}\n$/);
    const t = wsjwtSign(['--secret-file', `${prefix}.secret`, '--claim', 'k=2'], { env: { JWT_SECRET: '' } });
    assert.equal(jwt.verify(t, text.trim()).k, 2);
    const again = wsjwt(['keygen', '--alg', 'HS256', '--out', prefix]);
    assert.equal(again.code, 1);
    assert.equal(readFileSync(`${prefix}.secret`, 'utf8'), text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
