/**
 * Rows written per second per principal (internal): a token bucket that may go into debt. A write is admitted
 * while its principal is not in debt and costs, once it is done, the rows it wrote (at least 1: a refused or
 * failed write costs a request). One statement may write many rows (a bulk insert is one request), so the cost is
 * only known afterwards; the debt then holds the principal's next write back until the bucket refills.
 *
 * The bucket holds at most one second's worth (`perSecond`), so a principal idle for a while may write that many
 * rows at once. Principals whose bucket is full are forgotten. `perSecond` 0 turns the budget off.
 *
 * @example
 * const writes = new WriteBudget(limits.maxRowsWrittenPerSecond);
 * const wait = writes.waitMs(key); // > 0: answer 429 with Retry-After
 * const outcome = await write();
 * writes.charge(key, outcome.rows);
 */
export class WriteBudget {
  private readonly buckets = new Map<string, { level: number; at: number }>();

  constructor(readonly perSecond: number, private readonly now: () => number = Date.now) {}

  /** Milliseconds until `key` may write again: 0 when it may now (always for undefined, service_role). */
  waitMs(key: string | undefined): number {
    if (key === undefined || this.perSecond === 0) return 0;
    const level = this.level(key);
    return level > 0 ? 0 : Math.ceil(((1 - level) / this.perSecond) * 1000);
  }

  /** Counts `rows` written by `key` (at least 1). */
  charge(key: string | undefined, rows: number): void {
    if (key === undefined || this.perSecond === 0) return;
    this.buckets.set(key, { level: this.level(key) - Math.max(1, rows), at: this.now() });
    if (this.buckets.size > 4096) this.forgetFull();
  }

  /** Principals being counted (those whose bucket is not full). */
  get size(): number {
    this.forgetFull();
    return this.buckets.size;
  }

  private level(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return this.perSecond;
    const level = Math.min(this.perSecond, b.level + ((this.now() - b.at) / 1000) * this.perSecond);
    if (level >= this.perSecond) this.buckets.delete(key);
    return level;
  }

  private forgetFull(): void {
    for (const key of [...this.buckets.keys()]) this.level(key);
  }
}
