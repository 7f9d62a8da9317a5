/**
 * Every limit of the server, in one place: its default, the environment variable that sets it, whom it is
 * counted for and what a client sees past it. config.ts reads them, docs/SECURITY.md lists them (a test checks
 * that it lists each one with its default), and the code reads them from `ServerConfig.limits`.
 *
 * Budgets are counted per client (one WebSocket connection, or one HTTP request) and per principal: the user (the
 * JWT's `sub`) for authenticated callers, the client address for anon callers. service_role is the operator's
 * own key and is not counted per principal (only per connection), so the worker is never throttled by them.
 */

export interface LimitSpec {
  /** Environment variable that sets it. */
  env: string;
  default: number;
  unit: 'bytes' | 'count' | 'per second' | 'ms' | 'levels';
  /** Whom it is counted for. */
  per: 'request' | 'connection' | 'user' | 'address' | 'user or address' | 'topic' | 'process' | 'row' | 'statement';
  /** What happens past it (the error a client sees). */
  past: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** HTTP and REST limits (`ServerConfig.limits`). */
export const HTTP_LIMITS = {
  maxRequestBodyBytes: { env: 'MOBVIBE_MAX_REQUEST_BODY_BYTES', default: 16 * MiB, unit: 'bytes', per: 'request', past: '413 payload_too_large' },
  maxJsonDepth: { env: 'MOBVIBE_MAX_JSON_DEPTH', default: 64, unit: 'levels', per: 'request', past: '400 PGRST102 naming the depth (WebSocket frames: an error reply or close 1007)' },
  maxRows: { env: 'MOBVIBE_MAX_ROWS', default: 10_000, unit: 'count', per: 'statement', past: 'reads return at most this many rows, as PostgREST db-max-rows (Content-Range tells)' },
  maxResponseBytes: { env: 'MOBVIBE_MAX_RESPONSE_BYTES', default: 32 * MiB, unit: 'bytes', per: 'statement', past: '413 PT413: ask for fewer rows (limit) or columns (select); a write that would return more is rolled back' },
  maxRowsWrittenPerSecond: { env: 'MOBVIBE_MAX_ROWS_WRITTEN_PER_SECOND', default: 100, unit: 'per second', per: 'user or address', past: '429 too_many_writes with Retry-After; a write costs the rows it wrote (at least 1) once done; writes are admitted while not in debt (0: no budget)' },
  maxDbConnectionsPerPrincipal: { env: 'MOBVIBE_MAX_DB_CONNECTIONS_PER_PRINCIPAL', default: 4, unit: 'count', per: 'user or address', past: "that user's further REST requests wait their turn for a database connection (no error); the pool has 20 (0: no bound)" },
  maxRequestsInFlightPerPrincipal: { env: 'MOBVIBE_MAX_REQUESTS_IN_FLIGHT', default: 16, unit: 'count', per: 'user or address', past: '429 too_many_requests with Retry-After' },
} as const satisfies Record<string, LimitSpec>;

/** Realtime limits (`ServerConfig.limits.realtime`). */
export const REALTIME_LIMITS = {
  maxFrameBytes: { env: 'MOBVIBE_RT_MAX_FRAME_BYTES', default: 1 * MiB, unit: 'bytes', per: 'connection', past: 'close 1009' },
  maxPayloadBytes: { env: 'MOBVIBE_RT_MAX_PAYLOAD_BYTES', default: 256 * KiB, unit: 'bytes', per: 'connection', past: 'broadcast or presence refused: payload_size_exceeded / PayloadTooLarge' },
  maxConnections: { env: 'MOBVIBE_RT_MAX_CONNECTIONS', default: 10_000, unit: 'count', per: 'process', past: 'HTTP 429 at upgrade' },
  maxConnectionsPerAddress: { env: 'MOBVIBE_RT_MAX_CONNECTIONS_PER_ADDRESS', default: 100, unit: 'count', per: 'address', past: 'HTTP 429 at upgrade (ConnectionRateLimitReached)' },
  maxConnectionsPerUser: { env: 'MOBVIBE_RT_MAX_CONNECTIONS_PER_USER', default: 50, unit: 'count', per: 'user', past: 'the join is refused (ConnectionRateLimitReached)' },
  maxChannelsPerConnection: { env: 'MOBVIBE_RT_MAX_CHANNELS_PER_CONNECTION', default: 100, unit: 'count', per: 'connection', past: 'join refused (ChannelRateLimitReached)' },
  maxChannelsPerUser: { env: 'MOBVIBE_RT_MAX_CHANNELS_PER_USER', default: 300, unit: 'count', per: 'user or address', past: 'join refused (ChannelRateLimitReached)' },
  maxBindingsPerChannel: { env: 'MOBVIBE_RT_MAX_BINDINGS_PER_CHANNEL', default: 100, unit: 'count', per: 'connection', past: 'join refused (InvalidPostgresChanges)' },
  maxBindingsPerConnection: { env: 'MOBVIBE_RT_MAX_BINDINGS_PER_CONNECTION', default: 300, unit: 'count', per: 'connection', past: 'join refused (SubscriptionBudgetExceeded)' },
  maxFilterBytesPerConnection: { env: 'MOBVIBE_RT_MAX_FILTER_BYTES_PER_CONNECTION', default: 64 * KiB, unit: 'bytes', per: 'connection', past: 'join refused (SubscriptionBudgetExceeded)' },
  maxFilterBytesPerUser: { env: 'MOBVIBE_RT_MAX_FILTER_BYTES_PER_USER', default: 256 * KiB, unit: 'bytes', per: 'user or address', past: 'join refused (SubscriptionBudgetExceeded)' },
  maxJoinsPerSecond: { env: 'MOBVIBE_RT_MAX_JOINS_PER_SECOND', default: 100, unit: 'per second', per: 'connection', past: 'join refused (ClientJoinRateLimitReached)' },
  maxJoinsPerSecondPerUser: { env: 'MOBVIBE_RT_MAX_JOINS_PER_SECOND_PER_USER', default: 50, unit: 'per second', per: 'user or address', past: 'join refused (ClientJoinRateLimitReached)' },
  maxInboundBytesPerSecond: { env: 'MOBVIBE_RT_MAX_INBOUND_BYTES_PER_SECOND', default: 256 * KiB, unit: 'bytes', per: 'connection', past: 'the server stops reading that socket for the rest of the second: TCP slows the sender, nothing is refused or lost' },
  maxInboundBytesPerSecondPerUser: { env: 'MOBVIBE_RT_MAX_INBOUND_BYTES_PER_SECOND_PER_USER', default: 1 * MiB, unit: 'bytes', per: 'user or address', past: 'as for one connection, for each socket of that user or address (counted for whom the socket was opened: its apikey)' },
  maxMessagesPerSecond: { env: 'MOBVIBE_RT_MAX_MESSAGES_PER_SECOND', default: 100, unit: 'per second', per: 'connection', past: 'error replies (ClientMessageRateLimitReached); past twice this, close 1008' },
  maxBroadcastsPerSecond: { env: 'MOBVIBE_RT_MAX_BROADCASTS_PER_SECOND', default: 50, unit: 'per second', per: 'user or address', past: 'the broadcast is not sent; error reply BroadcastRateLimitReached to the sender' },
  maxBroadcastBytesPerSecond: { env: 'MOBVIBE_RT_MAX_BROADCAST_BYTES_PER_SECOND', default: 256 * KiB, unit: 'bytes', per: 'user or address', past: 'the broadcast is not sent; error reply BroadcastRateLimitReached to the sender' },
  maxBroadcastMessagesPerRequest: { env: 'MOBVIBE_RT_MAX_BROADCAST_MESSAGES_PER_REQUEST', default: 100, unit: 'count', per: 'request', past: 'HTTP 413' },
  maxPresenceBytesPerConnection: { env: 'MOBVIBE_RT_MAX_PRESENCE_BYTES_PER_CONNECTION', default: 64 * KiB, unit: 'bytes', per: 'connection', past: 'track refused (PresenceBudgetExceeded)' },
  maxPresenceEntriesPerTopic: { env: 'MOBVIBE_RT_MAX_PRESENCE_ENTRIES_PER_TOPIC', default: 1_000, unit: 'count', per: 'topic', past: 'track refused (PresenceBudgetExceeded)' },
  maxPresenceBytesPerTopic: { env: 'MOBVIBE_RT_MAX_PRESENCE_BYTES_PER_TOPIC', default: 1 * MiB, unit: 'bytes', per: 'topic', past: 'track refused (PresenceBudgetExceeded)' },
  maxPresenceTracksPerSecond: { env: 'MOBVIBE_RT_MAX_PRESENCE_TRACKS_PER_SECOND', default: 10, unit: 'per second', per: 'connection', past: 'track refused (PresenceRateLimitReached)' },
  ephemeralBufferBytes: { env: 'MOBVIBE_RT_EPHEMERAL_BUFFER_BYTES', default: 1 * MiB, unit: 'bytes', per: 'connection', past: 'broadcast and presence to that client are dropped (one system message says so)' },
  changesBufferBytes: { env: 'MOBVIBE_RT_CHANGES_BUFFER_BYTES', default: 4 * MiB, unit: 'bytes', per: 'connection', past: "that client's postgres_changes channels are errored: rejoin and catch up" },
  maxOutgoingBufferBytes: { env: 'MOBVIBE_RT_MAX_OUTGOING_BUFFER_BYTES', default: 8 * MiB, unit: 'bytes', per: 'connection', past: 'close 1013 "slow consumer"' },
  maxLiveRowBytes: { env: 'MOBVIBE_RT_MAX_LIVE_ROW_BYTES', default: 64 * KiB, unit: 'bytes', per: 'row', past: 'the change carries only the fields of at most 64 bytes and errors ["Error 413: Payload Too Large"]; read the row by REST' },
  heartbeatTimeoutMs: { env: 'MOBVIBE_RT_HEARTBEAT_TIMEOUT_MS', default: 60_000, unit: 'ms', per: 'connection', past: 'close 1000 "heartbeat timeout"' },
} as const satisfies Record<string, LimitSpec>;

export type RealtimeLimits = { -readonly [K in keyof typeof REALTIME_LIMITS]: number };
export type Limits = { -readonly [K in keyof typeof HTTP_LIMITS]: number } & { realtime: RealtimeLimits };

const defaults = <T extends Record<string, LimitSpec>>(specs: T) =>
  Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.default])) as { -readonly [K in keyof T]: number };

export const DEFAULT_REALTIME_LIMITS: Readonly<RealtimeLimits> = Object.freeze(defaults(REALTIME_LIMITS));
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({ ...defaults(HTTP_LIMITS), realtime: DEFAULT_REALTIME_LIMITS });

/** Every limit, for documentation: `[key, spec]` with realtime keys prefixed `realtime.`. */
export function allLimits(): Array<[string, LimitSpec]> {
  return [...Object.entries(HTTP_LIMITS), ...Object.entries(REALTIME_LIMITS).map(([k, s]) => [`realtime.${k}`, s] as [string, LimitSpec])];
}

/**
 * The limits set by the environment over the defaults; throws `Error(message)` naming the variable when a value
 * is not a non-negative integer. (config.ts turns it into a ConfigError.)
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Limits {
  const read = <T extends Record<string, LimitSpec>>(specs: T) => {
    const out = defaults(specs) as Record<string, number>;
    for (const [key, spec] of Object.entries(specs)) {
      const raw = env[spec.env];
      if (raw === undefined || raw === '') continue;
      const value = Number(raw);
      if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${spec.env} must be a non-negative integer (${spec.unit}), got ${JSON.stringify(raw)}`);
      out[key] = value;
    }
    return out as { -readonly [K in keyof T]: number };
  };
  return { ...read(HTTP_LIMITS), realtime: read(REALTIME_LIMITS) };
}

/** `in.(...)` lists hold at most this many values in realtime filters (as Supabase documents). */
export const MAX_FILTER_VALUES = 100;
/** Longest realtime topic; binary frames store its length in one byte. */
export const MAX_TOPIC_LENGTH = 255;
/** PostgreSQL's wire protocol counts bind parameters in 16 bits: one statement takes at most this many values. */
export const MAX_STATEMENT_VALUES = 65_535;
