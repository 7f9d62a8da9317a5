import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUuid } from '@mobvibe/events';

/** The three roles of a Supabase project; each is also a PostgreSQL role. */
export const Roles = ['anon', 'authenticated', 'service_role'] as const;
export type Role = (typeof Roles)[number];

/** Claims this server relies on. Other claims are kept and passed to PostgreSQL as `request.jwt.claims`. */
export interface JwtClaims {
  role: Role;
  /** The user's uuid; required for `authenticated`. */
  sub?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  iat?: number;
  [claim: string]: unknown;
}

export const AuthErrorCode = {
  Missing: 'no_token',
  Malformed: 'invalid_jwt',
  BadSignature: 'invalid_signature',
  Expired: 'jwt_expired',
  NotYetValid: 'jwt_not_yet_valid',
  BadClaims: 'invalid_claims',
} as const;
export type AuthErrorCode = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

/** A token was refused; `status` is 401. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly status = 401;
  constructor(readonly code: AuthErrorCode, message: string) {
    super(message);
  }
}

const b64url = (buf: Buffer | string): string => Buffer.from(buf).toString('base64url');
const sign = (input: string, secret: string): Buffer => createHmac('sha256', secret).update(input).digest();

/**
 * Signs claims as an HS256 JWT.
 *
 * @example
 * const token = signJwt({ role: 'authenticated', sub: userId, exp: nowSeconds() + 3600 }, secret);
 */
export function signJwt(claims: JwtClaims, secret: string): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iat: nowSeconds(), ...claims }));
  return `${head}.${body}.${b64url(sign(`${head}.${body}`, secret))}`;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** How far in the future `nbf` and `iat` may be, for clocks that disagree a little (seconds). */
export const CLOCK_SKEW_SECONDS = 30;

/** base64url without padding: the only encoding of a JWT part (RFC 7515 §2). */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function decodePart(part: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) throw new AuthError(AuthErrorCode.Malformed, `JWT ${what} is not base64url (no padding, no + or /)`);
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new AuthError(AuthErrorCode.Malformed, `JWT ${what} is not a base64url JSON object`);
}

const expired = (exp: number) => new AuthError(AuthErrorCode.Expired, `JWT expired at ${new Date(exp * 1000).toISOString()}`);

/** `nbf` and `iat`, when present, must be numbers and not (beyond the skew) in the future. */
function checkNotBefore(claims: Record<string, unknown>, now: number): void {
  for (const name of ['nbf', 'iat'] as const) {
    const value = claims[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new AuthError(AuthErrorCode.BadClaims, `JWT claim "${name}" must be a number`);
    if (value > now + CLOCK_SKEW_SECONDS) {
      const when = new Date(value * 1000).toISOString();
      throw new AuthError(AuthErrorCode.NotYetValid, name === 'nbf' ? `JWT is not valid before ${when}` : `JWT claims to be issued in the future (${when})`);
    }
  }
}

function checkClaims(claims: Record<string, unknown>, now: number): JwtClaims {
  const { role, sub, exp } = claims;
  if (typeof role !== 'string' || !(Roles as readonly string[]).includes(role)) {
    throw new AuthError(AuthErrorCode.BadClaims, `JWT claim "role" must be one of ${Roles.join(', ')}`);
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new AuthError(AuthErrorCode.BadClaims, 'JWT claim "exp" (a number) is required');
  if (exp <= now) throw expired(exp);
  checkNotBefore(claims, now);
  if (sub !== undefined && !isUuid(sub)) {
    throw new AuthError(AuthErrorCode.BadClaims, 'JWT claim "sub" must be a uuid');
  }
  if (role === 'authenticated' && sub === undefined) {
    throw new AuthError(AuthErrorCode.BadClaims, 'JWT claim "sub" is required for role authenticated');
  }
  return claims as JwtClaims;
}

/**
 * Tokens that verified, so the same token (sent with every request and join of a client) costs one HMAC
 * only once. Bounded: the oldest entry goes first. Expiry is still checked on every use.
 */
const verified = new Map<string, { secret: string; claims: JwtClaims }>();
const MAX_VERIFIED = 20_000;

/**
 * Verifies an HS256 JWT and its claims; throws {@link AuthError} (401) on any problem. The claims returned are
 * frozen. Strict: every part is canonical base64url (an altered signature text never verifies, even when it
 * decodes to the same bytes), `exp` must lie ahead, `nbf` and `iat` not beyond {@link CLOCK_SKEW_SECONDS} ahead.
 */
export function verifyJwt(token: string | undefined | null, secret: string, now = nowSeconds()): JwtClaims {
  if (!token) throw new AuthError(AuthErrorCode.Missing, 'no JWT given');
  const hit = verified.get(token);
  if (hit && hit.secret === secret) {
    // Everything but expiry was checked when it was first verified.
    if (hit.claims.exp <= now) throw expired(hit.claims.exp);
    return hit.claims;
  }
  const claims = Object.freeze(verifyUncached(token, secret, now));
  if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!);
  verified.set(token, { secret, claims });
  return claims;
}

function verifyUncached(token: string, secret: string, now: number): JwtClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new AuthError(AuthErrorCode.Malformed, 'JWT must have three dot-separated parts');
  const [head, body, signature] = parts as [string, string, string];
  const header = decodePart(head, 'header');
  if (header.alg !== 'HS256') throw new AuthError(AuthErrorCode.Malformed, `JWT alg must be HS256, got ${String(header.alg)}`);
  // Compared as text: base64url decoding forgives padding, stray characters and non-zero trailing bits, so
  // several texts decode to the right bytes; only the one canonical encoding of the signature is accepted.
  const expected = Buffer.from(b64url(sign(`${head}.${body}`, secret)), 'ascii');
  const given = Buffer.from(signature, 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AuthError(AuthErrorCode.BadSignature, 'JWT signature does not match JWT_SECRET');
  }
  return checkClaims(decodePart(body, 'payload'), now);
}
