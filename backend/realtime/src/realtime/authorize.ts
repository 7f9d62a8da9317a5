/**
 * Who may subscribe to what (internal). Checked at join and again whenever the token changes, with the caller's
 * JWT under Row Level Security; deliveries then follow the subscription's filter, not a per-row check.
 *
 * - service_role: any binding, filtered or not.
 * - anyone else: only bindings pinned to sessions they can read, i.e. a non-negated eq/in condition on
 *   session_events.session_id or sessions.id whose every session passes `select ... from public.sessions`
 *   as the caller; or sessions with user_id=eq.<their own sub>. Anything broader is refused.
 * - When a session changes owner, channels pinned to it are errored, so their clients rejoin and are checked anew.
 */
import type { JwtClaims } from '../auth/jwt.js';
import type { Database } from '../db/database.js';
import type { Change } from './changes.js';
import { ChangeType } from './constants.js';
import { RealtimeError, RealtimeErrorCode } from './errors.js';
import { FilterOp, type Condition } from './filters.js';
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

const unauthorized = (message: string) => new RealtimeError(RealtimeErrorCode.Unauthorized, message, { status: 403 });
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

/**
 * Resolves when `claims` may hold every binding; otherwise throws Unauthorized with a reason the client shows.
 *
 * @example
 * await authorizeBindings(db, claims, bindings); // refused: "Unauthorized: you cannot read session 6f1c…"
 */
export async function authorizeBindings(db: Database, claims: JwtClaims, bindings: readonly PostgresBinding[]): Promise<void> {
  if (claims.role === 'service_role' || bindings.length === 0) return;
  const ids = new Set<string>();
  for (const b of bindings) {
    const pinned = pinnedSessions(b, claims);
    if (pinned !== 'own') pinned.forEach((id) => ids.add(id));
  }
  if (ids.size > 0) await checkReadable(db, claims, [...ids]);
}

async function checkReadable(db: Database, claims: JwtClaims, ids: string[]): Promise<void> {
  let readable: Set<string>;
  try {
    const [result] = await db.asCallerBatch(claims, [{ text: 'select id from public.sessions where id = any($1::uuid[])', values: [ids] }]);
    readable = new Set(result!.rows.map((r) => r.id as string));
  } catch (err) {
    if ((err as { code?: string }).code === '42501') readable = new Set(); // the role may not read sessions at all
    else throw new RealtimeError(RealtimeErrorCode.Internal, 'could not check access to the sessions; retry', { status: 503, cause: err });
  }
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

/** The session whose owner a change moved, if any: channels pinned to it must be checked again. */
export function ownerChangedSession(change: Change): string | undefined {
  if (change.table !== 'sessions' || change.type !== ChangeType.Update) return undefined;
  const before = change.old?.row.user_id;
  const after = change.record?.row.user_id;
  return before !== after && typeof change.record?.row.id === 'string' ? change.record.row.id : undefined;
}

/** Private channels are authorised by realtime.messages policies on Supabase; this server has none. */
export function checkPrivate(isPrivate: boolean, claims: JwtClaims): void {
  if (isPrivate && claims.role !== 'service_role') {
    throw unauthorized('private channels are not supported for this role (there are no realtime.messages policies); join with private: false');
  }
}
