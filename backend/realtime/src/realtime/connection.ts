/**
 * One WebSocket connection (internal): decodes and rate-limits what arrives, routes it to the hub, and sends
 * with a bounded outgoing buffer. A failure in one connection never reaches another: bad frames get an error
 * reply or a clean close, and a client too slow to read is disconnected before its backlog grows unbounded.
 */
import WebSocket from 'ws';
import type { JwtClaims } from '../auth/jwt.js';
import type { Logger } from '../logger.js';
import { ChannelState, type Channel, type ChannelSocket } from './channel.js';
import { ChannelEvent, CloseCode, type Vsn } from './constants.js';
import { RealtimeError, RealtimeErrorCode, type RealtimeErrorCode as Code } from './errors.js';
import { RateWindow, type RealtimeLimits } from './limits.js';
import { decodeClientMessage, type ClientMessage } from './messages.js';
import { FrameError, encodeMessage, type ReplyTarget } from './serializer.js';

/** What a connection asks of the hub. */
export interface ConnectionHandlers {
  join(conn: Connection, msg: Extract<ClientMessage, { type: 'join' }>): Promise<void>;
  leave(channel: Channel): void;
  refreshToken(channel: Channel, token: string | null): Promise<void>;
  broadcast(channel: Channel, msg: Extract<ClientMessage, { type: 'broadcast' }>): void;
  track(channel: Channel, msg: Extract<ClientMessage, { type: 'presence_track' }>): void;
  untrack(channel: Channel, msg: Extract<ClientMessage, { type: 'presence_untrack' }>): void;
  /** The connection is gone: drop its channels. */
  dropped(conn: Connection): void;
}

export interface ConnectionInit {
  id: number;
  vsn: Vsn;
  /** The verified apikey of the upgrade; joins without access_token run under it. */
  apikey: string;
  apikeyClaims: JwtClaims;
}

/** The Connection of a socket, so one set of listener functions serves every socket (no closures per connection). */
const kConnection = Symbol('connection');
const owner = (ws: WebSocket) => (ws as WebSocket & { [kConnection]: Connection })[kConnection];

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  owner(this).onFrame(data, isBinary);
}
function onClose(this: WebSocket): void {
  owner(this).onClosed();
}
function onError(this: WebSocket, err: Error): void {
  // ws reports protocol violations (oversized or invalid frames) here, then closes with the matching code.
  owner(this).logger.debug({ err, conn: owner(this).id }, 'websocket error');
}

/** Close reasons must fit in a control frame (123 bytes). */
const clip = (reason: string) => (Buffer.byteLength(reason) <= 123 ? reason : `${reason.slice(0, 110)}…`);

export class Connection implements ChannelSocket {
  readonly id: number;
  readonly vsn: Vsn;
  readonly apikey: string;
  readonly apikeyClaims: JwtClaims;
  readonly channels = new Map<string, Channel>();
  readonly joins: RateWindow;
  /** Last time anything arrived (heartbeats included). */
  lastSeen = Date.now();
  private readonly messages: RateWindow;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    init: ConnectionInit,
    private readonly hub: ConnectionHandlers,
    private readonly limits: RealtimeLimits,
    /** @internal */ readonly logger: Logger,
  ) {
    this.id = init.id;
    this.vsn = init.vsn;
    this.apikey = init.apikey;
    this.apikeyClaims = init.apikeyClaims;
    this.joins = new RateWindow(limits.maxJoinsPerSecond);
    this.messages = new RateWindow(limits.maxMessagesPerSecond);
    (ws as WebSocket & { [kConnection]: Connection })[kConnection] = this;
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Queues a frame, unless the client has not read the last `maxOutgoingBufferBytes`: then it is disconnected. */
  send(frame: string | Buffer, binary = false): boolean {
    if (!this.isOpen) return false;
    if (this.ws.bufferedAmount > this.limits.maxOutgoingBufferBytes) {
      this.close(CloseCode.TryAgainLater, `slow consumer: more than ${this.limits.maxOutgoingBufferBytes} bytes unread`);
      return false;
    }
    this.ws.send(frame, { binary });
    return true;
  }

  /** Closes with a code and reason; the socket is destroyed if the client does not finish the close handshake. */
  close(code: CloseCode, reason: string): void {
    if (this.closed) return;
    this.onClosed();
    this.logger.debug({ conn: this.id, code, reason }, 'closing realtime connection');
    this.ws.close(code, clip(reason));
    setTimeout(() => this.ws.terminate(), 2_000).unref();
  }

  /** Replies to a push: `[join_ref, ref, topic, "phx_reply", {status, response}]`. */
  reply(to: ReplyTarget, status: 'ok' | 'error', response: unknown): void {
    this.send(encodeMessage(this.vsn, to, ChannelEvent.Reply, { status, response }));
  }

  replyError(to: ReplyTarget, code: Code, message: string): void {
    if (to.ref !== null) this.reply(to, 'error', { reason: `${code}: ${message}` });
  }

  /** @internal */
  onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.dropped(this);
  }

  /** @internal */
  onFrame(data: Buffer, isBinary: boolean): void {
    this.lastSeen = Date.now();
    let msg: ClientMessage;
    try {
      msg = decodeClientMessage(data, isBinary);
    } catch (err) {
      return this.refuse(err);
    }
    // Joins have their own limit (a reconnecting client rejoins all its channels at once).
    if (msg.type !== 'join' && !this.messages.take()) {
      if (this.messages.used > 2 * this.limits.maxMessagesPerSecond) {
        return this.close(CloseCode.PolicyViolation, `too many messages: more than ${this.limits.maxMessagesPerSecond} per second`);
      }
      return this.replyError(msg, RealtimeErrorCode.TooManyMessages, `more than ${this.limits.maxMessagesPerSecond} messages per second; slow down`);
    }
    try {
      this.dispatch(msg);
    } catch (err) {
      this.logger.error({ err, conn: this.id, event: msg.type }, 'realtime message handling failed');
      this.replyError(msg, RealtimeErrorCode.Internal, 'internal server error');
    }
  }

  /** A frame that failed validation: an error reply when it said where to, else a clean close. */
  private refuse(err: unknown): void {
    if (err instanceof FrameError && err.replyTo && err.replyTo.ref !== null) {
      this.logger.debug({ conn: this.id, err }, 'refused a realtime message');
      return this.replyError(err.replyTo, err.code, err.message);
    }
    const message = err instanceof RealtimeError ? err.reason : 'malformed frame';
    this.close(CloseCode.InvalidPayload, message);
  }

  private dispatch(msg: ClientMessage): void {
    if (msg.type === 'heartbeat') return this.reply(msg, 'ok', {});
    if (msg.type === 'join') {
      void this.hub.join(this, msg);
      return;
    }
    const channel = this.channels.get(msg.topic);
    const joined = channel?.state === ChannelState.Joined ? channel : undefined;
    if (msg.type === 'leave') {
      // Leaving a topic that is not (or no longer) joined is fine: the client only wants it gone.
      if (channel && (msg.joinRef === null || msg.joinRef === channel.joinRef)) this.hub.leave(channel);
      return this.reply(msg, 'ok', {});
    }
    if (!joined) return this.replyError(msg, RealtimeErrorCode.UnmatchedTopic, `topic ${msg.topic} is not joined on this connection; join it first`);
    switch (msg.type) {
      case 'access_token':
        void this.hub.refreshToken(joined, msg.token);
        return;
      case 'broadcast':
        return this.hub.broadcast(joined, msg);
      case 'presence_track':
        return this.hub.track(joined, msg);
      case 'presence_untrack':
        return this.hub.untrack(joined, msg);
      default:
        return this.replyError(msg, RealtimeErrorCode.UnknownEvent, `unknown event "${msg.event}"`);
    }
  }
}
