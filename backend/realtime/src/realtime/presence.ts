/**
 * Presence state per room (internal, per server process): key -> one meta per tracking channel, each with a
 * `phx_ref`, in the shape Phoenix.Presence sends (`presence_state`, `presence_diff`).
 */
import { randomBytes } from 'node:crypto';

export type Meta = Record<string, unknown> & { phx_ref: string; phx_ref_prev?: string };
export type PresenceState = Record<string, { metas: Meta[] }>;

export interface PresenceDiff {
  joins: PresenceState;
  leaves: PresenceState;
}

export class PresenceRegistry {
  /** room -> presence key -> channel uid -> meta */
  private readonly rooms = new Map<string, Map<string, Map<number, Meta>>>();
  private readonly refPrefix = randomBytes(6).toString('base64url');
  private refSeq = 0;

  /** Tracks (or re-tracks) a channel's meta under `key`; returns the diff to broadcast. */
  track(room: string, key: string, uid: number, payload: Record<string, unknown>): PresenceDiff {
    let keys = this.rooms.get(room);
    if (!keys) this.rooms.set(room, (keys = new Map()));
    let metas = keys.get(key);
    if (!metas) keys.set(key, (metas = new Map()));
    const previous = metas.get(uid);
    const meta: Meta = { ...payload, phx_ref: `${this.refPrefix}${++this.refSeq}` };
    if (previous) meta.phx_ref_prev = previous.phx_ref;
    metas.set(uid, meta);
    return { joins: { [key]: { metas: [meta] } }, leaves: previous ? { [key]: { metas: [previous] } } : {} };
  }

  /** Removes a channel's meta; undefined when it had none. */
  untrack(room: string, key: string, uid: number): PresenceDiff | undefined {
    const keys = this.rooms.get(room);
    const metas = keys?.get(key);
    const previous = metas?.get(uid);
    if (!keys || !metas || !previous) return undefined;
    metas.delete(uid);
    if (metas.size === 0) keys.delete(key);
    if (keys.size === 0) this.rooms.delete(room);
    return { joins: {}, leaves: { [key]: { metas: [previous] } } };
  }

  state(room: string): PresenceState {
    const state: PresenceState = {};
    for (const [key, metas] of this.rooms.get(room) ?? []) state[key] = { metas: [...metas.values()] };
    return state;
  }
}
