// verifyJwt on its own: which tokens verify and which are refused, and why. Pure: no server, an injected clock.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { AuthError, signJwt, verifyJwt } from '@mobvibe/realtime-server';

const SECRET = 'jwt-unit-test-secret-at-least-32-characters';
const NOW = 1_900_000_000;
const USER = '6f1c2b1e-8d2a-4c3b-9a1e-0b2c3d4e5f60';
const claims = (extra: Record<string, unknown> = {}) => ({ role: 'authenticated' as const, sub: USER, exp: NOW + 3600, ...extra });

function refused(token: string, code: string, message: RegExp): void {
  assert.throws(() => verifyJwt(token, SECRET, NOW), (err: unknown) => {
    assert.ok(err instanceof AuthError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

/** A token signed over exactly `head.body` as given (whatever their encoding). */
const signedRaw = (head: string, body: string) => `${head}.${body}.${createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url')}`;

describe('verifyJwt: validity times', () => {
  it('refuses nbf in the future beyond the 30 s skew, and accepts it within the skew or past', () => {
    refused(signJwt(claims({ nbf: NOW + 31, iat: NOW }), SECRET), 'jwt_not_yet_valid', /JWT is not valid before 2030-03-17T17:47:11\.000Z/);
    assert.equal(verifyJwt(signJwt(claims({ nbf: NOW + 30, iat: NOW }), SECRET), SECRET, NOW).sub, USER);
    assert.equal(verifyJwt(signJwt(claims({ nbf: NOW - 100, iat: NOW }), SECRET), SECRET, NOW).sub, USER);
  });

  it('refuses iat in the future beyond the skew', () => {
    refused(signJwt(claims({ iat: NOW + 3_000 }), SECRET), 'jwt_not_yet_valid', /issued in the future/);
    assert.equal(verifyJwt(signJwt(claims({ iat: NOW + 20 }), SECRET), SECRET, NOW).role, 'authenticated');
  });

  it('refuses nbf, iat or exp that are not finite numbers', () => {
    refused(signJwt(claims({ nbf: '0', iat: NOW }), SECRET), 'invalid_claims', /"nbf" must be a number/);
    refused(signJwt(claims({ iat: null }), SECRET), 'invalid_claims', /"iat" must be a number/);
    const body = Buffer.from(JSON.stringify({ role: 'anon', exp: '1e999' })).toString('base64url');
    refused(signedRaw(Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url'), body), 'invalid_claims', /"exp" \(a number\) is required/);
  });

  it('a refused not-yet-valid token is not remembered: it verifies once its time has come', () => {
    const token = signJwt(claims({ nbf: NOW + 60, iat: NOW }), SECRET);
    assert.throws(() => verifyJwt(token, SECRET, NOW));
    assert.equal(verifyJwt(token, SECRET, NOW + 60).sub, USER);
  });
});

describe('verifyJwt: only the canonical encoding verifies', () => {
  const good = signJwt(claims({ iat: NOW }), SECRET);
  const [head, body, sig] = good.split('.') as [string, string, string];

  it('accepts the token as signed', () => {
    assert.equal(verifyJwt(good, SECRET, NOW).sub, USER);
  });

  it('refuses a signature with extra characters, padding, or standard-base64 characters', () => {
    for (const altered of [`${sig}A`, `${sig}=`, `${sig}==`, `${sig} `, sig.replace(/-/g, '+').replace(/_/g, '/') + '=']) {
      if (altered === sig) continue;
      refused(`${head}.${body}.${altered}`, 'invalid_signature', /signature does not match/);
    }
  });

  it('refuses a signature whose last character differs only in bits that decoding ignores', () => {
    // 32 bytes take 43 base64url characters; the last one carries 2 unused bits, so 4 texts decode alike.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(sig.at(-1)!);
    const twins = [0, 1, 2, 3].map((low) => sig.slice(0, -1) + alphabet[(last & ~3) | low]).filter((t) => t !== sig);
    assert.equal(twins.length, 3);
    for (const twin of twins) {
      assert.deepEqual(Buffer.from(twin, 'base64url'), Buffer.from(sig, 'base64url'), 'decodes to the same bytes');
      refused(`${head}.${body}.${twin}`, 'invalid_signature', /signature does not match/);
    }
  });

  it('refuses header or payload parts with padding or characters outside base64url', () => {
    refused(signedRaw(`${head}=`, body), 'invalid_jwt', /header is not base64url/);
    refused(signedRaw(head, `${body}=`), 'invalid_jwt', /payload is not base64url/);
    refused(signedRaw(head, `${body.slice(0, 4)}+${body.slice(5)}`), 'invalid_jwt', /payload is not base64url/);
  });
});
