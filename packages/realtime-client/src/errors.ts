/** Stable codes of the errors the client reports. */
export const ClientErrorCode = {
  /** The server refused the subscription (no access to the session, bad token). */
  JoinRefused: 'join_refused',
  /** The channel failed or timed out; the service retries. */
  ChannelFailed: 'channel_failed',
  /** Catching up over REST failed; the service retries. */
  CatchUpFailed: 'catch_up_failed',
  /** A record from the server did not match the event schema; it was skipped. */
  InvalidRecord: 'invalid_record',
  /** One attempt took longer than its timeout. */
  AttemptTimeout: 'attempt_timeout',
  /** The token provider failed. */
  TokenUnavailable: 'token_unavailable',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class RealtimeClientError extends Error {
  override readonly name = 'RealtimeClientError';
  constructor(readonly code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** @internal Wraps whatever failed into a RealtimeClientError with the original as `cause`. */
export function normalizeError(code: ClientErrorCode, reason: unknown, fallback: string): RealtimeClientError {
  if (reason instanceof RealtimeClientError) return reason;
  const message = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : fallback;
  return new RealtimeClientError(code, message || fallback, { cause: reason });
}
