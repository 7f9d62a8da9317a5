/**
 * Frames of the Phoenix channels protocol as @supabase/realtime-js sends them (internal).
 *
 * Text frames are `[join_ref, ref, topic, event, payload]` (vsn 2.0.0) or
 * `{topic, event, payload, ref, join_ref}` (vsn 1.0.0); both forms are accepted whatever the vsn, and replies
 * use the connection's vsn. Binary frames (vsn 2.0.0) carry broadcasts: kind 3 from the client, kind 4 to it.
 * Nothing leaves this module unvalidated: callers get an {@link Envelope} or a {@link FrameError}.
 */
import { JsonInputError, parseJson } from '../http/json.js';
import { BinaryKind, PayloadEncoding, topicProblem, Vsn } from './constants.js';
import { RealtimeError, RealtimeErrorCode, type RealtimeErrorCode as Code } from './errors.js';
import { MAX_TOPIC_LENGTH } from '../limits.js';

export type JsonObject = Record<string, unknown>;

/** Where a reply to a frame goes. */
export interface ReplyTarget {
  joinRef: string | null;
  ref: string | null;
  topic: string;
}

/** A decoded frame: routing fields plus a payload that is a JSON object. */
export interface Envelope extends ReplyTarget {
  event: string;
  payload: JsonObject;
  /** Present for binary broadcast pushes (kind 3): the user's event and its payload bytes. */
  binaryBroadcast?: BinaryBroadcast;
}

export interface BinaryBroadcast {
  event: string;
  encoding: PayloadEncoding;
  /** JSON text (encoding 1, already checked to parse) or raw bytes (encoding 0). */
  body: Buffer;
}

/** A frame that could not be accepted; `replyTo` is set when the frame said where a reply should go. */
export class FrameError extends RealtimeError {
  constructor(code: Code, message: string, readonly replyTo?: ReplyTarget) {
    super(code, message);
  }
}

const malformed = (message: string, replyTo?: ReplyTarget) => new FrameError(RealtimeErrorCode.MalformedFrame, message, replyTo);

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes one WebSocket message, JSON nested at most `maxDepth` levels (http/json.ts); throws {@link FrameError}. */
export function decodeFrame(data: Buffer, isBinary: boolean, maxDepth: number): Envelope {
  return isBinary ? decodeBinary(data, maxDepth) : decodeText(data.toString('utf8'), maxDepth);
}

function decodeText(text: string, maxDepth: number): Envelope {
  let value: unknown;
  try {
    value = parseJson(text, maxDepth);
  } catch (err) {
    const depth = err instanceof JsonInputError && err.depth !== undefined;
    throw malformed(depth ? `frame is ${(err as Error).message}` : `frame is not JSON (${(err as Error).message})`);
  }
  if (Array.isArray(value)) {
    if (value.length !== 5) throw malformed(`an array frame has 5 elements [join_ref, ref, topic, event, payload], got ${value.length}`);
    return envelope(value[0], value[1], value[2], value[3], value[4]);
  }
  if (isObject(value)) return envelope(value.join_ref, value.ref, value.topic, value.event, value.payload);
  throw malformed('a frame is a JSON array [join_ref, ref, topic, event, payload] or an object {topic, event, payload, ref}');
}

function refOf(value: unknown, name: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && value.length <= 255) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw malformed(`${name} must be a string (at most 255 characters) or null`);
}

function envelope(joinRefRaw: unknown, refRaw: unknown, topic: unknown, event: unknown, payload: unknown): Envelope {
  const joinRef = refOf(joinRefRaw, 'join_ref');
  const ref = refOf(refRaw, 'ref');
  const problem = topicProblem(topic, MAX_TOPIC_LENGTH);
  if (problem !== undefined) {
    // A topic that is a string of a valid length can be replied to (its problem is its content): the socket stays.
    const answerable = typeof topic === 'string' && topic.length > 0 && topic.length <= MAX_TOPIC_LENGTH;
    throw malformed(`topic ${problem}`, answerable ? { joinRef, ref, topic } : undefined);
  }
  const replyTo = { joinRef, ref, topic: topic as string };
  if (typeof event !== 'string' || event.length === 0 || event.length > 255) {
    throw malformed('event must be a non-empty string of at most 255 characters', replyTo);
  }
  if (!isObject(payload)) throw malformed(`the payload of "${event}" must be a JSON object`, replyTo);
  return { joinRef, ref, topic: topic as string, event, payload };
}

// kind 3: u8 kind, u8 len(join_ref), u8 len(ref), u8 len(topic), u8 len(event), u8 len(meta), u8 encoding,
// then join_ref, ref, topic, event, meta, payload.
const PUSH_HEADER = 7;

function decodeBinary(buf: Buffer, maxDepth: number): Envelope {
  if (buf.length < 1 || buf[0] !== BinaryKind.UserBroadcastPush) {
    throw malformed(`binary frames must be broadcast pushes (kind ${BinaryKind.UserBroadcastPush}), got kind ${buf[0] ?? 'none'}`);
  }
  if (buf.length < PUSH_HEADER) throw malformed('binary broadcast frame is shorter than its header');
  const lengths = [buf[1]!, buf[2]!, buf[3]!, buf[4]!, buf[5]!];
  const encoding = buf[6]!;
  let offset = PUSH_HEADER;
  const parts = lengths.map((len) => {
    if (offset + len > buf.length) throw malformed('binary broadcast frame is shorter than its header says');
    const part = buf.toString('utf8', offset, offset + len);
    offset += len;
    return part;
  });
  const [joinRef, ref, topic, event, meta] = parts as [string, string, string, string, string];
  const replyTo = { joinRef: joinRef || null, ref: ref || null, topic };
  if (!topic) throw malformed('binary broadcast frame has no topic');
  if (!event) throw malformed('binary broadcast frame has no event', replyTo);
  const metadata = meta ? jsonOrUndefined(meta, maxDepth) : {};
  if (!isObject(metadata)) throw malformed('binary broadcast metadata must be a JSON object', replyTo);
  if (encoding !== PayloadEncoding.Json && encoding !== PayloadEncoding.Binary) {
    throw malformed(`binary broadcast payload encoding must be 0 (bytes) or 1 (JSON), got ${encoding}`, replyTo);
  }
  const body = buf.subarray(offset);
  if (encoding === PayloadEncoding.Json && jsonOrUndefined(body.toString('utf8'), maxDepth) === undefined) {
    throw malformed(`binary broadcast payload is marked JSON but does not parse (or nests deeper than ${maxDepth} levels)`, replyTo);
  }
  return { ...replyTo, event: 'broadcast', payload: { type: 'broadcast', event }, binaryBroadcast: { event, encoding: encoding as PayloadEncoding, body, ...(persistAsked(metadata) ? { persist: true } : {}) } };
}

/** realtime-js 2.119 sends `{"persist": true}` or `{"persist": {"ttl": n}}` as metadata; an explicit false asks nothing. */
function persistAsked(metadata: Record<string, unknown>): boolean {
  return metadata.persist !== undefined && metadata.persist !== false && metadata.persist !== null;
}

function jsonOrUndefined(text: string, maxDepth: number): unknown {
  try {
    return parseJson(text, maxDepth);
  } catch {
    return undefined; // the callers report what was expected
  }
}

const refJson = (ref: string | null): string => (ref === null ? 'null' : JSON.stringify(ref));

/**
 * A text frame around a payload that is already JSON text, so a payload shared by many sockets is
 * stringified once.
 */
export function encodeRaw(vsn: Vsn, target: ReplyTarget, event: string, payloadJson: string): string {
  const topic = JSON.stringify(target.topic);
  const ev = JSON.stringify(event);
  if (vsn === Vsn.V2) return `[${refJson(target.joinRef)},${refJson(target.ref)},${topic},${ev},${payloadJson}]`;
  return `{"topic":${topic},"event":${ev},"payload":${payloadJson},"ref":${refJson(target.ref)},"join_ref":${refJson(target.joinRef)}}`;
}

export function encodeMessage(vsn: Vsn, target: ReplyTarget, event: string, payload: unknown): string {
  return encodeRaw(vsn, target, event, JSON.stringify(payload));
}

/**
 * A user broadcast as a binary frame (kind 4): u8 kind, u8 len(topic), u8 len(event), u8 len(meta), u8 encoding,
 * then topic, event, meta, payload. Undefined when a field is longer than one length byte can say.
 */
export function encodeUserBroadcast(topic: string, event: string, encoding: PayloadEncoding, body: Buffer): Buffer | undefined {
  const topicBytes = Buffer.from(topic, 'utf8');
  const eventBytes = Buffer.from(event, 'utf8');
  if (topicBytes.length > 255 || eventBytes.length > 255) return undefined;
  const header = Buffer.from([BinaryKind.UserBroadcast, topicBytes.length, eventBytes.length, 0, encoding]);
  return Buffer.concat([header, topicBytes, eventBytes, body]);
}
