/**
 * One WebSocket connection (internal): decodes and rate-limits what arrives, routes it to the hub, and sends
 * with a bounded outgoing buffer. A failure in one connection never reaches another: bad frames get an error
 * reply or a clean close, and a client too slow to read loses what is ephemeral first (docs/SECURITY.md):
 *
 * - past `ephemeralBufferBytes` unread, broadcast and presence frames to it are dropped (one system message
 *   says so, once per episode);
 * - past `changesBufferBytes`, postgres_changes frames are refused: the hub errors those channels, so the client
 *   rejoins and catches up by REST instead of being fed a backlog;
 * - past `maxOutgoingBufferBytes`, the socket is closed (1013), the last resort.
 *
 * So a flood of someone else's broadcasts costs a slow reader its broadcasts, never its own postgres_changes.
 */
import type { Metrics } from '../metrics.js';
import WebSocket from 'ws';
import type { JwtClaims } from '../auth/jwt.js';
import { escaped, inScope, type Scope } from '../lastResort.js';
import type { RealtimeLimits } from '../limits.js';
import type { Logger } from '../logger.js';
import type { Principal } from './budgets.js';
import { ChannelState, type Channel, type ChannelSocket } from './channel.js';
import { ChannelEvent, CloseCode, type Vsn } from './constants.js';
import { RealtimeError, RealtimeErrorCode, type RealtimeErrorCode as Code } from './errors.js';
import { decodeClientMessage, type ClientMessage } from './messages.js';
import { RateWindow } from './rates.js';
import { FrameError, encodeMessage, type ReplyTarget } from './serializer.js';

/** What a connection asks of the hub. */
export interface ConnectionHandlers {
  join(conn: Connection, msg: Extract<ClientMessage, { type: 'join' }>): Promise<void>;
  leave(channel: Channel): void;
  refreshToken(channel: Channel, token: string | null): Promise<void>;
  broadcast(channel: Channel, msg: Extract<ClientMessage, { type: 'broadcast' }>): void;
  track(channel: Channel, msg: Extract<ClientMessage, { type: 'presence_track' }>): void;
  untrack(channel: Channel, msg: Extract<ClientMessage, { type: 'presence_untrack' }>): void;
  /** The connection is gone: drop its channels and give back what it held. */
  dropped(conn: Connection): void;
}

export interface ConnectionInit {
  id: number;
  vsn: Vsn;
  /** The verified apikey of the upgrade; joins without access_token run under it. */
  apikey: string;
  apikeyClaims: JwtClaims;
  /** The client's address as budgets count it (http/principal.ts). */
  address: string;
  /** The principal the upgrade's apikey counts for (the address for the anon key), already charged for this socket. */
  upgradePrincipal: Principal | undefined;
  /** The server's metrics: frames sent and dropped are counted here. */
  metrics: Metrics;
}

/** How a frame is treated when the client reads slowly (see the file comment). */
export const FrameKind = { Control: 'control', Changes: 'changes', Ephemeral: 'ephemeral' } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** What became of a frame handed to {@link Connection.send}. */
export const Sent = { Ok: 'ok', Dropped: 'dropped', Lagging: 'lagging', Closed: 'closed' } as const;
export type Sent = (typeof Sent)[keyof typeof Sent];

/** The Connection of a socket, so one set of listener functions serves every socket (no closures per connection). */
const kConnection = Symbol('connection');
const owner = (ws: WebSocket) => (ws as WebSocket & { [kConnection]: Connection })[kConnection];

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const conn = owner(this);
  inScope(conn.scope, () => conn.onFrame(data, isBinary));
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
  readonly address: string;
  readonly upgradePrincipal: Principal | undefined;
  private readonly metrics: Metrics;
  /** Users (principals) this socket is counted for: each user that joined a channel on it with their token. */
  readonly users = new Set<Principal>();
  readonly channels = new Map<string, Channel>();
  readonly joins: RateWindow;
  readonly presenceTracks: RateWindow;
  /** postgres_changes bindings and their filter bytes held by this connection's channels. */
  bindings = 0;
  filterBytes = 0;
  /** Bytes of presence metas this connection's channels track. */
  presenceBytes = 0;
  /** Last time anything arrived (heartbeats included). */
  lastSeen = Date.now();
  /** The last-resort scope of this connection's frames (lastResort.ts). */
  readonly scope: Scope;
  private readonly messages: RateWindow;
  private readonly inbound: RateWindow;
  /** Set while reading is paused for the inbound byte budgets. */
  private resumeTimer: NodeJS.Timeout | undefined;
  /** Set while ephemeral frames are being dropped; cleared once the client caught up. */
  private droppingEphemeral = false;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    init: ConnectionInit,
    private readonly hub: ConnectionHandlers,
    private readonly limits: RealtimeLimits,
    private readonly maxJsonDepth: number,
    /** @internal */ readonly logger: Logger,
  ) {
    this.id = init.id;
    this.vsn = init.vsn;
    this.apikey = init.apikey;
    this.apikeyClaims = init.apikeyClaims;
    this.address = init.address;
    this.upgradePrincipal = init.upgradePrincipal;
    this.metrics = init.metrics;
    this.joins = new RateWindow(limits.maxJoinsPerSecond);
    this.presenceTracks = new RateWindow(limits.maxPresenceTracksPerSecond);
    this.messages = new RateWindow(limits.maxMessagesPerSecond);
    this.inbound = new RateWindow(limits.maxInboundBytesPerSecond);
    this.scope = {
      describe: () => ({ websocket: this.id, address: this.address }),
      fail: () => this.close(CloseCode.InternalError, 'internal server error'),
    };
    (ws as WebSocket & { [kConnection]: Connection })[kConnection] = this;
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Queues a frame, unless the client is too far behind for its kind (see the file comment). `topic` is where a
   * dropped ephemeral frame was going, for the one system message that reports the drops.
   */
  send(frame: string | Buffer, kind: FrameKind = FrameKind.Control, binary = false, topic?: string): Sent {
    if (!this.isOpen) return Sent.Closed;
    const unread = this.ws.bufferedAmount;
    if (unread > this.limits.maxOutgoingBufferBytes) {
      this.close(CloseCode.TryAgainLater, `slow consumer: more than ${this.limits.maxOutgoingBufferBytes} bytes unread`);
      return Sent.Closed;
    }
    if (kind === FrameKind.Ephemeral) {
      if (unread > this.limits.ephemeralBufferBytes) return this.dropEphemeral(topic);
      if (this.droppingEphemeral && unread <= this.limits.ephemeralBufferBytes / 2) this.droppingEphemeral = false;
    } else if (kind === FrameKind.Changes && unread > this.limits.changesBufferBytes) {
      return Sent.Lagging;
    }
    this.ws.send(frame, { binary });
    this.metrics.frameDelivered(kind);
    return Sent.Ok;
  }

  private dropEphemeral(topic: string | undefined): Sent {
    this.metrics.frameDropped('ephemeral');
    if (!this.droppingEphemeral && topic !== undefined) {
      this.droppingEphemeral = true;
      const message = `${RealtimeErrorCode.EphemeralDropped}: this client reads too slowly (more than ${this.limits.ephemeralBufferBytes} bytes unread); broadcast and presence messages to it are being dropped until it catches up`;
      this.ws.send(encodeMessage(this.vsn, { joinRef: this.channels.get(topic)?.joinRef ?? null, ref: null, topic }, ChannelEvent.System, {
        extension: 'system', status: 'error', message, channel: topic.replace(/^realtime:/, ''),
      }));
    }
    return Sent.Dropped;
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
    clearTimeout(this.resumeTimer);
    this.hub.dropped(this);
  }

  /** @internal */
  onFrame(data: Buffer, isBinary: boolean): void {
    this.lastSeen = Date.now();
    this.countInbound(data.length);
    let msg: ClientMessage;
    try {
      msg = decodeClientMessage(data, isBinary, this.maxJsonDepth);
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
      escaped(this.logger, err, 'caught', this.scope);
    }
  }

  /**
   * Bytes received per second, per connection and per principal: past either budget the socket is not read for
   * the rest of that second (ws pause), so TCP slows the sender down. Nothing is refused, dropped or parsed
   * meanwhile: the cheapest way to throttle a flood, and it costs the other clients nothing.
   */
  private countInbound(bytes: number): void {
    const ownOk = this.inbound.take(bytes);
    const shared = this.upgradePrincipal?.inbound;
    const sharedOk = shared ? shared.take(bytes) : true;
    if ((ownOk && sharedOk) || this.resumeTimer) return;
    const ms = Math.max(ownOk ? 0 : this.inbound.msToNextWindow, sharedOk ? 0 : shared!.msToNextWindow);
    this.ws.pause();
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (!this.closed) this.ws.resume();
    }, Math.max(1, ms));
    this.resumeTimer.unref();
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
