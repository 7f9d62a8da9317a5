/**
 * The hub (internal): joins and leaves, token refresh, the subscription index, change fan-out, broadcast and
 * presence. It holds every channel of this server process.
 *
 * SUBSCRIBED means live: a postgres_changes join is answered ok only after its subscriptions are in the index
 * and while this process's LISTEN is active, so every commit after the client sees SUBSCRIBED is delivered.
 */
import { AuthError, verifyJwt, type JwtClaims } from '../auth/jwt.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { authorizeBindings, checkPrivate, ownerChangedSession, pinsSession } from './authorize.js';
import { fanOutBroadcast } from './broadcast.js';
import type { Catalog } from './catalog.js';
import { Channel, ChannelState } from './channel.js';
import { FeedState, type FeedStateChange } from './changeFeed.js';
import { changeDataJson, routingRow, type Change } from './changes.js';
import type { Connection, ConnectionHandlers } from './connection.js';
import { ChannelEvent, TOPIC_PREFIX, type Vsn } from './constants.js';
import { Expiries } from './expiries.js';
import { RealtimeError, RealtimeErrorCode, toRealtimeError } from './errors.js';
import type { RealtimeLimits } from './limits.js';
import type { ClientMessage } from './messages.js';
import { parseBindings, SubscriptionIndex } from './postgresChanges.js';
import { PresenceRegistry, type PresenceDiff } from './presence.js';
import { Rooms } from './rooms.js';
import { encodeRaw } from './serializer.js';

export interface HubOptions {
  db: Database;
  catalog: Catalog;
  jwtSecret: string;
  limits: RealtimeLimits;
  logger: Logger;
  /** Whether this process is LISTENing (the change feed is up). */
  feedIsUp(): boolean;
}

/** realtime-js can send its first join before it has the user's token; say so, it retries with the token. */
function withNoTokenHint(err: unknown): unknown {
  if (!(err instanceof RealtimeError) || err.code !== RealtimeErrorCode.Unauthorized) return err;
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
  private readonly index = new SubscriptionIndex<Channel>();
  private readonly presence = new PresenceRegistry();
  /** Channels with postgres_changes bindings. */
  private readonly pgChannels = new Set<Channel>();
  /** Joined channels by the second their token expires. */
  private readonly expiries = new Expiries<Channel>((channel) => this.expire(channel));

  constructor(private readonly opts: HubOptions) {}

  /** Stops the expiry timer (the server is closing). */
  close(): void {
    this.expiries.stop();
  }

  // ---- joining and leaving ----

  async join(conn: Connection, msg: Msg<'join'>): Promise<void> {
    const { topic, ref, joinRef, join } = msg;
    let channel: Channel | undefined;
    try {
      this.checkJoin(conn, topic);
      const previous = conn.channels.get(topic);
      if (previous) this.end(previous, { kind: 'silent' });
      channel = new Channel(conn, topic, joinRef, join, this.verify(join.accessToken ?? conn.apikey));
      conn.channels.set(topic, channel);
      checkPrivate(join.private, channel.claims);
      channel.bindings = parseBindings(join.postgresChanges, this.opts.catalog, this.opts.limits.maxBindingsPerChannel);
      await authorizeBindings(this.opts.db, channel.claims, channel.bindings).catch((err: unknown) => {
        throw join.accessToken === undefined ? withNoTokenHint(err) : err;
      });
      // A leave, a newer join of the topic, or the socket closing while we checked: that answer is moot.
      if (channel.state !== ChannelState.Joining || !conn.isOpen) return;
      this.activate(channel, ref);
    } catch (err) {
      if (channel && channel.state !== ChannelState.Joining) return;
      if (channel && conn.channels.get(topic) === channel) conn.channels.delete(topic);
      if (channel) channel.state = ChannelState.Closed;
      const e = toRealtimeError(err);
      if (e.code === RealtimeErrorCode.Internal) this.opts.logger.error({ err, topic }, 'join failed');
      conn.reply(msg, 'error', { reason: e.reason });
    }
  }

  private checkJoin(conn: Connection, topic: string): void {
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
    for (const binding of channel.bindings) {
      const sub = { channel, binding };
      channel.subscriptions.push(sub);
      this.index.add(sub);
    }
    if (hasChanges) this.pgChannels.add(channel);
    this.expiries.add(channel, channel.claims.exp);
    channel.reply(ref, 'ok', { postgres_changes: channel.bindings.map((b) => ({ ...b.raw, id: b.id })) });
    if (hasChanges) channel.system('postgres_changes', 'ok', 'Subscribed to PostgreSQL');
    if (channel.presenceEnabled) channel.push(ChannelEvent.PresenceState, this.presence.state(channel.roomKey));
  }

  leave(channel: Channel): void {
    this.end(channel, { kind: 'silent' });
  }

  dropped(conn: Connection): void {
    for (const channel of [...conn.channels.values()]) this.end(channel, { kind: 'silent' });
  }

  /** Unregisters a channel and tells its client how it ended (system message, then phx_close or phx_error). */
  private end(channel: Channel, ending: Ending): void {
    if (channel.state === ChannelState.Closed) return;
    channel.state = ChannelState.Closed;
    this.expiries.delete(channel, channel.claims.exp);
    const { channels } = channel.socket;
    if (channels.get(channel.topic) === channel) channels.delete(channel.topic);
    for (const sub of channel.subscriptions) this.index.remove(sub);
    channel.subscriptions = [];
    this.pgChannels.delete(channel);
    this.rooms.remove(channel);
    const diff = this.presence.untrack(channel.roomKey, channel.presenceKey, channel.uid);
    if (diff) this.sendPresenceDiff(channel, diff);
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
      checkPrivate(channel.isPrivate, claims);
      await authorizeBindings(this.opts.db, claims, channel.bindings);
      if (seq !== channel.authSeq || channel.state !== ChannelState.Joined) return;
      this.expiries.delete(channel, channel.claims.exp);
      channel.claims = claims;
      this.expiries.add(channel, claims.exp);
    } catch (err) {
      if (seq !== channel.authSeq || channel.state !== ChannelState.Joined) return;
      const e = toRealtimeError(err);
      if (e.code === RealtimeErrorCode.Internal) this.opts.logger.error({ err }, 'access token check failed');
      this.end(channel, { kind: 'close', message: `${e.reason}; the channel was closed` });
    }
  }

  // ---- postgres_changes ----

  /** Delivers committed changes in order; each frame is serialised once per topic and binding-id set. */
  deliverChanges(changes: Change[]): void {
    for (const change of changes) {
      const moved = ownerChangedSession(change);
      if (moved) this.revokeSession(moved);
      const matches = this.index.match(change.table, change.type, routingRow(change));
      if (matches.size === 0) continue;
      const data = changeDataJson(change, this.opts.catalog.get(change.table)!);
      const frames = new Map<string, Buffer>();
      for (const [channel, ids] of matches) {
        const key = `${channel.socket.vsn}|${channel.topic}|${ids.join(',')}`;
        let frame = frames.get(key);
        if (!frame) {
          const payload = `{"ids":[${ids.join(',')}],"data":${data}}`;
          frame = Buffer.from(encodeRaw(channel.socket.vsn, { joinRef: null, ref: null, topic: channel.topic }, ChannelEvent.PostgresChanges, payload));
          frames.set(key, frame);
        }
        channel.socket.send(frame);
      }
    }
  }

  /** A session changed owner: channels of other roles pinned to it are errored, so their clients rejoin and are re-checked. */
  private revokeSession(sessionId: string): void {
    for (const channel of [...this.pgChannels]) {
      if (channel.isServiceRole || !channel.bindings.some((b) => pinsSession(b, sessionId))) continue;
      this.end(channel, {
        kind: 'error',
        extension: 'postgres_changes',
        message: `${RealtimeErrorCode.AccessChanged}: session ${sessionId} changed owner; rejoin to check access again`,
      });
    }
  }

  /** The LISTEN connection went down: changes may be missed, so every postgres_changes channel is errored. */
  feedStateChanged(change: FeedStateChange): void {
    if (change.newState !== FeedState.Down) return;
    const message = `${RealtimeErrorCode.PostgresChangesUnavailable}: lost the connection to PostgreSQL (${change.reason}); changes may have been missed: rejoin and catch up`;
    for (const channel of [...this.pgChannels]) this.end(channel, { kind: 'error', extension: 'postgres_changes', message });
  }

  // ---- broadcast and presence ----

  broadcast(channel: Channel, msg: Msg<'broadcast'>): void {
    const max = this.opts.limits.maxPayloadBytes;
    if (msg.content.body.length > max) {
      const reason = `${RealtimeErrorCode.PayloadTooLarge}: broadcast payload of ${msg.content.body.length} bytes exceeds the limit of ${max} bytes`;
      if (msg.ref !== null) channel.reply(msg.ref, 'error', { reason, error: 'payload_size_exceeded' });
      return;
    }
    fanOutBroadcast(this.rooms.members(channel.roomKey), channel.topic, msg.content, channel);
    if (channel.ack && msg.ref !== null) channel.reply(msg.ref, 'ok', {});
  }

  track(channel: Channel, msg: Msg<'presence_track'>): void {
    const max = this.opts.limits.maxPayloadBytes;
    if (msg.bytes > max) {
      channel.reply(msg.ref, 'error', { reason: `${RealtimeErrorCode.PayloadTooLarge}: presence payload of ${msg.bytes} bytes exceeds the limit of ${max} bytes` });
      return;
    }
    const diff = this.presence.track(channel.roomKey, channel.presenceKey, channel.uid, msg.meta);
    channel.reply(msg.ref, 'ok', {});
    if (!channel.presenceEnabled) {
      // Tracking turns presence on: this client never got the join-time state.
      channel.presenceEnabled = true;
      channel.push(ChannelEvent.PresenceState, this.presence.state(channel.roomKey));
    }
    this.sendPresenceDiff(channel, diff);
  }

  untrack(channel: Channel, msg: Msg<'presence_untrack'>): void {
    const diff = this.presence.untrack(channel.roomKey, channel.presenceKey, channel.uid);
    channel.reply(msg.ref, 'ok', {});
    if (diff) this.sendPresenceDiff(channel, diff);
  }

  /**
   * A re-track goes out as two diffs, the leave first: realtime-js (2.109) strips `phx_ref` from the metas a key
   * still holds while it handles a diff, so an old meta sent as a leave together with its replacement would stay.
   */
  private sendPresenceDiff(from: Channel, diff: PresenceDiff): void {
    if (Object.keys(diff.joins).length > 0 && Object.keys(diff.leaves).length > 0) {
      this.sendPresenceDiff(from, { joins: {}, leaves: diff.leaves });
      this.sendPresenceDiff(from, { joins: diff.joins, leaves: {} });
      return;
    }
    const json = JSON.stringify(diff);
    const frames = new Map<Vsn, Buffer>();
    for (const member of this.rooms.members(from.roomKey)) {
      if (member.state !== ChannelState.Joined || !member.presenceEnabled) continue;
      const vsn = member.socket.vsn;
      let frame = frames.get(vsn);
      if (!frame) frames.set(vsn, (frame = Buffer.from(encodeRaw(vsn, { joinRef: null, ref: null, topic: from.topic }, ChannelEvent.PresenceDiff, json))));
      member.socket.send(frame);
    }
  }
}
