/** Wire constants of the Phoenix channels protocol as @supabase/realtime-js speaks it. Internal. */

/** Protocol versions: 1.0.0 sends JSON objects, 2.0.0 JSON arrays plus binary broadcast frames. */
export const Vsn = { V1: '1.0.0', V2: '2.0.0' } as const;
export type Vsn = (typeof Vsn)[keyof typeof Vsn];

/** The socket-level topic that carries heartbeats. */
export const PHOENIX_TOPIC = 'phoenix';
/** Every channel topic starts with this (`realtime:session:<uuid>`). */
export const TOPIC_PREFIX = 'realtime:';

/**
 * What is wrong with a topic a client sent, or undefined: it must be a non-empty string of at most `maxLength`
 * characters without NUL (policies and realtime.messages read topics as PostgreSQL text, which cannot hold one).
 */
export function topicProblem(topic: unknown, maxLength: number): string | undefined {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > maxLength) return `must be a non-empty string of at most ${maxLength} characters`;
  if (topic.includes('\0')) return 'must not contain NUL characters';
  return undefined;
}

export const ChannelEvent = {
  Join: 'phx_join',
  Leave: 'phx_leave',
  Reply: 'phx_reply',
  Close: 'phx_close',
  Error: 'phx_error',
  Heartbeat: 'heartbeat',
  AccessToken: 'access_token',
  Broadcast: 'broadcast',
  Presence: 'presence',
  PresenceState: 'presence_state',
  PresenceDiff: 'presence_diff',
  System: 'system',
  PostgresChanges: 'postgres_changes',
} as const;
export type ChannelEvent = (typeof ChannelEvent)[keyof typeof ChannelEvent];

/** Binary frame kinds of vsn 2.0.0 (the first byte). */
export const BinaryKind = { UserBroadcastPush: 3, UserBroadcast: 4 } as const;
/** Payload encodings inside binary broadcast frames. */
export const PayloadEncoding = { Binary: 0, Json: 1 } as const;
export type PayloadEncoding = (typeof PayloadEncoding)[keyof typeof PayloadEncoding];

/** WebSocket close codes this server uses. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
  /** The server is restarting (a rolling restart drains it): reconnect, to another instance if there is one. */
  ServiceRestart: 1012,
  TryAgainLater: 1013,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Change types of postgres_changes; `*` in a binding means all three. */
export const ChangeType = { Insert: 'INSERT', Update: 'UPDATE', Delete: 'DELETE' } as const;
export type ChangeType = (typeof ChangeType)[keyof typeof ChangeType];
export const ALL_CHANGES = '*';
export type BindingEvent = ChangeType | typeof ALL_CHANGES;

/** What old_record carries when the old row was too big to ship whole (Supabase's wording). */
export const PAYLOAD_TOO_LARGE = 'Error 413: Payload Too Large';
