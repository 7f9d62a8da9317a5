/**
 * The hub (internal): the channels of this server process, how they are joined, re-authorized and ended. What
 * a joined channel does is elsewhere: postgres_changes fan-out (changeFanout.ts), broadcast (broadcast.ts),
 * presence (presence.ts). A join is checked, in order, for its topic and rate, the private-only setting, its
 * budgets (budgets.ts), its postgres_changes bindings (authorize.ts) and, for a private channel, the
 * realtime.messages read policy (policies.ts).
 *
 * SUBSCRIBED means live: a postgres_changes join is answered ok only after its subscriptions are in the index
 * and while this process's change feed is up, so every commit after the client sees SUBSCRIBED is delivered.
 */
import type { Metrics } from '../metrics.js';
import { AuthError, verifyJwt, type JwtClaims } from '../auth/jwt.js';
import { QueryAbandoned, type Database } from '../db/database.js';
import type { BodyLimits } from '../http/body.js';
import { principalKey, type InFlight } from '../http/principal.js';
import type { RealtimeLimits } from '../limits.js';
import type { Logger } from '../logger.js';
import { authorizeChannel, BindingsRefused, pinnedIds } from './authorize.js';
import { Broadcaster, fanOutBroadcast } from './broadcast.js';
import type { Cluster } from './cluster.js';
import { overBudget, Principals, socketLimitOf } from './budgets.js';
import type { Catalog } from './catalog.js';
import { ChangeFanout } from './changeFanout.js';
import { Channel, ChannelState } from './channel.js';
import { FeedState, type FeedStateChange } from './changeFeed.js';
import type { Change } from './changes.js';
import type { Connection, ConnectionHandlers } from './connection.js';
import { ChannelEvent, PayloadEncoding, TOPIC_PREFIX } from './constants.js';
import { Expiries } from './expiries.js';
import { RealtimeError, RealtimeErrorCode, toRealtimeError } from './errors.js';
import type { BroadcastContent, ClientMessage } from './messages.js';
import { parseBindings } from './postgresChanges.js';
import { Presence } from './presence.js';
import { roomKey, Rooms } from './rooms.js';
import type { DbMessage } from './walChanges.js';

export interface HubOptions {
  db: Database;
  catalog: Catalog;
  jwtSecret: string;
  limits: RealtimeLimits;
  /** Limits of the REST broadcast API's request bodies. */
  body: BodyLimits;
  trustProxyHops: number;
  /** Refuse public channels (MOBVIBE_REALTIME_PRIVATE_ONLY), as Supabase's "allow public access" off. */
  privateOnly: boolean;
  logger: Logger;
  /** Whether this process receives changes (the change feed is up). */
  feedIsUp(): boolean;
  /** Re-reads the publication's tables (a join named one the catalog does not know); rate-limited by its maker. */
  refreshCatalog?(): Promise<void>;
  /** HTTP requests in flight per principal, shared with REST. */
  inFlight: InFlight;
  metrics: Metrics;
  /** The other server processes on the database: broadcasts and presence are shared with them (cluster.ts). */
  cluster?: Cluster;
}

/** realtime-js can send its first join before it has the user's token; say so, it retries with the token. */
function withNoTokenHint(err: RealtimeError): RealtimeError {
  const hint = ' (this join carried no access_token, so it ran under the apikey; the client retries with the user token once it has one)';
  return new RealtimeError(err.code, err.message + hint, { status: err.status });
}

type Msg<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;

/** How a channel ends: quietly (leave, socket gone), closed for good, or errored so the client rejoins. */
type Ending =
  | { kind: 'silent' }
  | { kind: 'close'; message: string }
  | { kind: 'error'; extension: 'system' | 'postgres_changes'; message: string };

export class Hub implements ConnectionHandlers {
  readonly rooms = new Rooms();
  readonly principals: Principals;
  readonly broadcaster: Broadcaster;
  private readonly changes: ChangeFanout;
  readonly presence: Presence;
  /** Joined channels by the second their token expires. */
  private readonly expiries = new Expiries<Channel>((channel) => this.expire(channel));

  constructor(private readonly opts: HubOptions) {
    this.principals = new Principals(opts.limits);
    this.changes = new ChangeFanout(opts.catalog, opts.metrics, (channel, message) => this.end(channel, { kind: 'error', extension: 'postgres_changes', message }));
    this.presence = new Presence(this.rooms, opts.db, opts.limits, opts.cluster);
    const cluster = opts.cluster;
    this.broadcaster = new Broadcaster({
      rooms: this.rooms, db: opts.db, principals: this.principals, limits: opts.limits, jwtSecret: opts.jwtSecret,
      body: opts.body, trustProxyHops: opts.trustProxyHops, privateOnly: opts.privateOnly, inFlight: opts.inFlight,
      ...(cluster ? { relay: (topic: string, isPrivate: boolean, content: BroadcastContent) => cluster.relayBroadcast(topic, isPrivate, content) } : {}),
    });
  }

  /** Stops the timers (the server is closing). */
  close(): void {
    this.expiries.stop();
    this.principals.stop();
  }

  // ---- joining and leaving ----

  async join(conn: Connection, msg: Msg<'join'>): Promise<void> {
    const { topic, ref, joinRef, join } = msg;
    let channel: Channel | undefined;
    try {
      this.checkJoin(conn, topic, join.private);
      // A table added to the publication since the catalog was read is found here, before the bindings are checked.
      if (join.postgresChanges.some((b) => b.table !== undefined && b.table !== '*' && !this.opts.catalog.has(b.table))) await this.opts.refreshCatalog?.();
      const previous = conn.channels.get(topic);
      if (previous) this.end(previous, { kind: 'silent' });
      channel = new Channel(conn, topic, joinRef, join, this.verify(join.accessToken ?? conn.apikey));
      conn.channels.set(topic, channel);
      channel.bindings = parseBindings(join.postgresChanges, this.opts.catalog, this.opts.limits.maxBindingsPerChannel);
      if (!channel.isServiceRole) channel.pins = pinnedIds(channel.bindings, channel.isPrivate ? channel.subTopic : undefined);
      this.charge(conn, channel, join.postgresChanges);
      const revocationMark = this.changes.revocations.mark;
      try {
        // A join its client gave up on (timed out and left) or whose socket closed is not checked at all.
        const joining = channel;
        const stillWanted = () => joining.state === ChannelState.Joining && conn.isOpen;
        channel.policies = await authorizeChannel(this.opts.db, channel.claims, channel.bindings, channel.isPrivate ? channel.subTopic : undefined, { stillWanted });
      } catch (err) {
        throw err instanceof BindingsRefused && join.accessToken === undefined ? withNoTokenHint(err) : err;
      }
      // A leave, a newer join of the topic, or the socket closing while we checked: that answer is moot.
      if (channel.state !== ChannelState.Joining || !conn.isOpen) return;
      this.checkNotRevoked(channel, revocationMark);
      this.activate(channel, ref);
      this.opts.metrics.joined();
    } catch (err) {
      if (channel && channel.state !== ChannelState.Joining) return;
      if (channel) this.end(channel, { kind: 'silent' });
      if (err instanceof QueryAbandoned) return; // the socket closed while the check waited: nobody to answer
      const e = toRealtimeError(err);
      this.opts.metrics.joinRefused(e.code);
      if (e.code === RealtimeErrorCode.Internal) this.opts.logger.error({ err, topic }, 'join failed');
      conn.reply(msg, 'error', { reason: e.reason });
    }
  }

  private checkJoin(conn: Connection, topic: string, isPrivate: boolean): void {
    if (!topic.startsWith(TOPIC_PREFIX) || topic.length === TOPIC_PREFIX.length) {
      throw new RealtimeError(RealtimeErrorCode.UnmatchedTopic, `topics are "${TOPIC_PREFIX}<name>", got "${topic}"`);
    }
    if (!conn.joins.take()) {
      throw new RealtimeError(RealtimeErrorCode.TooManyJoins, `more than ${this.opts.limits.maxJoinsPerSecond} joins per second on this connection; retry shortly`);
    }
    const others = conn.channels.size - (conn.channels.has(topic) ? 1 : 0);
    const max = this.opts.limits.maxChannelsPerConnection;
    if (others >= max) {
      throw new RealtimeError(RealtimeErrorCode.TooManyChannels, `this connection already has ${others} channels (limit ${max}); leave one first`);
    }
    if (this.opts.privateOnly && !isPrivate) {
      throw new RealtimeError(RealtimeErrorCode.PrivateOnly, 'This project only allows private channels', { status: 403 });
    }
  }

  /**
   * Counts the channel against its connection's and its principal's budgets (refused, with the budget named,
   * past any of them); {@link release} gives it all back when the channel ends, however it ends.
   */
  private charge(conn: Connection, channel: Channel, raw: ReadonlyArray<{ filter?: string }>): void {
    const l = this.opts.limits;
    const filterBytes = raw.reduce((n, b) => n + Buffer.byteLength(b.filter ?? ''), 0);
    if (conn.bindings + channel.bindings.length > l.maxBindingsPerConnection) {
      throw overBudget(RealtimeErrorCode.SubscriptionBudget, `this connection would hold ${conn.bindings + channel.bindings.length} postgres_changes bindings`, 'maxBindingsPerConnection', l);
    }
    if (conn.filterBytes + filterBytes > l.maxFilterBytesPerConnection) {
      throw overBudget(RealtimeErrorCode.SubscriptionBudget, `this connection would hold ${conn.filterBytes + filterBytes} bytes of filters`, 'maxFilterBytesPerConnection', l);
    }
    const principal = this.principals.get(principalKey(channel.claims, conn.address));
    if (principal) {
      if (!principal.joins.take()) throw overBudget(RealtimeErrorCode.TooManyJoins, `${principal.label} joins more than ${l.maxJoinsPerSecondPerUser} channels per second; retry shortly`, 'maxJoinsPerSecondPerUser', l);
      if (principal.channels >= l.maxChannelsPerUser) throw overBudget(RealtimeErrorCode.TooManyChannels, `${principal.label} already has ${principal.channels} channels`, 'maxChannelsPerUser', l);
      if (principal.filterBytes + filterBytes > l.maxFilterBytesPerUser) {
        throw overBudget(RealtimeErrorCode.SubscriptionBudget, `${principal.label} would hold ${principal.filterBytes + filterBytes} bytes of filters`, 'maxFilterBytesPerUser', l);
      }
      // A user's sockets are counted on their first join with that user's token.
      if (principal !== conn.upgradePrincipal && !conn.users.has(principal)) {
        this.principals.checkSocket(principal, socketLimitOf(principal));
        this.principals.addSocket(principal);
        conn.users.add(principal);
      }
      principal.channels++;
      principal.filterBytes += filterBytes;
    }
    channel.principal = principal;
    channel.filterBytes = filterBytes;
    channel.chargedBindings = channel.bindings.length;
    conn.bindings += channel.bindings.length;
    conn.filterBytes += filterBytes;
  }

  private release(channel: Channel): void {
    const conn = channel.socket;
    conn.bindings -= channel.chargedBindings;
    conn.filterBytes -= channel.filterBytes;
    const p = channel.principal;
    if (p) {
      p.channels--;
      p.filterBytes -= channel.filterBytes;
    }
    channel.principal = undefined;
    channel.chargedBindings = 0;
    channel.filterBytes = 0;
  }

  /** A session this channel is pinned to was deleted or moved while its access was checked: refuse, the client retries. */
  private checkNotRevoked(channel: Channel, mark: number): void {
    const revoked = this.changes.revocations.revokedSince(mark, channel.pins);
    if (revoked !== undefined) {
      throw new RealtimeError(RealtimeErrorCode.AccessChanged, `session ${revoked} was deleted or changed owner while this join was checked; join again`, { status: 409 });
    }
  }

  private verify(token: string): JwtClaims {
    try {
      return verifyJwt(token, this.opts.jwtSecret);
    } catch (err) {
      if (err instanceof AuthError) throw new RealtimeError(RealtimeErrorCode.InvalidJWTToken, err.message, { status: 401 });
      throw err;
    }
  }

  /** Registers everything, then answers ok: synchronous, so nothing can slip between the check and the reply. */
  private activate(channel: Channel, ref: string | null): void {
    const hasChanges = channel.bindings.length > 0;
    if (hasChanges && !this.opts.feedIsUp()) {
      throw new RealtimeError(
        RealtimeErrorCode.PostgresChangesUnavailable,
        'the server is reconnecting to PostgreSQL; the client retries the join automatically',
        { status: 503 },
      );
    }
    channel.state = ChannelState.Joined;
    this.rooms.add(channel);
    this.changes.subscribe(channel);
    this.expiries.add(channel, channel.claims.exp);
    channel.reply(ref, 'ok', { postgres_changes: channel.bindings.map((b) => ({ ...b.raw, id: b.id })) });
    if (hasChanges) channel.system('postgres_changes', 'ok', 'Subscribed to PostgreSQL');
    this.presence.joined(channel);
  }

  leave(channel: Channel): void {
    this.end(channel, { kind: 'silent' });
  }

  dropped(conn: Connection): void {
    for (const channel of [...conn.channels.values()]) this.end(channel, { kind: 'silent' });
    for (const user of conn.users) this.principals.removeSocket(user);
    conn.users.clear();
    this.principals.removeSocket(conn.upgradePrincipal);
  }

  /** Unregisters a channel, gives back its budgets and tells its client how it ended (system message, then phx_close or phx_error). */
  private end(channel: Channel, ending: Ending): void {
    if (channel.state === ChannelState.Closed) return;
    const wasJoined = channel.state === ChannelState.Joined;
    channel.state = ChannelState.Closed;
    this.expiries.delete(channel, channel.claims.exp);
    const { channels } = channel.socket;
    if (channels.get(channel.topic) === channel) channels.delete(channel.topic);
    this.changes.unsubscribe(channel);
    this.rooms.remove(channel);
    this.presence.left(channel);
    this.release(channel);
    if (!wasJoined) return;
    if (ending.kind === 'close') {
      channel.system('system', 'error', ending.message);
      channel.end(ChannelEvent.Close);
    } else if (ending.kind === 'error') {
      channel.system(ending.extension, 'error', ending.message);
      channel.end(ChannelEvent.Error, { reason: ending.message });
    }
  }

  // ---- tokens ----

  private expire(channel: Channel): void {
    const ago = Math.max(0, Math.round(Date.now() / 1000 - channel.claims.exp));
    this.end(channel, { kind: 'close', message: `Token has expired ${ago} seconds ago` });
  }

  /** access_token: verify, re-check access under the new claims, then switch; any failure closes the channel. */
  async refreshToken(channel: Channel, token: string | null): Promise<void> {
    // As on Supabase: no token, the same token, or a publishable key change nothing.
    if (token === null || token.startsWith('sb_')) return;
    let verified: JwtClaims | unknown;
    try {
      verified = this.verify(token);
    } catch (err) {
      verified = err;
    }
    // verifyJwt hands out one frozen claims object per token, so the same object means the same token.
    if (verified === channel.claims) return;
    const seq = ++channel.authSeq;
    try {
      if (verified instanceof Error) throw verified;
      const claims = verified as JwtClaims;
      const policies = await authorizeChannel(this.opts.db, claims, channel.bindings, channel.isPrivate ? channel.subTopic : undefined);
      if (seq !== channel.authSeq || channel.state !== ChannelState.Joined) return;
      this.expiries.delete(channel, channel.claims.exp);
      channel.claims = claims;
      channel.policies = policies;
      this.expiries.add(channel, claims.exp);
    } catch (err) {
      if (seq !== channel.authSeq || channel.state !== ChannelState.Joined) return;
      const e = toRealtimeError(err);
      if (e.code === RealtimeErrorCode.Internal) this.opts.logger.error({ err }, 'access token check failed');
      this.end(channel, { kind: 'close', message: `${e.reason}; the channel was closed` });
    }
  }

  // ---- what joined channels do ----

  /** Delivers committed changes in order. */
  deliverChanges(changes: Change[]): void {
    for (const change of changes) this.opts.metrics.changeCaptured(change.table, change.type);
    this.changes.deliver(changes);
  }

  /** The change feed went down: changes may be missed, so every postgres_changes channel is errored. */
  feedStateChanged(change: FeedStateChange): void {
    if (change.newState === FeedState.Down) this.changes.feedDown(change.reason);
    if (change.oldState === FeedState.Down && change.newState === FeedState.Up) this.opts.metrics.feedReconnected();
  }

  /** A broadcast another server process relayed: to this process's members of the room. */
  deliverBroadcast(topic: string, isPrivate: boolean, content: BroadcastContent): void {
    fanOutBroadcast(this.rooms.members(roomKey(topic, isPrivate)), topic, content);
  }

  /**
   * Broadcast from Database: rows committed to realtime.messages, to the topic's members (private rows to private
   * channels, others to public ones), each with `meta.id` as Supabase sends it. A payload over maxPayloadBytes is
   * not delivered (logged).
   */
  deliverMessages(messages: DbMessage[]): void {
    for (const m of messages) {
      const body = Buffer.from(m.payload, 'utf8');
      if (body.length > this.opts.limits.maxPayloadBytes) {
        this.opts.logger.warn({ topic: m.topic, bytes: body.length, limit: this.opts.limits.maxPayloadBytes }, 'realtime.messages row not broadcast: its payload exceeds maxPayloadBytes');
        continue;
      }
      const topic = TOPIC_PREFIX + m.topic;
      fanOutBroadcast(this.rooms.members(roomKey(topic, m.private)), topic, { event: m.event, encoding: PayloadEncoding.Json, body, id: m.id });
    }
  }

  broadcast(channel: Channel, msg: Msg<'broadcast'>): void {
    void this.broadcaster.fromChannel(channel, msg);
  }

  track(channel: Channel, msg: Msg<'presence_track'>): void {
    void this.presence.track(channel, msg);
  }

  untrack(channel: Channel, msg: Msg<'presence_untrack'>): void {
    this.presence.untrack(channel, msg.ref);
  }
}
