// Verifications per second in Node of the tokens bench_jwt --emit DIR wrote:
//   node bench/peers/jwt_verify.mjs DIR SECONDS ALG...
// For each ALG, DIR/ALG.token and DIR/ALG.key (the HMAC secret, or the public
// key as PEM SPKI). Prints "ALG jsonwebtoken RATE" and "ALG jose RATE", best of
// five rounds, like bench_jwt. Keys are imported once, outside the timing, as
// a server would hold them.
import { readFileSync } from 'node:fs';
import { createPublicKey, createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import * as jose from 'jose';

const [dir, secondsArg, ...algs] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!dir || !(seconds > 0 && seconds <= 60) || algs.length === 0) {
  console.error('usage: node jwt_verify.mjs DIR SECONDS ALG...');
  process.exit(2);
}

// Best of five rounds of seconds/3 each. `run` may return a promise (jose
// is async): it is awaited only then, so jsonwebtoken's sync calls pay no
// microtask per verification.
async function bestOfRounds(run, isAsync) {
  let best = 0;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    const budget = BigInt(Math.round((seconds / 5) * 1e9));
    let n = 0;
    let el;
    do {
      if (isAsync) for (let k = 0; k < 64; k++) await run();
      else for (let k = 0; k < 64; k++) run();
      n += 64;
      el = process.hrtime.bigint() - start;
    } while (el < budget);
    best = Math.max(best, n / (Number(el) / 1e9));
  }
  return best;
}

for (const alg of algs) {
  const token = readFileSync(`${dir}/${alg}.token`, 'utf8').trim();
  const keyText = readFileSync(`${dir}/${alg}.key`, 'utf8');
  const hs = alg.startsWith('HS');
  const nodeKey = hs ? keyText : createPublicKey(keyText);
  const joseKey = hs ? new TextEncoder().encode(keyText) : await jose.importSPKI(keyText, alg);
  // Each must accept the token before anything is timed; jsonwebtoken 9 has
  // no EdDSA, which is reported as "-".
  await jose.jwtVerify(token, joseKey, { algorithms: [alg] });
  let jsonwebtokenOk = true;
  try {
    jwt.verify(token, nodeKey, { algorithms: [alg] });
  } catch (e) {
    jsonwebtokenOk = false;
    console.error(`jwt_verify: jsonwebtoken ${alg}: ${e.message}`);
  }
  if (jsonwebtokenOk) {
    // With a string secret (the tutorial's way) jsonwebtoken 9 first tries
    // createPublicKey on it and catches the failure, on every call: much
    // slower. The main figure hands it a KeyObject made once (its fastest
    // path); the string figure is reported apart.
    const key = hs ? createSecretKey(Buffer.from(keyText)) : nodeKey;
    const j = await bestOfRounds(() => jwt.verify(token, key, { algorithms: [alg] }), false);
    console.log(`${alg} jsonwebtoken ${j.toFixed(0)}`);
    if (hs) {
      const js = await bestOfRounds(() => jwt.verify(token, keyText, { algorithms: [alg] }), false);
      console.log(`${alg} jsonwebtoken-string ${js.toFixed(0)}`);
    }
  } else {
    console.log(`${alg} jsonwebtoken -`);
  }
  const o = await bestOfRounds(() => jose.jwtVerify(token, joseKey, { algorithms: [alg] }), true);
  console.log(`${alg} jose ${o.toFixed(0)}`);
}
