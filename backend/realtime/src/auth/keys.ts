import { nowSeconds, signJwt, type Role } from './jwt.js';

// Fixed issue and expiry times, so a given JWT_SECRET always yields the same keys (stable across restarts,
// safe to put in an app's configuration), as the keys of `supabase start` are.
const KEY_ISSUED_AT = 1_767_225_600; // 2026-01-01
const KEY_EXPIRES_AT = 2_082_758_400; // 2036-01-01

/** The long-lived project keys, as `supabase start` prints them. */
export interface ProjectKeys {
  anonKey: string;
  serviceRoleKey: string;
}

export function projectKeys(secret: string): ProjectKeys {
  const common = { iss: 'mobvibe-realtime', iat: KEY_ISSUED_AT, exp: KEY_EXPIRES_AT };
  return {
    anonKey: signJwt({ role: 'anon', ...common }, secret),
    serviceRoleKey: signJwt({ role: 'service_role', ...common }, secret),
  };
}

/**
 * Mints a user access token, as Supabase Auth would after sign-in (development and tests).
 *
 * @example
 * const token = userToken(secret, '6f1c…', { expiresIn: 3600 });
 */
export function userToken(secret: string, userId: string, opts: { expiresIn?: number; role?: Role } = {}): string {
  const exp = nowSeconds() + (opts.expiresIn ?? 3600);
  return signJwt({ role: opts.role ?? 'authenticated', sub: userId, aud: 'authenticated', exp }, secret);
}
