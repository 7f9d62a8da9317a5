/**
 * One joined (or joining) topic of one connection (internal): its join options, the token it runs under,
 * its postgres_changes subscriptions and the frames addressed to it.
 */
import type { JwtClaims } from '../auth/jwt.js';
import type { Principal } from './budgets.js';
import type { FrameKind, Sent } from './connection.js';
import { ChannelEvent, TOPIC_PREFIX, type Vsn } from './constants.js';
import type { ChannelPolicies } from './policies.js';
import type { RateWindow } from './rates.js';
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
  /** Queues a frame of a kind (control unless said otherwise); see connection.ts for what each kind risks. */
  send(frame: string | Buffer, kind?: FrameKind, binary?: boolean, topic?: string): Sent;
  /** Bytes of presence metas held by this socket's channels (the per-connection presence budget). */
  presenceBytes: number;
  readonly presenceTracks: RateWindow;
  /** postgres_changes bindings and filter bytes held by this socket's channels (per-connection budgets). */
  bindings: number;
  filterBytes: number;
}

let nextUid = 1;

export class Channel {
  readonly uid = nextUid++;
  state: ChannelState = ChannelState.Joining;
  readonly subTopic: string;
  /** The verified claims it runs under (frozen, shared by every use of the same token). */
  claims: JwtClaims;
  bindings: PostgresBinding[] = [];
  subscriptions: Subscription<Channel>[] = [];
  /** Sessions whose deletion or change of owner ends this channel (authorize.ts pinnedIds); none for service_role. */
  pins: string[] = [];
  /** Presence key: the join's, or one picked for it. */
  readonly presenceKey: string;
  presenceEnabled: boolean;
  /** The join's options that matter after joining (the rest of the join request is not kept). */
  readonly isPrivate: boolean;
  readonly ack: boolean;
  readonly self: boolean;
  /** Bumped on each access_token, so an older check finishing late is ignored. */
  authSeq = 0;
  /** The principal whose budgets this channel is counted in (none for service_role), and what it holds there. */
  principal: Principal | undefined;
  /** Bindings and filter bytes this channel is counted for (0 until charged). */
  chargedBindings = 0;
  filterBytes = 0;
  /** Bytes of this channel's tracked presence meta (0 when it tracks none). */
  presenceBytes = 0;
  /** What realtime.messages policies allow on a private channel (read at join, write on first use). */
  policies: ChannelPolicies | undefined;

  constructor(
    readonly socket: ChannelSocket,
    readonly topic: string,
    readonly joinRef: string | null,
    join: JoinRequest,
    claims: JwtClaims,
  ) {
    this.subTopic = topic.slice(TOPIC_PREFIX.length);
    this.claims = claims;
    this.presenceKey = join.presenceKey || `${socket.id}:${this.uid}`;
    this.presenceEnabled = join.presenceEnabled;
    this.isPrivate = join.private;
    this.ack = join.ack;
    this.self = join.self;
  }

  /** Public and private channels of the same name are different rooms. */
  get roomKey(): string {
    return roomKey(this.topic, this.isPrivate);
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

  private target(ref: string | null): ReplyTarget {
    return { joinRef: this.joinRef, ref, topic: this.topic };
  }
}
