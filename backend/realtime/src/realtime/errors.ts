/**
 * Realtime errors: a stable code, a message that says what to do, and where it applies the HTTP status
 * (upgrade, REST broadcast) or WebSocket close code. On the wire a join error is
 * `{"status":"error","response":{"reason":"<code>: <message>"}}`, as Supabase's server words it.
 */
export const RealtimeErrorCode = {
  MalformedFrame: 'MalformedFrame',
  UnmatchedTopic: 'UnmatchedTopic',
  UnknownEvent: 'UnknownEvent',
  InvalidJoinPayload: 'InvalidJoinPayload',
  InvalidPayload: 'InvalidPayload',
  InvalidJWTToken: 'InvalidJWTToken',
  Unauthorized: 'Unauthorized',
  InvalidPostgresChanges: 'InvalidPostgresChanges',
  PostgresChangesUnavailable: 'PostgresChangesUnavailable',
  AccessChanged: 'AccessChanged',
  TooManyChannels: 'ChannelRateLimitReached',
  TooManyJoins: 'ClientJoinRateLimitReached',
  TooManyMessages: 'ClientMessageRateLimitReached',
  TooManyConnections: 'ConnectionRateLimitReached',
  TooManyBroadcasts: 'BroadcastRateLimitReached',
  TooManyPresenceTracks: 'PresenceRateLimitReached',
  SubscriptionBudget: 'SubscriptionBudgetExceeded',
  PresenceBudget: 'PresenceBudgetExceeded',
  /** This client reads too slowly: broadcast and presence messages to it were dropped (a system message). */
  EphemeralDropped: 'BroadcastDropped',
  /** This client reads too slowly to keep up with its own postgres_changes: rejoin and catch up. */
  ChangesLagging: 'ChangesLagging',
  PrivateOnly: 'PrivateOnly',
  PayloadTooLarge: 'PayloadTooLarge',
  UnsupportedVersion: 'UnsupportedVersion',
  /** A broadcast asked to be persisted (realtime-js `persist`, Supabase's Broadcast Replay): not supported here. */
  PersistNotSupported: 'BroadcastPersistNotSupported',
  ServerShuttingDown: 'ServerShuttingDown',
  Internal: 'InternalError',
} as const;
export type RealtimeErrorCode = (typeof RealtimeErrorCode)[keyof typeof RealtimeErrorCode];

export class RealtimeError extends Error {
  override readonly name = 'RealtimeError';
  readonly code: RealtimeErrorCode;
  /** HTTP status when the error answers an HTTP request (upgrade or REST). */
  readonly status: number;

  constructor(code: RealtimeErrorCode, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? 400;
  }

  /** The `reason` string of a join or push error reply. */
  get reason(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** Any failure as a RealtimeError; unknown ones become InternalError with the original as `cause`. */
export function toRealtimeError(err: unknown): RealtimeError {
  if (err instanceof RealtimeError) return err;
  return new RealtimeError(RealtimeErrorCode.Internal, 'internal server error', { status: 500, cause: err });
}
