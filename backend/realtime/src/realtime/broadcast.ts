/**
 * Broadcast (internal): a user event fanned out to a room, from a joined channel or from the REST endpoints
 * realtime-js posts to (`POST /realtime/v1/api/broadcast` with `{messages: [{topic, event, payload, private}]}`,
 * and `POST /realtime/v1/api/broadcast/<topic>/events/<event>` from `httpSend`).
 *
 * Every sender is held to its budgets (messages and bytes per second per user or client address, payload size),
 * and on a private channel to the broadcast write policy (policies.ts); past them the sender gets an error it
 * can read, and the receivers never notice. Receivers get broadcasts as ephemeral frames: a receiver that reads
 * too slowly loses them, never its postgres_changes (connection.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthError, type JwtClaims } from '../auth/jwt.js';
import { claimsFromHeaders } from '../auth/request.js';
import type { Database } from '../db/database.js';
import { ApiError } from '../errors.js';
import { readJsonBody, readRawBody, type BodyLimits } from '../http/body.js';
import { clientAddress, holdRefusal, principalKey, type InFlight } from '../http/principal.js';
import { sendJson, sendText } from '../http/respond.js';
import { decodePath, type RequestTarget } from '../http/target.js';
import { MAX_TOPIC_LENGTH, type RealtimeLimits } from '../limits.js';
import { overBudget, type Principal, type Principals } from './budgets.js';
import { ChannelState, type Channel } from './channel.js';
import { FrameKind, Sent } from './connection.js';
import { ChannelEvent, PayloadEncoding, TOPIC_PREFIX, topicProblem, Vsn } from './constants.js';
import { RealtimeError, RealtimeErrorCode, toRealtimeError } from './errors.js';
import type { BroadcastContent, ClientMessage } from './messages.js';
import { cannot, Extension, mayWrite, writeAllowed } from './policies.js';
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
    const meta = content.id === undefined ? '' : `,"meta":{"id":${JSON.stringify(content.id)}}`;
    const payload = `{"type":"broadcast","event":${JSON.stringify(content.event)},"payload":${content.body.toString('utf8')}${meta}}`;
    return { data: Buffer.from(encodeRaw(vsn, { joinRef: null, ref: null, topic }, ChannelEvent.Broadcast, payload)), binary: false };
  };
  const build = (vsn: Vsn): Frame | undefined => {
    if (vsn === Vsn.V1 || content.id !== undefined) return text(vsn); // the binary user broadcast has no meta
    const binary = encodeUserBroadcast(topic, content.event, content.encoding, content.body);
    return binary ? { data: binary, binary: true } : text(vsn);
  };
  return (vsn) => {
    if (!built.has(vsn)) built.set(vsn, build(vsn));
    return built.get(vsn);
  };
}

/** May this channel receive broadcasts? Public channels: yes; private ones: by the broadcast read policy. */
const receivesBroadcast = (c: Channel) => c.state === ChannelState.Joined && (c.policies?.read.broadcast ?? true);

/**
 * Sends a broadcast to every joined channel of a room that may receive it, except its sender unless the sender
 * asked for `self`. vsn 2.0.0 sockets get a binary frame, vsn 1.0.0 sockets a JSON one (raw-byte payloads cannot
 * reach them). Returns how many channels it was sent to.
 */
export function fanOutBroadcast(members: Iterable<Channel>, topic: string, content: BroadcastContent, sender?: Channel): number {
  const frameFor = framesOf(topic, content);
  let sent = 0;
  for (const channel of members) {
    if (!receivesBroadcast(channel) || (channel === sender && !channel.self)) continue;
    const frame = frameFor(channel.socket.vsn);
    if (frame && channel.socket.send(frame.data, FrameKind.Ephemeral, frame.binary, topic) === Sent.Ok) sent++;
  }
  return sent;
}

export interface BroadcasterOptions {
  rooms: Rooms;
  db: Database;
  principals: Principals;
  limits: RealtimeLimits;
  jwtSecret: string;
  body: BodyLimits;
  trustProxyHops: number;
  /** Public channels refused (MOBVIBE_REALTIME_PRIVATE_ONLY). */
  privateOnly: boolean;
  /** HTTP requests in flight per principal, shared with REST (maxRequestsInFlightPerPrincipal). */
  inFlight: InFlight;
  /** Sends a broadcast delivered here on to the other server processes (cluster.ts). */
  relay?(topic: string, isPrivate: boolean, content: BroadcastContent): void;
}

type BroadcastMsg = Extract<ClientMessage, { type: 'broadcast' }>;

const fail = (status: number, message: string) => new ApiError(status, 'broadcast_error', message);

export class Broadcaster {
  constructor(private readonly opts: BroadcasterOptions) {}

  /** A broadcast pushed on a joined channel. */
  async fromChannel(channel: Channel, msg: BroadcastMsg): Promise<void> {
    try {
      if (msg.content.persist) throw persistRefused();
      this.charge(channel.principal, [msg.content]);
      const allowed = channel.policies ? writeAllowed(this.opts.db, channel.claims, channel.subTopic, channel.policies, Extension.Broadcast) : true;
      if (!(allowed === true || (await allowed))) throw cannot('write to', channel.subTopic);
      if (channel.state !== ChannelState.Joined) return;
    } catch (err) {
      const e = toRealtimeError(err);
      // realtime-js hands `error` back to a persist caller when it is a string: there it says what was refused.
      const error = e.code === RealtimeErrorCode.PayloadTooLarge ? 'payload_size_exceeded' : e.code === RealtimeErrorCode.PersistNotSupported ? e.reason : e.code;
      if (msg.ref !== null) channel.reply(msg.ref, 'error', { reason: e.reason, error });
      return;
    }
    fanOutBroadcast(this.opts.rooms.members(channel.roomKey), channel.topic, msg.content, channel);
    this.opts.relay?.(channel.topic, channel.isPrivate, msg.content);
    if (channel.ack && msg.ref !== null) channel.reply(msg.ref, 'ok', {});
  }

  /**
   * Checks the payload sizes and takes the sender's rate budget for `contents`, all or nothing; throws a
   * RealtimeError (PayloadTooLarge 413, BroadcastRateLimitReached 429) naming the budget.
   */
  private charge(principal: Principal | undefined, contents: BroadcastContent[]): void {
    const l = this.opts.limits;
    const bytes = contents.reduce((n, c) => n + c.body.length, 0);
    const big = contents.find((c) => c.body.length > l.maxPayloadBytes);
    if (big) throw overBudget(RealtimeErrorCode.PayloadTooLarge, `broadcast payload of ${big.body.length} bytes exceeds the limit of ${l.maxPayloadBytes} bytes`, 'maxPayloadBytes', l, 413);
    if (!principal) return;
    if (!principal.broadcasts.fits(contents.length)) {
      throw overBudget(RealtimeErrorCode.TooManyBroadcasts, `${principal.label} sends more than ${l.maxBroadcastsPerSecond} broadcasts per second; slow down`, 'maxBroadcastsPerSecond', l);
    }
    if (!principal.broadcastBytes.fits(bytes)) {
      throw overBudget(RealtimeErrorCode.TooManyBroadcasts, `${principal.label} sends more than ${l.maxBroadcastBytesPerSecond} bytes of broadcasts per second; slow down`, 'maxBroadcastBytesPerSecond', l);
    }
    principal.broadcasts.take(contents.length);
    principal.broadcastBytes.take(bytes);
  }

  /** Serves `/realtime/v1/api/...`: each answer is 202, or `{"error": "..."}` with 400, 401, 403, 404, 405, 413 or 429. */
  async handleApi(req: IncomingMessage, res: ServerResponse, url: RequestTarget): Promise<void> {
    let key: string | undefined;
    let entered = false;
    try {
      const route = /^\/realtime\/v1\/api\/broadcast(?:\/([^/]+)\/events\/([^/]+))?\/?$/.exec(url.pathname);
      if (!route) throw fail(404, `no such endpoint: ${url.pathname}`);
      if (req.method !== 'POST') throw fail(405, 'use POST');
      if ([...url.searchParams.keys()].some((k) => k === 'persist' || k.startsWith('persist['))) throw fail(400, persistRefused().reason);
      const claims = this.authenticate(req);
      key = principalKey(claims, clientAddress(req, this.opts.trustProxyHops));
      this.opts.inFlight.admit(key);
      entered = true;
      const messages = route[1] === undefined ? await this.messagesFromBody(req) : [await this.singleMessage(req, url, route)];
      if (this.opts.privateOnly && messages.some((m) => !m.private)) throw fail(403, `${RealtimeErrorCode.PrivateOnly}: This project only allows private channels`);
      const principal = this.opts.principals.get(key);
      await this.mayWriteAll(claims, messages);
      this.charge(principal, messages.map((m) => m.content));
      for (const m of messages) {
        fanOutBroadcast(this.opts.rooms.members(roomKey(TOPIC_PREFIX + m.topic, m.private)), TOPIC_PREFIX + m.topic, m.content);
        this.opts.relay?.(TOPIC_PREFIX + m.topic, m.private, m.content);
      }
      sendText(res, 202, undefined);
    } catch (err) {
      const e = err instanceof ApiError ? err : err instanceof RealtimeError && err.status < 500 ? fail(err.status, err.reason) : fail(500, 'internal server error');
      // A rate refusal is answered once the sender may retry (http/principal.ts holdRefusal); too many in flight at once.
      const tooMany = e.code === 'too_many_requests';
      if (e.status === 429 && !tooMany) await holdRefusal(1);
      sendJson(res, e.status, { error: e.message }, e.status === 429 ? { 'retry-after': '1', ...(tooMany ? { connection: 'close' } : {}) } : {});
    } finally {
      if (entered) this.opts.inFlight.leave(key);
    }
  }

  /** Private messages need the broadcast write policy of their topic (one check per distinct topic). */
  private async mayWriteAll(claims: JwtClaims, messages: RestMessage[]): Promise<void> {
    const topics = [...new Set(messages.filter((m) => m.private).map((m) => m.topic))];
    for (const topic of topics) {
      if (!(await mayWrite(this.opts.db, claims, topic, Extension.Broadcast))) throw fail(403, cannot('write to', topic).reason);
    }
  }

  private authenticate(req: IncomingMessage): JwtClaims {
    try {
      return claimsFromHeaders(req.headers, this.opts.jwtSecret);
    } catch (err) {
      if (err instanceof AuthError) throw fail(401, err.message);
      throw err;
    }
  }

  private async messagesFromBody(req: IncomingMessage): Promise<RestMessage[]> {
    const body = await readJsonBody(req, this.opts.body);
    const list = isObject(body) ? body.messages : undefined;
    if (!Array.isArray(list) || list.length === 0) throw fail(400, 'body must be {"messages": [{topic, event, payload, private}]} with at least one message');
    const max = this.opts.limits.maxBroadcastMessagesPerRequest;
    if (list.length > max) throw fail(413, `at most ${max} messages per request, got ${list.length}`);
    return list.map((m: unknown, i) => {
      const where = `messages[${i}].`;
      if (!isObject(m)) throw fail(400, `${where.slice(0, -1)} must be an object`);
      if (m.private !== undefined && typeof m.private !== 'boolean') throw fail(400, `${where}private must be true or false`);
      const payload = Buffer.from(JSON.stringify(m.payload ?? {}), 'utf8');
      return { topic: checkTopic(m.topic, where), content: this.content(m.event, payload, PayloadEncoding.Json, where), private: m.private === true };
    });
  }

  private async singleMessage(req: IncomingMessage, url: RequestTarget, route: RegExpExecArray): Promise<RestMessage> {
    const topic = checkTopic(decodePath(route[1]!), '');
    const event = decodePath(route[2]!);
    if (event === undefined) throw fail(400, 'the event in the path has a malformed percent-escape');
    const isBinary = (req.headers['content-type'] ?? '').startsWith('application/octet-stream');
    const body = isBinary ? await readRawBody(req, this.opts.body.maxBytes) : Buffer.from(JSON.stringify(await readJsonBody(req, this.opts.body)), 'utf8');
    const encoding = isBinary ? PayloadEncoding.Binary : PayloadEncoding.Json;
    return { topic, content: this.content(event, body, encoding, ''), private: url.searchParams.get('private') === 'true' };
  }

  private content(event: unknown, body: Buffer, encoding: PayloadEncoding, where: string): BroadcastContent {
    if (typeof event !== 'string' || event.length === 0 || event.length > 255) throw fail(400, `${where}event must be a string of 1-255 characters`);
    const max = this.opts.limits.maxPayloadBytes;
    if (body.length > max) throw fail(413, `${where}payload of ${body.length} bytes exceeds the limit of ${max} bytes`);
    return { event, encoding, body };
  }
}

interface RestMessage {
  topic: string;
  content: BroadcastContent;
  private: boolean;
}

function checkTopic(topic: unknown, where: string): string {
  const problem = topicProblem(topic, MAX_TOPIC_LENGTH - TOPIC_PREFIX.length);
  if (problem !== undefined) throw fail(400, `${where}topic ${problem} (the channel name without "${TOPIC_PREFIX}")`);
  return topic as string;
}

const persistRefused = () =>
  new RealtimeError(RealtimeErrorCode.PersistNotSupported, 'persisted broadcasts (persist, Broadcast Replay) are not supported by this server; send without persist');
