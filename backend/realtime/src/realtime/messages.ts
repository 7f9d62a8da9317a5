/**
 * What a client may send, as typed messages (internal). {@link decodeClientMessage} is the only way a WebSocket
 * message reaches the rest of the server: it decodes the frame (serializer.ts) and checks each event's payload.
 */
import { ChannelEvent, PHOENIX_TOPIC, PayloadEncoding } from './constants.js';
import { RealtimeErrorCode } from './errors.js';
import { FrameError, decodeFrame, isObject, type JsonObject, type ReplyTarget } from './serializer.js';

/** One postgres_changes binding as the client sent it (echoed back verbatim, plus `id`). */
export interface RawBinding {
  event: string;
  schema: string;
  table?: string;
  filter?: string;
}

export interface JoinRequest {
  /** The caller's JWT; absent means "use the connection's apikey". */
  accessToken: string | undefined;
  ack: boolean;
  self: boolean;
  /** Presence key; empty means the server picks one per join. */
  presenceKey: string;
  presenceEnabled: boolean;
  private: boolean;
  postgresChanges: RawBinding[];
}

/** A broadcast's user event and payload, ready to forward: JSON text (encoding 1) or raw bytes (encoding 0). */
export interface BroadcastContent {
  event: string;
  encoding: PayloadEncoding;
  body: Buffer;
  /** realtime-js 2.119+ asked for a persisted broadcast (binary metadata `persist`), which this server refuses. */
  persist?: boolean;
  /** Broadcast from Database: the realtime.messages row's id, sent as `meta.id` (as Supabase does). */
  id?: string;
}

type Routed = ReplyTarget;

export type ClientMessage =
  | (Routed & { type: 'heartbeat' })
  | (Routed & { type: 'join'; join: JoinRequest })
  | (Routed & { type: 'leave' })
  | (Routed & { type: 'access_token'; token: string | null })
  | (Routed & { type: 'broadcast'; content: BroadcastContent })
  | (Routed & { type: 'presence_track'; meta: JsonObject; bytes: number })
  | (Routed & { type: 'presence_untrack' })
  | (Routed & { type: 'unknown'; event: string });

/**
 * Decodes and validates one WebSocket message (JSON nested at most `maxDepth` levels); throws FrameError (with
 * `replyTo` when a reply is possible).
 */
export function decodeClientMessage(data: Buffer, isBinary: boolean, maxDepth: number): ClientMessage {
  const env = decodeFrame(data, isBinary, maxDepth);
  const at: Routed = { joinRef: env.joinRef, ref: env.ref, topic: env.topic };
  const invalid = (message: string, code: RealtimeErrorCode = RealtimeErrorCode.InvalidPayload) => new FrameError(code, message, at);
  if (env.binaryBroadcast) return { ...at, type: 'broadcast', content: env.binaryBroadcast };
  switch (env.event) {
    case ChannelEvent.Heartbeat:
      if (env.topic !== PHOENIX_TOPIC) throw invalid(`heartbeats go to topic "${PHOENIX_TOPIC}"`);
      return { ...at, type: 'heartbeat' };
    case ChannelEvent.Join:
      return { ...at, type: 'join', join: joinRequest(env.payload, (m) => invalid(m, RealtimeErrorCode.InvalidJoinPayload)) };
    case ChannelEvent.Leave:
      return { ...at, type: 'leave' };
    case ChannelEvent.AccessToken:
      return { ...at, type: 'access_token', token: accessToken(env.payload, invalid) };
    case ChannelEvent.Broadcast:
      return { ...at, type: 'broadcast', content: textBroadcast(env.payload, invalid) };
    case ChannelEvent.Presence:
      return presence(at, env.payload, invalid);
    default:
      return { ...at, type: 'unknown', event: env.event };
  }
}

type Invalid = (message: string) => FrameError;

function bool(obj: JsonObject, key: string, where: string, invalid: Invalid, fallback = false): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw invalid(`${where}.${key} must be true or false`);
  return v;
}

function section(obj: JsonObject, key: string, where: string, invalid: Invalid): JsonObject {
  const v = obj[key];
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalid(`${where}.${key} must be an object`);
  return v;
}

function joinRequest(payload: JsonObject, invalid: Invalid): JoinRequest {
  const config = section(payload, 'config', 'payload', invalid);
  const broadcast = section(config, 'broadcast', 'config', invalid);
  const presence = section(config, 'presence', 'config', invalid);
  const token = payload.access_token ?? payload.user_token;
  if (token !== undefined && token !== null && typeof token !== 'string') throw invalid('access_token must be a string');
  const key = presence.key ?? '';
  if (typeof key !== 'string' || key.length > 255) throw invalid('config.presence.key must be a string of at most 255 characters');
  return {
    accessToken: typeof token === 'string' && token !== '' ? token : undefined,
    ack: bool(broadcast, 'ack', 'config.broadcast', invalid),
    self: bool(broadcast, 'self', 'config.broadcast', invalid),
    presenceKey: key,
    presenceEnabled: bool(presence, 'enabled', 'config.presence', invalid),
    private: bool(config, 'private', 'config', invalid),
    postgresChanges: bindings(config.postgres_changes, invalid),
  };
}

function bindings(value: unknown, invalid: Invalid): RawBinding[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid('config.postgres_changes must be an array');
  return value.map((b: unknown, i) => {
    const where = `config.postgres_changes[${i}]`;
    if (!isObject(b)) throw invalid(`${where} must be an object {event, schema, table, filter}`);
    for (const key of ['event', 'schema'] as const) {
      if (typeof b[key] !== 'string') throw invalid(`${where}.${key} must be a string`);
    }
    for (const key of ['table', 'filter'] as const) {
      if (b[key] !== undefined && b[key] !== null && typeof b[key] !== 'string') throw invalid(`${where}.${key} must be a string`);
    }
    if (b.select !== undefined) throw invalid(`${where}.select (column selection) is not supported by this server; remove it to receive whole rows`);
    const raw: RawBinding = { event: b.event as string, schema: b.schema as string };
    if (typeof b.table === 'string') raw.table = b.table;
    if (typeof b.filter === 'string') raw.filter = b.filter;
    return raw;
  });
}

function accessToken(payload: JsonObject, invalid: Invalid): string | null {
  const token = payload.access_token;
  if (token === null || token === undefined) return null;
  if (typeof token !== 'string') throw invalid('access_token must be a string or null');
  return token;
}

function textBroadcast(payload: JsonObject, invalid: Invalid): BroadcastContent {
  const { event } = payload;
  if (typeof event !== 'string' || event.length === 0 || event.length > 255) {
    throw invalid('a broadcast needs {type: "broadcast", event: <string of 1-255 characters>, payload}');
  }
  const body = Buffer.from(JSON.stringify(payload.payload ?? {}), 'utf8');
  return { event, encoding: PayloadEncoding.Json, body };
}

function presence(at: Routed, payload: JsonObject, invalid: Invalid): ClientMessage {
  if (payload.event === 'untrack') return { ...at, type: 'presence_untrack' };
  if (payload.event !== 'track') throw invalid('a presence message is {type: "presence", event: "track" | "untrack", payload}');
  const meta = payload.payload ?? {};
  if (!isObject(meta)) throw invalid('the presence track payload must be a JSON object');
  return { ...at, type: 'presence_track', meta, bytes: Buffer.byteLength(JSON.stringify(meta)) };
}
