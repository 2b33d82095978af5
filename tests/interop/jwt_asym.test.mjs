// RS*/PS*/ES*/EdDSA interop between `wsjwt sign`/`verify`/`keygen` and the
// real jsonwebtoken and jose packages, both directions, keys as PEM, JWK and
// JWKS; plus the alg-confusion refusals seen from the command line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import * as jose from 'jose';

const BIN = process.env.WSJWT_BIN;
assert.ok(BIN, 'WSJWT_BIN must point at the wsjwt CLI');

const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
// jsonwebtoken 9 has no EdDSA.
const JSONWEBTOKEN_ALGS = new Set(ALGS.filter((a) => a !== 'EdDSA'));

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wsjwt-asym-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function wsjwt(args, { input, env = {} } = {}) {
  const r = spawnSync(BIN, args, {
    env: { PATH: process.env.PATH, ...env },
    input,
    encoding: 'utf8',
    timeout: 20000,
  });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// One Node-made key pair per key type, shared by the tests (RSA generation
// is slow, and a test file must stay well under a minute on a busy machine).
const pairs = new Map();
function nodeKeyPair(alg) {
  const type = alg.startsWith('RS') || alg.startsWith('PS') ? 'rsa' : alg === 'EdDSA' ? 'ed25519' : alg;
  if (!pairs.has(type)) {
    if (type === 'rsa') pairs.set(type, generateKeyPairSync('rsa', { modulusLength: 2048 }));
    else if (type === 'ed25519') pairs.set(type, generateKeyPairSync('ed25519'));
    else pairs.set(type, generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg] }));
  }
  return pairs.get(type);
}

function file(name, content) {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function verifyOk(token, args) {
  const r = wsjwt(['verify', ...args, token]);
  assert.equal(r.code, 0, `wsjwt verify ${args.join(' ')}: ${r.err}`);
  return JSON.parse(r.out);
}

for (const alg of ALGS) {
  test(`${alg}: Node-made tokens verify in wsjwt with PEM, JWK and JWKS keys`, async () => {
    const { publicKey, privateKey } = nodeKeyPair(alg);
    const kid = `node-${alg}`;
    const pubPem = file(`${alg}-pub.pem`, publicKey.export({ type: 'spki', format: 'pem' }));
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
    const pubJwk = file(`${alg}-pub.jwk`, JSON.stringify(jwk));
    // A JWKS holding a decoy of another type first: selection is by kid.
    const decoy = { ...nodeKeyPair(alg === 'ES256' ? 'EdDSA' : 'ES256').publicKey.export({ format: 'jwk' }), kid: 'decoy' };
    const jwks = file(`${alg}.jwks`, JSON.stringify({ keys: [decoy, jwk] }));

    const tokens = [];
    tokens.push(
      await new jose.SignJWT({ name: 'firecamp' })
        .setProtectedHeader({ alg, kid })
        .setIssuedAt()
        .setIssuer('idp')
        .setAudience('ws')
        .setExpirationTime('10m')
        .sign(privateKey),
    );
    if (JSONWEBTOKEN_ALGS.has(alg)) {
      tokens.push(
        jwt.sign({ name: 'firecamp' }, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
          algorithm: alg,
          keyid: kid,
          issuer: 'idp',
          audience: 'ws',
          expiresIn: '10m',
        }),
      );
    }
    for (const token of tokens) {
      for (const keyArgs of [['--key', pubPem], ['--key', pubJwk], ['--jwks', jwks], ['--key', jwks]]) {
        const v = verifyOk(token, [...keyArgs, '--alg', alg, '--iss', 'idp', '--aud', 'ws']);
        assert.equal(v.header.alg, alg);
        assert.equal(v.header.kid, kid);
        assert.equal(v.payload.name, 'firecamp');
      }
      // The same family's other hash is not this algorithm.
      const other = { 256: '384', 384: '512', 512: '256' }[alg.slice(2)];
      if (other) {
        const r = wsjwt(['verify', '--key', pubPem, '--alg', alg.slice(0, 2) + other, token]);
        assert.equal(r.code, 1, r.err);
        assert.match(r.err, /EJWT_ALG/);
      }
      // A flipped signature byte is refused.
      const bad = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
      const r = wsjwt(['verify', '--key', pubPem, bad]);
      assert.equal(r.code, 1);
    }
  });

  test(`${alg}: wsjwt keygen and sign, verified by jose and jsonwebtoken`, async () => {
    const prefix = join(dir, `wsjwt-${alg}`);
    const kid = `wsjwt-${alg}`;
    const g = wsjwt(['keygen', '--alg', alg, '--out', prefix, '--kid', kid, '--jwks']);
    assert.equal(g.code, 0, g.err);
    assert.equal(statSync(`${prefix}.key`).mode & 0o777, 0o600);
    const jwks = JSON.parse(g.out);
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kid, kid);
    assert.equal(jwks.keys[0].alg, alg);
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(jwks.keys[0][priv], undefined, `JWK leaks ${priv}`);
    // The published JWK and the PEM are the same public key.
    const pubPem = readFileSync(`${prefix}.pub`, 'utf8');
    assert.deepEqual(
      createPublicKey({ key: jwks.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'der' }),
      createPublicKey(pubPem).export({ type: 'spki', format: 'der' }),
    );
    // keygen never overwrites.
    const again = wsjwt(['keygen', '--alg', alg, '--out', prefix]);
    assert.equal(again.code, 1);
    assert.match(again.err, /exists/);

    const s = wsjwt(['sign', '--key', `${prefix}.key`, '--alg', alg, '--kid', kid, '--sub', 'u1', '--aud', 'ws', '--expires', '5m']);
    assert.equal(s.code, 0, s.err);
    const token = s.out.trim();
    const viaJwks = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), { algorithms: [alg], audience: 'ws' });
    assert.equal(viaJwks.payload.sub, 'u1');
    assert.deepEqual(viaJwks.protectedHeader, { alg, typ: 'JWT', kid });
    const viaPem = await jose.jwtVerify(token, await jose.importSPKI(pubPem, alg), { algorithms: [alg] });
    assert.equal(viaPem.payload.aud, 'ws');
    if (JSONWEBTOKEN_ALGS.has(alg)) assert.equal(jwt.verify(token, pubPem, { algorithms: [alg] }).sub, 'u1');
    // And wsjwt verifies its own token with the published JWKS.
    verifyOk(token, ['--jwks', file(`${alg}-wsjwt.jwks`, g.out), '--sub', 'u1']);
  });

  test(`${alg}: wsjwt signs with Node-made private keys (PEM PKCS#8 and JWK)`, async () => {
    const { publicKey, privateKey } = nodeKeyPair(alg);
    const pkcs8 = file(`${alg}-node.key`, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const privJwk = file(`${alg}-node.jwk`, JSON.stringify(privateKey.export({ format: 'jwk' })));
    for (const key of [pkcs8, privJwk]) {
      const s = wsjwt(['sign', '--key', key, '--alg', alg, '--claim', 'name=firecamp']);
      assert.equal(s.code, 0, s.err);
      const r = await jose.jwtVerify(s.out.trim(), publicKey, { algorithms: [alg] });
      assert.equal(r.payload.name, 'firecamp');
    }
    // A public key cannot sign.
    const pub = file(`${alg}-node.pub`, publicKey.export({ type: 'spki', format: 'pem' }));
    const r = wsjwt(['sign', '--key', pub, '--alg', alg]);
    assert.notEqual(r.code, 0);
    assert.equal(r.out, '');
  });
}

test('alg confusion from the command line: HS256 signed with the public key is refused', () => {
  const { publicKey } = nodeKeyPair('RS256');
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const pubPem = file('confusion.pem', pem);
  // The classic attack (CVE-2015-9235): the public PEM text used as the HMAC secret.
  const forged = jwt.sign({ admin: true }, Buffer.from(pem), { algorithm: 'HS256' });
  for (const args of [['--key', pubPem], ['--key', pubPem, '--alg', 'HS256'], ['--key', pubPem, '--alg', 'HS256,RS256']]) {
    const r = wsjwt(['verify', ...args, forged]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.out}`);
    assert.match(r.err, /EJWT_(ALG|KEY_TYPE|NO_KEY)/);
  }
  // jsonwebtoken 9 refuses it too.
  assert.throws(() => jwt.verify(forged, pem));
});

test('verify combines key sources: two JWKS (rotation), a PEM and a named secret', async () => {
  const oldKey = nodeKeyPair('RS256');
  const newKey = nodeKeyPair('ES256');
  const edKey = nodeKeyPair('EdDSA');
  const secret = 'combined-secret-0123456789abcdef0123456789';
  const jwksOld = file('old.jwks', JSON.stringify({ keys: [{ ...oldKey.publicKey.export({ format: 'jwk' }), kid: 'old', alg: 'RS256' }] }));
  const jwksNew = file('new.jwks', JSON.stringify({ keys: [{ ...newKey.publicKey.export({ format: 'jwk' }), kid: 'new', alg: 'ES256' }] }));
  const edPem = file('ed.pem', edKey.publicKey.export({ type: 'spki', format: 'pem' }));
  const args = ['--jwks', jwksOld, '--jwks', jwksNew, '--key', edPem, '--secret-env', 'S'];
  const env = { S: secret };
  const tokens = {
    old: await new jose.SignJWT({ v: 'old' }).setProtectedHeader({ alg: 'RS256', kid: 'old' }).sign(oldKey.privateKey),
    new: await new jose.SignJWT({ v: 'new' }).setProtectedHeader({ alg: 'ES256', kid: 'new' }).sign(newKey.privateKey),
    ed: await new jose.SignJWT({ v: 'ed' }).setProtectedHeader({ alg: 'EdDSA' }).sign(edKey.privateKey),
    hs: jwt.sign({ v: 'hs' }, secret),
  };
  for (const [name, token] of Object.entries(tokens)) {
    const r = wsjwt(['verify', ...args, token], { env });
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    assert.equal(JSON.parse(r.out).payload.v, name);
  }
  // A kid that is in no set is refused as such; so is the old key's kid on a
  // token the new key signed.
  const unknown = await new jose.SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'gone' }).sign(newKey.privateKey);
  let r = wsjwt(['verify', '--jwks', jwksOld, '--jwks', jwksNew, unknown]);
  assert.equal(r.code, 1);
  assert.match(r.err, /EJWT_KID_UNKNOWN/);
  // With kid-less keys in the set (the PEM, the secret) those are still
  // tried, and refuse it for their own reason.
  r = wsjwt(['verify', ...args, unknown], { env });
  assert.equal(r.code, 1);
  assert.match(r.err, /EJWT_(KID_UNKNOWN|KEY_TYPE|NO_KEY)/);
  const swapped = await new jose.SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'old' }).sign(newKey.privateKey);
  r = wsjwt(['verify', ...args, swapped], { env });
  assert.equal(r.code, 1);
  // An HS256 token signed with the EdDSA public PEM as the secret stays refused
  // even with HS256 allowed (the secret in the set is another one).
  const forged = jwt.sign({ admin: true }, Buffer.from(edKey.publicKey.export({ type: 'spki', format: 'pem' })), { algorithm: 'HS256' });
  r = wsjwt(['verify', ...args, '--alg', 'HS256,EdDSA', forged], { env });
  assert.equal(r.code, 1);
});
