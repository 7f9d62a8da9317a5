/**
 * Who a budget is counted for (internal): the user (the JWT's `sub`) for authenticated callers, the client's
 * address for everyone else (anon), and nobody for service_role, the operator's own key (docs/SECURITY.md).
 */
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage } from 'node:http';
import type { JwtClaims } from '../auth/jwt.js';
import { ApiError } from '../errors.js';

/**
 * The client's address as budgets count it: an IPv4 address, or the /64 prefix of an IPv6 address (one
 * subscriber usually holds a whole /64). With `trustProxyHops` > 0, the address that many entries from the
 * right of X-Forwarded-For (each trusted proxy appends the address it saw).
 *
 * @example
 * clientAddress(req, 0) // '203.0.113.7' or '2001:db8:1:2::/64'
 */
export function clientAddress(req: IncomingMessage, trustProxyHops: number): string {
  let address = req.socket.remoteAddress ?? 'unknown';
  if (trustProxyHops > 0) {
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const forwarded = hops[hops.length - trustProxyHops];
    if (forwarded && isIP(forwarded)) address = forwarded;
  }
  return normalize(address);
}

function normalize(address: string): string {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  if (isIP(address) !== 6) return address;
  const groups = expand(address);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, without leading zeros. */
function expand(address: string): string[] {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => (parseInt(g, 16) || 0).toString(16));
}

/** The budget key of a caller: `user:<sub>`, `addr:<address>`, or undefined for service_role (not counted). */
export function principalKey(claims: Pick<JwtClaims, 'role' | 'sub'>, address: string): string | undefined {
  if (claims.role === 'service_role') return undefined;
  if (claims.role === 'authenticated' && typeof claims.sub === 'string') return `user:${claims.sub.toLowerCase()}`;
  return `addr:${address}`;
}

/** What kind of principal a key is, for refusals: "user" or "client address". */
export const principalKind = (key: string): string => (key.startsWith('user:') ? 'user' : 'client address');

/** What a refusal calls a principal: "user 6f1c…" or "client address 203.0.113.7". */
export const principalLabel = (key: string): string => `${principalKind(key)} ${key.slice(5)}`;

/**
 * Counts what each principal has in flight and refuses past `max` (internal).
 *
 * @example
 * const inFlight = new InFlight(16);
 * if (!inFlight.enter(key)) throw tooMany();
 * try { await work(); } finally { inFlight.leave(key); }
 */
export class InFlight {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  enter(key: string | undefined): boolean {
    if (key === undefined) return true;
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  /** {@link enter}, or a 429 too_many_requests (REST and the broadcast API answer it in their own shapes). */
  admit(key: string | undefined): void {
    if (!this.enter(key)) {
      throw new ApiError(429, 'too_many_requests', `more than ${this.max} requests in flight at once for this ${principalKind(key!)}`, {
        hint: 'wait for answers before sending more',
      });
    }
  }

  leave(key: string | undefined): void {
    if (key === undefined) return;
    const n = (this.counts.get(key) ?? 1) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }
}

/** The longest a rate refusal is held back before it is answered (see {@link holdRefusal}). */
export const MAX_REFUSAL_HOLD_MS = 1_000;

/**
 * Waits before a rate-limit refusal (429 with Retry-After) is answered: as long as the client has to wait anyway,
 * at most {@link MAX_REFUSAL_HOLD_MS}. The request keeps its in-flight slot meanwhile, so a client that ignores
 * Retry-After and retries at once gets at most `maxRequestsInFlightPerPrincipal` refusals per hold instead of as
 * many as it can send; a client that waits as told sees no difference.
 */
export function holdRefusal(retryAfterSeconds: number | undefined): Promise<void> {
  return sleep(Math.min(MAX_REFUSAL_HOLD_MS, (retryAfterSeconds ?? 1) * 1000));
}

/**
 * A bounded share of the database pool per principal (internal): at most `max` of one principal's requests hold
 * a pooled connection at once; the others wait their turn in order (they are already counted in flight, so the
 * line is bounded). One user's slow or lock-bound statements (16 PATCHes of the same rows wait on each other's row
 * locks, each holding a connection) then cannot take the connections other users and the worker need.
 * service_role (undefined key) is not counted.
 *
 * @example
 * const release = await shares.acquire(key);
 * try { await db.asCaller(...); } finally { release(); }
 */
export class PoolShares {
  private readonly holders = new Map<string, { held: number; waiting: Array<() => void> }>();

  constructor(readonly max: number) {}

  async acquire(key: string | undefined): Promise<() => void> {
    if (key === undefined || this.max === 0) return noop;
    let entry = this.holders.get(key);
    if (!entry) this.holders.set(key, (entry = { held: 0, waiting: [] }));
    if (entry.held >= this.max) await new Promise<void>((resolve) => entry!.waiting.push(resolve));
    else entry.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = entry!.waiting.shift();
      if (next) return next(); // the slot passes straight to the next in line
      if (--entry!.held === 0) this.holders.delete(key);
    };
  }
}

const noop = () => undefined;
