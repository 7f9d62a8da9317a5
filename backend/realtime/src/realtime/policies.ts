/**
 * Private channels (internal), authorized as hosted Supabase does it: by Row Level Security policies on
 * `realtime.messages` (20261203100003_realtime.sql), with `realtime.topic()` naming the channel (its topic without `realtime:`).
 *
 * - Receive (join): in one transaction that is always rolled back, a probe row per extension (broadcast,
 *   presence) is inserted as the server, then, as the caller (role, `request.jwt.claims`, `realtime.topic`),
 *   the rows it can SELECT say what it may receive. The join needs either. (mobvibe.realtime_join_check,
 *   20261204100001_realtime_join_check.sql, runs it, with the check of the join's bindings: authorize.ts.)
 * - Send: as the caller, an INSERT of a row for that extension; refused by RLS (42501) means it may not send.
 *   Checked on first use and remembered for the channel until its token changes.
 * - service_role bypasses RLS here as on Supabase (BYPASSRLS): it may do everything without a check.
 */
import pg from 'pg';
import type { JwtClaims } from '../auth/jwt.js';
import { claimsSettings, type Database } from '../db/database.js';
import { RealtimeError, RealtimeErrorCode } from './errors.js';

export const Extension = { Broadcast: 'broadcast', Presence: 'presence' } as const;
export type Extension = (typeof Extension)[keyof typeof Extension];

/** What a caller may do on one private topic; `write` entries stay undefined until first checked. */
export interface ChannelPolicies {
  read: Record<Extension, boolean>;
  write: Partial<Record<Extension, boolean>>;
  /** A write check in flight: later sends wait for it, so they keep their order. */
  pending?: Partial<Record<Extension, Promise<boolean>>>;
}

const lit = pg.escapeLiteral;
const settingsSql = (claims: JwtClaims, topic: string) => `select ${claimsSettings(claims, { 'realtime.topic': topic })}`;

/** Everything may be done by service_role. */
const ALL: ChannelPolicies = Object.freeze({ read: { broadcast: true, presence: true }, write: { broadcast: true, presence: true } }) as ChannelPolicies;

const policiesUnavailable = (err: unknown) =>
  new RealtimeError(RealtimeErrorCode.Internal, 'could not check the realtime.messages policies; retry', { status: 503, cause: err });

/** Everything, for service_role (a fresh copy: a channel's write answers are its own). */
export const allPolicies = (): ChannelPolicies => ({ read: { ...ALL.read }, write: { ...ALL.write } });

/** What a caller may do on `topic`, given the extensions of the probe rows it could read; Unauthorized when none. */
export function receivedExtensions(topic: string, extensions: readonly string[]): ChannelPolicies {
  const policies: ChannelPolicies = { read: { broadcast: extensions.includes('broadcast'), presence: extensions.includes('presence') }, write: {} };
  if (!policies.read.broadcast && !policies.read.presence) throw cannot('read from', topic);
  return policies;
}

/** Whether `claims` may send `extension` messages on private topic `topic` (RLS on INSERT). */
export async function mayWrite(db: Database, claims: JwtClaims, topic: string, extension: Extension): Promise<boolean> {
  if (claims.role === 'service_role') return true;
  const sql = ['begin', settingsSql(claims, topic), `insert into realtime.messages (topic, extension) values (${lit(topic)}, ${lit(extension)})`, 'rollback'].join(';\n');
  try {
    await db.simpleQuery(sql);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42501') return false;
    throw policiesUnavailable(err);
  }
}

/** Supabase's wording: "Unauthorized: You do not have permissions to read from this Channel topic: <topic>". */
export function cannot(what: 'read from' | 'write to', topic: string): RealtimeError {
  return new RealtimeError(RealtimeErrorCode.Unauthorized, `You do not have permissions to ${what} this Channel topic: ${topic}`, { status: 403 });
}

/** The policies of a channel, checking (and remembering) the write right for `extension` on first use. */
export function writeAllowed(db: Database, claims: JwtClaims, topic: string, policies: ChannelPolicies, extension: Extension): boolean | Promise<boolean> {
  const known = policies.write[extension];
  if (known !== undefined) return known;
  const pending = (policies.pending ??= {});
  return (pending[extension] ??= mayWrite(db, claims, topic, extension).then(
    (allowed) => {
      if (policies.pending?.[extension]) {
        policies.write[extension] = allowed;
        delete policies.pending[extension];
      }
      return allowed;
    },
    (err: unknown) => {
      delete policies.pending?.[extension]; // not remembered: the next send asks again
      throw err;
    },
  ));
}
