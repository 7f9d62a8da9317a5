import { ApiError } from '../errors.js';

/**
 * HTTP status for a PostgreSQL SQLSTATE, as PostgREST maps them (src/PostgREST/Error.hs): a few codes and
 * classes are the server's own trouble (5xx); everything else, the default included, is a fault of the request
 * (400). First match wins.
 */
const STATUS_BY_CODE: Record<string, number> = {
  '23503': 409, // foreign_key_violation
  '23505': 409, // unique_violation
  '25006': 405, // read_only_sql_transaction
  '42883': 404, // undefined_function
  '42P01': 404, // undefined_table
  '42P17': 500, // invalid_object_definition
  '53400': 500, // configuration_limit_exceeded
  '57P01': 503, // admin_shutdown (PostgreSQL restarting)
  '57P02': 503, // crash_shutdown
  '57P03': 503, // cannot_connect_now (starting up)
  'P0001': 400, // raise_exception
  // Conflicts between concurrent transactions (a user's own concurrent writes to the same rows): PostgREST
  // answers 500, but nothing is wrong with the server; 409, and the hint says to retry.
  '40001': 409, // serialization_failure
  '40P01': 409, // deadlock_detected
};

const STATUS_BY_CLASS: Record<string, number> = {
  '08': 503, // connection exception
  '09': 500, '0L': 403, '0P': 403,
  '25': 500, '28': 403, '2D': 500, '38': 500, '39': 500, '3B': 500, '40': 500,
  '53': 503, // insufficient resources
  '54': 500, '55': 500, '57': 500, '58': 500, 'F0': 500, 'HV': 500, 'P0': 500, 'XX': 500,
};

/** A PostgreSQL error's HTTP status; PTnnn (raised by this project's SQL, as PostgREST honours it) is status nnn. */
export function statusForSqlState(code: string): number {
  const pt = /^PT([1-5]\d\d)$/.exec(code);
  if (pt) return Number(pt[1]);
  return STATUS_BY_CODE[code] ?? STATUS_BY_CLASS[code.slice(0, 2)] ?? 400;
}

const CONNECTION_ERRORS = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'];

interface PgLikeError extends Error {
  code?: string;
  detail?: string;
  hint?: string;
}

/** True when the database could not be reached or went away mid-request: the client may retry. */
export function isConnectionError(err: unknown): boolean {
  const e = err as PgLikeError;
  if (!e || typeof e !== 'object') return false;
  if (e.code && (CONNECTION_ERRORS.includes(e.code) || e.code.startsWith('08'))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message ?? '');
}

/**
 * Converts a failure during a request into the ApiError sent to the client. Unknown errors become a 500
 * whose message does not leak internals; the original is kept as `cause` for the log.
 */
export function toApiError(err: unknown, isAnon: boolean): ApiError {
  if (err instanceof ApiError) return err;
  if (isConnectionError(err)) {
    return new ApiError(503, 'PGRST000', 'Could not connect with the database; retry shortly', { cause: err });
  }
  const e = err as PgLikeError;
  const code = typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  if (code === '42501') {
    return new ApiError(isAnon ? 401 : 403, code, e.message, { details: e.detail ?? null, hint: e.hint ?? null, cause: err });
  }
  if (code === '40001' || code === '40P01') {
    // The detail names backend processes and transactions: internals, not the client's business.
    return new ApiError(409, code, e.message, { hint: 'another request changed the same rows at the same time; retry this one', cause: err });
  }
  if (code) return new ApiError(statusForSqlState(code), code, e.message, { details: e.detail ?? null, hint: e.hint ?? null, cause: err });
  return new ApiError(500, 'PGRST001', 'internal server error', { cause: err });
}
