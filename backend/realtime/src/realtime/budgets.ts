/**
 * Budgets per principal (internal): what one user (JWT `sub`), or one client address for anon callers, holds and
 * spends across all its connections: sockets, channels, filter bytes, joins, broadcasts and bytes received per second. Each
 * check names the budget, its limit and the setting that changes it, so a refused client knows what happened.
 * service_role has no principal (http/principal.ts): it is only limited per connection.
 *
 * A principal's entry lives while it holds anything, and a few seconds more, so that rate windows survive a
 * client that reconnects or sends over REST between sockets.
 */
import { principalLabel } from '../http/principal.js';
import { REALTIME_LIMITS, type RealtimeLimits } from '../limits.js';
import { RealtimeError, RealtimeErrorCode, type RealtimeErrorCode as Code } from './errors.js';
import { RateWindow } from './rates.js';

/** One principal's holdings and rate windows. */
export class Principal {
  sockets = 0;
  channels = 0;
  filterBytes = 0;
  /** Last time anything was counted (for the idle sweep). */
  lastUsed: number;
  readonly joins: RateWindow;
  readonly broadcasts: RateWindow;
  readonly broadcastBytes: RateWindow;
  /** Bytes received on the sockets opened for this principal (maxInboundBytesPerSecondPerUser). */
  readonly inbound: RateWindow;

  constructor(readonly key: string, limits: RealtimeLimits, now: () => number) {
    this.lastUsed = now();
    this.joins = new RateWindow(limits.maxJoinsPerSecondPerUser, now);
    this.broadcasts = new RateWindow(limits.maxBroadcastsPerSecond, now);
    this.broadcastBytes = new RateWindow(limits.maxBroadcastBytesPerSecond, now);
    this.inbound = new RateWindow(limits.maxInboundBytesPerSecondPerUser, now);
  }

  /** What a refusal calls this principal: "user 6f1c…" or "client address 203.0.113.7". */
  get label(): string {
    return principalLabel(this.key);
  }

  get idle(): boolean {
    return this.sockets === 0 && this.channels === 0 && this.filterBytes === 0;
  }
}

/** The error for a spent budget: `<Code>: <what> (limit N, set MOBVIBE_…)`. */
export function overBudget(code: Code, what: string, limit: keyof typeof REALTIME_LIMITS, limits: RealtimeLimits, status = 429): RealtimeError {
  return new RealtimeError(code, `${what} (limit ${limits[limit]}, set by ${REALTIME_LIMITS[limit].env})`, { status });
}

/** The socket budget of a principal: per client address (the anon key) or per user. */
export type SocketLimit = 'maxConnectionsPerAddress' | 'maxConnectionsPerUser';
export const socketLimitOf = (p: Principal | undefined): SocketLimit => (p?.key.startsWith('user:') ? 'maxConnectionsPerUser' : 'maxConnectionsPerAddress');

export class Principals {
  private readonly entries = new Map<string, Principal>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly limits: RealtimeLimits, private readonly now: () => number = Date.now, sweepMs = 5_000) {
    this.timer = setInterval(() => this.sweep(sweepMs), sweepMs);
    this.timer.unref();
  }

  /** The principal of `key` (created on first use); undefined for no key (service_role). */
  get(key: string | undefined): Principal | undefined {
    if (key === undefined) return undefined;
    let p = this.entries.get(key);
    if (!p) this.entries.set(key, (p = new Principal(key, this.limits, this.now)));
    p.lastUsed = this.now();
    return p;
  }

  /** Throws ConnectionRateLimitReached when `p` already holds `limit` sockets. */
  checkSocket(p: Principal | undefined, limit: SocketLimit): void {
    if (p && p.sockets >= this.limits[limit]) {
      throw overBudget(RealtimeErrorCode.TooManyConnections, `${p.label} already has ${p.sockets} connections`, limit, this.limits);
    }
  }

  /** Counts one more socket for `p` (after {@link checkSocket}). */
  addSocket(p: Principal | undefined): void {
    if (p) p.sockets++;
  }

  removeSocket(p: Principal | undefined): void {
    if (p && p.sockets > 0) p.sockets--;
  }

  /** How many principals are tracked (tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(idleMs: number): void {
    const t = this.now();
    for (const [key, p] of this.entries) if (p.idle && t - p.lastUsed >= idleMs) this.entries.delete(key);
  }
}
