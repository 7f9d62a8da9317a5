/**
 * Broadcast (internal): fan-out of a user event to a room, and the REST endpoints realtime-js posts to
 * (`POST /realtime/v1/api/broadcast` with `{messages: [{topic, event, payload, private}]}`, and
 * `POST /realtime/v1/api/broadcast/<topic>/events/<event>` from `httpSend`). Each answer is 202 or
 * `{"error": "..."}` with 400, 401, 403, 404, 405 or 413.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError, type JwtClaims } from '../auth/jwt.js';
import { claimsFromHeaders } from '../auth/request.js';
import { ApiError } from '../errors.js';
import { readJsonBody } from '../http/body.js';
import { sendJson, sendText } from '../http/respond.js';
import { decodePath, type RequestTarget } from '../http/target.js';
import { ChannelState, type Channel } from './channel.js';
import { ChannelEvent, PayloadEncoding, TOPIC_PREFIX, Vsn } from './constants.js';
import type { RealtimeLimits } from './limits.js';
import { MAX_TOPIC_LENGTH } from './limits.js';
import type { BroadcastContent } from './messages.js';
import { roomKey, type Rooms } from './rooms.js';
import { encodeRaw, encodeUserBroadcast, isObject } from './serializer.js';

interface Frame {
  data: Buffer;
  binary: boolean;
}

/** The frame of a broadcast for each protocol version, built at most once per version. */
function framesOf(topic: string, content: BroadcastContent): (vsn: Vsn) => Frame | undefined {
  const built = new Map<Vsn, Frame | undefined>();
  const text = (vsn: Vsn): Frame | undefined => {
    if (content.encoding !== PayloadEncoding.Json) return undefined; // JSON frames cannot carry raw bytes
    const payload = `{"type":"broadcast","event":${JSON.stringify(content.event)},"payload":${content.body.toString('utf8')}}`;
    return { data: Buffer.from(encodeRaw(vsn, { joinRef: null, ref: null, topic }, ChannelEvent.Broadcast, payload)), binary: false };
  };
  const build = (vsn: Vsn): Frame | undefined => {
    if (vsn === Vsn.V1) return text(vsn);
    const binary = encodeUserBroadcast(topic, content.event, content.encoding, content.body);
    return binary ? { data: binary, binary: true } : text(vsn);
  };
  return (vsn) => {
    if (!built.has(vsn)) built.set(vsn, build(vsn));
    return built.get(vsn);
  };
}

/**
 * Sends a broadcast to every joined channel of a room, except its sender unless the sender asked for `self`.
 * vsn 2.0.0 sockets get a binary frame, vsn 1.0.0 sockets a JSON one (raw-byte payloads cannot reach them).
 * Returns how many channels it was sent to.
 */
export function fanOutBroadcast(members: Iterable<Channel>, topic: string, content: BroadcastContent, sender?: Channel): number {
  const frameFor = framesOf(topic, content);
  let sent = 0;
  for (const channel of members) {
    if (channel.state !== ChannelState.Joined || (channel === sender && !channel.self)) continue;
    const frame = frameFor(channel.socket.vsn);
    if (frame && channel.socket.send(frame.data, frame.binary)) sent++;
  }
  return sent;
}

export interface BroadcastApiContext {
  rooms: Rooms;
  jwtSecret: string;
  limits: RealtimeLimits;
  maxBodyBytes: number;
}

interface RestMessage {
  topic: string;
  content: BroadcastContent;
  private: boolean;
}

const fail = (status: number, message: string) => new ApiError(status, 'broadcast_error', message);

/** Serves `/realtime/v1/api/...`. */
export async function handleBroadcastApi(req: IncomingMessage, res: ServerResponse, url: RequestTarget, ctx: BroadcastApiContext): Promise<void> {
  try {
    const route = /^\/realtime\/v1\/api\/broadcast(?:\/([^/]+)\/events\/([^/]+))?\/?$/.exec(url.pathname);
    if (!route) throw fail(404, `no such endpoint: ${url.pathname}`);
    if (req.method !== 'POST') throw fail(405, 'use POST');
    const claims = authenticate(req, ctx.jwtSecret);
    const messages = route[1] === undefined ? await messagesFromBody(req, ctx) : [await singleMessage(req, url, route, ctx)];
    if (messages.some((m) => m.private) && claims.role !== 'service_role') {
      throw fail(403, 'only service_role may broadcast to private channels');
    }
    for (const m of messages) fanOutBroadcast(ctx.rooms.members(roomKey(TOPIC_PREFIX + m.topic, m.private)), TOPIC_PREFIX + m.topic, m.content);
    sendText(res, 202, undefined);
  } catch (err) {
    const e = err instanceof ApiError ? err : fail(500, 'internal server error');
    sendJson(res, e.status, { error: e.message });
  }
}

function authenticate(req: IncomingMessage, secret: string): JwtClaims {
  try {
    return claimsFromHeaders(req.headers, secret);
  } catch (err) {
    if (err instanceof AuthError) throw fail(401, err.message);
    throw err;
  }
}

function checkTopic(topic: unknown, where: string): string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH - TOPIC_PREFIX.length) {
    throw fail(400, `${where}topic must be a non-empty string (the channel name without "${TOPIC_PREFIX}")`);
  }
  return topic;
}

function content(event: unknown, body: Buffer, encoding: PayloadEncoding, limits: RealtimeLimits, where: string): BroadcastContent {
  if (typeof event !== 'string' || event.length === 0 || event.length > 255) throw fail(400, `${where}event must be a string of 1-255 characters`);
  if (body.length > limits.maxPayloadBytes) {
    throw fail(413, `${where}payload of ${body.length} bytes exceeds the limit of ${limits.maxPayloadBytes} bytes`);
  }
  return { event, encoding, body };
}

async function messagesFromBody(req: IncomingMessage, ctx: BroadcastApiContext): Promise<RestMessage[]> {
  const body = await readJsonBody(req, ctx.maxBodyBytes);
  const list = isObject(body) ? body.messages : undefined;
  if (!Array.isArray(list) || list.length === 0) throw fail(400, 'body must be {"messages": [{topic, event, payload, private}]} with at least one message');
  const max = ctx.limits.maxBroadcastMessagesPerRequest;
  if (list.length > max) throw fail(413, `at most ${max} messages per request, got ${list.length}`);
  return list.map((m: unknown, i) => {
    const where = `messages[${i}].`;
    if (!isObject(m)) throw fail(400, `${where.slice(0, -1)} must be an object`);
    if (m.private !== undefined && typeof m.private !== 'boolean') throw fail(400, `${where}private must be true or false`);
    const payload = Buffer.from(JSON.stringify(m.payload ?? {}), 'utf8');
    return { topic: checkTopic(m.topic, where), content: content(m.event, payload, PayloadEncoding.Json, ctx.limits, where), private: m.private === true };
  });
}

async function singleMessage(req: IncomingMessage, url: RequestTarget, route: RegExpExecArray, ctx: BroadcastApiContext): Promise<RestMessage> {
  const topic = checkTopic(decodePath(route[1]!), '');
  const event = decodePath(route[2]!);
  if (event === undefined) throw fail(400, 'the event in the path has a malformed percent-escape');
  const isBinary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
  const body = isBinary ? await readRaw(req, ctx.maxBodyBytes) : Buffer.from(JSON.stringify(await readJsonBody(req, ctx.maxBodyBytes)), 'utf8');
  const encoding = isBinary ? PayloadEncoding.Binary : PayloadEncoding.Json;
  return { topic, content: content(event, body, encoding, ctx.limits, ''), private: url.searchParams.get('private') === 'true' };
}

async function readRaw(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw fail(413, `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
