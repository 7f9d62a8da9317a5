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

/** One tracked meta: of a channel of this process (`holder` = its uid) or of another node's (`node/uid`). */
interface Held {
  key: string;
  meta: Meta;
  bytes: number;
}

interface Room {
  /** presence key -> holder -> meta */
  keys: Map<string, Map<string, Meta>>;
  held: Map<string, Held>;
  bytes: number;
}

/** A meta as other processes hear of it (cluster.ts): which room, which holder, under which key. */
export interface SharedEntry {
  room: string;
  holder: string;
  key: string;
  meta: Meta;
}

/**
 * Metas by room, with each room's entry count and bytes (internal): those this process's channels track, and
 * those other server processes on the database announced (cluster.ts), so every process shows one state.
 */
export class PresenceRegistry {
  private readonly rooms = new Map<string, Room>();
  private readonly refPrefix = randomBytes(6).toString('base64url');
  private refSeq = 0;

  /** Entries and bytes a room holds now. */
  usage(room: string): { entries: number; bytes: number } {
    const r = this.rooms.get(room);
    return { entries: r?.held.size ?? 0, bytes: r?.bytes ?? 0 };
  }

  /** Tracks (or re-tracks) a local holder's payload under `key`, with a new phx_ref. Returns the diff. */
  track(room: string, key: string, holder: string, payload: Record<string, unknown>, bytes: number): PresenceDiff {
    const meta: Meta = { ...payload, phx_ref: `${this.refPrefix}${++this.refSeq}` };
    const previous = this.rooms.get(room)?.held.get(holder);
    if (previous) meta.phx_ref_prev = previous.meta.phx_ref;
    return this.put(room, key, holder, meta, bytes)!;
  }

  /** Sets a holder's meta as it is (another node's, with its phx_ref); undefined when it holds that meta already. */
  put(room: string, key: string, holder: string, meta: Meta, bytes: number): PresenceDiff | undefined {
    let r = this.rooms.get(room);
    if (!r) this.rooms.set(room, (r = { keys: new Map(), held: new Map(), bytes: 0 }));
    const previous = r.held.get(holder);
    if (previous?.meta.phx_ref === meta.phx_ref && previous.key === key) return undefined;
    const leaves: PresenceState = {};
    if (previous) {
      this.drop(r, room, holder, previous);
      leaves[previous.key] = { metas: [previous.meta] };
    }
    let metas = r.keys.get(key);
    if (!metas) r.keys.set(key, (metas = new Map()));
    metas.set(holder, meta);
    r.held.set(holder, { key, meta, bytes });
    r.bytes += bytes;
    if (!this.rooms.has(room)) this.rooms.set(room, r);
    return { joins: { [key]: { metas: [meta] } }, leaves };
  }

  /** Removes a holder's meta; undefined when it had none. */
  untrack(room: string, holder: string): PresenceDiff | undefined {
    const r = this.rooms.get(room);
    const previous = r?.held.get(holder);
    if (!r || !previous) return undefined;
    this.drop(r, room, holder, previous);
    return { joins: {}, leaves: { [previous.key]: { metas: [previous.meta] } } };
  }

  private drop(r: Room, room: string, holder: string, held: Held): void {
    const metas = r.keys.get(held.key)!;
    metas.delete(holder);
    if (metas.size === 0) r.keys.delete(held.key);
    r.held.delete(holder);
    r.bytes -= held.bytes;
    if (r.held.size === 0) this.rooms.delete(room);
  }

  /** Every entry whose holder `matches`, e.g. all of this process's or all of one node's. */
  entries(matches: (holder: string) => boolean): SharedEntry[] {
    const out: SharedEntry[] = [];
    for (const [room, r] of this.rooms) for (const [holder, h] of r.held) if (matches(holder)) out.push({ room, holder, key: h.key, meta: h.meta });
    return out;
  }

  state(room: string): PresenceState {
    const state: PresenceState = {};
    for (const [key, metas] of this.rooms.get(room)?.keys ?? []) state[key] = { metas: [...metas.values()] };
    return state;
  }
}

/** Where this process's presence changes go so the other server processes hear of them (cluster.ts). */
export interface PresenceShare {
  tracked(entry: SharedEntry): void;
  untracked(room: string, holder: string): void;
}

type Track = Extract<ClientMessage, { type: 'presence_track' }>;

/** May this channel receive presence? Public channels: yes; private ones: by the presence read policy. */
const receivesPresence = (c: Channel) => c.state === ChannelState.Joined && c.presenceEnabled && (c.policies?.read.presence ?? true);

export class Presence {
  private readonly registry = new PresenceRegistry();

  constructor(
    private readonly rooms: Rooms,
    private readonly db: Database,
    private readonly limits: RealtimeLimits,
    private readonly share?: PresenceShare,
  ) {}

  /** The holder id of a channel of this process (another node's are `node/uid`). */
  static holderOf(channel: Channel): string {
    return String(channel.uid);
  }

  /** This process's entries (for cluster.ts to announce at its start or after a lost stream). */
  localEntries(): SharedEntry[] {
    return this.registry.entries((holder) => !holder.includes('/'));
  }

  /** Another node's entries, all of them (`node` undefined) or of one node. */
  remoteEntries(node?: string): SharedEntry[] {
    return this.registry.entries((holder) => (node === undefined ? holder.includes('/') : holder.startsWith(`${node}/`)));
  }

  /** Another node's meta, as it announced it (holder `node/uid`); announced to this process's members of the room. */
  putRemote(entry: SharedEntry): void {
    const diff = this.registry.put(entry.room, entry.key, entry.holder, entry.meta, Buffer.byteLength(JSON.stringify(entry.meta)));
    if (diff) this.announce(entry.room, diff);
  }

  /** Another node's meta is gone; announced to this process's members of the room. */
  removeRemote(room: string, holder: string): void {
    const diff = this.registry.untrack(room, holder);
    if (diff) this.announce(room, diff);
  }

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
    const holder = Presence.holderOf(channel);
    const diff = this.registry.track(channel.roomKey, channel.presenceKey, holder, msg.meta, msg.bytes);
    channel.socket.presenceBytes += msg.bytes - channel.presenceBytes;
    channel.presenceBytes = msg.bytes;
    channel.reply(msg.ref, 'ok', {});
    if (!channel.presenceEnabled) {
      // Tracking turns presence on: this client never got the join-time state.
      channel.presenceEnabled = true;
      this.joined(channel);
    }
    this.announce(channel.roomKey, diff);
    const key = Object.keys(diff.joins)[0]!;
    this.share?.tracked({ room: channel.roomKey, holder, key, meta: diff.joins[key]!.metas[0]! });
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
    const holder = Presence.holderOf(channel);
    const diff = this.registry.untrack(channel.roomKey, holder);
    channel.socket.presenceBytes -= channel.presenceBytes;
    channel.presenceBytes = 0;
    if (!diff) return;
    this.announce(channel.roomKey, diff);
    this.share?.untracked(channel.roomKey, holder);
  }

  /**
   * A re-track goes out as two diffs, the leave first: realtime-js (2.109) strips `phx_ref` from the metas a key
   * still holds while it handles a diff, so an old meta sent as a leave together with its replacement would stay.
   */
  private announce(room: string, diff: PresenceDiff): void {
    if (Object.keys(diff.joins).length > 0 && Object.keys(diff.leaves).length > 0) {
      this.announce(room, { joins: {}, leaves: diff.leaves });
      this.announce(room, { joins: diff.joins, leaves: {} });
      return;
    }
    const json = JSON.stringify(diff);
    const frames = new Map<Vsn, Buffer>();
    for (const member of this.rooms.members(room)) {
      if (!receivesPresence(member)) continue;
      const vsn = member.socket.vsn;
      let frame = frames.get(vsn);
      if (!frame) frames.set(vsn, (frame = Buffer.from(encodeRaw(vsn, { joinRef: null, ref: null, topic: member.topic }, ChannelEvent.PresenceDiff, json))));
      member.socket.send(frame, FrameKind.Ephemeral, false, member.topic);
    }
  }
}
