/** Stable codes of {@link EmitError}. Branch on these, not on messages. */
export const EmitErrorCode = {
  /** A bad argument (sessionId not a UUID, limit out of range); no request was made. */
  InvalidArgument: 'invalid_argument',
  /** The session does not exist (foreign-key violation, HTTP 409). Create the session first. */
  SessionNotFound: 'session_not_found',
  /** The server refused the event (HTTP 400 `invalid_event`). */
  InvalidEvent: 'invalid_event',
  /** The server refused the request as too large (HTTP 413). */
  PayloadTooLarge: 'payload_too_large',
  /** The key or token was not accepted (HTTP 401). */
  Unauthorized: 'unauthorized',
  /** The key's role may not do this (HTTP 403). */
  Forbidden: 'forbidden',
  /** Any other non-transient answer (another 4xx, or a 5xx that retrying will not fix). */
  Rejected: 'rejected',
  /** No answer: connection refused or reset, DNS failure. Transient. */
  Network: 'network',
  /** No answer within `requestTimeoutMs` (or HTTP 408). Transient. */
  Timeout: 'timeout',
  /** The server or database is briefly unable (502/503/504, 429, serialization failure, restart). Transient. */
  Unavailable: 'unavailable',
  /** The server answered with something that is not a valid event record. */
  InvalidResponse: 'invalid_response',
} as const;
export type EmitErrorCode = (typeof EmitErrorCode)[keyof typeof EmitErrorCode];

export interface EmitErrorOptions {
  status?: number;
  serverCode?: string | undefined;
  details?: string | null | undefined;
  hint?: string | null | undefined;
  transient?: boolean;
  attempts?: number;
  cause?: unknown;
}

/**
 * Storing or reading events failed. Transient failures are retried by the emitter before this is thrown;
 * then `attempts` says how many were made and `cause` holds the last failure.
 */
export class EmitError extends Error {
  override readonly name = 'EmitError';
  readonly code: EmitErrorCode;
  /** HTTP status of the server's answer; 0 when no answer came (network, timeout) or no request was made. */
  readonly status: number;
  /** The server's own code: a PostgREST `PGRST…` code, a SQLSTATE such as `23503`, or `invalid_event`. */
  readonly serverCode: string | undefined;
  readonly details: string | null;
  readonly hint: string | null;
  /** True when retrying the same request may succeed. */
  readonly transient: boolean;
  /** Attempts made before this error was thrown. */
  readonly attempts: number;

  constructor(code: EmitErrorCode, message: string, opts: EmitErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? 0;
    this.serverCode = opts.serverCode || undefined;
    this.details = opts.details ?? null;
    this.hint = opts.hint ?? null;
    this.transient = opts.transient ?? false;
    this.attempts = opts.attempts ?? 1;
  }

  /** @internal The same failure, reported after `attempts` attempts. */
  afterAttempts(attempts: number, note = ''): EmitError {
    const message = note ? `${this.message} (${note})` : this.message;
    const { status, serverCode, details, hint, transient, cause } = this;
    return new EmitError(this.code, message, { status, serverCode, details, hint, transient, attempts, cause });
  }
}

/** A setting the emitter needs is missing or malformed; the message says which and how to provide it. */
export class EmitterConfigError extends Error {
  override readonly name = 'EmitterConfigError';
  readonly code = 'config_error';
  /** The environment variable (or option) at fault. */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.variable = variable;
  }
}

/** The error part of a postgrest-js answer: PostgREST's `{code, message, details, hint}`. */
export interface PostgrestFailure {
  error: { message: string; code?: string; details?: string | null; hint?: string | null };
  status: number;
}

const TRANSIENT_STATUS = new Set([0, 408, 429, 502, 503, 504]);
const TRANSIENT_SQLSTATE = new Set(['40001', '40P01', '57P01', '57P03', '53300']);

/** True for failures a retry of the same request may cure. */
export function isTransient(status: number, serverCode = ''): boolean {
  return TRANSIENT_STATUS.has(status) || TRANSIENT_SQLSTATE.has(serverCode) || /^08/.test(serverCode);
}

function codeFor(status: number, serverCode: string, message: string): EmitErrorCode {
  if (status === 0) return /^(TimeoutError|AbortError)\b/.test(message) ? EmitErrorCode.Timeout : EmitErrorCode.Network;
  if (status === 408) return EmitErrorCode.Timeout;
  if (isTransient(status, serverCode)) return EmitErrorCode.Unavailable;
  if (serverCode === '23503') return EmitErrorCode.SessionNotFound;
  if (status === 413 || serverCode === 'payload_too_large') return EmitErrorCode.PayloadTooLarge;
  if (serverCode === 'invalid_event') return EmitErrorCode.InvalidEvent;
  if (status === 401) return EmitErrorCode.Unauthorized;
  if (status === 403) return EmitErrorCode.Forbidden;
  return EmitErrorCode.Rejected;
}

/**
 * @internal Turns a failed postgrest-js answer into an EmitError. postgrest-js reports a request that got no
 * answer (refused, reset, timed out) as status 0 with the fetch error's name in the message.
 */
export function fromPostgrest(failure: PostgrestFailure, context: string): EmitError {
  const { error, status } = failure;
  const serverCode = error.code ?? '';
  const code = codeFor(status, serverCode, error.message ?? '');
  const answer = status === 0 ? 'no answer' : `HTTP ${status}${serverCode ? ` ${serverCode}` : ''}`;
  return new EmitError(code, `${context} failed (${answer}): ${error.message}`, {
    status,
    serverCode,
    details: error.details,
    hint: error.hint,
    transient: isTransient(status, serverCode),
    cause: error,
  });
}
