import { ApiError } from '../errors.js';

/** HTTP status for a PostgreSQL SQLSTATE, following PostgREST's table. */
const STATUS_BY_CODE: Record<string, number> = {
  '23503': 409, // foreign_key_violation
  '23505': 409, // unique_violation
  '23502': 400, // not_null_violation
  '23514': 400, // check_violation
  '22P02': 400, // invalid_text_representation (e.g. a malformed uuid)
  '22007': 400,
  '22008': 400,
  '22023': 400,
  '22001': 400,
  '22003': 400,
  '42703': 400, // undefined_column
  '42P10': 400, // no unique constraint for on_conflict
  '42883': 404,
  '42P01': 404,
  '25006': 405,
  'P0001': 400,
  '40001': 503, // serialization_failure: retry
  '40P01': 503, // deadlock: retry
  '53300': 503, // too_many_connections
  '57014': 503, // query_canceled (statement timeout)
  '57P01': 503, // admin_shutdown (PostgreSQL restarting)
  '57P02': 503,
  '57P03': 503, // cannot_connect_now (starting up)
};

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
  if (code) {
    const status = STATUS_BY_CODE[code] ?? (code.startsWith('22') || code.startsWith('23') ? 400 : 500);
    return new ApiError(status, code, e.message, { details: e.detail ?? null, hint: e.hint ?? null, cause: err });
  }
  return new ApiError(500, 'PGRST001', 'internal server error', { cause: err });
}
