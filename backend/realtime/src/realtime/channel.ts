/**
 * One joined (or joining) topic of one connection (internal): its join options, the token it runs under,
 * its postgres_changes subscriptions and the frames addressed to it.
 */
import type { JwtClaims } from '../auth/jwt.js';
import { ChannelEvent, TOPIC_PREFIX, type Vsn } from './constants.js';
import type { JoinRequest } from './messages.js';
import type { PostgresBinding, Subscription } from './postgresChanges.js';
import { roomKey } from './rooms.js';
import { encodeMessage, type ReplyTarget } from './serializer.js';

export const ChannelState = { Joining: 'joining', Joined: 'joined', Closed: 'closed' } as const;
export type ChannelState = (typeof ChannelState)[keyof typeof ChannelState];

/** What a channel needs of its connection. */
export interface ChannelSocket {
  readonly id: number;
  readonly vsn: Vsn;
  /** The connection's channels by topic (the hub keeps it in step). */
  readonly channels: Map<string, Channel>;
  /** Queues a frame; false when the connection is gone or was just closed for being too slow. */
  send(frame: string | Buffer, binary?: boolean): boolean;
}

// setTimeout takes at most 2^31-1 ms (~24.8 days); later expiries re-arm.
const MAX_TIMER_MS = 2 ** 31 - 1;
let nextUid = 1;

export class Channel {
  readonly uid = nextUid++;
  state: ChannelState = ChannelState.Joining;
  readonly subTopic: string;
  claims: JwtClaims;
  token: string;
  bindings: PostgresBinding[] = [];
  subscriptions: Subscription<Channel>[] = [];
  /** Presence key: the join's, or one picked for it. */
  readonly presenceKey: string;
  presenceEnabled: boolean;
  /** Bumped on each access_token, so an older check finishing late is ignored. */
  authSeq = 0;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: ChannelSocket,
    readonly topic: string,
    readonly joinRef: string | null,
    readonly join: JoinRequest,
    auth: { claims: JwtClaims; token: string },
  ) {
    this.subTopic = topic.slice(TOPIC_PREFIX.length);
    this.claims = auth.claims;
    this.token = auth.token;
    this.presenceKey = join.presenceKey || `${socket.id}:${this.uid}`;
    this.presenceEnabled = join.presenceEnabled;
  }

  /** Public and private channels of the same name are different rooms. */
  get roomKey(): string {
    return roomKey(this.topic, this.join.private);
  }

  get isServiceRole(): boolean {
    return this.claims.role === 'service_role';
  }

  /** A frame of this channel's join (join_ref set, ref null): system, presence_state. */
  push(event: string, payload: unknown): void {
    this.socket.send(encodeMessage(this.socket.vsn, this.target(null), event, payload));
  }

  reply(ref: string | null, status: 'ok' | 'error', response: unknown): void {
    this.socket.send(encodeMessage(this.socket.vsn, this.target(ref), ChannelEvent.Reply, { status, response }));
  }

  system(extension: 'system' | 'postgres_changes', status: 'ok' | 'error', message: string): void {
    this.push(ChannelEvent.System, { extension, status, message, channel: this.subTopic });
  }

  /** phx_close or phx_error, with ref = join_ref so the client takes it as about its current join. */
  end(event: typeof ChannelEvent.Close | typeof ChannelEvent.Error, payload: object = {}): void {
    this.socket.send(encodeMessage(this.socket.vsn, this.target(this.joinRef), event, payload));
  }

  setAuth(claims: JwtClaims, token: string): void {
    this.claims = claims;
    this.token = token;
  }

  /** Calls `onExpired` when the token's `exp` passes. */
  scheduleExpiry(onExpired: () => void, now: () => number = Date.now): void {
    clearTimeout(this.expiryTimer);
    const remaining = this.claims.exp * 1000 - now();
    this.expiryTimer = setTimeout(() => {
      if (this.claims.exp * 1000 <= now()) onExpired();
      else this.scheduleExpiry(onExpired, now);
    }, Math.max(0, Math.min(remaining, MAX_TIMER_MS)));
    this.expiryTimer.unref();
  }

  clearTimers(): void {
    clearTimeout(this.expiryTimer);
  }

  private target(ref: string | null): ReplyTarget {
    return { joinRef: this.joinRef, ref, topic: this.topic };
  }
}
