/**
 * Presence (internal, per server process): per room, key -> one meta per tracking channel, each with a
 * `phx_ref`, in the shape Phoenix.Presence sends (`presence_state`, `presence_diff`); and the budgets that keep
 * one client from filling a room or the server's memory: payload size, bytes per connection, entries and bytes per
 * topic, tracks per second per connection. On a private channel, tracking needs the presence write policy and
 * receiving presence the presence read policy (policies.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { RealtimeLimits } from '../limits.js';
import { overBudget } from './budgets.js';
import { ChannelState, type Channel } from './channel.js';
import { FrameKind } from './connection.js';
import { ChannelEvent, type Vsn } from './constants.js';
import { RealtimeErrorCode, toRealtimeError } from './errors.js';
import type { ClientMessage } from './messages.js';
import { cannot, Extension, writeAllowed } from './policies.js';
import type { Rooms } from './rooms.js';
import { encodeRaw } from './serializer.js';

export type Meta = Record<string, unknown> & { phx_ref: string; phx_ref_prev?: string };
export type PresenceState = Record<string, { metas: Meta[] }>;

export interface PresenceDiff {
  joins: PresenceState;
  leaves: PresenceState;
}

interface Room {
  /** presence key -> channel uid -> meta */
  keys: Map<string, Map<number, Meta>>;
  entries: number;
  bytes: number;
}

/** Metas by room, with each room's entry count and bytes (internal). */
export class PresenceRegistry {
  private readonly rooms = new Map<string, Room>();
  private readonly refPrefix = randomBytes(6).toString('base64url');
  private refSeq = 0;

  /** Entries and bytes a room holds now. */
  usage(room: string): { entries: number; bytes: number } {
    const r = this.rooms.get(room);
    return { entries: r?.entries ?? 0, bytes: r?.bytes ?? 0 };
  }

  /** Tracks (or re-tracks) a channel's meta under `key`; `bytes` is its size (replacing `previousBytes`). Returns the diff. */
  track(room: string, key: string, uid: number, payload: Record<string, unknown>, bytes: number, previousBytes: number): PresenceDiff {
    let r = this.rooms.get(room);
    if (!r) this.rooms.set(room, (r = { keys: new Map(), entries: 0, bytes: 0 }));
    let metas = r.keys.get(key);
    if (!metas) r.keys.set(key, (metas = new Map()));
    const previous = metas.get(uid);
    const meta: Meta = { ...payload, phx_ref: `${this.refPrefix}${++this.refSeq}` };
    if (previous) meta.phx_ref_prev = previous.phx_ref;
    else r.entries++;
    r.bytes += bytes - previousBytes;
    metas.set(uid, meta);
    return { joins: { [key]: { metas: [meta] } }, leaves: previous ? { [key]: { metas: [previous] } } : {} };
  }

  /** Removes a channel's meta (of `bytes`); undefined when it had none. */
  untrack(room: string, key: string, uid: number, bytes: number): PresenceDiff | undefined {
    const r = this.rooms.get(room);
    const metas = r?.keys.get(key);
    const previous = metas?.get(uid);
    if (!r || !metas || !previous) return undefined;
    metas.delete(uid);
    r.entries--;
    r.bytes -= bytes;
    if (metas.size === 0) r.keys.delete(key);
    if (r.keys.size === 0) this.rooms.delete(room);
    return { joins: {}, leaves: { [key]: { metas: [previous] } } };
  }

  state(room: string): PresenceState {
    const state: PresenceState = {};
    for (const [key, metas] of this.rooms.get(room)?.keys ?? []) state[key] = { metas: [...metas.values()] };
    return state;
  }
}

type Track = Extract<ClientMessage, { type: 'presence_track' }>;

/** May this channel receive presence? Public channels: yes; private ones: by the presence read policy. */
const receivesPresence = (c: Channel) => c.state === ChannelState.Joined && c.presenceEnabled && (c.policies?.read.presence ?? true);

export class Presence {
  private readonly registry = new PresenceRegistry();

  constructor(private readonly rooms: Rooms, private readonly db: Database, private readonly limits: RealtimeLimits) {}

  /** The join-time `presence_state`, when the channel asked for presence and may receive it. */
  joined(channel: Channel): void {
    if (receivesPresence(channel)) channel.push(ChannelEvent.PresenceState, this.registry.state(channel.roomKey));
  }

  /** The channel is going: its meta leaves (and is announced). */
  left(channel: Channel): void {
    this.remove(channel);
  }

  async track(channel: Channel, msg: Track): Promise<void> {
    try {
      if (!channel.socket.presenceTracks.take()) {
        throw overBudget(RealtimeErrorCode.TooManyPresenceTracks, 'too many presence tracks per second on this connection', 'maxPresenceTracksPerSecond', this.limits);
      }
      this.checkTrack(channel, msg);
      if (channel.policies && !(await writeAllowed(this.db, channel.claims, channel.subTopic, channel.policies, Extension.Presence))) {
        throw cannot('write to', channel.subTopic);
      }
      if (channel.state !== ChannelState.Joined) return;
      this.checkTrack(channel, msg); // budgets again: others may have tracked while the policy was checked
    } catch (err) {
      channel.reply(msg.ref, 'error', { reason: toRealtimeError(err).reason });
      return;
    }
    const diff = this.registry.track(channel.roomKey, channel.presenceKey, channel.uid, msg.meta, msg.bytes, channel.presenceBytes);
    channel.socket.presenceBytes += msg.bytes - channel.presenceBytes;
    channel.presenceBytes = msg.bytes;
    channel.reply(msg.ref, 'ok', {});
    if (!channel.presenceEnabled) {
      // Tracking turns presence on: this client never got the join-time state.
      channel.presenceEnabled = true;
      this.joined(channel);
    }
    this.announce(channel, diff);
  }

  untrack(channel: Channel, ref: string | null): void {
    this.remove(channel);
    channel.reply(ref, 'ok', {});
  }

  /** Throws a RealtimeError naming the first size budget this track would exceed (the rate is taken once, in track). */
  private checkTrack(channel: Channel, msg: Track): void {
    const l = this.limits;
    if (msg.bytes > l.maxPayloadBytes) {
      throw overBudget(RealtimeErrorCode.PayloadTooLarge, `presence payload of ${msg.bytes} bytes is too large`, 'maxPayloadBytes', l, 413);
    }
    const growth = msg.bytes - channel.presenceBytes;
    if (channel.socket.presenceBytes + growth > l.maxPresenceBytesPerConnection) {
      throw overBudget(RealtimeErrorCode.PresenceBudget, `this connection would track ${channel.socket.presenceBytes + growth} bytes of presence`, 'maxPresenceBytesPerConnection', l);
    }
    const room = this.registry.usage(channel.roomKey);
    const isNew = channel.presenceBytes === 0; // a tracked meta is at least `{}`
    if (isNew && room.entries >= l.maxPresenceEntriesPerTopic) {
      throw overBudget(RealtimeErrorCode.PresenceBudget, `topic ${channel.subTopic} already has ${room.entries} presence entries`, 'maxPresenceEntriesPerTopic', l);
    }
    if (room.bytes + growth > l.maxPresenceBytesPerTopic) {
      throw overBudget(RealtimeErrorCode.PresenceBudget, `topic ${channel.subTopic} would hold ${room.bytes + growth} bytes of presence`, 'maxPresenceBytesPerTopic', l);
    }
  }

  private remove(channel: Channel): void {
    const diff = this.registry.untrack(channel.roomKey, channel.presenceKey, channel.uid, channel.presenceBytes);
    channel.socket.presenceBytes -= channel.presenceBytes;
    channel.presenceBytes = 0;
    if (diff) this.announce(channel, diff);
  }

  /**
   * A re-track goes out as two diffs, the leave first: realtime-js (2.109) strips `phx_ref` from the metas a key
   * still holds while it handles a diff, so an old meta sent as a leave together with its replacement would stay.
   */
  private announce(from: Channel, diff: PresenceDiff): void {
    if (Object.keys(diff.joins).length > 0 && Object.keys(diff.leaves).length > 0) {
      this.announce(from, { joins: {}, leaves: diff.leaves });
      this.announce(from, { joins: diff.joins, leaves: {} });
      return;
    }
    const json = JSON.stringify(diff);
    const frames = new Map<Vsn, Buffer>();
    for (const member of this.rooms.members(from.roomKey)) {
      if (!receivesPresence(member)) continue;
      const vsn = member.socket.vsn;
      let frame = frames.get(vsn);
      if (!frame) frames.set(vsn, (frame = Buffer.from(encodeRaw(vsn, { joinRef: null, ref: null, topic: from.topic }, ChannelEvent.PresenceDiff, json))));
      member.socket.send(frame, FrameKind.Ephemeral, false, from.topic);
    }
  }
}
