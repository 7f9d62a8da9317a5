/**
 * postgres_changes delivery (internal): the subscription index, the fan-out of committed changes in commit order,
 * and what ends a subscription from the server's side: a revoked session (authorize.ts), a feed that went down,
 * a client too slow for its own changes. Each change frame is serialised once per topic and binding-id set and
 * sent to every matching socket.
 */
import type { Metrics } from '../metrics.js';
import { revokedSession, SessionRevocations } from './authorize.js';
import type { Catalog } from './catalog.js';
import { ChannelState, type Channel } from './channel.js';
import { changeDataJson, routingRow, type Change } from './changes.js';
import { FrameKind, Sent } from './connection.js';
import { ChangeType, ChannelEvent } from './constants.js';
import { RealtimeErrorCode } from './errors.js';
import { SubscriptionIndex } from './postgresChanges.js';
import { encodeRaw } from './serializer.js';

/** How the hub ends a channel the fan-out gives up on: a system error, then phx_error (the client rejoins). */
export type EndWithError = (channel: Channel, message: string) => void;

export class ChangeFanout {
  private readonly index = new SubscriptionIndex<Channel>();
  /** Channels with postgres_changes bindings. */
  private readonly channels = new Set<Channel>();
  /** Channels pinned to sessions (Channel.pins), with bindings or not: what a revocation looks through. */
  private readonly pinned = new Set<Channel>();
  readonly revocations = new SessionRevocations();

  constructor(private readonly catalog: Catalog, private readonly metrics: Metrics, private readonly endWithError: EndWithError) {}

  subscribe(channel: Channel): void {
    if (channel.pins.length > 0) this.pinned.add(channel);
    if (channel.bindings.length === 0) return;
    for (const binding of channel.bindings) {
      const sub = { channel, binding };
      channel.subscriptions.push(sub);
      this.index.add(sub);
    }
    this.channels.add(channel);
  }

  unsubscribe(channel: Channel): void {
    for (const sub of channel.subscriptions) this.index.remove(sub);
    channel.subscriptions = [];
    this.channels.delete(channel);
    this.pinned.delete(channel);
  }

  /**
   * Delivers one transaction's committed changes in order. A deleted session's channels end after its DELETE and
   * the DELETEs that follow it (in the WAL the rows a foreign key cascades to come right after the session's
   * row), before any other change: so its owner sees the cascade, and never what the transaction writes next
   * (the id re-created by another user, say).
   */
  deliver(changes: Change[]): void {
    const deleted: string[] = [];
    for (const change of changes) {
      if (change.type !== ChangeType.Delete) this.revokeAll(deleted);
      const revoked = revokedSession(change);
      if (revoked) this.revocations.revoke(revoked.sessionId);
      if (revoked?.when === 'before') this.revoke(revoked.sessionId);
      this.send(change);
      if (revoked?.when === 'after') deleted.push(revoked.sessionId);
    }
    this.revokeAll(deleted);
  }

  private revokeAll(sessionIds: string[]): void {
    for (const id of sessionIds.splice(0)) this.revoke(id);
  }

  private send(change: Change): void {
    if (change.type === ChangeType.Update && !change.record) return; // nothing to show (changes.ts)
    const matches = this.index.match(change.table, change.type, routingRow(change));
    if (matches.size === 0) return;
    this.metrics.changeSent(Date.now() - Date.parse(change.commitTimestamp));
    const data = changeDataJson(change, this.catalog.get(change.table)!);
    const frames = new Map<string, Buffer>();
    for (const [channel, ids] of matches) {
      const key = `${channel.socket.vsn}|${channel.topic}|${ids.join(',')}`;
      let frame = frames.get(key);
      if (!frame) {
        const payload = `{"ids":[${ids.join(',')}],"data":${data}}`;
        frame = Buffer.from(encodeRaw(channel.socket.vsn, { joinRef: null, ref: null, topic: channel.topic }, ChannelEvent.PostgresChanges, payload));
        frames.set(key, frame);
      }
      if (channel.socket.send(frame, FrameKind.Changes) === Sent.Lagging) {
        this.metrics.frameDropped('changes');
        this.endWithError(channel, `${RealtimeErrorCode.ChangesLagging}: this client reads too slowly to keep up with its changes; rejoin and catch up`);
      }
    }
  }

  /** A session was deleted or moved: channels of other roles pinned to it end, so their clients rejoin and are re-checked. */
  private revoke(sessionId: string): void {
    const id = sessionId.toLowerCase();
    for (const channel of [...this.pinned]) {
      if (channel.state !== ChannelState.Joined || !channel.pins.includes(id)) continue;
      this.endWithError(channel, `${RealtimeErrorCode.AccessChanged}: session ${sessionId} was deleted or changed owner; rejoin to check access again`);
    }
  }

  /** The change feed went down: changes may be missed, so every postgres_changes channel is errored. */
  feedDown(reason: string): void {
    const message = `${RealtimeErrorCode.PostgresChangesUnavailable}: lost the connection to PostgreSQL (${reason}); changes may have been missed: rejoin and catch up`;
    for (const channel of [...this.channels]) this.endWithError(channel, message);
  }
}
