import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from '../errors.js';
import { AuthError, AuthErrorCode, verifyJwt, type JwtClaims } from './jwt.js';

function bearer(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (!auth) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!match) throw new AuthError(AuthErrorCode.Malformed, 'Authorization header must be "Bearer <jwt>"');
  return match[1];
}

/**
 * Who is calling, from the headers supabase-js sends: `apikey` (the project key) and
 * `Authorization: Bearer <jwt>` (the user's token, or the key again). Both must verify; the bearer token decides the role.
 */
export function claimsFromHeaders(headers: IncomingHttpHeaders, secret: string): JwtClaims {
  const apikey = typeof headers.apikey === 'string' ? headers.apikey : undefined;
  const token = bearer(headers);
  if (!apikey && !token) throw new AuthError(AuthErrorCode.Missing, 'No API key found in request: send the apikey header');
  if (apikey && apikey !== token) verifyJwt(apikey, secret);
  return verifyJwt(token ?? apikey, secret);
}

/** 401 in PostgREST's shape: PGRST303 for a token outside its validity time (exp, nbf, iat), PGRST301 for any other bad token. */
export function authApiError(err: AuthError): ApiError {
  const code = err.code === AuthErrorCode.Expired || err.code === AuthErrorCode.NotYetValid ? 'PGRST303' : 'PGRST301';
  return new ApiError(401, code, err.message, { details: err.code });
}
