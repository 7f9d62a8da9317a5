/**
 * Errors the server answers with. The JSON body has PostgREST's shape `{code, message, details, hint}`,
 * so supabase-js surfaces them unchanged as `error`.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly details: string | null;
  readonly hint: string | null;
  /** Seconds the client should wait before retrying (the Retry-After header of a 429 or 503). */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { details?: string | null; hint?: string | null; cause?: unknown; retryAfter?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = status;
    this.code = code;
    this.details = opts.details ?? null;
    this.hint = opts.hint ?? null;
    this.retryAfter = opts.retryAfter;
  }

  toJSON(): { code: string; message: string; details: string | null; hint: string | null } {
    return { code: this.code, message: this.message, details: this.details, hint: this.hint };
  }
}

/** A setting or the machine is not fit to run the server; the message says what to change. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'config_error';
}

export const badRequest = (code: string, message: string, hint?: string): ApiError =>
  new ApiError(400, code, message, { hint: hint ?? null });
