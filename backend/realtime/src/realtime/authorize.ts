/**
 * Who may subscribe to what (internal). Checked at join and again whenever the token changes, with the caller's
 * JWT under Row Level Security; deliveries then follow the subscription's filter, not a per-row check.
 *
 * - service_role: any binding, filtered or not.
 * - anyone else: only bindings pinned to sessions they can read, i.e. a non-negated eq/in condition on
 *   session_events.session_id or sessions.id whose every session passes `select ... from public.sessions`
 *   as the caller; or sessions with user_id=eq.<their own sub>. Anything broader is refused.
 * - Authorization stays true over time: when a session is deleted or changes owner (or id), every channel pinned to
 *   it is ended, so its client rejoins and is checked anew; a join whose check was in flight when that happened is
 *   refused too (see {@link SessionRevocations}), so a re-created session id never inherits an old subscription.
 * - Private channels are authorized by realtime.messages policies (policies.ts).
 */
import pg from 'pg';
import { isUuid } from '@mobvibe/events';
import type { JwtClaims } from '../auth/jwt.js';
import { QueryAbandoned, type Database, type QueryOptions } from '../db/database.js';
import type { Change } from './changes.js';
import { ChangeType } from './constants.js';
import { RealtimeError, RealtimeErrorCode } from './errors.js';
import { FilterOp, type Condition } from './filters.js';
import { allPolicies, receivedExtensions, type ChannelPolicies } from './policies.js';
import type { PostgresBinding } from './postgresChanges.js';

interface TableRule {
  /** Column that names the session a row belongs to. */
  sessionColumn: string;
  /** Column holding the owner's user id, when subscribing by owner is allowed. */
  ownerColumn?: string;
}

/** The realtime tables a non-service role may subscribe to, and how their rows point at a session. */
export const TABLE_RULES: Readonly<Record<string, TableRule>> = {
  session_events: { sessionColumn: 'session_id' },
  sessions: { sessionColumn: 'id', ownerColumn: 'user_id' },
};

const pins = (c: Condition, column: string) => !c.negate && c.column === column && (c.op === FilterOp.Eq || c.op === FilterOp.In);

function allowedFilters(table: string): string {
  const rule = TABLE_RULES[table];
  if (!rule) return `only ${Object.keys(TABLE_RULES).join(' and ')} can be subscribed to`;
  const owner = rule.ownerColumn ? ` or ${rule.ownerColumn}=eq.<your user id>` : '';
  return `subscribe with filter ${rule.sessionColumn}=eq.<session id> (or ${rule.sessionColumn}=in.(...)) on sessions you can read${owner}`;
}

/** Session ids the binding is pinned to, or 'own' for the owner filter; throws when it is broader. */
function pinnedSessions(b: PostgresBinding, claims: JwtClaims): string[] | 'own' {
  const table = b.table ?? '*';
  const rule = b.table === undefined ? undefined : TABLE_RULES[b.table];
  const refuse = () => unauthorized(`role ${claims.role} may not subscribe to ${table} this broadly: ${allowedFilters(table)}; only service_role may subscribe unfiltered`);
  if (!rule) throw refuse();
  const key = b.conditions.find((c) => pins(c, rule.sessionColumn));
  if (key) return key.values.map(String);
  const owner = rule.ownerColumn && b.conditions.find((c) => pins(c, rule.ownerColumn!) && c.op === FilterOp.Eq);
  if (owner && typeof claims.sub === 'string' && owner.values[0] === claims.sub.toLowerCase()) return 'own';
  if (owner) throw unauthorized(`${rule.ownerColumn}=eq.<id> must be your own user id (the token's sub)`);
  throw refuse();
}

/** A refusal of the channel's postgres_changes bindings (not of the channel itself). */
export class BindingsRefused extends RealtimeError {}

const unauthorized = (message: string) => new BindingsRefused(RealtimeErrorCode.Unauthorized, message, { status: 403 });

/** Session ids the bindings are pinned to, to be checked readable; throws BindingsRefused when one is broader. */
function sessionIdsToCheck(claims: JwtClaims, bindings: readonly PostgresBinding[]): string[] {
  const ids = new Set<string>();
  for (const b of bindings) {
    const pinned = pinnedSessions(b, claims);
    if (pinned !== 'own') pinned.forEach((id) => ids.add(id));
  }
  return [...ids];
}

const lit = pg.escapeLiteral;
/** `ids` as an escaped `uuid[]` literal (each element quoted, as PostgreSQL's array input reads it). */
const uuidArrayLiteral = (ids: readonly string[]) => `${lit(`{${ids.map((id) => `"${id.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`)}::uuid[]`;

/**
 * Whether `claims` may hold the channel: every binding (see the module comment) and, for a private channel, the
 * receive policies of `privateTopic` (policies.ts). Both are checked in ONE transaction and round trip, by
 * `mobvibe.realtime_join_check` (20261204100001_realtime_join_check.sql), whose statements keep their plans per
 * connection: a reconnect storm is thousands of these at once. Returns the private channel's policies; throws
 * Unauthorized with a reason the client shows, the channel's own refusal first, then BindingsRefused (or
 * QueryAbandoned when `opts.stillWanted` says the answer is no longer needed).
 *
 * @example
 * await authorizeChannel(db, claims, bindings); // refused: "Unauthorized: you cannot read session 6f1c…"
 */
export async function authorizeChannel(
  db: Database, claims: JwtClaims, bindings: readonly PostgresBinding[], privateTopic?: string, opts: QueryOptions = {},
): Promise<ChannelPolicies | undefined> {
  if (claims.role === 'service_role') return privateTopic === undefined ? undefined : allPolicies();
  let refused: unknown;
  let ids: string[] = [];
  try {
    ids = sessionIdsToCheck(claims, bindings);
  } catch (err) {
    refused = err;
  }
  if (privateTopic === undefined && (refused || ids.length === 0)) {
    if (refused) throw refused;
    return undefined;
  }
  const checked = refused ? [] : ids;
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  const call = `select receivable, readable from mobvibe.realtime_join_check(${lit(claims.role)}, ${lit(JSON.stringify(claims))}, ${lit(sub)}, ${
    privateTopic === undefined ? 'null' : lit(privateTopic)}, ${uuidArrayLiteral(checked)})`;
  let row: { receivable: string[] | null; readable: string[] | null };
  try {
    const results = (await db.simpleQuery(`begin; ${call}; rollback`, opts)) as pg.QueryResult[];
    row = results[1]!.rows[0] as typeof row;
  } catch (err) {
    if (err instanceof QueryAbandoned) throw err;
    throw new RealtimeError(RealtimeErrorCode.Internal, 'could not check access to the channel; retry', { status: 503, cause: err });
  }
  const policies = privateTopic === undefined ? undefined : receivedExtensions(privateTopic, row.receivable ?? []);
  if (refused) throw refused;
  if (checked.length > 0) denyUnreadable(checked, new Set(row.readable ?? []));
  return policies;
}

function denyUnreadable(ids: readonly string[], readable: ReadonlySet<string>): void {
  const denied = ids.filter((id) => !readable.has(id));
  if (denied.length > 0) {
    throw unauthorized(`you cannot read session ${denied.join(', ')} (no such session, or not yours); subscribe only to sessions your token can read`);
  }
}

/** True when the binding is pinned to `sessionId` (through its table's session column). */
export function pinsSession(b: PostgresBinding, sessionId: string): boolean {
  const rule = b.table === undefined ? undefined : TABLE_RULES[b.table];
  const id = sessionId.toLowerCase();
  return !!rule && b.conditions.some((c) => pins(c, rule.sessionColumn) && c.values.includes(id));
}

/**
 * The session whose access a change revokes, if any: a deleted session, or one whose owner (or id) changed.
 * `when` says whether its channels end before the change is delivered (an owner change: the old owner may not see
 * the new row) or after (a delete: the owner still gets the DELETE, as on Supabase).
 */
export function revokedSession(change: Change): { sessionId: string; when: 'before' | 'after' } | undefined {
  if (change.table !== 'sessions') return undefined;
  const oldId = change.old?.row.id;
  if (typeof oldId !== 'string') return undefined;
  if (change.type === ChangeType.Delete) return { sessionId: oldId, when: 'after' };
  if (change.type !== ChangeType.Update) return undefined;
  // Without a new row (gone before it could be read back) the UPDATE may have moved it: count it as moved.
  const moved = !change.record || change.old!.row.user_id !== change.record.row.user_id || oldId !== change.record.row.id;
  return moved ? { sessionId: oldId, when: 'before' } : undefined;
}

/** The private topic whose receive policy the shipped session channel policy (20261203100003_realtime.sql) ties to a session's owner. */
const SESSION_TOPIC = 'session:';

/**
 * Session ids a channel is pinned to (lower case): what a revocation of one of them must end. Its bindings pin the
 * sessions their filters name; a private `session:<id>` topic pins that session, since who may receive on it is
 * decided by who owns the session (the shipped session channel policy), which a delete or an owner change alters.
 */
export function pinnedIds(bindings: readonly PostgresBinding[], privateSubTopic?: string): string[] {
  const ids: string[] = [];
  for (const b of bindings) {
    const rule = b.table === undefined ? undefined : TABLE_RULES[b.table];
    if (!rule) continue;
    for (const c of b.conditions) if (pins(c, rule.sessionColumn)) for (const v of c.values) ids.push(String(v).toLowerCase());
  }
  if (privateSubTopic?.startsWith(SESSION_TOPIC)) {
    const id = privateSubTopic.slice(SESSION_TOPIC.length);
    if (isUuid(id)) ids.push(id.toLowerCase());
  }
  return ids;
}

/**
 * Recent revocations, numbered: a join notes the number before its access check and, once the check passed,
 * asks whether any session it is pinned to was revoked since; if so the check may have read the session before
 * it was deleted or moved, and the join is refused (the client retries and is checked anew). Entries older than
 * `keepMs` are forgotten: no check runs that long (the pool's query timeout is shorter).
 */
export class SessionRevocations {
  private seq = 0;
  private readonly recent = new Map<string, { seq: number; at: number }>();

  constructor(private readonly keepMs = 60_000, private readonly now: () => number = Date.now) {}

  /** The current number, to note before an access check. */
  get mark(): number {
    return this.seq;
  }

  revoke(sessionId: string): void {
    const at = this.now();
    this.recent.delete(sessionId); // re-insert, so the map stays in revocation order
    this.recent.set(sessionId, { seq: ++this.seq, at });
    for (const [id, entry] of this.recent) {
      if (at - entry.at < this.keepMs) break;
      this.recent.delete(id);
    }
  }

  /** The first of `ids` revoked after `mark`, if any. */
  revokedSince(mark: number, ids: readonly string[]): string | undefined {
    return ids.find((id) => (this.recent.get(id)?.seq ?? 0) > mark);
  }
}
