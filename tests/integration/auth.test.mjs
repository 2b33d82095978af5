// Refused upgrades as the `ws` client reports them (`unexpected-response`,
// the status), and what the server tells the peer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, token, connect, closed, jwt, SECRET, waitFor } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(['--alg', 'HS256', '--origin', 'https://app.example.com']); });
after(async () => { const r = await srv.stop(); assert.equal(r.code, 0); });

async function refused(opts, protocols) {
  try {
    const ws = await connect(srv.url, opts, protocols);
    ws.terminate();
  } catch (e) {
    if (e.status) return e;
    throw e;
  }
  assert.fail('the upgrade was accepted');
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

test('missing token: 401 with WWW-Authenticate', async () => {
  const r = await refused({});
  assert.equal(r.status, 401);
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="wsjwt", error="invalid_token"');
});

test('bad signature: 401, no detail for the peer', async () => {
  const r = await refused({ headers: { token: token({ sub: 'mallory' }, {}, 'another-secret-0123456789abcdef0123') } });
  assert.equal(r.status, 401);
  assert.equal(r.headers['www-authenticate'], 'Bearer realm="wsjwt", error="invalid_token"');
  assert.ok(!/signature/i.test(r.body));
  // The log line names the reason and the (unverified) subject.
  await waitFor(() => /event=refused status=401 reason=EJWT_SIGNATURE .*sub="mallory"/.test(srv.stderr()));
});

test('expired token: 401', async () => {
  const r = await refused({ headers: { token: token({ sub: 'a', exp: Math.floor(Date.now() / 1000) - 60 }, {}) } });
  assert.equal(r.status, 401);
});

test('wrong algorithm (HS512 when only HS256 is allowed): 401', async () => {
  const r = await refused({ headers: { token: token({ sub: 'a' }, { algorithm: 'HS512' }) } });
  assert.equal(r.status, 401);
});

test('alg none: 401', async () => {
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'a' })}.`;
  const r = await refused({ headers: { token: none } });
  assert.equal(r.status, 401);
});

test('RS256 token against an HMAC secret: 401', async () => {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const r = await refused({ headers: { token: jwt.sign({ sub: 'a' }, privateKey, { algorithm: 'RS256' }) } });
  assert.equal(r.status, 401);
});

test('garbage token: 401', async () => {
  const r = await refused({ headers: { token: 'not-a-jwt' } });
  assert.equal(r.status, 401);
});

test('two different tokens in one request: 400', async () => {
  const r = await refused({ headers: { token: token({ sub: 'a' }), Authorization: `Bearer ${token({ sub: 'b' })}` } });
  assert.equal(r.status, 400);
});

test('Origin outside the allow-list: 403; listed Origin and no Origin are accepted', async () => {
  const r = await refused({ headers: { token: token() }, origin: 'https://evil.example.com' });
  assert.equal(r.status, 403);
  const ok = await connect(srv.url, { headers: { token: token() }, origin: 'https://app.example.com' });
  ok.close();
  await closed(ok);
  const noOrigin = await connect(srv.url, { headers: { token: token() } });
  noOrigin.close();
  await closed(noOrigin);
});

test('a valid token signed by jsonwebtoken opens the connection', async () => {
  const ws = await connect(srv.url, { headers: { token: jwt.sign({ name: 'firecamp' }, SECRET, { expiresIn: '15d' }) } });
  ws.close(1000);
  assert.equal((await closed(ws)).code, 1000);
});

test('--expose-auth-errors tells the peer why', async () => {
  const s2 = await startServer(['--expose-auth-errors']);
  try {
    await connect(s2.url, { headers: { token: token({ sub: 'a', exp: 1 }, {}) } });
    assert.fail('accepted');
  } catch (e) {
    assert.equal(e.status, 401);
    assert.match(e.headers['www-authenticate'], /error_description="[^"]*expired/);
  } finally {
    assert.equal((await s2.stop()).code, 0);
  }
});

test('query and cookie tokens are opt-in', async () => {
  const url = (u) => `${u}?access_token=${token()}`;
  try {
    await connect(url(srv.url));
    assert.fail('a query token was accepted without --token-query');
  } catch (e) {
    assert.equal(e.status, 401);
  }
  const s2 = await startServer(['--token-query', 'access_token', '--token-cookie', 'jwt',
    '--origin', 'https://app.example.com']);
  try {
    const ws = await connect(url(s2.url));
    ws.close();
    await closed(ws);
    const wc = await connect(s2.url, { headers: { Cookie: `other=1; jwt=${token()}` }, origin: 'https://app.example.com' });
    wc.close();
    await closed(wc);
  } finally {
    assert.equal((await s2.stop()).code, 0);
  }
});

test('--token-header NAME, --no-bearer, --no-subprotocol', async () => {
  const s2 = await startServer(['--token-header', 'X-Auth', '--no-bearer', '--no-subprotocol']);
  const status = async (opts, protocols) => {
    try {
      const ws = await connect(s2.url, opts, protocols);
      ws.close();
      await closed(ws);
      return 101;
    } catch (e) {
      return e.status;
    }
  };
  try {
    assert.equal(await status({ headers: { 'x-auth': token() } }), 101);
    assert.equal(await status({ headers: { token: token() } }), 401);
    assert.equal(await status({ headers: { Authorization: `Bearer ${token()}` } }), 401);
    assert.equal(await status({}, ['access_token', token()]), 401);
  } finally {
    assert.equal((await s2.stop()).code, 0);
  }
});

test('a request head over --max-head with a huge token header: 431', async () => {
  const r = await refused({ headers: { token: 'x'.repeat(9000) } });
  assert.equal(r.status, 431);
});
